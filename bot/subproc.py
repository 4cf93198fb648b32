"""The environment external tools run with: an allowlist, never the job's own.

A workflow job holds GITHUB_TOKEN, maybe the App key, and AWS credentials from
OIDC. cfn-guard, kubeconform, `helm template` and git need none of them, and a
tool (or a chart plugin, or a git hook or config in a checked-out PR) that
sees them could leak them. So every subprocess gets `tool_env()`: what a
process needs to find binaries, a home, a locale and a proxy, nothing else.

Only commands that talk to a cluster (`helm upgrade`, kubectl), whose
kubeconfig starts the eks-token exec plugin, ask for `cluster=True`, which adds
the AWS variables that plugin signs with. Never the GitHub token or App key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# Enough to run a binary anywhere: find others, a home for caches, a locale,
# temp dirs, a proxy and its CA bundle. (Proxy URLs may carry a password; tools
# that download charts need them all the same.)
BASE_NAMES = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE",
        "TZ", "TMPDIR", "TEMP", "TMP", "SYSTEMROOT", "COMSPEC", "PATHEXT",
        "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO",
        "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME",
        "HELM_REPOSITORY_CACHE", "HELM_REPOSITORY_CONFIG", "HELM_REGISTRY_CONFIG",
    }
)  # fmt: skip
# What the eks-token exec plugin (infra-bot, or `python -m bot.cli`) needs on top.
CLUSTER_NAMES = frozenset({"KUBECONFIG", "PYTHONPATH", "VIRTUAL_ENV"})
CLUSTER_PREFIXES = ("AWS_",)
# Never passed on, whatever else allows them.
DENIED = frozenset(
    {
        "GITHUB_TOKEN", "GH_TOKEN", "INFRA_BOT_APP_PRIVATE_KEY",
        "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL",
    }
)  # fmt: skip


def tool_env(
    *,
    cluster: bool = False,
    prefixes: tuple[str, ...] = (),
    extra: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for one external tool.

    `prefixes` passes on a tool's own settings (`PIP_` for pip); `extra` adds
    (or overrides) fixed values such as a temporary git index.

    `environ` defaults to this process's environment: a subprocess is started by
    this process, so this is the one place besides bot.settings that reads it.
    """
    source = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for name, value in source.items():
        allowed = (
            name in BASE_NAMES
            or (bool(prefixes) and name.startswith(prefixes))
            or (cluster and (name in CLUSTER_NAMES or name.startswith(CLUSTER_PREFIXES)))
        )
        if allowed and name not in DENIED:
            out[name] = value
    out.update(extra or {})
    return out

"""The environment helm runs with when it pulls or renders a chart from a pull request.

A chart is data from whoever wrote the PR; helm is the one process that reads
it. So helm gets an environment built from an allowlist, not the job's: no
GITHUB_TOKEN, no App key, no AWS credentials. HOME and helm's own homes point
into a folder of the run, so no user's repositories.yaml, registry logins or
plugins take part either.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

# Only what helm needs to reach a chart repository: where programs are, how the
# runner reaches the network (proxies) and which CAs it trusts.
PASSED_THROUGH = (
    "PATH",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


def helm_env(home: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The allowlisted part of `environ`, with every home helm reads moved under `home`. Pure."""
    env = {key: environ[key] for key in PASSED_THROUGH if key in environ}
    env.setdefault("PATH", "/usr/bin:/bin")
    homes = {
        "HOME": home,
        "TMPDIR": home / "tmp",
        "HELM_CACHE_HOME": home / "cache",
        "HELM_CONFIG_HOME": home / "config",
        "HELM_DATA_HOME": home / "data",
        "HELM_PLUGINS": home / "data" / "plugins",
        "HELM_REGISTRY_CONFIG": home / "config" / "registry" / "config.json",
        "HELM_REPOSITORY_CONFIG": home / "config" / "repositories.yaml",
        "HELM_REPOSITORY_CACHE": home / "cache" / "repository",
    }
    env.update({key: str(path) for key, path in homes.items()})
    # Nothing here may reach a cluster: helm template runs without one.
    env["KUBECONFIG"] = str(home / "no-kubeconfig")
    return env


def prepare_home(home: Path) -> Path:
    """Create the folders helm_env points at (helm refuses a missing TMPDIR)."""
    for sub in ("tmp", "cache", "config", "data"):
        (home / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    return home

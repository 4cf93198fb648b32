"""Helm releases of an environment: order, a rendered diff, then upgrade --install;
for status, what `helm list` says of them.

Helm runs behind `HelmRunner` (argv in, output out); the real runner is the
toolchain's helm binary. Without a cluster (tests, the local demo) only the
commands and their order can be checked: a fake runner records them.
"""

from __future__ import annotations

import difflib
import json
import re
import subprocess
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Protocol

from bot.cloud.charts import chart_reference
from bot.repo.model import Release
from bot.subproc import tool_env

HELM_TIMEOUT = "10m"
PROCESS_TIMEOUT = 1800  # seconds: above --timeout, for a helm that hangs before it applies


@dataclass(frozen=True)
class HelmRun:
    code: int
    stdout: str
    stderr: str


class HelmRunner(Protocol):
    def __call__(self, args: list[str]) -> HelmRun: ...


@dataclass(frozen=True)
class SubprocessHelm:
    binary: Path

    def __call__(self, args: list[str]) -> HelmRun:
        try:
            proc = subprocess.run(
                [str(self.binary), *args], capture_output=True, text=True, check=False,
                timeout=PROCESS_TIMEOUT, env=tool_env(cluster=True),
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return HelmRun(124, "", f"helm {args[0]} did not finish in {PROCESS_TIMEOUT} s")
        except OSError as exc:
            return HelmRun(126, "", f"cannot run {self.binary}: {exc}")
        return HelmRun(proc.returncode, proc.stdout, proc.stderr)


@dataclass(frozen=True)
class MissingHelm:
    """Stands in when helm is not installed: every call fails, saying so."""

    reason: str

    def __call__(self, args: list[str]) -> HelmRun:
        return HelmRun(127, "", self.reason)


def toolchain_helm() -> HelmRunner:
    """The toolchain's helm; without one, releases fail with the install hint."""
    from bot.toolchain import Toolchain, ToolMissingError

    try:
        return SubprocessHelm(Toolchain().require("helm").path)
    except ToolMissingError as exc:
        return MissingHelm(str(exc))


class HelmError(RuntimeError):
    pass


def release_order(releases: dict[str, Release]) -> list[str]:
    """Releases with their depends_on first."""
    graph = {name: set(r.spec.depends_on) & set(releases) for name, r in releases.items()}
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise HelmError(f"helm releases depend on each other in a cycle: {exc.args[1]}") from None


def _chart_args(release: Release, env: str) -> list[str]:
    args = [
        release.name,
        *chart_reference(release.spec),
        "--version",
        release.spec.version,
        "--namespace",
        release.spec.namespace,
    ]
    for values in release.values_files(env):
        args += ["--values", str(values)]
    return args


def template_args(release: Release, env: str) -> list[str]:
    return ["template", *_chart_args(release, env)]


def manifest_args(release: Release) -> list[str]:
    return ["get", "manifest", release.name, "--namespace", release.spec.namespace]


def upgrade_args(release: Release, env: str, helm_major: int = 4) -> list[str]:
    # helm 4 renamed --atomic to --rollback-on-failure and made --wait take a strategy.
    safety = (
        ["--rollback-on-failure", "--wait=watcher"] if helm_major >= 4 else ["--atomic", "--wait"]
    )
    return [
        "upgrade",
        "--install",
        *_chart_args(release, env),
        "--create-namespace",
        *safety,
        "--timeout",
        HELM_TIMEOUT,
    ]


def with_kubeconfig(args: list[str], kubeconfig: Path | None) -> list[str]:
    return [*args, "--kubeconfig", str(kubeconfig)] if kubeconfig else args


_DOCUMENT_SPLIT = re.compile(r"^---[^\n]*\n", re.MULTILINE)
_SECRET_KIND = re.compile(r"^kind:\s*Secret\s*$", re.MULTILINE)
_SECRET_FIELD = re.compile(r"^(data|stringData):")
REDACTED = "<redacted>"


def _redact_secret(doc: str) -> str:
    lines: list[str] = []
    inside = False
    for line in doc.splitlines(keepends=True):
        out = line
        if _SECRET_FIELD.match(line):
            inside = True
            key, _, value = line.partition(":")
            out = line if value.strip() in {"", "|", ">"} else f"{key}:\n"
        elif inside and line.startswith((" ", "\t")):
            key, sep, _ = line.partition(":")
            out = f"{key}: {REDACTED}\n" if sep else ""
        elif line.strip():
            inside = False
        lines.append(out)
    return "".join(lines)


def redact_secrets(manifest: str) -> str:
    """Manifests with every value under a Secret's data/stringData replaced. Pure.

    The diff goes to pull-request comments and job summaries; a Secret's change
    shows as its keys only.
    """
    docs = _DOCUMENT_SPLIT.split(manifest)
    return "---\n".join(_redact_secret(d) if _SECRET_KIND.search(d) else d for d in docs)


def manifest_diff(release: str, current: str, rendered: str) -> str:
    """Unified diff of the deployed manifest against the rendered one, Secrets redacted. Pure."""
    return "".join(
        difflib.unified_diff(
            redact_secrets(current).splitlines(keepends=True),
            redact_secrets(rendered).splitlines(keepends=True),
            fromfile=f"{release} (deployed)",
            tofile=f"{release} (this commit)",
        )
    )


@dataclass(frozen=True)
class ReleaseResult:
    release: str
    ok: bool
    diff: str
    message: str
    skipped: bool = False


@dataclass(frozen=True)
class Skip:
    """Why the releases of one cluster stack do not run, and whether that fails the deploy."""

    reason: str
    failure: bool


def cluster_skips(
    cluster_stacks: Collection[str],
    env: str,
    env_stacks: Collection[str],
    in_run: Collection[str],
    failed_stack: str | None,
) -> dict[str, Skip]:
    """Cluster stacks whose releases cannot run in this deploy, and why. Pure.

    Not a failure: the cluster stack is not one of the environment's stacks, or not
    one this run deploys (`--stacks`): nobody asked for that cluster. A failure: a
    stack of this run failed (the releases may need what it would have created).
    """
    out: dict[str, Skip] = {}
    for stack in cluster_stacks:
        if stack not in env_stacks:
            out[stack] = Skip(f"cluster stack {stack} is not one of {env}'s stacks", False)
        elif stack not in in_run:
            out[stack] = Skip(f"cluster stack {stack} is not part of this deploy", False)
        elif failed_stack is not None:
            out[stack] = Skip(f"stack {failed_stack} did not deploy", True)
    return out


def deploy_releases(
    helm: HelmRunner,
    releases: dict[str, Release],
    env: str,
    deployed_stacks: set[str],
    *,
    kubeconfig: Path | None = None,
    helm_major: int = 4,
    kubeconfigs: Mapping[str, Path] | None = None,
    skips: Mapping[str, Skip] | None = None,
) -> list[ReleaseResult]:
    """Diff then upgrade each release in order; skip those whose cluster stack did not
    deploy or is in `skips`, stop at the first failure. `kubeconfigs` (cluster stack ->
    file) overrides `kubeconfig`."""
    out: list[ReleaseResult] = []
    for name in release_order(releases):
        release = releases[name]
        skip = (skips or {}).get(release.spec.cluster_stack)
        if skip is not None:
            out.append(ReleaseResult(name, not skip.failure, "", f"skipped: {skip.reason}", True))
            continue
        if release.spec.cluster_stack not in deployed_stacks:
            out.append(
                ReleaseResult(
                    name,
                    False,
                    "",
                    f"skipped: cluster stack {release.spec.cluster_stack} "
                    "is not deployed in this run",
                    True,
                )
            )
            continue
        kubeconfig_here = (kubeconfigs or {}).get(release.spec.cluster_stack, kubeconfig)
        rendered = helm(with_kubeconfig(template_args(release, env), kubeconfig_here))
        if rendered.code != 0:
            out.append(ReleaseResult(name, False, "", f"helm template failed: {rendered.stderr}"))
            break
        current = helm(with_kubeconfig(manifest_args(release), kubeconfig_here))
        diff = manifest_diff(name, current.stdout if current.code == 0 else "", rendered.stdout)
        run = helm(with_kubeconfig(upgrade_args(release, env, helm_major), kubeconfig_here))
        out.append(
            ReleaseResult(
                name,
                run.code == 0,
                diff,
                "upgraded" if run.code == 0 else f"helm upgrade failed: {run.stderr}",
            )
        )
        if run.code != 0:
            break
    return out


# -- status: what `helm list` says of the releases ------------------------------------

# Go's time.Time.String(): "2026-11-23 11:00:00.123456789 +0000 UTC" (maybe " m=+0.1").
_HELM_TIME = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.\d+)? ([+-]\d{4})")


@dataclass(frozen=True)
class ReleaseState:
    """One release as `helm list` shows it in the cluster."""

    release: str
    namespace: str
    chart_version: str
    status: str
    revision: str
    updated: datetime | None


@dataclass(frozen=True)
class ReleaseStatus:
    """The releases of one cluster stack: their states (a release missing from `states`
    is not installed), or `unknown`, one line saying why they could not be read."""

    cluster_stack: str
    wanted: Mapping[str, str]  # release -> the chart version the repository pins
    states: Mapping[str, ReleaseState]
    unknown: str = ""


def list_args(names: Collection[str]) -> list[str]:
    """`helm list` of these releases in every namespace and every state (--all: pending
    and failed ones too), as JSON."""
    pattern = "^(" + "|".join(re.escape(n) for n in sorted(names)) + ")$"
    return ["list", "--all-namespaces", "--all", "--filter", pattern, "--output", "json"]


def helm_time(text: str) -> datetime | None:
    """A time as helm prints it (Go's time.Time.String()); None when it is not one. Pure."""
    match = _HELM_TIME.match(text)
    if match is None:
        return None
    return datetime.strptime(" ".join(match.groups()), "%Y-%m-%d %H:%M:%S %z")


def release_states(listed: str, releases: Mapping[str, Release]) -> dict[str, ReleaseState]:
    """The `releases` found in `helm list -o json` output, by name and namespace. Pure."""
    try:
        items = json.loads(listed or "[]")
    except ValueError:
        raise HelmError("helm list did not answer with JSON") from None
    if not isinstance(items, list):
        raise HelmError("helm list did not answer with a JSON list")
    out: dict[str, ReleaseState] = {}
    for item in items:
        release = releases.get(str(item.get("name"))) if isinstance(item, dict) else None
        if release is None or item.get("namespace") != release.spec.namespace:
            continue
        chart = str(item.get("chart", ""))
        out[release.name] = ReleaseState(
            release.name,
            release.spec.namespace,
            chart.removeprefix(f"{release.spec.chart}-"),
            str(item.get("status", "unknown")),
            str(item.get("revision", "?")),
            helm_time(str(item.get("updated", ""))),
        )
    return out


def list_releases(
    helm: HelmRunner, releases: Mapping[str, Release], kubeconfig: Path | None
) -> dict[str, ReleaseState]:
    """What helm knows of `releases` in the cluster; HelmError (one line) when it cannot say."""
    run = helm(with_kubeconfig(list_args(releases), kubeconfig))
    if run.code != 0:
        detail = (run.stderr.strip().splitlines() or [f"exit code {run.code}"])[0][:300]
        # 127: the shell's "command not found", and MissingHelm's.
        raise HelmError(f"helm is not installed: {detail}" if run.code == 127 else
                        f"helm list failed: {detail}")  # fmt: skip
    return release_states(run.stdout, releases)

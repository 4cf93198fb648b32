"""Helm releases of an environment: order, a rendered diff, then upgrade --install.

Helm runs behind `HelmRunner` (argv in, output out); the real runner is the
toolchain's helm binary. Without a cluster (tests, the local demo) only the
commands and their order can be checked: a fake runner records them.
"""

from __future__ import annotations

import difflib
import subprocess
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Protocol

from bot.repo.model import Release

HELM_TIMEOUT = "10m"


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
        proc = subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, check=False, timeout=1800
        )
        return HelmRun(proc.returncode, proc.stdout, proc.stderr)


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
        release.spec.chart,
        "--repo",
        release.spec.repository,
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


def manifest_diff(release: str, current: str, rendered: str) -> str:
    """Unified diff of the deployed manifest against the rendered one. Pure."""
    return "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            rendered.splitlines(keepends=True),
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


def deploy_releases(
    helm: HelmRunner,
    releases: dict[str, Release],
    env: str,
    deployed_stacks: set[str],
    *,
    kubeconfig: Path | None = None,
    helm_major: int = 4,
) -> list[ReleaseResult]:
    """Diff then upgrade each release in order; skip those whose cluster stack did not
    deploy, stop at the first failure."""
    out: list[ReleaseResult] = []
    for name in release_order(releases):
        release = releases[name]
        if release.spec.cluster_stack not in deployed_stacks:
            out.append(
                ReleaseResult(
                    name,
                    False,
                    "",
                    f"skipped: cluster stack {release.spec.cluster_stack} "
                    "is not deployed in this run",
                )
            )
            continue
        rendered = helm(with_kubeconfig(template_args(release, env), kubeconfig))
        if rendered.code != 0:
            out.append(ReleaseResult(name, False, "", f"helm template failed: {rendered.stderr}"))
            break
        current = helm(with_kubeconfig(manifest_args(release), kubeconfig))
        diff = manifest_diff(name, current.stdout if current.code == 0 else "", rendered.stdout)
        run = helm(with_kubeconfig(upgrade_args(release, env, helm_major), kubeconfig))
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

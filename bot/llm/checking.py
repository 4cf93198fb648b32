"""The checker the generation loop uses: the real engine on what the edits touch.

A template's deployment files are checked with it (and a deployment file with
its template), and findings that were already there before the edit are not
the model's to fix, so they are subtracted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.findings import Finding, Severity
from bot.llm.loop import Checked
from bot.repo.model import ENVIRONMENTS_DIR, HELM_DIR, STACKS_DIR, Repository
from bot.repo.policy import Policy


def related_paths(root: Path, changed: list[str]) -> list[str]:
    """The changed paths plus their template / deployment-file counterparts."""
    out: set[str] = set()
    for rel in changed:
        parts = Path(rel).parts
        out.add(rel)
        if parts[0] == STACKS_DIR and len(parts) == 2:
            stem = Path(parts[1]).stem
            for dep in sorted((root / ENVIRONMENTS_DIR).glob(f"*/{stem}.y*ml")):
                out.add(dep.relative_to(root).as_posix())
        elif parts[0] == ENVIRONMENTS_DIR and len(parts) == 3:
            for tmpl in sorted((root / STACKS_DIR).glob(f"{Path(parts[2]).stem}.y*ml")):
                out.add(tmpl.relative_to(root).as_posix())
        elif parts[0] == HELM_DIR and len(parts) >= 2:
            out.add(f"{HELM_DIR}/{parts[1]}")
    return sorted(p for p in out if (root / p).exists())


def _key(f: Finding) -> tuple[str, str, str]:
    return (f.path, f.check_id, f.message)


def engine_checker(
    origin: Path, policy: Policy | None = None
) -> Callable[[Path, list[str]], Checked]:
    """Run every check; drop findings the same paths had in `origin`. The
    rules (environments, guard rules, .cfnlintrc) are `policy`'s: when revising a PR,
    the trusted checkout's, not the PR's (default: each tree's own)."""
    from bot.checks.engine import run_checks, targets_for_paths
    from bot.toolchain import Toolchain

    tools = Toolchain()
    baselines: dict[tuple[str, ...], set[tuple[str, str, str]]] = {}

    def run(root: Path, paths: list[str]) -> Checked:
        repo = Repository(root, trusted=policy)
        report = run_checks(repo, targets_for_paths(repo, [root / p for p in paths], ()), tools)
        return Checked(report.findings, tuple(report.coverage))

    def check(root: Path, changed: list[str]) -> Checked:
        paths = related_paths(root, changed)
        now = run(root, paths)
        # INFO findings are notes (e.g. a chart not cached locally), not the model's to fix.
        found = [f for f in now.findings if f.severity >= Severity.WARNING]
        if not found:
            return Checked([], now.coverage)  # clean: no need to know what was there before
        before = tuple(p for p in paths if (origin / p).exists())
        if before not in baselines:
            old = run(origin, list(before)).findings if before else []
            baselines[before] = {_key(f) for f in old}
        return Checked([f for f in found if _key(f) not in baselines[before]], now.coverage)

    return check

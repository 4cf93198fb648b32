"""A PR that changes the rules: which files, and what its own guard rules would report.

The checks always run with the trusted copy of the rules (bot.repo.policy). A
reviewer still has to see, first, that the PR changes them: `rules_section` opens
the review with the list. For guard rules it adds what the PR's version says: its
rule tests (`cfn-guard test`) and the findings its rules would drop or add on the
PR's templates. cfn-guard reads the PR's files as data, in a subprocess with a
minimal environment (no token, no AWS credentials) and a timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.findings import Finding
from bot.render.findings import finding_line_md
from bot.render.text import escape_md
from bot.repo.policy import Policy, RulesFile

GUARD_TIMEOUT = 120.0
DETAIL_LIMIT = 600
LIST_LIMIT = 20
MARKER_HEADING = "#### This PR changes the rules"


@dataclass(frozen=True)
class RuleTest:
    """`cfn-guard test` of one of the PR's rule files against the PR's tests of it."""

    path: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class GuardComparison:
    """The PR's guard rules, run as data."""

    tests: tuple[RuleTest, ...] = ()
    dropped: tuple[Finding, ...] = ()  # the trusted rules report these, the PR's do not
    added: tuple[Finding, ...] = ()  # the PR's rules report these, the trusted ones do not
    error: str = ""


def _minimal_env() -> dict[str, str]:
    # Nothing of the job's environment (GITHUB_TOKEN, the App key, AWS credentials).
    return {"PATH": os.defpath, "LC_ALL": "C.UTF-8"}


def _guard(binary: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=GUARD_TIMEOUT,
        check=False, env=_minimal_env(), cwd=cwd,
    )  # fmt: skip


def run_rule_tests(binary: Path, workspace: Path, rule_files: Sequence[Path]) -> list[RuleTest]:
    """Each of the PR's rule files against guard/tests/<stem>_tests.yaml of the PR."""
    pr = Policy(workspace)
    out = []
    for rule in rule_files:
        rel = rule.relative_to(workspace).as_posix()
        tests = pr.guard_tests_dir / f"{rule.stem}_tests.yaml"
        if not tests.is_file() or tests.is_symlink():
            # A symlinked test file would have cfn-guard echo a runner file into the review.
            out.append(RuleTest(rel, False, f"no rule tests at {tests.relative_to(workspace)}"))
            continue
        with tempfile.TemporaryDirectory(prefix="infra-bot-guard-") as tmp:
            proc = _guard(binary, ["test", "-r", str(rule), "-t", str(tests)], Path(tmp))
        # Shown in a code block: no backtick may close it.
        detail = "" if proc.returncode == 0 else (proc.stdout + proc.stderr).strip()
        detail = detail.replace("`", "'")
        out.append(RuleTest(rel, proc.returncode == 0, detail[-DETAIL_LIMIT:]))
    return out


def validate_with(
    binary: Path, rule_files: Sequence[Path], data: Sequence[Path], rel: dict[str, str]
) -> list[Finding]:
    """The findings `rule_files` report on `data` (cfn-guard validate, structured JSON)."""
    from bot.checks.guard import parse_report

    if not rule_files or not data:
        return []
    args = ["validate", "--output-format", "json", "--structured", "--show-summary", "none"]
    for r in rule_files:
        args += ["--rules", str(r)]
    for d in data:
        args += ["--data", str(d)]
    with tempfile.TemporaryDirectory(prefix="infra-bot-guard-") as tmp:
        proc = _guard(binary, args, Path(tmp))
    if proc.returncode not in (0, 19):  # 19: some rule failed
        raise RuntimeError(f"cfn-guard exited {proc.returncode}: {proc.stderr.strip()[:300]}")
    return parse_report(json.loads(proc.stdout or "[]"), rel)


def compare_guard(
    binary: Path,
    workspace: Path,
    trusted: Sequence[Finding],
    data: Sequence[Path],
    rel: dict[str, str],
) -> GuardComparison:
    """The PR's guard/rules next to the trusted run's guard findings (`trusted`)."""
    pr = Policy(workspace)
    found = pr.guard_rules_dir.glob("*.guard") if pr.guard_rules_dir.is_dir() else ()
    # A symlink could point cfn-guard at a file outside the PR checkout.
    rule_files = sorted(p for p in found if not p.is_symlink())
    try:
        tests = run_rule_tests(binary, workspace, rule_files)
        theirs = validate_with(binary, rule_files, data, rel)
    except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as exc:
        return GuardComparison(error=f"{type(exc).__name__}: {exc}"[:DETAIL_LIMIT])
    ours = {f for f in trusted if f.tool == "cfn-guard"}

    def key(f: Finding) -> tuple[str, str, str | None]:
        return (f.path, f.check_id, f.resource)

    ours_keys, theirs_keys = {key(f) for f in ours}, {key(f) for f in theirs}
    return GuardComparison(
        tests=tuple(tests),
        dropped=tuple(sorted(f for f in ours if key(f) not in theirs_keys)),
        added=tuple(sorted(f for f in set(theirs) if key(f) not in ours_keys)),
    )


def guard_changed(changed: Sequence[RulesFile]) -> bool:
    return any(c.path.startswith("guard/rules/") or c.path.startswith("guard/tests/")
               for c in changed)  # fmt: skip


def rules_section(changed: Sequence[RulesFile], guard: GuardComparison | None = None) -> str:
    """The review's opening section: the changed rules files, then the PR's guard rules'
    own verdict. Empty when nothing changed. Pure."""
    if not changed:
        return ""
    lines = [
        MARKER_HEADING,
        "",
        "> [!WARNING]",
        "> These files decide how infra-bot checks and deploys. This review used the "
        "base branch's copy of them; the PR's version takes effect only once merged.",
        "",
    ]
    lines += [
        f"- `{escape_md(c.path)}`{f' ({c.status})' if c.status else ''}: {escape_md(c.what)}"
        for c in changed
    ]
    if guard is not None:
        lines += ["", *_guard_lines(guard)]
    return "\n".join(lines) + "\n"


def _guard_lines(guard: GuardComparison) -> list[str]:
    if guard.error:
        return [f"The PR's guard rules could not be run: `{escape_md(guard.error)}`."]
    lines = ["**What the PR's guard rules would report** (run as data, not used for this review):"]
    lines.append("")
    passed = [t for t in guard.tests if t.ok]
    if passed:
        lines.append(f"- {len(passed)} rule file(s) pass their own rule tests")
    for t in guard.tests:
        if not t.ok:
            lines.append(f"- `{escape_md(t.path)}`: its rule tests **fail**")
            if t.detail:
                lines += ["", "  ```text", *[f"  {x}" for x in t.detail.splitlines()], "  ```"]
    for label, items in (("no longer reported", guard.dropped), ("newly reported", guard.added)):
        if items:
            lines.append(f"- {len(items)} finding(s) {label} with the PR's rules:")
            lines += [
                f"  - `{escape_md(f.path or '(repository)')}` {finding_line_md(f)}"
                for f in items[:LIST_LIMIT]
            ]
            if len(items) > LIST_LIMIT:
                lines.append(f"  - … and {len(items) - LIST_LIMIT} more")
    if not (guard.dropped or guard.added):
        lines.append("- the same guard findings as the base branch's rules")
    return lines

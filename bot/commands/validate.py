"""`infra-bot validate`: every check over the repository, or what a diff touches."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bot.commands.common import fail, repo_root
from bot.redact import active

if TYPE_CHECKING:
    from bot.checks.engine import Report
    from bot.repo.model import Repository


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class Format(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"
    markdown = "markdown"
    github = "github"


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)


def validate(
    paths: list[Path] = typer.Argument(None, help="Templates, deployment files or folders."),
    changed_since: str | None = typer.Option(None, help="Only what changed since this git ref."),
    env: list[str] = typer.Option([], "--env", help="Environment(s) to check; default all."),
    fmt: Format = typer.Option(Format.text, "--format", help="Output format."),
    fail_on: str = typer.Option("error", help="Lowest severity that fails: error|warning|info."),
    check: list[str] = typer.Option([], "--check", help="Run only these checks (ids)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to a file."),
    root: Path | None = typer.Option(None, "--root", help="Repository root."),
    policy_root: Path | None = typer.Option(
        None,
        "--policy-root",
        help="Trusted checkout to read environments, guard rules and .cfnlintrc from "
        "(default: --root). The PR workflow passes the base commit's.",
    ),
    baseline: Path | None = typer.Option(
        None,
        "--baseline",
        help="Report only findings not in this baseline (infra-bot baseline). A relative "
        "path is read from the trusted checkout (--policy-root).",
    ),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Run every check; neither read nor write the findings cache."
    ),
    cache_dir: Path | None = typer.Option(
        None,
        envvar="INFRA_BOT_FINDINGS_CACHE",
        help="Findings cache (default: ~/.cache/infra-bot/findings, or under $XDG_CACHE_HOME).",
    ),
) -> None:
    """Run every check in bot.checks: cfn-lint, cfn-guard, the Kubernetes check, cross-stack."""
    from bot.checks.discovery import CheckDefinitionError, UnknownCheckError, registry, select
    from bot.findings import Severity
    from bot.findings_cache import FindingsCache, default_dir, using
    from bot.repo.changes import GitError
    from bot.repo.model import RepoError, Repository

    try:
        threshold = Severity.parse(fail_on)
        select(registry(), list(check) or None)
    except (ValueError, UnknownCheckError, CheckDefinitionError) as exc:
        raise fail(str(exc)) from None
    from bot.repo.policy import Policy

    trusted = Policy(policy_root.resolve()) if policy_root else None
    repo = Repository(root.resolve() if root else repo_root(), trusted=trusted)
    try:
        cache = None if no_cache else FindingsCache(cache_dir or default_dir())
        with using(cache):
            report = _run(repo, list(paths or []), changed_since, tuple(env), list(check) or None)
    except (RepoError, GitError) as exc:
        raise fail(str(exc)) from None
    note = ""
    if baseline is not None:
        try:
            note = _apply_baseline(report, repo, baseline)
        except (OSError, ValueError) as exc:
            raise fail(str(exc)) from None
    text = active().text(_render(report, fmt, note))
    if output:
        output.write_text(text, encoding="utf-8")
    elif fmt is Format.text:
        _print_table(report, note)
    else:
        sys.stdout.write(text + ("\n" if not text.endswith("\n") else ""))
    if report.failed(threshold):
        raise typer.Exit(1)


def _run(
    repo: Repository,
    paths: list[Path],
    changed_since: str | None,
    envs: tuple[str, ...],
    only: list[str] | None,
) -> Report:
    from bot.checks.engine import (
        all_targets,
        changed_targets,
        nothing_to_check,
        run_checks,
        targets_for_paths,
    )
    from bot.repo.model import RepoError
    from bot.toolchain import Toolchain

    for name in envs:
        repo.environment(name)
    missing = [str(p) for p in paths if not (p if p.is_absolute() else repo.root / p).exists()]
    if missing:
        raise RepoError(f"no such file or folder: {', '.join(missing)}")
    if paths:
        targets = targets_for_paths(repo, paths, envs)
        what = ", ".join(str(p) for p in paths)
    elif changed_since:
        targets = changed_targets(repo, changed_since, envs)
        what = f"the diff since {changed_since}"
    else:
        targets = all_targets(repo, envs)
        what = "the repository"
    report = run_checks(repo, targets, Toolchain(), only=only, base_ref=changed_since)
    # Asked for files (or the whole repository) and found none: that must fail,
    # not read as "0 errors". A diff that touches nothing checkable is just a note.
    empty = nothing_to_check(targets, what, expected=not changed_since or bool(paths))
    if empty is not None:
        report.findings = sorted([*report.findings, empty])
    return report


def _apply_baseline(report: Report, repo: Repository, given: Path) -> str:
    """Drop the findings the baseline holds; the note says how many (bot.baseline).
    A relative path is the trusted checkout's file: a PR cannot widen its baseline."""
    from bot.baseline import loads, suppressed_note

    path = given if given.is_absolute() else repo.policy.root / given
    text = path.read_text(encoding="utf-8")
    new, old = loads(text, given.as_posix()).split(report.findings)
    report.findings = new
    return suppressed_note(len(old), given.as_posix())


def _render(report: Report, fmt: Format, baseline_note: str = "") -> str:
    from bot.render import findings as render

    findings, coverage = report.findings, report.coverage
    notes = [*_rule_lines(report), *([baseline_note] if baseline_note else [])]
    if fmt is Format.json:
        data = json.loads(render.to_json(findings, coverage))
        if baseline_note:
            data["baseline"] = baseline_note
        if report.rule_notes:
            data["rules"] = report.rule_notes
        return json.dumps(data, indent=2)
    if fmt is Format.sarif:
        tools = [render.SARIF_TOOL.get(c, "infra-bot") for c in report.checks]
        return json.dumps(render.to_sarif(findings, tools, coverage), indent=2)
    if fmt is Format.markdown:
        return "\n\n".join([render.to_markdown(findings, coverage=coverage), *notes])
    if fmt is Format.github:
        return "\n".join([render.to_github(findings, coverage), *(f"::notice::{n}" for n in notes)])
    lines = [
        f"{f.path}:{f.line}:{f.column}: {f.severity.label} {f.check_id} {f.message}"
        for f in findings
    ]
    notes = [render.coverage_line(c) for c in coverage] + notes
    return "\n".join([*lines, *(f"# {n}" for n in notes)])


def _rule_lines(report: Report) -> list[str]:
    return [f"rule configured in .github/infra-bot.yml: {n}" for n in report.rule_notes]


def _print_table(report: Report, note: str = "") -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from bot.render.findings import by_file, coverage_line, not_run, ran, summary_counts

    console = Console()
    for path, items in by_file(report.findings).items():
        table = Table(title=escape(path), title_justify="left", show_edge=False)
        for col in ("line", "severity", "check", "NIST", "message"):
            table.add_column(col, overflow="fold")
        for f in items:
            table.add_row(str(f.line or ""), f.severity.label, f.check_id,
                          f.nist_control or "", escape(f.message))  # fmt: skip
        console.print(table)
    for c in ran(report.coverage):
        console.print(f"checked {escape(coverage_line(c))}", highlight=False)
    for c in not_run(report.coverage):
        console.print(f"skipped {escape(coverage_line(c))}", highlight=False)
    for line in [*_rule_lines(report), note]:
        if line:
            console.print(escape(line), highlight=False)
    targets = report.targets
    console.print(
        f"{plural(len(targets.templates), 'template')}, "
        f"{plural(len(targets.releases), 'release')}: "
        f"{summary_counts(report.findings)}",
        highlight=False,
    )

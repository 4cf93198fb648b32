"""`infra-bot validate`: every check over the repository, or what a diff touches."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path

import typer

from bot.commands.common import fail, repo_root
from bot.redact import active


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
    check: list[str] = typer.Option([], "--check", help="Run only these checks."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to a file."),
    root: Path | None = typer.Option(None, "--root", help="Repository root."),
    policy_root: Path | None = typer.Option(
        None,
        "--policy-root",
        help="Trusted checkout to read environments, guard rules and .cfnlintrc from "
        "(default: --root). The PR workflow passes the base commit's.",
    ),
) -> None:
    """Run cfn-lint, cfn-guard, the Kubernetes schema check and cross-stack checks."""
    from bot.checks.engine import all_targets, changed_targets, run_checks, targets_for_paths
    from bot.findings import Severity
    from bot.repo.changes import GitError
    from bot.repo.model import RepoError, Repository
    from bot.toolchain import Toolchain

    try:
        threshold = Severity.parse(fail_on)
    except ValueError as exc:
        raise fail(str(exc)) from None
    from bot.repo.policy import Policy

    trusted = Policy(policy_root.resolve()) if policy_root else None
    repo = Repository(root.resolve() if root else repo_root(), trusted=trusted)
    envs = tuple(env)
    try:
        for name in envs:
            repo.environment(name)
        if paths:
            targets = targets_for_paths(repo, list(paths), envs)
        elif changed_since:
            targets = changed_targets(repo, changed_since, envs)
        else:
            targets = all_targets(repo, envs)
        report = run_checks(
            repo, targets, Toolchain(), only=list(check) or None, base_ref=changed_since
        )
    except (RepoError, GitError) as exc:
        raise fail(str(exc)) from None
    text = active().text(_render(report.findings, fmt, report.checks))
    if output:
        output.write_text(text, encoding="utf-8")
    elif fmt is Format.text:
        _print_table(report.findings, len(targets.templates), len(targets.releases))
    else:
        sys.stdout.write(text + ("\n" if not text.endswith("\n") else ""))
    if report.failed(threshold):
        raise typer.Exit(1)


def _render(findings: list, fmt: Format, checks: list[str]) -> str:  # type: ignore[type-arg]
    from bot.render import findings as render

    if fmt is Format.json:
        return render.to_json(findings)
    if fmt is Format.sarif:
        tools = {"cfn-lint": "cfn-lint", "cfn-guard": "cfn-guard"}
        return json.dumps(render.to_sarif(findings, [tools.get(c, "infra-bot") for c in checks]),
                          indent=2)  # fmt: skip
    if fmt is Format.markdown:
        return render.to_markdown(findings)
    if fmt is Format.github:
        return render.to_github(findings)
    return "\n".join(
        f"{f.path}:{f.line}:{f.column}: {f.severity.label} {f.check_id} {f.message}"
        for f in findings
    )


def _print_table(findings: list, n_templates: int, n_releases: int) -> None:  # type: ignore[type-arg]
    from rich.console import Console
    from rich.table import Table

    from bot.render.findings import by_file, summary_counts

    console = Console()
    for path, items in by_file(findings).items():
        table = Table(title=path, title_justify="left", show_edge=False)
        for col in ("line", "severity", "check", "NIST", "message"):
            table.add_column(col, overflow="fold")
        for f in items:
            table.add_row(str(f.line or ""), f.severity.label, f.check_id,
                          f.nist_control or "", f.message)  # fmt: skip
        console.print(table)
    console.print(f"{n_templates} templates, {n_releases} releases: {summary_counts(findings)}")

"""`infra-bot baseline`: write today's findings, so `validate --baseline` reports only new ones."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.commands.common import fail, repo_root


def register(app: typer.Typer) -> None:
    app.command("baseline")(baseline)


def baseline(
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Where to write (default: .github/infra-bot-baseline.json)."
    ),
    env: list[str] = typer.Option([], "--env", help="Environment(s) to check; default all."),
    root: Path | None = typer.Option(None, "--root", help="Repository root."),
    policy_root: Path | None = typer.Option(
        None, "--policy-root", help="Trusted checkout to read the rules from (default: --root)."
    ),
) -> None:
    """Run every check over the whole repository and write what it finds as the baseline."""
    from bot.baseline import DEFAULT_PATH, dumps
    from bot.checks.engine import all_targets, run_checks
    from bot.repo.changes import GitError
    from bot.repo.model import RepoError, Repository
    from bot.repo.policy import Policy
    from bot.toolchain import Toolchain

    trusted = Policy(policy_root.resolve()) if policy_root else None
    repo = Repository(root.resolve() if root else repo_root(), trusted=trusted)
    try:
        for name in env:
            repo.environment(name)
        report = run_checks(repo, all_targets(repo, tuple(env)), Toolchain())
    except (RepoError, GitError) as exc:
        raise fail(str(exc)) from None
    crashed = [f for f in report.findings if f.check_id.endswith("/crashed")]
    if crashed:
        # A check that could not run found nothing: that is not a baseline.
        raise fail(f"not written: {crashed[0].message}", 1)
    target = output if output is not None else repo.root / DEFAULT_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(dumps(report.findings), encoding="utf-8")
    typer.echo(f"wrote {len(report.findings)} findings to {target}")

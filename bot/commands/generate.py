"""`infra-bot generate "<text>"` and the `/infra <text>` runner: a sentence in, a change out.

Locally the change is written as a new branch and its diff printed; in a
workflow it becomes a pull request linked to the issue. Heavy imports
(langchain, boto3, the checks) happen inside the functions.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.commands.common import fail, repo_root

if TYPE_CHECKING:
    from bot.github.commands import CommandRequest, CommandResult
    from bot.llm.bedrock import Proposer
    from bot.llm.config import LlmConfig
    from bot.llm.loop import Proposal


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_command)


def choose_mode(
    configured: str, offline_flag: bool, has_credentials: bool, has_endpoint: bool
) -> tuple[str, str]:
    """("offline" | "bedrock", why). Pure: the table in the tests is the spec."""
    if offline_flag:
        return "offline", "--offline was given"
    if configured == "offline":
        return "offline", "llm: offline in .github/infra-bot.yml"
    if not has_credentials and not has_endpoint:
        return "offline", "no AWS credentials were found"
    return "bedrock", ""


def _has_credentials() -> bool:
    import boto3

    return boto3.Session().get_credentials() is not None


def make_proposer(config: LlmConfig, root: Path, offline: bool) -> tuple[Proposer, str]:
    from bot.llm.bedrock import BedrockProposer
    from bot.llm.offline import OfflineProposer

    has_creds = offline or config.mode == "offline" or _has_credentials()
    mode, why = choose_mode(config.mode, offline, has_creds, bool(config.endpoint_url))
    if mode == "offline":
        return OfflineProposer.for_repo(root), why
    return BedrockProposer(config), ""


def unified_diff(proposal: Proposal) -> str:
    out: list[str] = []
    for change in proposal.changes:
        before = (change.old or "").splitlines(keepends=True)
        after = change.new.splitlines(keepends=True)
        src = f"a/{change.path}" if change.old is not None else "/dev/null"
        out += difflib.unified_diff(before, after, src, f"b/{change.path}")
    return "".join(out)


def generate_command(
    text: Annotated[str, typer.Argument(help="What to change, in a sentence.")],
    offline: Annotated[bool, typer.Option(help="Use the offline blueprints, not Bedrock.")] = False,
    issue: Annotated[int | None, typer.Option(help="Issue number (for the branch name).")] = None,
    rounds: Annotated[
        int | None, typer.Option(help="Repair rounds (default from settings).")
    ] = None,
    branch: Annotated[bool, typer.Option(help="Write the change as a local git branch.")] = True,
    root: Annotated[Path | None, typer.Option("--root", help="Repository root.")] = None,
) -> None:
    """Generate a change: write it on branch infra-bot/<issue>-<slug> and print the diff."""
    from bot.llm.bedrock import BedrockError
    from bot.llm.checking import engine_checker
    from bot.llm.config import LlmConfigError, load_llm_config
    from bot.llm.localgit import write_branch
    from bot.llm.loop import generate
    from bot.llm.pr import branch_name
    from bot.llm.render import pr_title, usage_line
    from bot.render.findings import coverage_summary
    from bot.repo.changes import GitError

    base = (root or repo_root()).resolve()
    try:
        config = load_llm_config(base)
    except LlmConfigError as exc:
        raise fail(str(exc)) from None
    proposer, why = make_proposer(config, base, offline)
    if why:
        typer.echo(f"offline generator ({why})", err=True)
    try:
        proposal, ws = generate(
            text, base, proposer, engine_checker(base),
            max_rounds=rounds or config.max_rounds, budget_tokens=config.context_tokens,
        )  # fmt: skip
    except BedrockError as exc:
        raise fail(str(exc)) from None
    ws.remove()
    if not proposal.changes:
        typer.echo(proposal.error or "no change was proposed", err=True)
        raise typer.Exit(1)
    for warning in proposal.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(unified_diff(proposal), nl=False)
    name = branch_name(issue, proposal.title)
    if branch and (base / ".git").exists():
        try:
            sha = write_branch(base, name, dict(proposal.files), pr_title(proposal))
            typer.echo(f"wrote branch {name} ({sha[:12]})", err=True)
        except GitError as exc:
            raise fail(f"could not write branch {name}: {exc}") from None
    typer.echo(usage_line(proposal), err=True)
    typer.echo(coverage_summary(proposal.coverage), err=True)
    for f in proposal.findings:
        typer.echo(f"{f.path}:{f.line}: {f.severity.label} {f.check_id} {f.message}", err=True)
    if proposal.findings:
        raise typer.Exit(1)


def run_generate(request: CommandRequest) -> CommandResult:
    """`/infra <text>`: on an issue, generate and open a pull request; on one, revise it."""
    from bot.github.commands import CommandResult
    from bot.github.grammar import Where
    from bot.llm.bedrock import BedrockError
    from bot.llm.checking import engine_checker
    from bot.llm.config import LlmConfigError, parse_llm_config
    from bot.llm.pr import generate_pull_request
    from bot.llm.render import pr_body
    from bot.repo.safeyaml import UnsafeYamlError

    revising = request.where is Where.PR and request.pr is not None
    if not revising and (request.where is not Where.ISSUE or request.number is None):
        return CommandResult(False, "Ask for a change in an issue: `/infra <what to change>`.")
    # Settings come from the default branch, never from a PR head.
    try:
        import yaml

        raw = request.api.read_file(".github/infra-bot.yml", request.api.default_branch())
        config = parse_llm_config(yaml.safe_load(raw) if raw else None)
    except (LlmConfigError, UnsafeYamlError, ValueError) as exc:
        return CommandResult(False, f"The `llm:` settings cannot be used: {exc}")
    proposer, why = make_proposer(config, request.workspace, offline=False)
    text = request.command.text
    context = [request.command.context] if request.command.context else []
    if revising:
        return _revise(request, config, proposer, context)
    assert request.number is not None
    try:
        outcome = generate_pull_request(
            text, request.number, request.workspace, request.api, proposer,
            engine_checker(request.workspace, request.policy), max_rounds=config.max_rounds,
            budget_tokens=config.context_tokens, requested_by=request.actor, reply=False,
            reviewer_comments=context,
        )  # fmt: skip
    except BedrockError as exc:
        return CommandResult(False, f"Bedrock could not be used: {exc}")
    note = f"\n\n(Offline generator: {why}.)" if why else ""
    summary = pr_body(outcome.proposal, request.number) if outcome.pull_request else outcome.reply
    return CommandResult(outcome.pull_request is not None, outcome.reply + note, None, summary)


def _revise(
    request: CommandRequest, config: LlmConfig, proposer: Proposer, context: list[str]
) -> CommandResult:
    from bot.github.commands import CommandResult
    from bot.llm.bedrock import BedrockError
    from bot.llm.checking import engine_checker
    from bot.llm.revise import revise_pull_request

    assert request.pr is not None
    try:
        revision = revise_pull_request(
            request.command.text, request.pr, request.workspace, request.api, proposer,
            engine_checker(request.workspace, request.policy), max_rounds=config.max_rounds,
            budget_tokens=config.context_tokens, extra_comments=context,
        )  # fmt: skip
    except BedrockError as exc:
        return CommandResult(False, f"Bedrock could not be used: {exc}")
    return CommandResult(revision.commit is not None, revision.reply)

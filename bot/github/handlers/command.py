"""`/infra` commands from a comment, a review body, or a workflow_dispatch input.

parse -> acknowledge (eyes) -> authorize -> run through the command table ->
answer (a sticky comment or a reply) -> rocket or confused. Every refusal is
answered politely and logged; nothing the user wrote is executed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bot.github import commands
from bot.github.actions import append_summary, log
from bot.github.api import GitHubError, Permission, PullRequestInfo, Reaction
from bot.github.auth import (
    CONFIG_PATH,
    Actor,
    BotConfig,
    ConfigError,
    Decision,
    decide_access,
    decide_settings,
    parse_config,
)
from bot.github.commands import CommandRequest, CommandResult
from bot.github.context import Context, Outcome
from bot.github.grammar import Command, ParseError, Verb, Where, first_line, help_text, parse
from bot.github.sticky import post_sticky
from bot.render.comments import split_body
from bot.render.text import blockquote, quote_untrusted

# Commands whose runners read the pull request (the rest get it only when mutating,
# for the fork check).
NEEDS_PR = frozenset({Verb.VALIDATE, Verb.STATUS, Verb.COST, Verb.PLAN})
# Commands about what a PR will deploy: meaningless, or dangerous, once it is closed
# (a closed PR's head was never merged, and apply would deploy it anyway).
NEEDS_OPEN_PR = frozenset({Verb.APPLY, Verb.PLAN, Verb.APPROVE_COST})


@dataclass(frozen=True)
class Source:
    """Where a command came from and how to answer it."""

    body: str
    author: str
    author_is_bot: bool
    where: Where
    default_branch: str
    number: int | None = None  # issue or PR to answer on
    comment_id: int | None = None  # to react to
    pr: PullRequestInfo | None = None  # known already (review events)


def known_environments(ctx: Context) -> frozenset[str]:
    from bot.repo.model import RepoError, Repository

    try:
        # Names come from the trusted checkout: a PR cannot add an environment to
        # the allowlist of its own commands.
        return frozenset(Repository(ctx.trusted_root).environments)
    except (RepoError, OSError, ValueError):
        return frozenset()


def reply_text(source: Source, message: str) -> str:
    """The user's command quoted back (defused), then the answer."""
    return f"{blockquote(first_line(source.body), limit=300)}\n\n{message}"


def handle_command(ctx: Context, source: Source) -> Outcome:
    if source.author_is_bot:
        return Outcome(0, "ignored: comments by bots (including this one) never run commands")
    parsed = parse(source.body, source.where, known_environments(ctx))
    if parsed is None:
        return Outcome(0, "ignored: not an /infra command")
    _react(ctx, source, Reaction.EYES)
    if isinstance(parsed, ParseError):
        text = f"{quote_untrusted(parsed.message)}\n\n{help_text(source.where)}"
        _answer(ctx, source, CommandResult(False, reply_text(source, text)))
        return Outcome(0, f"refused: {parsed.message}")
    try:
        return _authorized_run(ctx, source, parsed)
    except GitHubError as exc:
        log(f"{parsed}: GitHub error: {exc}")
        _safe_answer(ctx, source, f"GitHub refused a request while running this: {exc}")
        return Outcome(1, f"failed: {exc}")


def _authorized_run(ctx: Context, source: Source, command: Command) -> Outcome:
    pr = source.pr
    spec = command.spec
    if (
        pr is None
        and source.number is not None
        and source.where is Where.PR
        and (spec.mutating or spec.verb in NEEDS_PR)
    ):
        pr = ctx.api.pull_request(source.number)
        source = replace(source, pr=pr)
    # help and status are for anyone: skip the permission lookup they do not need.
    permission = (
        ctx.api.permission(source.author) if spec.who > Permission.NONE else Permission.NONE
    )
    actor = Actor(source.author, source.author_is_bot, permission)
    decision = decide_access(command, actor, from_fork=bool(pr and pr.from_fork))
    if decision.allowed:
        decision = _open_pr_decision(command, pr) or decision
    if decision.allowed and spec.mutating:
        # Read only now: most refusals need no settings, and they cost a request.
        config: BotConfig | ConfigError
        try:
            config = parse_config(ctx.api.read_file(CONFIG_PATH, source.default_branch))
        except ConfigError as exc:
            config = exc
        decision = decide_settings(
            command, actor, pr_open=bool(pr and pr.state == "open"), config=config,
            team_members=ctx.api.team_members,
        )  # fmt: skip
    if not decision.allowed:
        log(f"denied {command} for {source.author} ({permission.name.lower()}): {decision.reason}")
        message = f"Sorry, I can't do that: {decision.reason}."
        _answer(ctx, source, CommandResult(False, reply_text(source, message)))
        return Outcome(0, f"denied: {decision.reason}")
    comment_at = _comment_time(ctx, source) if command.verb is Verb.APPLY else None
    request = CommandRequest(
        command, ctx.api, ctx.settings, ctx.workspace, source.author, source.where,
        source.number, pr, ctx.sarif_path, comment_at=comment_at,
        trusted_root=ctx.trusted_root,
    )  # fmt: skip
    result = commands.run(request, ctx.table)
    if result.body and not result.kind:
        result = CommandResult(result.ok, reply_text(source, result.body), None, result.summary)
    _answer(ctx, source, result)
    log(f"{command} by {source.author}: {'ok' if result.ok else 'failed'}")
    return Outcome(
        0 if result.ok else 1, f"{command.verb.value}: {'ok' if result.ok else 'failed'}"
    )


def _open_pr_decision(command: Command, pr: PullRequestInfo | None) -> Decision | None:
    """A refusal for a command that needs an open PR and has none, else None."""
    if command.verb not in NEEDS_OPEN_PR or (pr is not None and pr.state == "open"):
        return None
    state = f"#{pr.number} is {'merged' if pr.merged else pr.state}" if pr else "there is none"
    return Decision(False, f"`{command.verb.value}` needs an open pull request ({state})")


def _comment_time(ctx: Context, source: Source) -> datetime | None:
    """When the command's comment was written, as GitHub says (None: not a comment)."""
    if source.comment_id is None or source.number is None:
        return None
    found = next((c for c in ctx.api.list_issue_comments(source.number)
                  if c.id == source.comment_id), None)  # fmt: skip
    return found.created_at if found else None


def _react(ctx: Context, source: Source, reaction: Reaction) -> None:
    if source.comment_id is not None:
        ctx.api.add_reaction(source.comment_id, reaction)


def _answer(ctx: Context, source: Source, result: CommandResult) -> None:
    append_summary(ctx.settings.step_summary, result.summary or result.body)
    if result.body and source.number is not None:
        if result.kind:
            valid_at = result.valid_at or datetime.now(UTC)
            if result.valid_at is None and source.pr is not None:
                valid_at = ctx.api.commit_time(source.pr.head_sha)
            post_sticky(ctx.api, source.number, kind=result.kind, valid_at=valid_at,
                        body=result.body)  # fmt: skip
        else:  # a reply; a long one (a runner's report) goes out in parts
            for part in split_body(result.body):
                ctx.api.create_issue_comment(source.number, part)
    _react(ctx, source, Reaction.ROCKET if result.ok else Reaction.CONFUSED)


def _safe_answer(ctx: Context, source: Source, message: str) -> None:
    try:
        _answer(ctx, source, CommandResult(False, reply_text(source, message)))
    except GitHubError as exc:  # the original error is already logged
        log(f"could not report the failure: {exc}")


def handle_workflow_step(ctx: Context, pr: PullRequestInfo, default_branch: str) -> Outcome:
    """`infra-bot handle --run "plan"` in a pull_request workflow: the workflow is the actor.

    Its text comes from the workflow file (trusted), so there is no permission
    lookup; forks are still refused for mutating commands.
    """
    parsed = parse(f"/infra {ctx.run_command or ''}", Where.PR, known_environments(ctx))
    if not isinstance(parsed, Command) or parsed.verb is Verb.GENERATE:
        # A step runs a named command; free text (a change request) is a typo here.
        problem = parsed.message if isinstance(parsed, ParseError) else "not a command"
        return Outcome(2, f"--run {ctx.run_command!r}: {problem}")
    if parsed.spec.mutating and pr.from_fork:
        return Outcome(0, f"skipped {parsed} for a pull request from a fork")
    source = Source("", ctx.settings.actor or "workflow", False, Where.PR, default_branch,
                    number=pr.number, pr=pr)  # fmt: skip
    request = CommandRequest(
        parsed, ctx.api, ctx.settings, ctx.workspace, source.author, Where.PR, pr.number, pr,
        ctx.sarif_path, from_workflow=True, trusted_root=ctx.trusted_root,
    )  # fmt: skip
    result = commands.run(request, ctx.table)
    if result.body and not result.kind:  # a workflow step edits its comment on every push
        result = replace(result, kind=parsed.verb.value)
    _answer(ctx, source, result)
    return Outcome(0 if result.ok else 1, f"{parsed.verb.value}: {'ok' if result.ok else 'failed'}")

"""Event -> handler. Unknown events end quietly with exit code 0."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.github.context import Context, Outcome
from bot.github.events import (
    CommentCreated,
    Dispatched,
    Event,
    Ignored,
    PullRequestChanged,
    Pushed,
    ReviewSubmitted,
    Scheduled,
)
from bot.github.grammar import Where
from bot.github.handlers.command import Source, handle_command, handle_workflow_step


def route(ctx: Context, event: Event) -> Outcome:
    if isinstance(event, Ignored):
        return Outcome(0, f"ignored: {event.reason}")
    if ctx.run_command is not None:
        return _workflow_step(ctx, event)
    handler: Callable[[Context, Any], Outcome] = _HANDLERS[type(event)]
    return handler(ctx, event)


def _comment(ctx: Context, event: CommentCreated) -> Outcome:
    where = Where.PR if event.is_pr else Where.ISSUE
    return handle_command(ctx, Source(
        event.body, event.author, event.author_is_bot, where, event.default_branch,
        number=event.number, comment_id=event.comment_id,
    ))  # fmt: skip


def _review(ctx: Context, event: ReviewSubmitted) -> Outcome:
    return handle_command(ctx, Source(
        event.body, event.author, event.author_is_bot, Where.PR, event.default_branch,
        number=event.pr.number, pr=event.pr,
    ))  # fmt: skip


def _dispatch(ctx: Context, event: Dispatched) -> Outcome:
    command = event.inputs.get("command", "").strip()
    if not command:
        return Outcome(0, "ignored: workflow_dispatch without a `command` input")
    return handle_command(ctx, Source(
        f"/infra {command}", event.actor, False, Where.DISPATCH, event.default_branch,
    ))  # fmt: skip


def _pull_request(ctx: Context, event: PullRequestChanged) -> Outcome:
    from bot.github.handlers.pull_request import on_pull_request

    return on_pull_request(ctx, event)


def _push(ctx: Context, event: Pushed) -> Outcome:
    from bot.github.handlers.scheduled import on_push

    return on_push(ctx, event)


def _schedule(ctx: Context, event: Scheduled) -> Outcome:
    from bot.github.handlers.scheduled import on_schedule

    return on_schedule(ctx, event)


def _workflow_step(ctx: Context, event: Event) -> Outcome:
    if not isinstance(event, PullRequestChanged) or event.action == "closed":
        return Outcome(0, "ignored: --run applies to an open pull request's events")
    # These workflows run for PRs into the default branch, where the settings live.
    return handle_workflow_step(ctx, event.pr, event.pr.base_ref)


_HANDLERS: dict[type, Callable[[Context, Any], Outcome]] = {
    CommentCreated: _comment,
    ReviewSubmitted: _review,
    Dispatched: _dispatch,
    PullRequestChanged: _pull_request,
    Pushed: _push,
    Scheduled: _schedule,
}

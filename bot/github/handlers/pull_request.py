"""pull_request events: validate on opened/synchronize/reopened; closed goes to cloud."""

from __future__ import annotations

from bot.github.actions import log
from bot.github.commands import CommandRequest, UnavailableError, resolve
from bot.github.context import Context, Outcome
from bot.github.events import PullRequestChanged
from bot.github.grammar import Command, Verb, Where

# The cloud part may clean up change sets of a closed PR; optional.
ON_CLOSED = "bot.github.handlers.cloud:on_pull_request_closed"


def on_pull_request(ctx: Context, event: PullRequestChanged) -> Outcome:
    from bot.github.handlers.builtin import run_validate

    pr = event.pr
    request = CommandRequest(
        Command(Verb.VALIDATE), ctx.api, ctx.settings, ctx.workspace, pr.author, Where.PR,
        pr.number, pr, ctx.sarif_path, trusted_root=ctx.trusted_root,
    )  # fmt: skip
    if event.action == "closed":
        try:
            runner = resolve(ON_CLOSED)
        except UnavailableError as exc:
            return Outcome(0, f"closed #{pr.number}: nothing to clean up ({exc})")
        result = runner(request)
        return Outcome(0 if result.ok else 1, f"closed #{pr.number}")
    log(f"validating #{pr.number} at {pr.head_sha[:7]}")
    run_validate(request)
    # A failing check is reported by the commit status, not by failing the job:
    # the job failing too would double every red mark on the PR.
    return Outcome(0, f"validated #{pr.number}")

"""push to the default branch (deploy) and schedule (drift): no thread to answer in."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.github.actions import append_summary, log
from bot.github.commands import CommandRequest, CommandResult, UnavailableError, resolve
from bot.github.context import Context, Outcome
from bot.github.events import Pushed, Scheduled
from bot.github.grammar import Command, Verb, Where

DEPLOY = "bot.github.handlers.deploy:run_deploy"


def _run(ctx: Context, target: str, command: Command, actor: str) -> CommandResult:
    request = CommandRequest(command, ctx.api, ctx.settings, ctx.workspace, actor, Where.DISPATCH,
                             stage=ctx.stage, plan=ctx.plan,
                             trusted_root=ctx.trusted_root)  # fmt: skip
    try:
        runner = resolve(target)
    except UnavailableError as exc:
        return CommandResult(False, f"This build of infra-bot cannot run `{command}`: {exc}.")
    return runner(request)


def on_push(ctx: Context, event: Pushed) -> Outcome:
    if not event.to_default_branch:
        return Outcome(0, f"ignored: push to {event.ref}, not the default branch")
    if ctx.env is None:
        return Outcome(2, "a deploy needs --env (the environment this job is bound to)")
    result = _run(ctx, DEPLOY, Command(Verb.APPLY, (ctx.env,)), event.pusher)
    append_summary(ctx.settings.step_summary, result.summary or result.body)
    log(f"deploy {ctx.env} at {event.after[:7]}: {'ok' if result.ok else 'failed'}")
    return Outcome(0 if result.ok else 1, f"deploy {ctx.env}")


def on_schedule(ctx: Context, event: Scheduled) -> Outcome:
    """Drift in every environment (or the bound one), then the one tracking issue.

    Exit code 1 when drift is found or an environment could not be checked, so the
    scheduled run shows red; the summary is written before GitHub is asked anything.
    """
    from bot.github.commands import TABLE
    from bot.github.drift_issue import sync_issue
    from bot.github.handlers.cloud import DriftResult

    table = ctx.table or TABLE
    command = Command(Verb.DRIFT, (ctx.env,) if ctx.env else ())
    result = _run(ctx, table[Verb.DRIFT], command, "schedule")
    append_summary(ctx.settings.step_summary, result.summary or result.body)
    if isinstance(result, DriftResult):  # not a drift report (e.g. unavailable): no issue
        note = sync_issue(
            ctx.api, result.verdict, result.body, env=ctx.env,
            when=datetime.now(UTC), run_url=ctx.settings.run_url,
        )  # fmt: skip
        append_summary(ctx.settings.step_summary, f"\n{note}")
        log(note)
    log(f"scheduled drift ({event.cron}): {'ok' if result.ok else 'failed'}")
    return Outcome(0 if result.ok else 1, "drift")

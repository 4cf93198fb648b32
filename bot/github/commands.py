"""The command table: each `/infra` verb -> the function that runs it.

Entries are "module:function" strings imported only when the verb is used, so
a build without the AWS or LLM parts still answers everything else, and
`infra-bot --help` never imports boto3 or langchain. Every runner has the same
shape: `run(request: CommandRequest) -> CommandResult`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.github.actions import log
from bot.github.api import GitHubAPI, GitHubError, PullRequestInfo
from bot.github.grammar import Command, Verb, Where
from bot.repo.policy import Policy
from bot.settings import Settings


@dataclass(frozen=True)
class CommandRequest:
    command: Command
    api: GitHubAPI
    settings: Settings
    workspace: Path
    actor: str
    where: Where
    number: int | None = None  # the issue or PR the command was given on
    pr: PullRequestInfo | None = None
    sarif_path: Path | None = None
    # A workflow step (`handle --run`), not a person: answers only when there is news.
    from_workflow: bool = False
    # When the command's comment was written (`/infra apply` runs only a plan older).
    comment_at: datetime | None = None
    # A deploy job's stage (`handle --stage plan|execute`) and, to execute, the plan
    # the plan job published (its job output).
    stage: str | None = None
    plan: str | None = None
    # The checkout the bot was installed from (Context.trusted_root); `workspace` may
    # be a PR head checked out as data. None: the workspace is trusted itself.
    trusted_root: Path | None = None

    @property
    def policy(self) -> Policy:
        """Where environments, guard rules, usage, .cfnlintrc and the chart cache are
        read: never the PR workspace (bot.repo.policy)."""
        return Policy(self.trusted_root or self.workspace)


@dataclass(frozen=True)
class CommandResult:
    ok: bool
    body: str = ""  # markdown for the thread; empty: nothing to post
    kind: str | None = None  # a sticky kind: edit that comment instead of adding one
    summary: str = ""  # markdown for the job summary (defaults to body)
    # What the sticky comment is valid for (a commit's time); default: the PR head's.
    valid_at: datetime | None = None


Runner = Callable[[CommandRequest], CommandResult]

TABLE: dict[Verb, str] = {
    Verb.HELP: "bot.github.handlers.builtin:run_help",
    Verb.VALIDATE: "bot.github.handlers.builtin:run_validate",
    Verb.STATUS: "bot.github.handlers.builtin:run_status",
    Verb.APPROVE_COST: "bot.github.approvals:run_approve_cost",
    Verb.GENERATE: "bot.commands.generate:run_generate",
    Verb.PLAN: "bot.github.handlers.cloud:run_plan",
    Verb.APPLY: "bot.github.handlers.deploy:run_apply",
    Verb.PROMOTE: "bot.github.handlers.deploy:run_promote",
    Verb.DRIFT: "bot.github.handlers.cloud:run_drift",
    Verb.ROLLBACK: "bot.github.handlers.deploy:run_rollback",
    Verb.UNLOCK: "bot.github.handlers.cloud:run_unlock",
    Verb.COST: "bot.github.handlers.cost:run_cost",
}


class UnavailableError(RuntimeError):
    """This build cannot run the command (a part is not installed or not wired)."""


def resolve(target: str) -> Runner:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UnavailableError(f"{module_name} is not part of this build") from None
        raise UnavailableError(f"{module_name} needs {exc.name}, which is not installed") from None
    runner = getattr(module, attr, None)
    if not callable(runner):
        raise UnavailableError(f"{module_name} has no {attr}()")
    return runner  # type: ignore[no-any-return]


def unavailable_result(command: Command, reason: str) -> CommandResult:
    name = command.verb.value
    return CommandResult(False, f"This build of infra-bot cannot run `{name}`: {reason}.")


def run(request: CommandRequest, table: dict[Verb, str] | None = None) -> CommandResult:
    target = (table or TABLE)[request.command.verb]
    try:
        runner = resolve(target)
    except UnavailableError as exc:
        return unavailable_result(request.command, str(exc))
    try:
        return runner(request)
    except GitHubError:
        raise  # the handler reports these with what to fix
    except Exception as exc:
        import traceback

        where = traceback.extract_tb(exc.__traceback__)[-1]
        log(f"{request.command} crashed:\n{''.join(traceback.format_exception(exc))}")
        return CommandResult(
            False,
            f"infra-bot failed while running `{request.command.verb.value}`: "
            f"{type(exc).__name__} (at {Path(where.filename).name}:{where.lineno}). "
            "The job log has the details.",
        )

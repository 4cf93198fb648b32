"""`/infra plan`, `drift`, `status`, `unlock`, and the clean-up when a PR closes.

The read-mostly cloud commands: each runs bot.cloud.runs per environment and answers
with bot.render.changeset markdown. Deploys (apply, push, promote, rollback) are in
bot.github.handlers.deploy. All but unlock (the deploy lock) open the environments
with their plan role (bot.cloud.session.Purpose.PLAN).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from bot.cloud.session import Purpose
from bot.github.actions import log
from bot.github.commands import CommandRequest, CommandResult
from bot.github.grammar import Where
from bot.github.handlers.envruns import Failed, attempt, environments, open_run, repo_at

if TYPE_CHECKING:
    from bot.cloud.runs import EnvRun
    from bot.repo.model import Repository

T = TypeVar("T")

PLAN_KIND = "plan"
DRIFT_KIND = "drift"


def run_plan(request: CommandRequest) -> CommandResult:
    """Change sets for the PR head in each environment: one sticky, a section per env."""
    from bot.cloud.preview import Outcome
    from bot.cloud.published import from_previews
    from bot.cloud.runs import plan_env
    from bot.github.handlers.builtin import base_ref_for
    from bot.render.changeset import plan_markdown

    if request.pr is None:
        return CommandResult(False, "`plan` needs a pull request.")
    sha = request.pr.head_sha
    repo = attempt("checkout", lambda _: repo_at(request.workspace, sha, request.policy))
    if isinstance(repo, Failed):
        return CommandResult(False, f"Cannot read the PR head `{sha[:12]}`: {repo.reason}")
    since = base_ref_for(request)
    all_ran, sections, results = read_each_env(
        request, repo,
        lambda run: plan_env(run, sha, changed_since=since),
        # The ids ride along hidden: `/infra apply` executes exactly these.
        lambda env, previews: plan_markdown(env, sha, previews) + "\n"
        + from_previews(env, sha, previews).marker() + "\n",
    )  # fmt: skip
    stuck = {Outcome.FAILED, Outcome.BLOCKED}
    ok = all_ran and not any(p.outcome in stuck for previews in results for p in previews)
    scope = (
        f"Stacks changed since `{since}` and the stacks that depend on them."
        if since
        else "Every stack (the base branch is not in this checkout)."
    )
    body = f"## infra-bot plan\n\n{scope} Nothing is executed until a deploy.\n\n"
    # When and for whom: a re-run at the same commit is news (fresh change sets), and
    # the reader sees which run the comment shows.
    login = re.sub(r"[^A-Za-z0-9\[\]-]", "", request.actor)[:40]  # a login, nothing else
    who = "the PR workflow" if request.from_workflow or not login else f"`{login}`"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    footer = f"\n\n_Planned {when} for {who}._\n"
    return CommandResult(ok, body + "\n".join(sections) + footer, kind=PLAN_KIND)


class DriftVerdict(StrEnum):
    """The whole run in one word, for the scheduled run's tracking issue."""

    DRIFTED = "drifted"  # some stack drifted
    IN_SYNC = "in sync"  # every stack was checked (or is not deployed) and none drifted
    UNCHECKED = "not fully checked"  # no drift seen, but detection was unavailable or failed
    FAILED = "failed"  # an environment could not be read (AWS access, configuration)


@dataclass(frozen=True)
class DriftResult(CommandResult):
    verdict: DriftVerdict = DriftVerdict.FAILED


def read_each_env(
    request: CommandRequest,
    repo: Repository,
    work: Callable[[EnvRun], T],
    render: Callable[[str, T], str],
) -> tuple[bool, list[str], list[T]]:
    """`work` in each environment the command names, as the plan (read) role, and a
    section per environment: `render`'s, or the failure's. Returns whether every
    environment ran, the sections and the results."""
    all_ran, sections, results = True, [], []
    for env in environments(request, repo):
        got = attempt(env, lambda e: work(open_run(request, repo, e, Purpose.PLAN)))
        if isinstance(got, Failed):
            all_ran = False
            sections.append(got.markdown())
            continue
        results.append(got)
        sections.append(render(env, got))
    return all_ran, sections, results


def run_drift(request: CommandRequest) -> DriftResult:
    from bot.cloud.drift import DriftState
    from bot.cloud.runs import drift_env
    from bot.render.changeset import drift_markdown

    repo = repo_at(request.workspace, None, request.policy)
    all_ran, sections, results = read_each_env(request, repo, drift_env, drift_markdown)
    failed = not all_ran
    states = {d.state for drifts in results for d in drifts}
    drifted = DriftState.DRIFTED in states
    verdict = (
        DriftVerdict.FAILED if failed
        else DriftVerdict.DRIFTED if drifted
        else DriftVerdict.UNCHECKED if states & {DriftState.UNSUPPORTED, DriftState.FAILED}
        else DriftVerdict.IN_SYNC
    )  # fmt: skip
    kind = DRIFT_KIND if request.where is Where.PR else None
    return DriftResult(not (failed or drifted), "\n".join(sections), kind=kind, verdict=verdict)


def run_status(request: CommandRequest) -> CommandResult:
    """Stacks, states, deployed commit and age per environment, and the Helm releases as
    helm lists them in the cluster (builtin.run_status adds the checks and posts it)."""
    from bot.cloud.runs import EnvStatus, status_env
    from bot.github.handlers.deploy import helm_access
    from bot.render.changeset import status_markdown

    repo = repo_at(request.workspace, None, request.policy)
    now = datetime.now(UTC)

    def status_of(run: EnvRun) -> EnvStatus:
        with helm_access(run, repo) as access:
            return status_env(run, access=access)

    ok, sections, _ = read_each_env(
        request, repo, status_of,
        lambda env, got: status_markdown(env, got.stacks, got.releases, now),
    )  # fmt: skip
    return CommandResult(ok, "\n".join(sections))


def run_unlock(request: CommandRequest) -> CommandResult:
    """Release a stale deploy lock. A comment never forces: a lock that is not stale may
    belong to a deploy still running, and only its operator knows."""
    from bot.cloud import lock

    env = request.command.args[0]
    repo = repo_at(request.workspace, None, request.policy)

    def unlock(_: str) -> str:
        run = open_run(request, repo, env, Purpose.DEPLOY)
        if run.locks is None:
            return "no lock store for this environment; nothing to release"
        name = lock.lock_name(run.env.project, env)
        return lock.unlock(run.locks, name, datetime.now(UTC))

    try:
        message = attempt(env, unlock)
    except lock.LockError as exc:
        text = str(exc).replace("pass --force", "run `infra-bot unlock --force` from a shell")
        return CommandResult(False, f"`{env}`: {text}.")
    if isinstance(message, Failed):
        return CommandResult(False, message.markdown())
    return CommandResult(True, f"`{env}`: {message}.")


def on_pull_request_closed(request: CommandRequest) -> CommandResult:
    """Delete the change sets planned for the closed PR's head: no deploy will run them."""
    from bot.cloud.planner import delete_commit_change_sets

    if request.pr is None:
        return CommandResult(True)
    if request.pr.merged:
        # A stack deploys as of the last commit that changed it, so the merge's deploy may
        # run exactly these change sets; the next plan of each stack deletes what is left.
        log(f"#{request.pr.number} merged: its change sets are left for the deploy")
        return CommandResult(True)
    sha = request.pr.head_sha
    repo = repo_at(request.workspace, None, request.policy)

    def clean(env: str) -> list[str]:
        run = open_run(request, repo, env, Purpose.PLAN)
        return [
            name
            for stack in repo.deployments(env)
            for name in delete_commit_change_sets(run.cfn, run.env.stack_name(stack), sha)
        ]

    for env in environments(request, repo):
        deleted = attempt(env, clean)
        if isinstance(deleted, Failed):
            log(f"#{request.pr.number} closed: {env} not cleaned up: {deleted.reason}")
        else:
            log(f"#{request.pr.number} closed: deleted {len(deleted)} change set(s) in {env}")
    return CommandResult(True)

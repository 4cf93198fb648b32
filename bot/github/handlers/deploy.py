"""Deploys: `/infra apply`, the push to the default branch, `promote`, `rollback`.

Every stack a deploy changes is recorded as a GitHub deployment of its commit to the
environment, so the repository's Environments page shows what runs where.

On a push the merge commit's change sets are planned and executed in the same job
(`replan`): a stack's IaC version parameter and tags are the commit, so a change set
reviewed at the PR head can never be executed for the merge commit. What was reviewed
is the template at the head; the preview of what runs goes to the job summary. The
environments after the first are promoted instead: their source must be complete at
one commit (bot.cloud.runs.promote's pre-checks), and that commit is what they get.
The source is read with its plan role, the target changed with its deploy role.

A deploy job may be split in two stages (`handle --stage plan|execute`, deploy.yml):
the plan stage, in a job without the environment's approval, creates the change sets
at the commit the environment gets (plan role) and publishes them with their ids (job
summary, a comment on the merged PR, the GitHub deployment's payload, the `plan` job
output); the execute stage, in the job the environment's reviewers approve, runs
exactly those ids, each verified by content again, or refuses if anything changed.

After the stacks (apply, push, promote), the environment's Helm releases deploy with
the toolchain's helm against the cluster of their cluster stack (a kubeconfig in a
temporary folder, removed when the deploy ends); see bot.cloud.runs.deploy_helm for
what is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.cloud.deployer import Result, StackResult
from bot.cloud.runs import HelmAccess
from bot.cloud.session import Purpose
from bot.github.actions import log, set_output
from bot.github.api import GitHubAPI, GitHubError
from bot.github.commands import CommandRequest, CommandResult
from bot.github.handlers.envruns import Failed, attempt, open_run, repo_at

if TYPE_CHECKING:
    from bot.cloud.helm import HelmRunner
    from bot.cloud.preview import StackPreview
    from bot.cloud.published import PublishedPlan
    from bot.cloud.runs import EnvRun
    from bot.repo.model import Repository

# What a stack's result becomes on GitHub; results missing here record nothing
# (unchanged, not planned, skipped: nothing ran).
DEPLOYMENT_STATE = {
    Result.DEPLOYED: "success",
    Result.ROLLED_BACK: "failure",
    Result.FAILED: "failure",
    Result.TIMED_OUT: "error",
}


class DeploymentRecorder:
    """deploy_env / promote's on_result hook: one GitHub deployment per stack that ran.

    A GitHub failure here must not stop a deploy half-way: it is noted and reported.
    """

    def __init__(self, api: GitHubAPI) -> None:
        self.api = api
        self.recorded: list[int] = []
        self.problems: list[str] = []

    def __call__(self, result: StackResult) -> None:
        state = DEPLOYMENT_STATE.get(result.result)
        if state is None:
            return
        description = f"{result.stack_name}: {result.result.value}"
        try:
            self.recorded.append(
                self.api.record_deployment(result.env, result.commit, state, description)
            )
        except GitHubError as exc:
            log(f"could not record the deployment of {result.stack_name}: {exc}")
            self.problems.append(str(exc))

    def note(self) -> str:
        if not self.problems:
            return ""
        return f"\n_{len(self.problems)} GitHub deployment record(s) failed: {self.problems[0]}_\n"


def helm_runner() -> HelmRunner:
    """The toolchain's helm (tests replace this)."""
    from bot.cloud.helm import toolchain_helm

    return toolchain_helm()


@contextmanager
def helm_access(run: EnvRun, repo: Repository) -> Iterator[HelmAccess]:
    """helm and the clusters of `run` for deploy_env / promote / status_env; no helm
    (HelmAccess()) when `repo` has no releases."""
    if not repo.releases:
        yield HelmAccess()
        return
    from bot.cloud.runs import cluster_access

    with cluster_access(run, helm_runner()) as access:
        yield access


def posted_plan(request: CommandRequest, env: str) -> PublishedPlan | str:  # noqa: PLR0911
    """The plan `/infra apply <env>` may execute, or why there is none.

    It is the bot's own plan comment (sticky "plan"), for the PR's current head, last
    written before the apply comment: what the commenter saw. A push after the comment
    (and pr.yml's new plan) moves the head, and the comment no longer speaks for it.
    """
    from bot.cloud.published import plans_in
    from bot.github.approvals import by_bot
    from bot.github.handlers.cloud import PLAN_KIND
    from bot.github.sticky import ours

    if request.pr is None or request.number is None:
        return "`apply` needs a pull request."
    head, asked = request.pr.head_sha, request.comment_at
    if asked is None:
        return "`apply` runs only from a pull request comment (its time binds it to a plan)."
    comments = request.api.list_issue_comments(request.number)
    parts = ours(by_bot(comments, request.api.bot_login), PLAN_KIND)
    if not parts:
        return f"there is no plan for `{head[:12]}` yet: run `/infra plan {env}`, review it, " \
            "then comment `/infra apply` again."  # fmt: skip
    plans = [p for c in parts.values() for p in plans_in(c.body) if p.env == env]
    shown = plans[0].commit if plans else None
    written = max((c.updated_at or c.created_at or asked) for c in parts.values())
    if shown is not None and shown != head:
        return (
            f"the head moved: the plan shows `{shown[:12]}`, the pull request is at "
            f"`{head[:12]}` now. Review the new plan and comment `/infra apply {env}` again."
        )
    if written > asked:
        return (f"the plan was rewritten after your comment (it now shows "
                f"`{(shown or head)[:12]}`, the head is `{head[:12]}`); review it and comment "
                f"`/infra apply {env}` again.")  # fmt: skip
    if shown is None:
        return f"the plan comment has no plan for `{env}`: run `/infra plan {env}` first."
    return plans[0]


def run_apply(request: CommandRequest) -> CommandResult:
    """Execute exactly the change sets of the plan posted for the PR head before the
    comment (posted_plan), each verified by id and content (no replan)."""
    from bot.cloud.runs import deploy_env
    from bot.cloud.targets import ordered_stacks
    from bot.github.handlers.builtin import base_ref_for
    from bot.render.changeset import deploy_markdown

    if request.pr is None or request.number is None:
        return CommandResult(False, "`apply` needs a pull request.")
    env, sha = request.command.args[0], request.pr.head_sha
    plan = posted_plan(request, env)
    if isinstance(plan, str):
        return CommandResult(False, f"Not applied: {plan}")
    recorder = DeploymentRecorder(request.api)

    def apply(e: str) -> CommandResult:
        repo = repo_at(request.workspace, sha, request.policy)
        # The stacks `/infra plan` previewed: those changed since the base, and dependents.
        since = base_ref_for(request)
        stacks = ordered_stacks(repo, e, changed_since=since) if since else None
        run = open_run(request, repo, e)
        with helm_access(run, repo) as access:
            outcome = deploy_env(run, sha, stacks, on_result=recorder,
                                 bound_env=request.settings.bound_environment,
                                 helm=access.helm, connect=access.connect,
                                 pins=plan.change_sets)  # fmt: skip
        text = deploy_markdown(e, sha, outcome.results, outcome.releases)
        return CommandResult(outcome.ok, text + recorder.note())

    result = attempt(env, apply)
    return CommandResult(False, result.markdown()) if isinstance(result, Failed) else result


def run_deploy(request: CommandRequest) -> CommandResult:
    """The deploy job of a push to the default branch, bound to one environment."""
    from bot.cloud.policy import PROTECTED
    from bot.cloud.runs import deploy_env, promote
    from bot.cloud.targets import head_commit
    from bot.render.changeset import deploy_markdown, promotion_markdown, stack_preview_md

    if request.stage == "plan":
        return run_deploy_plan(request)
    if request.stage == "execute":
        return run_deploy_execute(request)
    env = request.command.args[0]
    if env in PROTECTED and request.settings.bound_environment == env:
        # Planned and executed in the approved job, nobody would have seen the change sets.
        return CommandResult(False, f"`{env}` deploys in two stages so its approvers see what "
                             "runs: `infra-bot handle --stage plan` in a job without the "
                             "environment, then `--stage execute` in the approved job "
                             "(see deploy.yml). Nothing was executed.")  # fmt: skip
    recorder = DeploymentRecorder(request.api)
    previews: list[str] = []
    bound = request.settings.bound_environment

    def deploy(e: str) -> tuple[bool, str, str]:
        repo = repo_at(request.workspace, None, request.policy)
        sha = head_commit(repo.root)
        source = next((s.name for s in repo.environments.values() if s.next == e), None)
        target = open_run(request, repo, e)
        with helm_access(target, repo) as access:
            if source is not None:
                promoted = promote(
                    open_run(request, repo, source, Purpose.PLAN), target, checks_passed=True,
                    on_result=recorder, bound_env=bound,
                    on_preview=lambda p: previews.append(stack_preview_md(p)),
                    helm=access.helm, connect=access.connect,
                )  # fmt: skip
                return promoted.ok, promoted.commit or sha, promotion_markdown(promoted)
            outcome = deploy_env(
                target, sha, replan=True, on_result=recorder, bound_env=bound,
                on_preview=lambda p: previews.append(stack_preview_md(p)),
                helm=access.helm, connect=access.connect,
            )  # fmt: skip
        return outcome.ok, sha, deploy_markdown(e, sha, outcome.results, outcome.releases)

    done = attempt(env, deploy)
    if isinstance(done, Failed):
        return CommandResult(False, done.markdown())
    ok, commit, text = done
    text += recorder.note()
    if recorder.recorded or not ok:  # nothing ran and nothing failed: no news for the PR
        _note_on_pull_request(request.api, env, commit, text)
    summary = text + ("\n#### What was executed\n\n" + "\n\n".join(previews) if previews else "")
    return CommandResult(ok, text, summary=summary)


def _note_on_pull_request(api: GitHubAPI, env: str, commit: str, text: str) -> None:
    """The deploy result on the PR the commit came from, one sticky per environment."""
    from bot.github.sticky import post_sticky

    for pr in api.pull_requests_for_commit(commit)[:1]:
        post_sticky(api, pr.number, kind=f"deploy-{env}", valid_at=datetime.now(UTC), body=text)


def run_promote(request: CommandRequest) -> CommandResult:
    from bot.cloud import runs
    from bot.render.changeset import promotion_markdown

    source, target = request.command.args[0], request.command.args[1]
    repo = repo_at(request.workspace, None, request.policy)
    recorder = DeploymentRecorder(request.api)

    def go(e: str) -> CommandResult:
        # The source's checks are not known to a comment: the check reads "?", which
        # does not block; same commit everywhere and no drift still do.
        target = open_run(request, repo, e)
        with helm_access(target, repo) as access:
            outcome = runs.promote(
                open_run(request, repo, source, Purpose.PLAN), target, on_result=recorder,
                bound_env=request.settings.bound_environment,
                helm=access.helm, connect=access.connect,
            )  # fmt: skip
        return CommandResult(outcome.ok, promotion_markdown(outcome) + recorder.note())

    result = attempt(target, go)
    return CommandResult(False, result.markdown()) if isinstance(result, Failed) else result


def run_rollback(request: CommandRequest) -> CommandResult:
    from bot.cloud import runs
    from bot.render.changeset import rollback_markdown

    env, stack = request.command.args[0], request.command.args[1]
    repo = repo_at(request.workspace, None, request.policy)
    recorder = DeploymentRecorder(request.api)

    def go(e: str) -> CommandResult:
        outcome = runs.rollback(open_run(request, repo, e), stack,
                                bound_env=request.settings.bound_environment)  # fmt: skip
        if outcome.result is not None:
            recorder(outcome.result)
        ok = outcome.result is None or outcome.result.result.ok
        return CommandResult(ok, rollback_markdown(e, outcome) + recorder.note())

    result = attempt(env, go)
    return CommandResult(False, result.markdown()) if isinstance(result, Failed) else result


PLAN_OUTPUT = "plan"


def _source_of(repo: Repository, env: str) -> str | None:
    """The environment promoted to `env` (None: `env` is first and deploys the push)."""
    return next((s.name for s in repo.environments.values() if s.next == env), None)


def run_deploy_plan(request: CommandRequest) -> CommandResult:
    """Create the change sets `env` gets at this push (plan role) and publish them."""
    from bot.cloud.preview import Outcome
    from bot.cloud.published import from_previews
    from bot.cloud.runs import plan_env, plan_promotion
    from bot.cloud.targets import head_commit
    from bot.render.changeset import plan_markdown, promotion_markdown

    env = request.command.args[0]

    def plan(e: str) -> tuple[bool, str, str, list[StackPreview]]:
        repo = repo_at(request.workspace, None, request.policy)
        source = _source_of(repo, e)
        target = open_run(request, repo, e, Purpose.PLAN)
        if source is None:
            sha = head_commit(repo.root)
            return True, sha, "", plan_env(target, sha)
        src = open_run(request, repo, source, Purpose.PLAN)
        outcome = plan_promotion(src, target, checks_passed=True)
        checks = promotion_markdown(outcome)
        return outcome.allowed, outcome.commit or head_commit(repo.root), checks, outcome.previews

    done = attempt(env, plan)
    if isinstance(done, Failed):
        return CommandResult(False, done.markdown())
    allowed, commit, checks, previews = done
    if not allowed:
        return CommandResult(False, checks)
    published = from_previews(env, commit, previews)
    runs = ", ".join(f"`{s}`" for s in published.change_sets) or "nothing"
    text = (
        f"## Plan for `{env}` at `{commit[:12]}`: awaiting approval\n\n"
        f"{checks}\nApproving the `{env}` deploy executes exactly these change sets "
        f"({runs}), each checked again against commit `{commit[:12]}`; if any was "
        "replaced or changed meanwhile, the deploy refuses.\n\n"
        + plan_markdown(env, commit, previews)
        + "\n"
        + published.marker()
        + "\n"
    )
    set_output(request.settings.output, PLAN_OUTPUT, published.to_json())
    _publish_plan(request.api, env, commit, published.to_json(), len(published.change_sets), text)
    # A stack that cannot be planned (its state, a change set that is not ours) stops the
    # approval; one that imports from a stack not deployed yet (advice) waits for the next.
    stuck = any(
        p.outcome is Outcome.BLOCKED or (p.outcome is Outcome.FAILED and p.advice is None)
        for p in previews
    )
    return CommandResult(not stuck, text)


def _publish_plan(api: GitHubAPI, env: str, commit: str, plan: str, count: int, text: str) -> None:
    """The plan on the merged PR (one sticky per environment) and as a GitHub deployment
    waiting for approval, its payload the plan. A GitHub failure is logged: the job
    output still carries the plan to the execute job."""
    import json

    from bot.github.sticky import post_sticky

    try:
        api.record_deployment(
            env, commit, "queued", f"{count} change set(s) planned, awaiting approval",
            payload={"infra-bot-plan": json.loads(plan)},
        )  # fmt: skip
        for pr in api.pull_requests_for_commit(commit)[:1]:
            post_sticky(api, pr.number, kind=f"deploy-plan-{env}", valid_at=datetime.now(UTC),
                        body=text)  # fmt: skip
    except GitHubError as exc:
        log(f"could not publish the plan of {env} on GitHub: {exc}")


def run_deploy_execute(request: CommandRequest) -> CommandResult:
    """Execute exactly the change sets of the plan job's published plan, re-verified."""
    from bot.cloud.published import PlanFormatError, parse_plan
    from bot.cloud.runs import RunRefused, deploy_env, promote
    from bot.cloud.targets import head_commit
    from bot.render.changeset import deploy_markdown, promotion_markdown

    env = request.command.args[0]
    if not request.plan:
        return CommandResult(False, f"`{env}`: --stage execute needs the plan job's "
                             "`plan` output (--plan or INFRA_BOT_PLAN); nothing ran.")  # fmt: skip
    try:
        plan = parse_plan(request.plan)
    except PlanFormatError as exc:
        return CommandResult(False, f"`{env}`: {exc}; nothing was executed.")
    if plan.env != env:
        return CommandResult(False, f"`{env}`: the plan given is for `{plan.env}`; "
                             "nothing was executed.")  # fmt: skip
    recorder = DeploymentRecorder(request.api)
    bound = request.settings.bound_environment

    def execute(e: str) -> tuple[bool, str]:
        repo = repo_at(request.workspace, None, request.policy)
        source = _source_of(repo, e)
        target = open_run(request, repo, e)
        with helm_access(target, repo) as access:
            if source is not None:
                promoted = promote(
                    open_run(request, repo, source, Purpose.PLAN), target, checks_passed=True,
                    on_result=recorder, bound_env=bound, helm=access.helm,
                    connect=access.connect, planned=(plan.commit, plan.change_sets),
                )  # fmt: skip
                return promoted.ok, promotion_markdown(promoted)
            if head_commit(repo.root) != plan.commit:
                raise RunRefused(f"the checkout is at {head_commit(repo.root)[:12]}, the plan "
                                 f"is for {plan.commit[:12]}; nothing was executed")  # fmt: skip
            outcome = deploy_env(
                target, plan.commit, on_result=recorder, bound_env=bound,
                pins=plan.change_sets, helm=access.helm, connect=access.connect,
            )  # fmt: skip
        return outcome.ok, deploy_markdown(e, plan.commit, outcome.results, outcome.releases)

    done = attempt(env, execute)
    if isinstance(done, Failed):
        return CommandResult(False, done.markdown())
    ok, text = done
    text += recorder.note()
    if recorder.recorded or not ok:
        _note_on_pull_request(request.api, env, plan.commit, text)
    return CommandResult(ok, text)

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
from bot.github.actions import log
from bot.github.api import GitHubAPI, GitHubError
from bot.github.commands import CommandRequest, CommandResult
from bot.github.handlers.envruns import Failed, attempt, open_run, repo_at

if TYPE_CHECKING:
    from bot.cloud.helm import HelmRunner
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


def run_apply(request: CommandRequest) -> CommandResult:
    """Execute exactly the change sets planned for the PR head (no replan)."""
    from bot.cloud.runs import deploy_env
    from bot.cloud.targets import ordered_stacks
    from bot.github.handlers.builtin import base_ref_for
    from bot.render.changeset import deploy_markdown

    if request.pr is None:
        return CommandResult(False, "`apply` needs a pull request.")
    env, sha = request.command.args[0], request.pr.head_sha
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
                                 helm=access.helm, connect=access.connect)  # fmt: skip
        text = deploy_markdown(e, sha, outcome.results, outcome.releases)
        return CommandResult(outcome.ok, text + recorder.note())

    result = attempt(env, apply)
    return CommandResult(False, result.markdown()) if isinstance(result, Failed) else result


def run_deploy(request: CommandRequest) -> CommandResult:
    """The deploy job of a push to the default branch, bound to one environment."""
    from bot.cloud.runs import deploy_env, promote
    from bot.cloud.targets import head_commit
    from bot.render.changeset import deploy_markdown, promotion_markdown, stack_preview_md

    env = request.command.args[0]
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

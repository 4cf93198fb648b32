"""The environment-level operations the CLI and the GitHub handlers call.

Each takes an `EnvRun` (repository, environment, CloudFormation adapter, lock
store, clock) so tests pass moto-backed or recorded adapters and the CLI passes
boto3 ones. Decisions come from the pure modules; this file sequences I/O.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.cloud.adapter import CloudError, CloudFormationApi
from bot.cloud.deployer import (
    DeployHook,
    EventSink,
    Pins,
    Recovery,
    StackResult,
    deploy_stack,
    deploy_stacks,
)
from bot.cloud.drift import StackDrift, detect_stack_drift
from bot.cloud.events import Ending, ending
from bot.cloud.helm import (
    HelmError,
    HelmRunner,
    ReleaseResult,
    ReleaseState,
    ReleaseStatus,
    Skip,
    cluster_skips,
    deploy_releases,
    list_releases,
)
from bot.cloud.levels import MAX_PARALLEL, levels_for
from bot.cloud.lock import LockError, LockStore, acquire, busy_stacks, lock_name, release
from bot.cloud.planner import TAG_PREVIOUS, plan_stack, plan_stacks
from bot.cloud.policy import (
    Check,
    StatusRow,
    checks_passed_check,
    content_checks,
    destroy_refusal,
    drift_check,
    promotion_allowed,
    protection_refusal,
    stack_checks,
    status_row,
)
from bot.cloud.preview import Outcome, StackPreview, tags_of
from bot.cloud.session import Purpose
from bot.cloud.spec import TAG_COMMIT, StackSpec
from bot.cloud.targets import head_commit, ordered_stacks, spec_at_commit, specs_for
from bot.cloud.waiting import Clock, WaitTimeoutError, poll_until
from bot.repo.changes import GitError, checkout_at, git
from bot.repo.model import Environment, Release, RepoError, Repository

DESTROY_TIMEOUT = 3600.0

ClusterConnect = Callable[[str], Path]
"""Cluster stack -> a kubeconfig for its cluster; raises CloudError saying why not."""


@dataclass(frozen=True)
class HelmAccess:
    """How the Helm releases run: `helm` (None: they do not), and the cluster of each
    cluster stack: `kubeconfig` for all of them, else `connect` finds each one."""

    helm: HelmRunner | None = None
    kubeconfig: Path | None = None
    connect: ClusterConnect | None = None


@contextlib.contextmanager
def cluster_access(
    run: EnvRun, helm: HelmRunner, endpoint_url: str | None = None
) -> Iterator[HelmAccess]:
    """`helm` with a connector that writes each cluster's kubeconfig (bot.cloud.eks) into
    a temporary folder, removed on exit. No AWS call until a cluster is asked for."""
    from bot.cloud.eks import ClusterConnector
    from bot.cloud.session import target_for

    with tempfile.TemporaryDirectory(prefix="infra-bot-kube-") as folder:
        target = target_for(run.env, endpoint_url)
        connect = ClusterConnector(run.cfn, run.env, target, Path(folder), purpose=run.purpose)
        yield HelmAccess(helm, connect=connect)


class RunRefused(RuntimeError):  # noqa: N818 - reads as the verdict it is
    """The operation must not start (protection, lock, confirmation, bad plan)."""


@dataclass
class EnvRun:
    repo: Repository
    env: Environment
    cfn: CloudFormationApi
    clock: Clock = field(default_factory=Clock)
    locks: LockStore | None = None
    owner: str = "infra-bot"
    # The role the clients act as (bot.cloud.session.role_for); env_lock refuses PLAN.
    purpose: Purpose = Purpose.DEPLOY
    # Stacks of one dependency level in flight at once (bot.cloud.levels); 1: serial.
    parallel: int = MAX_PARALLEL

    def cfn_for(self, _spec: StackSpec) -> CloudFormationApi:
        return self.cfn


def open_env(
    repo: Repository,
    env: str,
    endpoint_url: str | None = None,
    owner: str = "infra-bot",
    purpose: Purpose = Purpose.DEPLOY,
) -> EnvRun:
    """An EnvRun with boto3 clients in the environment's account, as the role for
    `purpose`: PLAN to preview and read, DEPLOY to change it (imports boto3)."""
    from bot.cloud.adapter import Boto3CloudFormation
    from bot.cloud.lock import SsmLockStore
    from bot.cloud.session import client, environment_session, target_for

    environment = repo.environment(env)
    target = target_for(environment, endpoint_url)
    session = environment_session(environment, target, purpose)
    return EnvRun(
        repo,
        environment,
        Boto3CloudFormation(client(session, "cloudformation", target)),
        locks=SsmLockStore(client(session, "ssm", target)),
        owner=owner,
        purpose=purpose,
    )


def guard_protected(env: str, bound_env: str | None, override: bool) -> None:
    refusal = protection_refusal(env, bound_env, override)
    if refusal:
        raise RunRefused(refusal)


@contextlib.contextmanager
def env_lock(run: EnvRun) -> Iterator[None]:
    """No stack of the environment in progress (all of them, not only this run's), and
    the lock record held meanwhile."""
    if run.purpose is Purpose.PLAN:
        # A caller bug, not a refusal: it opened the environment with the plan role.
        raise RuntimeError(f"{run.env.name} was opened to plan; changing it needs DEPLOY")
    statuses: dict[str, str | None] = {}
    for stack in run.repo.deployments(run.env.name):
        desc = run.cfn.describe_stack(run.env.stack_name(stack))
        statuses[stack] = desc.get("StackStatus") if desc else None
    busy = busy_stacks(statuses)
    if busy:
        raise RunRefused(
            f"{run.env.name} is busy: {', '.join(f'{s} {statuses[s]}' for s in busy)}; "
            "wait for that operation to finish"
        )
    if run.locks is None:
        yield
        return
    name = lock_name(run.env.project, run.env.name)
    try:
        acquire(run.locks, name, run.owner, datetime.now(UTC))
    except LockError as exc:
        raise RunRefused(str(exc)) from None
    try:
        yield
    finally:
        release(run.locks, name, run.owner)


def _repo_at(repo: Repository, commit: str) -> Repository:
    """The repository as of `commit`: the checkout itself when it is there."""
    if head_commit(repo.root) == commit:
        return repo
    return repo.sibling(checkout_at(repo.root, commit))


def _git_root(repo: Repository) -> Path | None:
    """The checkout with history (the versions of stacks come from its log), or None."""
    return repo.root if (repo.root / ".git").exists() else None


def plan_env(
    run: EnvRun,
    commit: str,
    stacks: list[str] | None = None,
    changed_since: str | None = None,
    on_preview: Callable[[StackPreview], None] | None = None,
) -> list[StackPreview]:
    order = ordered_stacks(run.repo, run.env.name, stacks, changed_since)
    return plan_stacks(
        run.cfn_for, specs_for(run.repo, run.env.name, order, commit), run.clock, on_preview,
        levels=levels_for(run.repo, run.env.name, run.parallel),
    )  # fmt: skip


@dataclass(frozen=True)
class DeployOutcome:
    results: list[StackResult]
    releases: list[ReleaseResult]
    replanned: list[StackPreview]

    @property
    def ok(self) -> bool:
        return all(r.result.ok for r in self.results) and all(r.ok for r in self.releases)


def deploy_helm(
    run: EnvRun,
    repo: Repository,
    access: HelmAccess,
    in_run: list[str],
    results: list[StackResult],
) -> list[ReleaseResult]:
    """The releases of `repo` after the stacks of this run, against their clusters.

    A given `kubeconfig` serves every cluster; otherwise `connect` finds each one.
    A cluster stack this run deployed whose cluster cannot be reached (no ClusterName
    output, DescribeCluster refused) is a failure: its releases were due and did not
    run. Those of cluster stacks outside the run are skipped without failing
    (bot.cloud.helm.cluster_skips).
    """
    if access.helm is None or not repo.releases:
        return []
    failed = next((r.stack for r in results if not r.result.ok), None)
    clusters = sorted({r.spec.cluster_stack for r in repo.releases.values()})
    env_stacks = repo.deployments(run.env.name)
    skips = cluster_skips(clusters, run.env.name, env_stacks, in_run, failed)
    kubeconfigs: dict[str, Path] = {}
    for stack in (s for s in clusters if s not in skips):
        try:
            kubeconfigs[stack] = _kubeconfig(access, stack)
        except CloudError as exc:
            skips[stack] = Skip(str(exc), True)
    return deploy_releases(
        access.helm, repo.releases, run.env.name, set(kubeconfigs),
        kubeconfigs=kubeconfigs, skips=skips,
    )  # fmt: skip


def _kubeconfig(access: HelmAccess, cluster_stack: str) -> Path:
    """The kubeconfig for the cluster of `cluster_stack`; CloudError saying why there is none."""
    if access.kubeconfig is not None:
        return access.kubeconfig
    if access.connect is None:
        raise CloudError("no kubeconfig for the cluster")
    try:
        return access.connect(cluster_stack)
    except CloudError as exc:
        raise CloudError(f"cannot reach the cluster of {cluster_stack}: {exc}") from None


def _planner(
    run: EnvRun, previews: list[StackPreview], on_preview: Callable[[StackPreview], None] | None
) -> Callable[[StackSpec], None]:
    """Plans a stack, keeping its preview in `previews` and telling `on_preview`."""

    def plan(spec: StackSpec) -> None:
        preview = plan_stack(run.cfn_for(spec), spec, run.clock)
        previews.append(preview)
        if on_preview:
            on_preview(preview)

    return plan


def _deploy_locked(
    run: EnvRun,
    repo: Repository,
    commit: str,
    order: list[str],
    access: HelmAccess,
    *,
    on_event: EventSink | None,
    on_result: DeployHook | None,
    replan: Callable[[StackSpec], None] | None = None,
    prepare: Callable[[StackSpec], None] | None = None,
    pins: Pins | None = None,
    recovery: Recovery | None = None,
) -> tuple[list[StackResult], list[ReleaseResult]]:
    """The stacks of `order` at `commit` (bot.cloud.deployer.deploy_stacks), then the
    releases of `repo` (deploy_helm), under the environment's lock. Each stack at its
    version: the last commit that changed it, from `run.repo`'s history."""
    specs = specs_for(repo, run.env.name, order, commit, _git_root(run.repo))
    with env_lock(run):
        results = deploy_stacks(run.cfn_for, specs, run.clock, on_event=on_event,
                                on_result=on_result, replan=replan, prepare=prepare,
                                pins=pins, recovery=recovery or Recovery(),
                                levels=levels_for(repo, run.env.name, run.parallel))  # fmt: skip
        return results, deploy_helm(run, repo, access, order, results)


def deploy_env(
    run: EnvRun,
    commit: str,
    stacks: list[str] | None = None,
    *,
    replan: bool = False,
    on_event: EventSink | None = None,
    on_result: DeployHook | None = None,
    on_preview: Callable[[StackPreview], None] | None = None,
    helm: HelmRunner | None = None,
    kubeconfig: Path | None = None,
    connect: ClusterConnect | None = None,
    bound_env: str | None = None,
    override_protection: bool = False,
    pins: Pins | None = None,
    recovery: Recovery | None = None,
) -> DeployOutcome:
    """Deploy the stacks in order, then (with `helm`) the Helm releases: see deploy_helm.
    With `pins` only the change sets of that published plan run, and nothing is replanned.
    `recovery` (default: recreate a stack left in ROLLBACK_COMPLETE) runs after the
    protection check, so PRD recovers only in its approved job."""
    guard_protected(run.env.name, bound_env, override_protection)
    order = ordered_stacks(run.repo, run.env.name, stacks)
    replanned: list[StackPreview] = []
    planner = _planner(run, replanned, on_preview) if replan and pins is None else None
    results, releases = _deploy_locked(
        run, run.repo, commit, order, HelmAccess(helm, kubeconfig, connect), on_event=on_event,
        on_result=on_result, replan=planner, pins=pins, recovery=recovery,
    )  # fmt: skip
    return DeployOutcome(results, releases, replanned)


@dataclass(frozen=True)
class PromotionOutcome:
    source: str
    target: str
    checks: list[Check]
    commit: str | None
    previews: list[StackPreview]
    results: list[StackResult]
    releases: list[ReleaseResult] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return promotion_allowed(self.checks) and self.commit is not None

    @property
    def ok(self) -> bool:
        return (
            self.allowed
            and all(r.result.ok for r in self.results)
            and all(r.ok for r in self.releases)
        )


def promotion_checks(
    source: EnvRun,
    checks_passed: bool | None,
    stacks: list[str] | None = None,
    with_drift: bool = True,
) -> tuple[list[Check], str | None]:
    order = ordered_stacks(source.repo, source.env.name, stacks)
    described = {s: source.cfn.describe_stack(source.env.stack_name(s)) for s in order}
    checks, commit = _content_checks(source, order, described)
    if with_drift:
        checks.append(drift_check(_drift(source, order)))
    checks.append(checks_passed_check(checks_passed))
    return checks, commit


def _candidates(history: Path, described: dict[str, dict[str, Any] | None]) -> list[str]:
    """Commits the source may be running, to try in turn: the checkout's head (the
    commit being promoted, whose Helm values go along), then the stacks' commit tags,
    newest first. Tags naming commits this history does not have are left out."""
    tagged = {tags_of(d).get(TAG_COMMIT) for d in described.values() if d}
    known: list[str] = []
    for c in sorted(c for c in tagged if c):
        try:
            git(history, "cat-file", "-e", f"{c}^{{commit}}")
        except GitError:
            continue
        known.append(c)
    newest = git(history, "rev-list", "--no-walk", *known).split() if known else []
    head = head_commit(history)
    return [head, *(c for c in newest if c != head)]


def _expected_at(source: EnvRun, order: list[str], commit: str) -> dict[str, tuple[str, str]]:
    """stack -> (version, hash) as `commit` deploys the source's stacks; {} when `commit`
    lacks one of them."""
    repo = _repo_at(source.repo, commit)
    if not set(order) <= set(repo.deployments(source.env.name)):
        return {}
    specs = specs_for(repo, source.env.name, order, commit, _git_root(source.repo))
    return {s.stack: (s.commit, s.template_hash) for s in specs}


def _content_checks(
    source: EnvRun, order: list[str], described: dict[str, dict[str, Any] | None]
) -> tuple[list[Check], str | None]:
    """The commit whose content every stack of the source runs (policy.content_checks),
    trying the candidates in turn; the checks against the newest tag when none fits."""
    history = _git_root(source.repo)
    if history is None:
        return stack_checks(order, described)
    report: list[Check] | None = None
    for commit in _candidates(history, described):
        try:
            expected = _expected_at(source, order, commit)
        except (RepoError, GitError):
            continue
        checks = content_checks(order, described, commit, expected)
        if promotion_allowed(checks):
            return checks, commit
        # Refused: say how the source differs from the head, the commit being promoted.
        report = report or checks
    return (report, None) if report else stack_checks(order, described)


def promote(
    source: EnvRun,
    target: EnvRun,
    *,
    stacks: list[str] | None = None,
    checks_passed: bool | None = None,
    on_event: EventSink | None = None,
    on_result: DeployHook | None = None,
    on_preview: Callable[[StackPreview], None] | None = None,
    bound_env: str | None = None,
    override_protection: bool = False,
    dry_run: bool = False,
    helm: HelmRunner | None = None,
    kubeconfig: Path | None = None,
    connect: ClusterConnect | None = None,
    planned: tuple[str, Pins] | None = None,
) -> PromotionOutcome:
    """Pre-checks on `source`, then plan and deploy `target` stack by stack at source's commit,
    then (with `helm`) the Helm releases of that commit (see deploy_helm).

    Plan and deploy alternate per stack: in a new environment a stack's change set
    can only be created once the stacks it imports from exist. With `planned` (the
    commit and change set ids plan_promotion published and someone approved) nothing
    is planned: the source must still be at that commit, and only those change sets run.
    """
    if source.env.next and source.env.next != target.env.name:
        raise RunRefused(
            f"{source.env.name} promotes to {source.env.next}, not to {target.env.name}"
        )
    guard_protected(target.env.name, bound_env, override_protection)
    checks, commit = promotion_checks(source, checks_passed, stacks)
    outcome = PromotionOutcome(source.env.name, target.env.name, checks, commit, [], [])
    if not outcome.allowed or dry_run or commit is None:
        return outcome
    if planned is not None and planned[0] != commit:
        raise RunRefused(
            f"{source.env.name} is at {commit[:12]} now, but the approved plan of "
            f"{target.env.name} is for {planned[0][:12]}; refusing. Plan again and review it."
        )
    repo = _repo_at(target.repo, commit)
    previews: list[StackPreview] = []
    # _deploy_locked takes the versions from target.repo's history: the same checkout.
    results, releases = _deploy_locked(
        target, repo, commit, ordered_stacks(repo, target.env.name, stacks),
        HelmAccess(helm, kubeconfig, connect), on_event=on_event, on_result=on_result,
        prepare=_planner(target, previews, on_preview) if planned is None else None,
        pins=planned[1] if planned is not None else None,
    )  # fmt: skip
    return PromotionOutcome(
        source.env.name, target.env.name, checks, commit, previews, results, releases
    )


def plan_promotion(
    source: EnvRun,
    target: EnvRun,
    *,
    stacks: list[str] | None = None,
    checks_passed: bool | None = None,
    on_preview: Callable[[StackPreview], None] | None = None,
) -> PromotionOutcome:
    """The pre-checks on `source`, then `target`'s change sets at source's commit, not
    executed: what an approver reviews before `promote(planned=...)` executes them.

    `target` may be opened with its plan role. In a new environment a stack that imports
    from one not deployed yet fails to plan; it runs after a later plan, once it can.
    """
    if source.env.next and source.env.next != target.env.name:
        raise RunRefused(
            f"{source.env.name} promotes to {source.env.next}, not to {target.env.name}"
        )
    checks, commit = promotion_checks(source, checks_passed, stacks)
    outcome = PromotionOutcome(source.env.name, target.env.name, checks, commit, [], [])
    if not outcome.allowed or commit is None:
        return outcome
    repo = _repo_at(target.repo, commit)
    order = ordered_stacks(repo, target.env.name, stacks)
    specs = specs_for(repo, target.env.name, order, commit, _git_root(target.repo))
    previews = plan_stacks(target.cfn_for, specs, target.clock, on_preview,
                           levels=levels_for(repo, target.env.name, target.parallel))  # fmt: skip
    return PromotionOutcome(source.env.name, target.env.name, checks, commit, previews, [])


@dataclass(frozen=True)
class RollbackOutcome:
    stack: str
    current: str | None
    target: str
    preview: StackPreview
    result: StackResult | None


def rollback_target(desc: dict[str, Any] | None, to: str | None) -> tuple[str | None, str]:
    """(current commit, commit to return to). Pure.

    After a failed update CloudFormation already restored the previous template, so
    "last successful" is the stack's own commit tag; after a successful but bad
    deploy it is the commit recorded as previous.
    """
    if desc is None:
        raise RunRefused("the stack is not deployed; nothing to roll back")
    tags = tags_of(desc)
    current = tags.get(TAG_COMMIT)
    if to:
        return current, to
    status = str(desc.get("StackStatus", ""))
    if ending(status) is Ending.ROLLED_BACK and current:
        return current, current
    previous = tags.get(TAG_PREVIOUS)
    if not previous:
        raise RunRefused("no earlier infra-bot deploy is recorded on this stack; pass --to COMMIT")
    return current, previous


def rollback(
    run: EnvRun,
    stack: str,
    *,
    to: str | None = None,
    execute: bool = True,
    on_event: EventSink | None = None,
    bound_env: str | None = None,
    override_protection: bool = False,
) -> RollbackOutcome:
    guard_protected(run.env.name, bound_env, override_protection)
    desc = run.cfn.describe_stack(run.env.stack_name(stack))
    current, target = rollback_target(desc, to)
    spec = spec_at_commit(run.repo, run.env.name, stack, target)
    with env_lock(run):
        preview = plan_stack(run.cfn_for(spec), spec, run.clock)
        result = None
        if execute and preview.outcome is Outcome.CHANGES:
            result = deploy_stack(run.cfn_for(spec), spec, run.clock, on_event=on_event)
    return RollbackOutcome(stack, current, spec.commit, preview, result)


def drift_env(run: EnvRun, stacks: list[str] | None = None) -> list[StackDrift]:
    return _drift(run, ordered_stacks(run.repo, run.env.name, stacks))


def _drift(run: EnvRun, order: list[str]) -> list[StackDrift]:
    return [detect_stack_drift(run.cfn, s, run.env.stack_name(s), run.clock) for s in order]


@dataclass(frozen=True)
class EnvStatus:
    stacks: list[StatusRow]
    releases: list[ReleaseStatus]


def status_env(
    run: EnvRun, stacks: list[str] | None = None, access: HelmAccess | None = None
) -> EnvStatus:
    """The stacks' states, and the Helm releases' as helm lists them (with `access`)."""
    order = ordered_stacks(run.repo, run.env.name, stacks)
    rows = [
        status_row(s, run.env.stack_name(s), run.cfn.describe_stack(run.env.stack_name(s)))
        for s in order
    ]
    return EnvStatus(rows, release_status(run, access or HelmAccess()))


def release_status(run: EnvRun, access: HelmAccess) -> list[ReleaseStatus]:
    """The repository's releases per cluster stack with their state in its cluster, or
    why that is unknown (no helm, no cluster, no access), in one line; never raises for
    a cluster that cannot be read."""
    clusters: dict[str, dict[str, Release]] = {}
    for name, rel in sorted(run.repo.releases.items()):
        clusters.setdefault(rel.spec.cluster_stack, {})[name] = rel
    out: list[ReleaseStatus] = []
    for stack, releases in sorted(clusters.items()):
        wanted = {name: r.spec.version for name, r in releases.items()}
        try:
            out.append(ReleaseStatus(stack, wanted, _listed(run, access, stack, releases)))
        except (CloudError, HelmError) as exc:
            out.append(ReleaseStatus(stack, wanted, {}, str(exc)))
    return out


def _listed(
    run: EnvRun, access: HelmAccess, cluster_stack: str, releases: dict[str, Release]
) -> dict[str, ReleaseState]:
    if cluster_stack not in run.repo.deployments(run.env.name):
        raise CloudError(f"cluster stack {cluster_stack} is not one of {run.env.name}'s stacks")
    if access.helm is None:
        raise HelmError("no cluster connection in this run")
    return list_releases(access.helm, releases, _kubeconfig(access, cluster_stack))


@dataclass(frozen=True)
class Deletion:
    stack: str
    stack_name: str
    status: str


def destroy_env(run: EnvRun, confirm: str | None) -> list[Deletion]:
    """Delete every stack of the environment, dependents first; stop at the first failure."""
    refusal = destroy_refusal(run.env.name, confirm)
    if refusal:
        raise RunRefused(refusal)
    order = list(reversed(ordered_stacks(run.repo, run.env.name)))
    out: list[Deletion] = []
    with env_lock(run):
        for stack in order:
            name = run.env.stack_name(stack)
            if run.cfn.describe_stack(name) is None:
                out.append(Deletion(stack, name, "NOT_DEPLOYED"))
                continue
            run.cfn.delete_stack(name)
            try:
                final = poll_until(
                    lambda n=name: run.cfn.describe_stack(n),  # type: ignore[misc]
                    lambda d: d is None or ending(str(d.get("StackStatus"))) is not None,
                    run.clock,
                    DESTROY_TIMEOUT,
                    f"deletion of {name}",
                )
            except WaitTimeoutError as exc:
                out.append(Deletion(stack, name, str(exc)))
                break
            status = "DELETE_COMPLETE" if final is None else str(final.get("StackStatus"))
            out.append(Deletion(stack, name, status))
            if status != "DELETE_COMPLETE":
                break
    return out

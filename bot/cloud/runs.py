"""The environment-level operations the CLI and the GitHub handlers call.

Each takes an `EnvRun` (repository, environment, CloudFormation adapter, lock
store, clock) so tests pass moto-backed or recorded adapters and the CLI passes
boto3 ones. Decisions come from the pure modules; this file sequences I/O.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.cloud.adapter import CloudError, CloudFormationApi
from bot.cloud.deployer import (
    DeployHook,
    EventSink,
    StackResult,
    deploy_stack,
    deploy_stacks,
    skipped,
)
from bot.cloud.drift import StackDrift, detect_stack_drift
from bot.cloud.events import Ending, ending
from bot.cloud.helm import HelmRunner, ReleaseResult, Skip, cluster_skips, deploy_releases
from bot.cloud.lock import LockError, LockStore, acquire, busy_stacks, lock_name, release
from bot.cloud.planner import TAG_PREVIOUS, plan_stack, plan_stacks
from bot.cloud.policy import (
    Check,
    StatusRow,
    checks_passed_check,
    destroy_refusal,
    drift_check,
    promotion_allowed,
    protection_refusal,
    stack_checks,
    status_row,
)
from bot.cloud.preview import Outcome, StackPreview, tags_of
from bot.cloud.spec import TAG_COMMIT, StackSpec
from bot.cloud.targets import head_commit, ordered_stacks, spec_at_commit, specs_for
from bot.cloud.waiting import Clock, WaitTimeoutError, poll_until
from bot.repo.changes import checkout_at
from bot.repo.model import Environment, Repository

DESTROY_TIMEOUT = 3600.0

ClusterConnect = Callable[[str], Path]
"""Cluster stack -> a kubeconfig for its cluster; raises CloudError saying why not."""


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

    def cfn_for(self, _spec: StackSpec) -> CloudFormationApi:
        return self.cfn


def open_env(
    repo: Repository, env: str, endpoint_url: str | None = None, owner: str = "infra-bot"
) -> EnvRun:
    """An EnvRun with boto3 clients in the environment's account (imports boto3)."""
    from bot.cloud.adapter import Boto3CloudFormation
    from bot.cloud.lock import SsmLockStore
    from bot.cloud.session import client, environment_session, target_for

    environment = repo.environment(env)
    target = target_for(environment, endpoint_url)
    session = environment_session(environment, target)
    return EnvRun(
        repo,
        environment,
        Boto3CloudFormation(client(session, "cloudformation", target)),
        locks=SsmLockStore(client(session, "ssm", target)),
        owner=owner,
    )


def guard_protected(env: str, bound_env: str | None, override: bool) -> None:
    refusal = protection_refusal(env, bound_env, override)
    if refusal:
        raise RunRefused(refusal)


@contextlib.contextmanager
def env_lock(run: EnvRun) -> Iterator[None]:
    """No stack of the environment in progress (all of them, not only this run's), and
    the lock record held meanwhile."""
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
    return Repository(checkout_at(repo.root, commit))


def plan_env(
    run: EnvRun,
    commit: str,
    stacks: list[str] | None = None,
    changed_since: str | None = None,
    on_preview: Callable[[StackPreview], None] | None = None,
) -> list[StackPreview]:
    order = ordered_stacks(run.repo, run.env.name, stacks, changed_since)
    return plan_stacks(
        run.cfn_for, specs_for(run.repo, run.env.name, order, commit), run.clock, on_preview
    )


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
    helm: HelmRunner | None,
    in_run: list[str],
    results: list[StackResult],
    *,
    kubeconfig: Path | None = None,
    connect: ClusterConnect | None = None,
) -> list[ReleaseResult]:
    """The releases of `repo` after the stacks of this run, against their clusters.

    A given `kubeconfig` serves every cluster; otherwise `connect` finds each one.
    A cluster stack this run deployed whose cluster cannot be reached (no ClusterName
    output, DescribeCluster refused) is a failure: its releases were due and did not
    run. Those of cluster stacks outside the run are skipped without failing
    (bot.cloud.helm.cluster_skips).
    """
    if helm is None or not repo.releases:
        return []
    failed = next((r.stack for r in results if not r.result.ok), None)
    clusters = sorted({r.spec.cluster_stack for r in repo.releases.values()})
    env_stacks = repo.deployments(run.env.name)
    skips = cluster_skips(clusters, run.env.name, env_stacks, in_run, failed)
    kubeconfigs: dict[str, Path] = {}
    for stack in (s for s in clusters if s not in skips):
        if kubeconfig is not None:
            kubeconfigs[stack] = kubeconfig
        elif connect is None:
            skips[stack] = Skip("no kubeconfig for the cluster", True)
        else:
            try:
                kubeconfigs[stack] = connect(stack)
            except CloudError as exc:
                skips[stack] = Skip(f"cannot reach the cluster of {stack}: {exc}", True)
    return deploy_releases(
        helm, repo.releases, run.env.name, set(kubeconfigs), kubeconfigs=kubeconfigs, skips=skips
    )


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
) -> DeployOutcome:
    """Deploy the stacks in order, then (with `helm`) the Helm releases: see deploy_helm."""
    guard_protected(run.env.name, bound_env, override_protection)
    order = ordered_stacks(run.repo, run.env.name, stacks)
    specs = specs_for(run.repo, run.env.name, order, commit)
    replanned: list[StackPreview] = []

    def do_replan(spec: StackSpec) -> None:
        preview = plan_stack(run.cfn_for(spec), spec, run.clock)
        replanned.append(preview)
        if on_preview:
            on_preview(preview)

    with env_lock(run):
        results = deploy_stacks(
            run.cfn_for,
            specs,
            run.clock,
            on_event=on_event,
            on_result=on_result,
            replan=do_replan if replan else None,
        )
        releases = deploy_helm(
            run, run.repo, helm, order, results, kubeconfig=kubeconfig, connect=connect
        )
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
    checks, commit = stack_checks(order, described)
    if with_drift:
        checks.append(drift_check(_drift(source, order)))
    checks.append(checks_passed_check(checks_passed))
    return checks, commit


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
) -> PromotionOutcome:
    """Pre-checks on `source`, then plan and deploy `target` stack by stack at source's commit,
    then (with `helm`) the Helm releases of that commit (see deploy_helm).

    Plan and deploy alternate per stack: in a new environment a stack's change set
    can only be created once the stacks it imports from exist.
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
    repo = _repo_at(target.repo, commit)
    order = ordered_stacks(repo, target.env.name, stacks)
    specs = specs_for(repo, target.env.name, order, commit)
    previews: list[StackPreview] = []
    results: list[StackResult] = []
    with env_lock(target):
        for i, spec in enumerate(specs):
            preview = plan_stack(target.cfn_for(spec), spec, target.clock)
            previews.append(preview)
            if on_preview:
                on_preview(preview)
            res = deploy_stack(target.cfn_for(spec), spec, target.clock, on_event=on_event)
            results.append(res)
            if on_result:
                on_result(res)
            if not res.result.ok:
                results += skipped(specs[i + 1 :], spec.stack)
                break
        releases = deploy_helm(
            target, repo, helm, order, results, kubeconfig=kubeconfig, connect=connect
        )
    return PromotionOutcome(
        source.env.name, target.env.name, checks, commit, previews, results, releases
    )


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


def status_env(run: EnvRun, stacks: list[str] | None = None) -> list[StatusRow]:
    order = ordered_stacks(run.repo, run.env.name, stacks)
    return [
        status_row(s, run.env.stack_name(s), run.cfn.describe_stack(run.env.stack_name(s)))
        for s in order
    ]


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

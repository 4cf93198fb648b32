"""`deploy`: execute exactly the change set reviewed for this commit and template hash.

Nothing else runs: no change set -> refused (the CLI may replan on request),
a change set for the same commit but another hash -> refused (the files changed
after review), a change set whose content (template, parameters, tags,
capabilities) is not what the spec creates -> refused (bot.cloud.verify: a name is
no identity). With `pinned` (the ids of a published plan: PRD's plan job,
`/infra apply`'s plan comment) only the change set of that id runs. The verified
change set is executed by its id, so a replacement made after the check cannot run.
Stacks go in dependency order; the first failure stops the rest.

Every AWS error (a synchronous ExecuteChangeSet refusal, throttling after retries, a
5xx, an unreadable answer) becomes that stack's FAILED result with its reason and
advice (bot.cloud.advice), never an exception out of here. A stack with nothing to
change is UNCHANGED, proven by content (the template and parameters it runs now).
Recovery: a stack left in ROLLBACK_COMPLETE by a failed first create is deleted and
created again; UPDATE_ROLLBACK_FAILED is continued only with the resources to skip
confirmed by the caller (`Recovery`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from bot.cloud.adapter import CloudError, CloudFormationApi
from bot.cloud.advice import advice_for
from bot.cloud.events import (
    Ending,
    FailedResource,
    StackEvent,
    ending,
    failed_resources,
    new_events,
    parse_event,
    rollback_blockers,
)
from bot.cloud.levels import Levels
from bot.cloud.planner import deploy_tags, plan_stack
from bot.cloud.preview import Outcome, is_no_changes, stack_state_advice, tags_of
from bot.cloud.spec import CHANGE_SET_PREFIX, TAG_COMMIT, TAG_HASH, StackSpec, parse_description
from bot.cloud.verify import content_mismatches, describe_mismatches, runs_spec
from bot.cloud.waiting import Clock, WaitTimeoutError, poll_until

DEPLOY_TIMEOUT = 3600.0


class Result(StrEnum):
    DEPLOYED = "deployed"
    UNCHANGED = "unchanged"
    NOT_PLANNED = "not planned"
    STALE_PLAN = "changed after planning"
    NOT_REVIEWED = "not what was reviewed"
    BLOCKED = "blocked"
    ROLLED_BACK = "rolled back"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    SKIPPED = "skipped"

    @property
    def ok(self) -> bool:
        return self in {Result.DEPLOYED, Result.UNCHANGED}


@dataclass(frozen=True)
class StackResult:
    env: str
    stack: str
    stack_name: str
    result: Result
    message: str
    commit: str
    template_hash: str
    change_set: str | None = None
    final_status: str | None = None
    failures: tuple[FailedResource, ...] = ()
    advice: tuple[str, ...] = ()
    # What recovery did before this deploy (deleted a ROLLBACK_COMPLETE stack ...).
    recovered: str | None = None


@dataclass(frozen=True)
class Recovery:
    """What a deploy may do to a stack a failed operation left behind.

    `recreate`: delete a stack in ROLLBACK_COMPLETE (its first create failed; it holds
    no resources) and create it again. `continue_rollback`: ContinueUpdateRollback on a
    stack in UPDATE_ROLLBACK_FAILED, skipping exactly `skip` (which must be among the
    resources its events show failing; the person passing them confirmed that)."""

    recreate: bool = True
    continue_rollback: bool = False
    skip: tuple[str, ...] = ()


RECOVERY_TIMEOUT = 3600.0


EventSink = Callable[[StackSpec, StackEvent], None]
DeployHook = Callable[[StackResult], None]
Pins = dict[str, str]
"""stack -> the ChangeSetId a published plan showed; a stack missing has nothing to run."""


def _result(spec: StackSpec, result: Result, message: str, **kw: Any) -> StackResult:
    if result in {Result.FAILED, Result.ROLLED_BACK, Result.BLOCKED} and "advice" not in kw:
        failures: tuple[FailedResource, ...] = kw.get("failures", ())
        reasons = [f.reason for f in failures] + [message]
        kw["advice"] = advice_for(reasons, kw.get("final_status"), spec.env, spec.stack)
    return StackResult(
        spec.env,
        spec.stack,
        spec.stack_name,
        result,
        message,
        spec.commit,
        spec.template_hash,
        **kw,
    )


def already_deployed(spec: StackSpec, stack: dict[str, Any] | None) -> str | None:
    """Why this deploy is a no-op, or None. Pure."""
    if stack is None or ending(str(stack.get("StackStatus", ""))) is not Ending.SUCCEEDED:
        return None
    tags = tags_of(stack)
    if tags.get(TAG_HASH) != spec.template_hash:
        return None
    if tags.get(TAG_COMMIT) == spec.commit:
        return f"already deployed at {spec.commit[:12]}"
    return f"the same template and parameters are deployed (from {tags.get(TAG_COMMIT, '?')[:12]})"


def find_plan(spec: StackSpec, summaries: list[dict[str, Any]]) -> tuple[Result, str] | None:
    """Refusal (result, message) when no executable change set matches spec, else None. Pure."""
    names = {str(s.get("ChangeSetName")) for s in summaries}
    if spec.change_set_name in names:
        return None
    same_commit = sorted(
        n for n in names if n.startswith(f"{CHANGE_SET_PREFIX}{spec.commit[:12]}-")
    )
    if same_commit:
        return (
            Result.STALE_PLAN,
            f"{spec.stack_name}: the template or parameters changed after planning "
            f"(planned: {', '.join(same_commit)}; now sha256 {spec.template_hash[:8]}). "
            "Refusing to deploy what was not reviewed; plan again and review the new preview.",
        )
    return (
        Result.NOT_PLANNED,
        f"{spec.stack_name}: no change set was planned for commit {spec.commit[:12]} "
        "(run `infra-bot plan`, review it, or pass --replan to plan and deploy now).",
    )


def verify_change_set(spec: StackSpec, desc: dict[str, Any]) -> str | None:
    """Why this change set must not be executed, or None. Pure."""
    identity = parse_description(desc.get("Description"))
    if identity != (spec.commit, spec.template_hash):
        return (
            f"{spec.stack_name}: change set {spec.change_set_name} was not created for commit "
            f"{spec.commit[:12]} with sha256 {spec.template_hash[:8]} (it says {identity})"
        )
    if desc.get("Status") != "CREATE_COMPLETE" or desc.get("ExecutionStatus") != "AVAILABLE":
        return (
            f"{spec.stack_name}: change set {spec.change_set_name} is not executable "
            f"({desc.get('Status')}/{desc.get('ExecutionStatus')}: {desc.get('StatusReason')})"
        )
    return None


def pin_refusal(spec: StackSpec, desc: dict[str, Any], pins: Pins | None) -> str | None:
    """Why a change set outside the published plan must not run, or None. Pure."""
    if pins is None:
        return None
    want = pins.get(spec.stack)
    got = str(desc.get("ChangeSetId") or "")
    if want is None:
        return (
            f"{spec.stack_name}: the reviewed plan had nothing to execute for this stack, "
            f"but change set {spec.change_set_name} ({got}) is there now; refusing it. "
            "Plan again and review the new plan."
        )
    if got != want:
        return (
            f"{spec.stack_name}: change set {spec.change_set_name} was replaced after the "
            f"plan was published (reviewed id {want}, now {got or 'none'}); refusing it. "
            "Plan again and review the new plan."
        )
    return None


def verify_content(
    cfn: CloudFormationApi, spec: StackSpec, desc: dict[str, Any], stack: dict[str, Any] | None
) -> str | None:
    """Why the described change set is not what `spec` would create, or None."""
    change_set = str(desc.get("ChangeSetId") or spec.change_set_name)
    template = cfn.change_set_template(spec.stack_name, change_set)
    found = content_mismatches(spec, desc, template, deploy_tags(spec, stack))
    return describe_mismatches(spec, spec.change_set_name, found) if found else None


def deploy_stack(
    cfn: CloudFormationApi,
    spec: StackSpec,
    clock: Clock,
    *,
    on_event: EventSink | None = None,
    timeout: float = DEPLOY_TIMEOUT,
    pins: Pins | None = None,
) -> StackResult:
    """Deploy one stack; any AWS error becomes its FAILED result, never an exception."""
    try:
        return _deploy_stack(cfn, spec, clock, on_event=on_event, timeout=timeout, pins=pins)
    except CloudError as exc:
        return api_failure(cfn, spec, exc)


def api_failure(cfn: CloudFormationApi, spec: StackSpec, exc: CloudError) -> StackResult:
    """An AWS error as the stack's result, with its status now (when AWS answers)."""
    status: str | None = None
    with_status = ""
    try:
        stack = cfn.describe_stack(spec.stack_name)
        status = str(stack.get("StackStatus")) if stack else None
        with_status = f" (the stack is {status})" if status else ""
    except CloudError:
        pass  # the answer we have is the error itself; do not bury it under a second one
    return _result(spec, Result.FAILED, f"{spec.stack_name}: {exc}{with_status}",
                   change_set=spec.change_set_name, final_status=status)  # fmt: skip


def nothing_to_deploy(
    cfn: CloudFormationApi, spec: StackSpec, stack: dict[str, Any] | None
) -> str | None:
    """Why a stack without a change set needs none: it runs this template, parameters and
    tags already (compared by content, as a change set is), or None."""
    if stack is None or ending(str(stack.get("StackStatus", ""))) is not Ending.SUCCEEDED:
        return None
    if not runs_spec(spec, stack, cfn.stack_template(spec.stack_name)):
        return None
    since = tags_of(stack).get(TAG_COMMIT)
    return (
        f"nothing to deploy: {spec.stack_name} already runs this template and these "
        f"parameters" + (f" (deployed from {since[:12]})" if since else "")
    )


def _deploy_stack(  # noqa: PLR0911 - one guard clause per reason to refuse
    cfn: CloudFormationApi,
    spec: StackSpec,
    clock: Clock,
    *,
    on_event: EventSink | None = None,
    timeout: float = DEPLOY_TIMEOUT,
    pins: Pins | None = None,
) -> StackResult:
    stack = cfn.describe_stack(spec.stack_name)
    status = stack.get("StackStatus") if stack else None
    noop = already_deployed(spec, stack)
    if noop:
        return _result(spec, Result.UNCHANGED, noop, final_status=status)
    advice = stack_state_advice(spec.stack_name, status)
    if advice:
        return _result(spec, Result.BLOCKED, advice, final_status=status)
    refusal = find_plan(spec, cfn.list_change_sets(spec.stack_name) if stack else [])
    if refusal and pins is not None and spec.stack in pins:
        refusal = (Result.NOT_REVIEWED, f"{spec.stack_name}: the reviewed change set "
                   f"{pins[spec.stack]} is gone; plan again and review the new plan")  # fmt: skip
    if refusal and refusal[0] is Result.NOT_PLANNED:
        same = nothing_to_deploy(cfn, spec, stack)
        if same:
            return _result(spec, Result.UNCHANGED, same, final_status=status)
    if refusal:
        return _result(spec, refusal[0], refusal[1], final_status=status)
    desc = cfn.describe_change_set(spec.stack_name, spec.change_set_name)
    if desc is None:
        return _result(spec, Result.NOT_PLANNED, f"{spec.stack_name}: change set vanished")
    if is_no_changes(desc):
        return _result(spec, Result.UNCHANGED, "nothing to deploy: the change set has no "
                       "changes", change_set=spec.change_set_name)  # fmt: skip
    if desc.get("Status") == "FAILED":
        # Typical for a new environment: planned before the stacks it imports from existed.
        return _result(spec, Result.NOT_PLANNED,
                       f"{spec.stack_name}: the planned change set failed "
                       f"({desc.get('StatusReason')}); --replan plans it again now",
                       change_set=spec.change_set_name)  # fmt: skip
    problem = verify_change_set(spec, desc)
    if problem:
        return _result(spec, Result.STALE_PLAN, problem, change_set=spec.change_set_name)
    problem = pin_refusal(spec, desc, pins) or verify_content(cfn, spec, desc, stack)
    if problem:
        return _result(spec, Result.NOT_REVIEWED, problem, change_set=spec.change_set_name)
    seen = {str(e.get("EventId")) for e in cfn.stack_events(spec.stack_name)} if stack else set()
    # By id: the change set just verified, not whatever bears its name by now.
    cfn.execute_change_set(spec.stack_name, str(desc.get("ChangeSetId") or spec.change_set_name))
    return _watch(cfn, spec, clock, seen, on_event=on_event, timeout=timeout)


def _watch(
    cfn: CloudFormationApi,
    spec: StackSpec,
    clock: Clock,
    seen: set[str],
    *,
    on_event: EventSink | None,
    timeout: float,
) -> StackResult:
    started = clock.monotonic()
    deadline = started + timeout
    events: list[StackEvent] = []
    while True:
        fresh = new_events(cfn.stack_events(spec.stack_name), seen)
        for e in fresh:
            seen.add(e.event_id)
            if on_event:
                on_event(spec, e)
        events.extend(fresh)
        stack = cfn.describe_stack(spec.stack_name)
        status = str(stack.get("StackStatus", "")) if stack else "DELETE_COMPLETE"
        end = ending(status)
        if end is not None:
            break
        if clock.monotonic() >= deadline:
            return _result(
                spec,
                Result.TIMED_OUT,
                f"{spec.stack_name}: still {status} after {timeout:.0f} s; CloudFormation "
                "carries on, check `infra-bot status` before retrying",
                change_set=spec.change_set_name,
                final_status=status,
            )
        clock.waiting(f"{spec.stack_name} ({status})", started)
        clock.sleep(clock.poll_seconds)
    failures = tuple(failed_resources(events))
    if end is Ending.SUCCEEDED:
        return _result(
            spec,
            Result.DEPLOYED,
            f"{spec.stack_name}: {status}",
            change_set=spec.change_set_name,
            final_status=status,
        )
    result = Result.ROLLED_BACK if end is Ending.ROLLED_BACK else Result.FAILED
    reason = str(stack.get("StackStatusReason") or "") if stack else ""
    message = f"{spec.stack_name}: {status}" + (f" ({reason})" if reason else "")
    return _result(
        spec,
        result,
        message,
        change_set=spec.change_set_name,
        final_status=status,
        failures=failures,
    )


def skipped(rest: list[StackSpec], failed: str) -> list[StackResult]:
    """The stacks after a failure: not started."""
    return [
        _result(s, Result.SKIPPED, f"{s.stack_name}: not started, {failed} did not deploy")
        for s in rest
    ]


def deploy_stacks(
    cfn_for: Callable[[StackSpec], CloudFormationApi],
    specs: list[StackSpec],
    clock: Clock,
    *,
    on_event: EventSink | None = None,
    on_result: DeployHook | None = None,
    replan: Callable[[StackSpec], None] | None = None,
    prepare: Callable[[StackSpec], None] | None = None,
    timeout: float = DEPLOY_TIMEOUT,
    pins: Pins | None = None,
    recovery: Recovery | None = None,
    levels: Levels | None = None,
) -> list[StackResult]:
    """Deploy in order; after the first stack that is not ok, the rest are SKIPPED.

    `levels` (bot.cloud.levels) runs the stacks of one dependency level at once; then
    a stack that is not ok lets the rest of its level finish and SKIPS later levels.

    `prepare` runs before each stack's deploy (a promotion plans it there: its change
    set can only be made once the stacks it imports from exist).
    `replan` (the CLI's --replan) plans a stack that has no change set and tries once
    more; a plan that changed after review is never replanned here.
    `on_result` is the hook for deploy records (GitHub deployments) per stack.
    `pins`: only the change sets of a published plan run (see pin_refusal).
    `recovery`: what may be done first to a stack a failed operation left behind
    (None: nothing; the plan stage passes None, the approved stage a Recovery).
    """

    def one(spec: StackSpec) -> StackResult:
        cfn = cfn_for(spec)
        stack_pins = pins
        recovered = recover_stack(cfn, spec, clock, recovery) if recovery else None
        if isinstance(recovered, StackResult):
            return recovered
        if prepare is not None:
            prepare(spec)
        if recovered is not None:
            stack_pins = _replan_recreated(cfn, spec, clock, stack_pins, prepare is not None)
        res = deploy_stack(cfn, spec, clock, on_event=on_event, timeout=timeout, pins=stack_pins)
        if res.result is Result.NOT_PLANNED and replan is not None:
            replan(spec)
            res = deploy_stack(cfn, spec, clock, on_event=on_event, timeout=timeout,
                               pins=stack_pins)  # fmt: skip
        if recovered is not None:
            res = replace(res, recovered=recovered, message=f"{recovered}; {res.message}")
        return res

    def errored(spec: StackSpec, exc: Exception) -> StackResult:
        # An AWS error outside deploy_stack (a replan, a promotion's plan): this stack's
        # result, not an exception that loses the others' (bot.cloud.levels).
        if not isinstance(exc, CloudError):
            raise exc
        return api_failure(cfn_for(spec), spec, exc)

    return (levels or Levels()).run(
        specs, lambda s: s.stack, one, ok=lambda r: r.result.ok, skip=skipped,
        on_done=on_result, on_error=errored,
    )  # fmt: skip


def _replan_recreated(
    cfn: CloudFormationApi, spec: StackSpec, clock: Clock, pins: Pins | None, planned: bool
) -> Pins | None:
    """A stack deleted by recovery has no change set: plan it (unless `prepare` did) and,
    under a published plan, admit the new one. Its content is verified before it runs
    like any other, against the very commit that was approved; a plan that failed
    leaves the pins as they were, and deploy_stack says why it cannot run."""
    preview = None if planned else plan_stack(cfn, spec, clock)
    if pins is None or preview is None or preview.outcome is not Outcome.CHANGES:
        return pins
    return {**pins, spec.stack: preview.change_set_id} if preview.change_set_id else pins


def recover_stack(
    cfn: CloudFormationApi, spec: StackSpec, clock: Clock, recovery: Recovery
) -> str | StackResult | None:
    """Make a stack a failed operation left behind deployable again.

    None: nothing to do; a note saying what was done; or the stack's (failed) result
    when it cannot be recovered here. Errors become that result too."""
    try:
        stack = cfn.describe_stack(spec.stack_name)
        status = str(stack.get("StackStatus")) if stack else None
        if status == "ROLLBACK_COMPLETE" and recovery.recreate:
            return _recreate(cfn, spec, clock)
        if status == "UPDATE_ROLLBACK_FAILED":
            return _continue_rollback(cfn, spec, clock, recovery)
    except CloudError as exc:
        return api_failure(cfn, spec, exc)
    return None


def _wait_for(cfn: CloudFormationApi, spec: StackSpec, clock: Clock, what: str) -> str:
    """The stack's status once its operation ends (DELETE_COMPLETE once it is gone)."""
    final = poll_until(
        lambda: cfn.describe_stack(spec.stack_name),
        lambda d: d is None or ending(str(d.get("StackStatus"))) is not None,
        clock,
        RECOVERY_TIMEOUT,
        f"{what} of {spec.stack_name}",
    )
    return "DELETE_COMPLETE" if final is None else str(final.get("StackStatus"))


def _recreate(cfn: CloudFormationApi, spec: StackSpec, clock: Clock) -> str | StackResult:
    cfn.delete_stack(spec.stack_name)
    try:
        status = _wait_for(cfn, spec, clock, "the deletion")
    except WaitTimeoutError as exc:
        return _result(spec, Result.TIMED_OUT, f"{spec.stack_name}: {exc}")
    if status != "DELETE_COMPLETE":
        return _result(spec, Result.FAILED, f"{spec.stack_name}: was in ROLLBACK_COMPLETE; "
                       f"deleting it to create it again ended {status}",
                       final_status=status)  # fmt: skip
    return (
        f"deleted {spec.stack_name}, left in ROLLBACK_COMPLETE by a failed first create, "
        "and created it again"
    )


def _continue_rollback(
    cfn: CloudFormationApi, spec: StackSpec, clock: Clock, recovery: Recovery
) -> str | StackResult:
    blockers = rollback_blockers([parse_event(e) for e in cfn.stack_events(spec.stack_name)])
    names = [b.logical_id for b in blockers]
    listed = ", ".join(names) or "none shown in its events"
    unknown = sorted(set(recovery.skip) - set(names))
    if not recovery.continue_rollback or unknown:
        why = (f"--skip-resource {', '.join(unknown)} did not fail the rollback; "
               if unknown else "")  # fmt: skip
        flags = " ".join(f"--skip-resource {n}" for n in names)
        return _result(
            spec, Result.BLOCKED,
            f"{spec.stack_name}: UPDATE_ROLLBACK_FAILED; {why}the rollback is blocked by: "
            f"{listed}. Fix them, or confirm skipping them (left as they are, out of the "
            f"stack's control): deploy --continue-rollback {flags}".rstrip(),
            final_status="UPDATE_ROLLBACK_FAILED", failures=tuple(blockers),
        )  # fmt: skip
    cfn.continue_update_rollback(spec.stack_name, list(recovery.skip))
    try:
        status = _wait_for(cfn, spec, clock, "the continued rollback")
    except WaitTimeoutError as exc:
        return _result(spec, Result.TIMED_OUT, f"{spec.stack_name}: {exc}")
    if status != "UPDATE_ROLLBACK_COMPLETE":
        return _result(spec, Result.FAILED, f"{spec.stack_name}: the continued rollback "
                       f"ended {status}", final_status=status)  # fmt: skip
    skipped_text = f", skipping {', '.join(recovery.skip)}" if recovery.skip else ""
    return f"continued the rollback of {spec.stack_name}{skipped_text}"

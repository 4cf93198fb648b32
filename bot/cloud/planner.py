"""`plan`: one change set per stack, tied to the commit and template hash, then a preview."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from bot.cloud.adapter import CloudError, CloudFormationApi, NoChangesError
from bot.cloud.levels import Levels
from bot.cloud.preview import (
    Outcome,
    StackPreview,
    change_set_type,
    is_no_changes,
    parse_changes,
    stack_state_advice,
    tags_of,
)
from bot.cloud.spec import (
    CHANGE_SET_PREFIX,
    TAG_COMMIT,
    StackSpec,
    api_parameters,
    api_tags,
)
from bot.cloud.verify import content_mismatches, describe_mismatches
from bot.cloud.waiting import Clock, WaitTimeoutError, poll_until

TAG_PREVIOUS = "infra-bot:previous-commit"
CHANGE_SET_TIMEOUT = 600.0
_SETTLED = {"CREATE_COMPLETE", "FAILED", "DELETE_COMPLETE", "DELETE_FAILED"}


def _is_settled(desc: dict[str, Any] | None) -> bool:
    return desc is None or desc.get("Status") in _SETTLED


def deploy_tags(spec: StackSpec, stack: dict[str, Any] | None) -> dict[str, str]:
    """The change set's tags: the deployment file's, our identity, and what it replaces.

    The previous commit is what `rollback` returns to after a deploy that succeeded
    but turned out bad.
    """
    # Only the bot says what a rollback returns to, never the deployment file.
    tags = {k: v for k, v in spec.all_tags().items() if k != TAG_PREVIOUS}
    current = tags_of(stack)
    if stack is not None and current.get(TAG_COMMIT) and current[TAG_COMMIT] != spec.commit:
        tags[TAG_PREVIOUS] = current[TAG_COMMIT]
    elif current.get(TAG_PREVIOUS):
        tags[TAG_PREVIOUS] = current[TAG_PREVIOUS]
    return tags


def plan_stack(
    cfn: CloudFormationApi, spec: StackSpec, clock: Clock, timeout: float = CHANGE_SET_TIMEOUT
) -> StackPreview:
    """The stack's preview; an AWS error (5xx, throttling, an unreadable answer, a refusal)
    is its FAILED preview with the reason, so the other stacks are still planned."""
    try:
        return _plan_stack(cfn, spec, clock, timeout)
    except CloudError as exc:
        return StackPreview(spec.env, spec.stack, spec.stack_name, Outcome.FAILED,
                            change_set=spec.change_set_name,
                            reason=f"{spec.stack_name}: {exc}")  # fmt: skip


def _plan_stack(
    cfn: CloudFormationApi, spec: StackSpec, clock: Clock, timeout: float
) -> StackPreview:
    stack = cfn.describe_stack(spec.stack_name)
    status = stack.get("StackStatus") if stack else None
    blank = StackPreview(spec.env, spec.stack, spec.stack_name, Outcome.FAILED, stack_status=status)
    advice = stack_state_advice(spec.stack_name, status)
    if advice:
        return replace(blank, outcome=Outcome.BLOCKED, advice=advice)
    kind = change_set_type(status)
    existing = cfn.list_change_sets(spec.stack_name) if stack else []
    planned = replace(blank, change_set=spec.change_set_name, change_set_type=kind)
    try:
        made = _ensure_change_set(cfn, spec, stack, kind, existing)
    except NoChangesError as exc:
        stale = _delete_stale(cfn, spec, existing)
        return replace(planned, outcome=Outcome.NO_CHANGES, reason=str(exc), deleted_stale=stale)
    try:
        desc = poll_until(
            lambda: cfn.describe_change_set(spec.stack_name, spec.change_set_name),
            _is_settled,
            clock,
            timeout,
            f"change set {spec.change_set_name} of {spec.stack_name}",
        )
    except WaitTimeoutError as exc:
        return replace(planned, reason=str(exc))
    planned = replace(planned, deleted_stale=_delete_stale(cfn, spec, existing))
    problem = _not_ours(cfn, spec, stack, desc, made)
    if problem:
        return replace(planned, reason=problem)
    return _verdict(cfn, spec, replace(planned, change_set_id=made), desc)


def _not_ours(
    cfn: CloudFormationApi,
    spec: StackSpec,
    stack: dict[str, Any] | None,
    desc: dict[str, Any] | None,
    made: str,
) -> str | None:
    """Why the change set under our name is not the one we created or verified, or None.

    A reused one is compared by content (bot.cloud.verify), a new one by id: something
    may have replaced it between CreateChangeSet and DescribeChangeSet."""
    if desc is None or desc.get("Status") != "CREATE_COMPLETE":
        return None
    if str(desc.get("ChangeSetId") or "") != made:
        return (
            f"{spec.stack_name}: change set {spec.change_set_name} was replaced while we "
            f"planned it (created {made}, found {desc.get('ChangeSetId')}); not showing it"
        )
    found = content_mismatches(
        spec, desc, cfn.change_set_template(spec.stack_name, made), deploy_tags(spec, stack)
    )
    return describe_mismatches(spec, spec.change_set_name, found) if found else None


def _ensure_change_set(
    cfn: CloudFormationApi,
    spec: StackSpec,
    stack: dict[str, Any] | None,
    kind: str,
    existing: list[dict[str, Any]],
) -> str:
    """The id of our change set: an executable one of this name, else a new one."""
    reused = _reusable(spec, existing)
    if reused:
        return reused
    if any(s.get("ChangeSetName") == spec.change_set_name for s in existing):
        cfn.delete_change_set(spec.stack_name, spec.change_set_name)
    created = cfn.create_change_set(
        StackName=spec.stack_name,
        ChangeSetName=spec.change_set_name,
        ChangeSetType=kind,
        TemplateBody=spec.body,
        Parameters=api_parameters(spec),
        Capabilities=list(spec.capabilities),
        Tags=api_tags(deploy_tags(spec, stack)),
        Description=spec.description,
    )
    return str(created.get("Id") or "")


def _verdict(
    cfn: CloudFormationApi, spec: StackSpec, planned: StackPreview, desc: dict[str, Any] | None
) -> StackPreview:
    if desc is None:
        return replace(planned, reason="the change set vanished while we waited for it")
    if is_no_changes(desc):
        cfn.delete_change_set(spec.stack_name, spec.change_set_name)
        return replace(planned, outcome=Outcome.NO_CHANGES, reason=desc.get("StatusReason"))
    if desc.get("Status") == "FAILED":
        reason = str(desc.get("StatusReason") or "")
        advice = (
            "It imports from a stack that is not deployed yet; `deploy --replan` plans it "
            "again once that stack exists."
            if "No export named" in reason
            else None
        )
        return replace(planned, reason=reason, advice=advice)
    return replace(planned, outcome=Outcome.CHANGES, changes=parse_changes(desc))


def _reusable(spec: StackSpec, existing: list[dict[str, Any]]) -> str | None:
    """Planning the same commit and hash again reuses a change set that is still executable
    (its id; plan_stack then checks its content)."""
    return next(
        (
            str(s.get("ChangeSetId") or "")
            for s in existing
            if s.get("ChangeSetName") == spec.change_set_name
            and s.get("Status") == "CREATE_COMPLETE"
            and s.get("ExecutionStatus") == "AVAILABLE"
        ),
        None,
    )


def _delete_stale(
    cfn: CloudFormationApi, spec: StackSpec, existing: Iterable[dict[str, Any]]
) -> tuple[str, ...]:
    """Our change sets of other commits or templates on this stack: never to be executed."""
    stale = [
        str(s["ChangeSetName"])
        for s in existing
        if str(s.get("ChangeSetName", "")).startswith(CHANGE_SET_PREFIX)
        and s.get("ChangeSetName") != spec.change_set_name
        and s.get("ExecutionStatus") != "EXECUTE_IN_PROGRESS"
    ]
    for name in stale:
        cfn.delete_change_set(spec.stack_name, name)
    return tuple(stale)


def plan_stacks(
    cfn_for: Callable[[StackSpec], CloudFormationApi],
    specs: list[StackSpec],
    clock: Clock,
    on_preview: Callable[[StackPreview], None] | None = None,
    levels: Levels | None = None,
) -> list[StackPreview]:
    """Plan every stack in order. A stack whose dependency is new is planned anyway: its
    change set may fail on a missing import, which the preview reports. With `levels`,
    the stacks of a level are planned at once (bot.cloud.levels); an AWS error is that
    stack's FAILED preview."""

    def failed(spec: StackSpec, exc: Exception) -> StackPreview:
        if not isinstance(exc, CloudError):
            raise exc
        return StackPreview(spec.env, spec.stack, spec.stack_name, Outcome.FAILED, reason=str(exc))

    return (levels or Levels()).run(
        specs, lambda s: s.stack, lambda s: plan_stack(cfn_for(s), s, clock),
        ok=lambda _p: True, skip=lambda _rest, _failed: [], on_done=on_preview, on_error=failed,
    )  # fmt: skip


def delete_commit_change_sets(cfn: CloudFormationApi, stack_name: str, commit: str) -> list[str]:
    """Our change sets planned for `commit` and never executed (a closed PR's head): they
    can never be deployed, since a deploy only runs change sets of the commit it deploys."""
    prefix = f"{CHANGE_SET_PREFIX}{commit[:12]}-"
    names = [
        str(s["ChangeSetName"])
        for s in cfn.list_change_sets(stack_name)
        if str(s.get("ChangeSetName", "")).startswith(prefix)
        and s.get("ExecutionStatus") not in {"EXECUTE_IN_PROGRESS", "EXECUTE_COMPLETE"}
    ]
    for name in names:
        cfn.delete_change_set(stack_name, name)
    return names

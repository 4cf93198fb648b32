"""`plan`: one change set per stack, tied to the commit and template hash, then a preview."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from bot.cloud.adapter import CloudFormationApi
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
from bot.cloud.waiting import Clock, WaitTimeout, poll_until

TAG_PREVIOUS = "infra-bot:previous-commit"
CHANGE_SET_TIMEOUT = 600.0
_SETTLED = {"CREATE_COMPLETE", "FAILED", "DELETE_COMPLETE", "DELETE_FAILED"}


def _is_settled(desc: dict[str, Any] | None) -> bool:
    return desc is None or desc.get("Status") in _SETTLED


def _deploy_tags(spec: StackSpec, stack: dict[str, Any] | None) -> dict[str, str]:
    """The change set's tags: the deployment file's, our identity, and what it replaces.

    The previous commit is what `rollback` returns to after a deploy that succeeded
    but turned out bad.
    """
    tags = spec.all_tags()
    current = tags_of(stack)
    if stack is not None and current.get(TAG_COMMIT) and current[TAG_COMMIT] != spec.commit:
        tags[TAG_PREVIOUS] = current[TAG_COMMIT]
    elif current.get(TAG_PREVIOUS):
        tags[TAG_PREVIOUS] = current[TAG_PREVIOUS]
    return tags


def plan_stack(
    cfn: CloudFormationApi, spec: StackSpec, clock: Clock, timeout: float = CHANGE_SET_TIMEOUT
) -> StackPreview:
    stack = cfn.describe_stack(spec.stack_name)
    status = stack.get("StackStatus") if stack else None
    base = {"env": spec.env, "stack": spec.stack, "stack_name": spec.stack_name}
    advice = stack_state_advice(spec.stack_name, status)
    if advice:
        return StackPreview(**base, outcome=Outcome.BLOCKED, stack_status=status, advice=advice)
    kind = change_set_type(status)
    existing = cfn.list_change_sets(spec.stack_name) if stack else []
    mine = [s for s in existing if s.get("ChangeSetName") == spec.change_set_name]
    if mine and not (
        mine[0].get("Status") == "CREATE_COMPLETE" and mine[0].get("ExecutionStatus") == "AVAILABLE"
    ):
        cfn.delete_change_set(spec.stack_name, spec.change_set_name)
        mine = []
    if not mine:
        cfn.create_change_set(
            StackName=spec.stack_name,
            ChangeSetName=spec.change_set_name,
            ChangeSetType=kind,
            TemplateBody=spec.body,
            Parameters=api_parameters(spec),
            Capabilities=list(spec.capabilities),
            Tags=api_tags(_deploy_tags(spec, stack)),
            Description=spec.description,
        )
    try:
        desc = poll_until(
            lambda: cfn.describe_change_set(spec.stack_name, spec.change_set_name),
            _is_settled,
            clock,
            timeout,
            f"change set {spec.change_set_name} of {spec.stack_name}",
        )
    except WaitTimeout as exc:
        return StackPreview(**base, outcome=Outcome.FAILED, change_set=spec.change_set_name,
                            change_set_type=kind, stack_status=status, reason=str(exc))  # fmt: skip
    stale = _delete_stale(cfn, spec, existing)
    common = {**base, "change_set": spec.change_set_name, "change_set_type": kind,
              "stack_status": status, "deleted_stale": stale}  # fmt: skip
    if desc is None:
        return StackPreview(**common, outcome=Outcome.FAILED, reason="the change set vanished")
    if is_no_changes(desc):
        cfn.delete_change_set(spec.stack_name, spec.change_set_name)
        return StackPreview(**common, outcome=Outcome.NO_CHANGES, reason=desc.get("StatusReason"))
    if desc.get("Status") == "FAILED":
        return StackPreview(**common, outcome=Outcome.FAILED, reason=desc.get("StatusReason"))
    return StackPreview(**common, outcome=Outcome.CHANGES, changes=parse_changes(desc))


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
) -> list[StackPreview]:
    """Plan every stack in order. A stack whose dependency is new is planned anyway: its
    change set may fail on a missing import, which the preview reports."""
    out: list[StackPreview] = []
    for spec in specs:
        preview = plan_stack(cfn_for(spec), spec, clock)
        out.append(preview)
        if on_preview:
            on_preview(preview)
    return out

"""Drift: CloudFormation's detection, parsed into expected-vs-actual per property."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.cloud.adapter import CloudFormationApi, NotSupportedError
from bot.cloud.waiting import Clock, WaitTimeoutError, poll_until

DRIFT_TIMEOUT = 900.0


class DriftState(StrEnum):
    IN_SYNC = "in sync"
    DRIFTED = "drifted"
    NOT_DEPLOYED = "not deployed"
    UNSUPPORTED = "drift detection not available"
    FAILED = "detection failed"


@dataclass(frozen=True)
class PropertyDrift:
    path: str
    kind: str  # ADD | REMOVE | NOT_EQUAL
    expected: str | None
    actual: str | None


@dataclass(frozen=True)
class ResourceDrift:
    logical_id: str
    resource_type: str
    status: str  # MODIFIED | DELETED
    properties: tuple[PropertyDrift, ...]


@dataclass(frozen=True)
class StackDrift:
    stack: str
    stack_name: str
    state: DriftState
    resources: tuple[ResourceDrift, ...] = ()
    detail: str = ""


def parse_resource_drifts(raw: list[dict[str, Any]]) -> tuple[ResourceDrift, ...]:
    """DescribeStackResourceDrifts entries that drifted. Pure."""
    out = []
    for r in raw:
        status = str(r.get("StackResourceDriftStatus", ""))
        if status not in {"MODIFIED", "DELETED"}:
            continue
        props = tuple(
            PropertyDrift(
                path=str(d.get("PropertyPath", "")),
                kind=str(d.get("DifferenceType", "")),
                expected=d.get("ExpectedValue"),
                actual=d.get("ActualValue"),
            )
            for d in r.get("PropertyDifferences") or []
        )
        out.append(
            ResourceDrift(
                str(r.get("LogicalResourceId", "")), str(r.get("ResourceType", "")), status, props
            )
        )
    return tuple(sorted(out, key=lambda d: d.logical_id))


def detect_stack_drift(
    cfn: CloudFormationApi,
    stack: str,
    stack_name: str,
    clock: Clock,
    timeout: float = DRIFT_TIMEOUT,
) -> StackDrift:
    if cfn.describe_stack(stack_name) is None:
        return StackDrift(stack, stack_name, DriftState.NOT_DEPLOYED)
    try:
        detection = cfn.detect_drift(stack_name)
    except NotSupportedError as exc:
        return StackDrift(stack, stack_name, DriftState.UNSUPPORTED, detail=str(exc))
    try:
        status = poll_until(
            lambda: cfn.drift_detection_status(detection),
            lambda s: s.get("DetectionStatus") != "DETECTION_IN_PROGRESS",
            clock,
            timeout,
            f"drift detection of {stack_name}",
        )
    except WaitTimeoutError as exc:
        return StackDrift(stack, stack_name, DriftState.FAILED, detail=str(exc))
    if status.get("DetectionStatus") == "DETECTION_FAILED" and not status.get("StackDriftStatus"):
        return StackDrift(
            stack,
            stack_name,
            DriftState.FAILED,
            detail=str(status.get("DetectionStatusReason", "")),
        )
    resources = parse_resource_drifts(cfn.resource_drifts(stack_name))
    state = DriftState.DRIFTED if resources else DriftState.IN_SYNC
    # DETECTION_FAILED with a drift status: some resources could not be checked.
    detail = str(status.get("DetectionStatusReason") or "")
    return StackDrift(stack, stack_name, state, resources, detail)

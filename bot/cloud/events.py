"""Stack events and statuses: when a deploy is over, how it ended, and why it failed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

SUCCESS = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})
ROLLED_BACK = frozenset(
    {"ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}
)


class Ending(StrEnum):
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled back"
    FAILED = "failed"
    DELETED = "deleted"


def ending(status: str) -> Ending | None:
    """How a stack operation ended, or None while it is still running."""
    if status.endswith("_IN_PROGRESS") or status == "REVIEW_IN_PROGRESS":
        return None
    if status in SUCCESS:
        return Ending.SUCCEEDED
    if status in ROLLED_BACK:
        return Ending.ROLLED_BACK
    if status == "DELETE_COMPLETE":
        return Ending.DELETED
    return Ending.FAILED


@dataclass(frozen=True)
class StackEvent:
    event_id: str
    timestamp: datetime | None
    logical_id: str
    resource_type: str
    status: str
    reason: str

    @property
    def failed(self) -> bool:
        return self.status.endswith("_FAILED")

    def line(self) -> str:
        when = self.timestamp.strftime("%H:%M:%S") if self.timestamp else "--:--:--"
        text = f"{when} {self.status:<28} {self.resource_type:<36} {self.logical_id}"
        return f"{text}  {self.reason}" if self.reason else text


def parse_event(raw: dict[str, Any]) -> StackEvent:
    ts = raw.get("Timestamp")
    return StackEvent(
        event_id=str(raw.get("EventId", "")),
        timestamp=ts if isinstance(ts, datetime) else _parse_time(ts),
        logical_id=str(raw.get("LogicalResourceId", "")),
        resource_type=str(raw.get("ResourceType", "")),
        status=str(raw.get("ResourceStatus", "")),
        reason=str(raw.get("ResourceStatusReason") or ""),
    )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def new_events(raw: list[dict[str, Any]], seen: set[str]) -> list[StackEvent]:
    """Events not seen yet, oldest first (the API lists newest first)."""
    fresh = [parse_event(e) for e in raw if str(e.get("EventId", "")) not in seen]
    return list(reversed(fresh))


@dataclass(frozen=True)
class FailedResource:
    logical_id: str
    resource_type: str
    status: str
    reason: str


# CloudFormation marks resources it gave up on because another failed; they are noise.
_CASCADE = ("Resource creation cancelled", "Resource update cancelled")


def failed_resources(events: list[StackEvent]) -> list[FailedResource]:
    """The resources that failed (the root causes first), without cancellation noise."""
    out: list[FailedResource] = []
    seen: set[tuple[str, str]] = set()
    for e in events:
        if not e.failed or e.resource_type == "AWS::CloudFormation::Stack":
            continue
        key = (e.logical_id, e.status)
        if key in seen:
            continue
        seen.add(key)
        out.append(FailedResource(e.logical_id, e.resource_type, e.status, e.reason))
    roots = [f for f in out if not f.reason.startswith(_CASCADE)]
    return roots + [f for f in out if f.reason.startswith(_CASCADE)]


def events_since(events: list[StackEvent], start_id: str | None) -> list[StackEvent]:
    """Events (oldest first) after the one with `start_id`; all when it is not there."""
    if start_id is None:
        return events
    for i, e in enumerate(events):
        if e.event_id == start_id:
            return events[i + 1 :]
    return events


def rollback_blockers(newest_first: list[StackEvent]) -> list[FailedResource]:
    """The resources that failed the latest rollback (UPDATE_ROLLBACK_FAILED): the ones
    ContinueUpdateRollback may be told to skip. Events as the API lists them."""
    out: list[FailedResource] = []
    for e in newest_first:
        if e.resource_type == "AWS::CloudFormation::Stack":
            if e.status == "UPDATE_ROLLBACK_IN_PROGRESS":
                break
            continue
        if e.failed and all(f.logical_id != e.logical_id for f in out):
            out.append(FailedResource(e.logical_id, e.resource_type, e.status, e.reason))
    return list(reversed(out))

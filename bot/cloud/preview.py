"""Change sets as typed previews: what will be added, changed, replaced, removed.

Pure: takes DescribeChangeSet / DescribeStacks responses (dicts in the API's
shape), returns frozen dataclasses the renderer turns into markdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Resources whose replacement or removal loses data or breaks everything built on them.
STATEFUL_TYPES = frozenset(
    {
        "AWS::S3::Bucket",
        "AWS::RDS::DBInstance",
        "AWS::RDS::DBCluster",
        "AWS::DynamoDB::Table",
        "AWS::DynamoDB::GlobalTable",
        "AWS::EKS::Cluster",
        "AWS::KMS::Key",
        "AWS::Logs::LogGroup",
        "AWS::EFS::FileSystem",
        "AWS::EC2::Volume",
        "AWS::ElastiCache::ReplicationGroup",
        "AWS::ElastiCache::CacheCluster",
        "AWS::OpenSearchService::Domain",
        "AWS::Elasticsearch::Domain",
        "AWS::SQS::Queue",
        "AWS::Kinesis::Stream",
        "AWS::SecretsManager::Secret",
        "AWS::Cognito::UserPool",
        "AWS::Backup::BackupVault",
        "AWS::ECR::Repository",
        "AWS::EC2::VPC",
    }
)

NO_CHANGES_MARKERS = (
    "didn't contain changes",
    "No updates are to be performed",
    "does not contain changes",
)


class Outcome(StrEnum):
    CHANGES = "changes"
    NO_CHANGES = "no-changes"
    BLOCKED = "blocked"  # the stack's state stops a plan; `advice` says what to do
    FAILED = "failed"  # the change set itself failed (bad template, missing import ...)


@dataclass(frozen=True)
class PropertyChange:
    attribute: str  # Properties, Tags, Metadata ...
    path: str
    change_type: str  # Add | Remove | Modify | SyncWithActual
    requires_recreation: str  # Never | Always | Conditionally | ""
    before: str | None = None
    after: str | None = None


@dataclass(frozen=True)
class ResourceChange:
    action: str  # Add | Modify | Remove | Import | Dynamic
    logical_id: str
    resource_type: str
    physical_id: str | None = None
    replacement: str | None = None  # True | False | Conditional
    properties: tuple[PropertyChange, ...] = ()

    @property
    def stateful(self) -> bool:
        return self.resource_type in STATEFUL_TYPES

    @property
    def replaces(self) -> bool:
        return self.action == "Modify" and self.replacement in {"True", "Conditional"}

    @property
    def destructive(self) -> bool:
        """Removes the resource or may replace it (a new physical resource, the old deleted)."""
        return self.action == "Remove" or self.replaces

    @property
    def data_loss(self) -> bool:
        """Destructive on a stateful type: the loud case."""
        return self.destructive and self.stateful


@dataclass(frozen=True)
class StackPreview:
    env: str
    stack: str
    stack_name: str
    outcome: Outcome
    change_set: str | None = None
    change_set_type: str | None = None  # CREATE | UPDATE
    # The ChangeSetId infra-bot created or verified: what a published plan pins.
    change_set_id: str | None = None
    stack_status: str | None = None
    changes: tuple[ResourceChange, ...] = ()
    reason: str | None = None
    advice: str | None = None
    deleted_stale: tuple[str, ...] = field(default=())

    @property
    def destructive(self) -> tuple[ResourceChange, ...]:
        return tuple(c for c in self.changes if c.destructive)

    @property
    def data_loss(self) -> tuple[ResourceChange, ...]:
        return tuple(c for c in self.changes if c.data_loss)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.action] = out.get(c.action, 0) + 1
        return out


def _prop(detail: dict[str, Any]) -> PropertyChange:
    target = detail.get("Target") or {}
    attribute = str(target.get("Attribute") or "")
    path = str(target.get("Path") or target.get("Name") or attribute)
    return PropertyChange(
        attribute=attribute,
        path=path,
        change_type=str(target.get("AttributeChangeType") or "Modify"),
        requires_recreation=str(target.get("RequiresRecreation") or ""),
        before=target.get("BeforeValue"),
        after=target.get("AfterValue"),
    )


def parse_changes(description: dict[str, Any]) -> tuple[ResourceChange, ...]:
    """Resource changes of a DescribeChangeSet response, in the API's order."""
    out: list[ResourceChange] = []
    for change in description.get("Changes") or []:
        rc = change.get("ResourceChange")
        if change.get("Type", "Resource") != "Resource" or not isinstance(rc, dict):
            continue
        props = tuple(_prop(d) for d in rc.get("Details") or [] if isinstance(d, dict))
        # Several details can name the same property (static and dynamic evaluation); keep one.
        unique = tuple(dict.fromkeys(props))
        out.append(
            ResourceChange(
                action=str(rc.get("Action", "")),
                logical_id=str(rc.get("LogicalResourceId", "")),
                resource_type=str(rc.get("ResourceType", "")),
                physical_id=rc.get("PhysicalResourceId"),
                replacement=rc.get("Replacement"),
                properties=unique,
            )
        )
    return tuple(out)


def is_no_changes(description: dict[str, Any]) -> bool:
    reason = str(description.get("StatusReason") or "")
    return description.get("Status") == "FAILED" and any(m in reason for m in NO_CHANGES_MARKERS)


_ADVICE = {
    "ROLLBACK_COMPLETE": (
        "{name} failed to create and rolled back ({status}); it cannot be updated. Fix the "
        "cause shown in its events: the next deploy deletes the empty stack and creates it "
        "again (PRD: only in the approved execute stage)."
    ),
    "UPDATE_ROLLBACK_FAILED": (
        "{name} is stuck in UPDATE_ROLLBACK_FAILED. Fix the resource that blocks the rollback, "
        "then `infra-bot deploy --continue-rollback` (with --skip-resource for each resource "
        "to leave as it is; the deploy lists them), and plan again."
    ),
    "DELETE_FAILED": (
        "{name} failed to delete (DELETE_FAILED). Remove what blocks the deletion (see its "
        "events), delete it again, then plan."
    ),
    "_IN_PROGRESS": (
        "{name} is busy ({status}): another deploy or rollback is running. Wait for it to "
        "finish (or `infra-bot unlock` a stale lock) and plan again."
    ),
    "_FAILED": "{name} is in {status}; see its events, repair it, and plan again.",
}
_ADVICE["ROLLBACK_FAILED"] = (
    "{name} failed to create and its rollback failed too (ROLLBACK_FAILED). Delete it "
    "(`aws cloudformation delete-stack --stack-name {name}`, retaining what blocks it), "
    "fix the cause shown in its events, and plan again."
)
_PLANNABLE = {None, "REVIEW_IN_PROGRESS", "DELETE_COMPLETE"}


def stack_state_advice(stack_name: str, status: str | None) -> str | None:
    """What to do about a stack whose state stops a change set, or None if it can be planned."""
    if status is None or status in _PLANNABLE:
        return None
    if status in _ADVICE:
        key = status
    elif status.endswith("_IN_PROGRESS"):
        key = "_IN_PROGRESS"
    elif status.endswith("_FAILED"):
        key = "_FAILED"
    else:
        return None
    return _ADVICE[key].format(name=stack_name, status=status)


def change_set_type(status: str | None) -> str:
    """CREATE for a stack that does not exist (or was only ever reviewed), else UPDATE."""
    return "CREATE" if status in {None, "REVIEW_IN_PROGRESS", "DELETE_COMPLETE"} else "UPDATE"


def tags_of(resource: dict[str, Any] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in (resource or {}).get("Tags") or []}

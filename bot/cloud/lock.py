"""One deploy per environment: no stack in progress, and a lock record in SSM.

The workflow's concurrency group is the first guard; the record is the second,
for runs outside it (a laptop). It lives at /infra-bot/<project>/<env>/lock as
"owner|ISO time"; `unlock` removes it once it is older than the stale age.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

STALE_AFTER = timedelta(hours=2)


class LockError(RuntimeError):
    pass


@dataclass(frozen=True)
class LockRecord:
    owner: str
    since: datetime

    def encode(self) -> str:
        return f"{self.owner}|{self.since.isoformat()}"

    @staticmethod
    def decode(text: str) -> LockRecord:
        owner, _, when = text.rpartition("|")
        try:
            since = datetime.fromisoformat(when)
        except ValueError:
            since = datetime.fromtimestamp(0, UTC)
        return LockRecord(owner or text, since)

    def stale(self, now: datetime, after: timedelta = STALE_AFTER) -> bool:
        return now - self.since > after


def lock_name(project: str, env: str) -> str:
    return f"/infra-bot/{project}/{env}/lock"


def busy_stacks(statuses: dict[str, str | None]) -> list[str]:
    """Stacks with an operation running. Pure."""
    return sorted(
        s
        for s, st in statuses.items()
        if st and st.endswith("_IN_PROGRESS") and st != "REVIEW_IN_PROGRESS"
    )


class LockStore(Protocol):
    def get(self, name: str) -> str | None: ...
    def create(self, name: str, value: str) -> bool: ...  # False: it exists
    def delete(self, name: str) -> None: ...


class SsmLockStore:
    def __init__(self, client: Any) -> None:
        self._ssm = client

    def get(self, name: str) -> str | None:
        try:
            return str(self._ssm.get_parameter(Name=name)["Parameter"]["Value"])
        except self._ssm.exceptions.ParameterNotFound:
            return None

    def create(self, name: str, value: str) -> bool:
        try:
            self._ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=False)
        except self._ssm.exceptions.ParameterAlreadyExists:
            return False
        return True

    def delete(self, name: str) -> None:
        with contextlib.suppress(self._ssm.exceptions.ParameterNotFound):
            self._ssm.delete_parameter(Name=name)


def acquire(store: LockStore, name: str, owner: str, now: datetime) -> LockRecord:
    record = LockRecord(owner, now)
    if store.create(name, record.encode()):
        return record
    value = store.get(name) or ""
    if value == record.encode():
        # Our own write: its answer was lost and the retried call found the record.
        return record
    held = LockRecord.decode(value)
    raise LockError(
        f"the environment is locked by {held.owner} since {held.since:%Y-%m-%d %H:%M} UTC"
        + (" (stale: `infra-bot unlock` releases it)" if held.stale(now) else "")
    )


def release(store: LockStore, name: str, owner: str) -> None:
    held = store.get(name)
    if held is not None and LockRecord.decode(held).owner == owner:
        store.delete(name)


def unlock(store: LockStore, name: str, now: datetime, force: bool = False) -> str:
    held = store.get(name)
    if held is None:
        return "no lock record; nothing to release"
    record = LockRecord.decode(held)
    if not (force or record.stale(now)):
        raise LockError(
            f"lock held by {record.owner} since {record.since:%Y-%m-%d %H:%M} UTC is not stale "
            f"yet (older than {STALE_AFTER}); pass --force if that run is really gone"
        )
    store.delete(name)
    return f"released the lock held by {record.owner} since {record.since:%Y-%m-%d %H:%M} UTC"

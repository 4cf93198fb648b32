"""Before and after: what a change does to each resource, stack and environment."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.cost.model import EnvEstimate, LineItem, StackEstimate, Status


class Change(StrEnum):
    ADDED = "+"
    CHANGED = "~"
    REMOVED = "-"
    SAME = " "


class _Priced(Protocol):
    @property
    def monthly(self) -> float: ...


class _BeforeAfter:
    """The monthly cost on each side of a change, and the difference (for the deltas below)."""

    before: _Priced | None
    after: _Priced | None

    @property
    def before_monthly(self) -> float:
        return self.before.monthly if self.before else 0.0

    @property
    def after_monthly(self) -> float:
        return self.after.monthly if self.after else 0.0

    @property
    def delta(self) -> float:
        # In cents, from the rounded sides: the delta shown equals after - before shown.
        return round(self.after_monthly, 2) - round(self.before_monthly, 2)


@dataclass(frozen=True)
class ResourceDelta(_BeforeAfter):
    stack: str
    logical_id: str
    type: str
    before: LineItem | None
    after: LineItem | None

    @property
    def change(self) -> Change:
        if self.before is None:
            return Change.ADDED
        if self.after is None:
            return Change.REMOVED
        same = (self.before.type, self.before.status, self.before.components) == (
            self.after.type,
            self.after.status,
            self.after.components,
        )
        return Change.SAME if same else Change.CHANGED

    @property
    def current(self) -> LineItem:
        item = self.after or self.before
        assert item is not None  # one side always exists
        return item

    @property
    def priced_change(self) -> bool:
        """Changed, and not merely a free resource appearing or going."""
        if self.change is Change.SAME:
            return False
        sides = [i for i in (self.before, self.after) if i is not None]
        return any(i.status is not Status.FREE for i in sides)


@dataclass(frozen=True)
class StackDelta(_BeforeAfter):
    stack: str
    before: StackEstimate | None
    after: StackEstimate | None
    resources: tuple[ResourceDelta, ...]

    @property
    def priced_change(self) -> bool:
        return any(r.priced_change for r in self.resources)


@dataclass(frozen=True)
class EnvDelta(_BeforeAfter):
    env: str
    before: EnvEstimate | None
    after: EnvEstimate | None
    stacks: tuple[StackDelta, ...]

    @property
    def percent(self) -> float | None:
        """Relative change; None when there was nothing before to compare with."""
        if self.before is None or self.before_monthly == 0:
            return None
        return 100.0 * self.delta / self.before_monthly

    @property
    def priced_change(self) -> bool:
        return any(s.priced_change for s in self.stacks)


def _items(stack: StackEstimate | None) -> dict[str, LineItem]:
    return {i.logical_id: i for i in stack.items} if stack else {}


def diff_stack(stack: str, before: StackEstimate | None, after: StackEstimate | None) -> StackDelta:
    old, new = _items(before), _items(after)
    order = [*new, *(lid for lid in old if lid not in new)]
    resources = tuple(
        ResourceDelta(stack, lid, (new.get(lid) or old[lid]).type, old.get(lid), new.get(lid))
        for lid in order
    )
    return StackDelta(stack, before, after, resources)


def diff_env(env: str, before: EnvEstimate | None, after: EnvEstimate | None) -> EnvDelta:
    old = {s.stack: s for s in before.stacks} if before else {}
    new = {s.stack: s for s in after.stacks} if after else {}
    order = [*new, *(s for s in old if s not in new)]
    stacks = tuple(diff_stack(s, old.get(s), new.get(s)) for s in order)
    return EnvDelta(env, before, after, stacks)

"""What an estimate is made of: components, line items, stacks, environments."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

HOURS_PER_MONTH = 730.0  # AWS pricing convention: 24 x 365 / 12


class Status(StrEnum):
    PRICED = "priced"
    USAGE = "depends on usage"  # some part needs a usage figure the usage file lacks
    NOT_PRICED = "not priced"  # we have no price for it: never silently zero
    FREE = "free"  # AWS charges nothing for the resource itself


@dataclass(frozen=True)
class Component:
    """One billed dimension: quantity per month x unit price."""

    name: str
    unit: str
    unit_price: float
    quantity: float | None  # per month; None: depends on usage
    source: str
    usage_key: str | None = None
    product: str | None = None  # e.g. "ec2:t3a.xlarge": what --live-prices can refresh

    @property
    def monthly(self) -> float | None:
        return None if self.quantity is None else self.quantity * self.unit_price


@dataclass(frozen=True)
class LineItem:
    stack: str
    logical_id: str
    type: str
    status: Status
    components: tuple[Component, ...] = ()
    assumptions: tuple[str, ...] = ()
    hours_per_month: float = HOURS_PER_MONTH
    wanted: tuple[str, ...] = ()  # products with no price here (see Component.product)

    @property
    def monthly(self) -> float:
        """The known part of the monthly cost (usage-dependent parts excluded)."""
        return float(sum(c.monthly for c in self.components if c.monthly is not None))

    @property
    def hourly(self) -> float:
        return self.monthly / self.hours_per_month

    def to_dict(self) -> dict[str, Any]:
        return {
            "logical_id": self.logical_id,
            "type": self.type,
            "status": self.status.value,
            "monthly": round(self.monthly, 4),
            "hourly": round(self.hourly, 6),
            "components": [
                {
                    "name": c.name,
                    "unit": c.unit,
                    "unit_price": c.unit_price,
                    "monthly_quantity": c.quantity,
                    "monthly": None if c.monthly is None else round(c.monthly, 4),
                    "usage_key": c.usage_key,
                    "source": c.source,
                }
                for c in self.components
            ],
            "assumptions": list(self.assumptions),
        }


def item(
    stack: str,
    logical_id: str,
    rtype: str,
    components: tuple[Component, ...],
    *,
    assumptions: tuple[str, ...] = (),
    hours: float = HOURS_PER_MONTH,
) -> LineItem:
    status = Status.USAGE if any(c.quantity is None for c in components) else Status.PRICED
    return LineItem(stack, logical_id, rtype, status, components, assumptions, hours)


@dataclass(frozen=True)
class Skipped:
    logical_id: str
    type: str
    condition: str


@dataclass(frozen=True)
class StackEstimate:
    stack: str
    template: str  # path, relative to the repository where known
    items: tuple[LineItem, ...]
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[str, ...] = ()
    error: str | None = None  # the template could not be read

    @property
    def monthly(self) -> float:
        return float(sum(i.monthly for i in self.items))


@dataclass(frozen=True)
class EnvEstimate:
    env: str
    stacks: tuple[StackEstimate, ...]
    usage_source: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def monthly(self) -> float:
        return float(sum(s.monthly for s in self.stacks))

    def stack(self, name: str) -> StackEstimate | None:
        return next((s for s in self.stacks if s.stack == name), None)

"""What every pricer gets (a resource, a context) and a small builder for its bill."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.cost.model import Component, LineItem, Status, item
from bot.cost.prices import Price, PriceTable
from bot.cost.usage import Share
from bot.cost.values import number, text


@dataclass(frozen=True)
class Resource:
    stack: str
    logical_id: str
    type: str
    props: dict[str, Any]  # evaluated: parameters substituted, Fn::If chosen
    raw: dict[str, Any]  # as written (to follow Refs to other resources)

    def prop(self, *path: str) -> Any:
        node: Any = self.props
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    def number(self, *path: str) -> float | None:
        return number(self.prop(*path))

    def text(self, *path: str) -> str | None:
        return text(self.prop(*path))

    def ref_target(self, *path: str) -> str | None:
        """The logical id a property points at through Ref or GetAtt, as written."""
        node: Any = self.raw.get("Properties")
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Ref":
                return str(arg)
            if fn == "Fn::GetAtt":
                target = arg[0] if isinstance(arg, list) else str(arg).split(".")[0]
                return str(target)
        return None


@dataclass(frozen=True)
class Context:
    table: PriceTable
    on: date  # the day the estimate is for (EKS support windows depend on it)
    hours: float
    usage: Mapping[str, Share] = field(default_factory=dict)
    siblings: Mapping[str, Resource] = field(default_factory=dict)  # same stack, deployed


class Bill:
    """Collects components and assumptions for one resource."""

    def __init__(self, resource: Resource, ctx: Context) -> None:
        self.resource = resource
        self.ctx = ctx
        self.components: list[Component] = []
        self.assumptions: list[str] = []
        self.wanted: list[str] = []

    def note(self, message: str) -> None:
        if message not in self.assumptions:
            self.assumptions.append(message)

    def price(self, key: str) -> Price:
        return self.ctx.table.price(key)

    def hourly(
        self, name: str, price: Price, count: float = 1.0, product: str | None = None
    ) -> None:
        qty = count * self.ctx.hours
        self.components.append(
            Component(name, price.unit, price.usd, qty, price.source, product=product)
        )

    def monthly(self, name: str, price: Price, quantity: float) -> None:
        self.components.append(Component(name, price.unit, price.usd, quantity, price.source))

    def usage(self, name: str, price: Price, key: str, scale: float = 1.0) -> float | None:
        """A usage-driven component; quantity = usage figure x scale (None: no figure)."""
        share = self.ctx.usage.get(key)
        qty = None if share is None else share.value * scale
        self.components.append(Component(name, price.unit, price.usd, qty, price.source, key))
        if share is not None:
            self.note(share.why)
        return qty

    def done(self) -> LineItem:
        r = self.resource
        return item(r.stack, r.logical_id, r.type, tuple(self.components),
                    assumptions=tuple(self.assumptions), hours=self.ctx.hours)  # fmt: skip

    def not_priced(self, reason: str) -> LineItem:
        r = self.resource
        return LineItem(r.stack, r.logical_id, r.type, Status.NOT_PRICED, (),
                        (*self.assumptions, reason), self.ctx.hours,
                        tuple(self.wanted))  # fmt: skip

    def free(self, reason: str) -> LineItem:
        r = self.resource
        return LineItem(r.stack, r.logical_id, r.type, Status.FREE, (),
                        (*self.assumptions, reason), self.ctx.hours)  # fmt: skip


def money(value: float) -> str:
    return f"${value:,.2f}"

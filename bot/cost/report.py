"""The stable `--format json` document (documented in docs/cost.md)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from bot.cost.delta import EnvDelta, ResourceDelta, StackDelta
from bot.cost.prices import PriceTable

SCHEMA_VERSION = 1


def _money(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _resource(rd: ResourceDelta, compared: bool) -> dict[str, Any]:
    current = rd.current
    out = current.to_dict()
    out.update(
        {
            "change": rd.change.value if compared else None,
            "monthly_before": _money(rd.before_monthly) if compared and rd.before else None,
            "monthly_after": _money(rd.after_monthly) if rd.after else None,
            "delta": _money(rd.delta) if compared else None,
            "status_before": rd.before.status.value if compared and rd.before else None,
        }
    )
    out["monthly"] = _money(current.monthly)
    return out


def _stack(sd: StackDelta, compared: bool) -> dict[str, Any]:
    current = sd.after or sd.before
    assert current is not None
    return {
        "stack": sd.stack,
        "template": current.template,
        "monthly_before": _money(sd.before_monthly) if compared and sd.before else None,
        "monthly_after": _money(sd.after_monthly) if sd.after else None,
        "delta": _money(sd.delta) if compared else None,
        "error": current.error,
        "notes": list(current.notes),
        "skipped": [
            {"logical_id": s.logical_id, "type": s.type, "condition": s.condition}
            for s in current.skipped
        ],
        "resources": [_resource(r, compared) for r in sd.resources],
    }


def to_document(
    deltas: list[EnvDelta],
    table: PriceTable,
    on: date,
    *,
    compared: bool,
    exceeded: Mapping[str, bool] | None = None,
) -> dict[str, Any]:
    envs = []
    for d in deltas:
        side = d.after or d.before
        envs.append(
            {
                "env": d.env,
                "monthly_before": _money(d.before_monthly) if compared and d.before else None,
                "monthly_after": _money(d.after_monthly) if d.after else None,
                "delta": _money(d.delta) if compared else None,
                "percent": None if d.percent is None or not compared else round(d.percent, 2),
                "priced_change": d.priced_change if compared else None,
                "exceeds_threshold": (exceeded or {}).get(d.env),
                "usage_file": side.usage_source if side else None,
                "stacks": [_stack(s, compared) for s in d.stacks],
            }
        )
    return {
        "version": SCHEMA_VERSION,
        "currency": "USD",
        "date": on.isoformat(),
        "hours_per_month": table.hours_per_month,
        "price_table": {
            "region": table.region,
            "as_of": table.as_of,
            "live_overlays": list(table.overlays),
        },
        "environments": envs,
    }

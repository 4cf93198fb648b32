"""The price table: embedded, dated us-east-1 on-demand prices with their sources.

The table is data (prices.json next to this module) so that a reviewer can check
every figure against the page it names, and `--live-prices` can overlay fresher
figures without touching code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date
from importlib import resources
from typing import Any


class PriceError(ValueError):
    """The price table itself is malformed."""


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str


@dataclass(frozen=True)
class SupportWindow:
    status: str  # "standard" | "extended" | "ended" | "unknown"
    end_of_standard: date | None
    end_of_extended: date | None


@dataclass(frozen=True)
class PriceTable:
    as_of: str
    region: str
    hours_per_month: float
    prices: dict[str, Price]
    ec2: dict[str, float]
    ec2_source: str
    rds: dict[str, dict[str, float]]
    rds_source: str
    eks_end_of_standard: dict[str, date]
    eks_end_of_extended: dict[str, date]
    eks_source: str
    # Where overlaid figures came from (live Price List API), for the report.
    overlays: tuple[str, ...] = field(default=())

    def price(self, key: str) -> Price:
        try:
            return self.prices[key]
        except KeyError:
            raise PriceError(f"price {key!r} is missing from the price table") from None

    def ec2_hourly(self, instance_type: str) -> Price | None:
        usd = self.ec2.get(instance_type)
        return None if usd is None else Price(usd, "instance hour", self.ec2_source)

    def rds_hourly(self, engine: str, instance_class: str) -> Price | None:
        usd = self.rds.get(engine, {}).get(instance_class)
        return None if usd is None else Price(usd, "instance hour", self.rds_source)

    def eks_support(self, version: str, on: date) -> SupportWindow:
        std = self.eks_end_of_standard.get(version)
        ext = self.eks_end_of_extended.get(version)
        if std is None:
            return SupportWindow("unknown", None, None)
        if on < std:
            return SupportWindow("standard", std, ext)
        if ext is None or on < ext:
            return SupportWindow("extended", std, ext)
        return SupportWindow("ended", std, ext)

    def with_ec2(self, figures: dict[str, float], origin: str) -> PriceTable:
        return replace(self, ec2={**self.ec2, **figures}, overlays=(*self.overlays, origin))


def _dates(raw: dict[str, str]) -> dict[str, date]:
    return {str(k): date.fromisoformat(str(v)) for k, v in raw.items()}


def parse_table(data: dict[str, Any]) -> PriceTable:
    try:
        prices = {
            str(k): Price(float(v["usd"]), str(v["unit"]), str(v["source"]))
            for k, v in data["prices"].items()
        }
        ec2 = data["ec2_hourly"]
        rds = data["rds_hourly"]
        eks = data["eks_versions"]
        return PriceTable(
            as_of=str(data["as_of"]),
            region=str(data["region"]),
            hours_per_month=float(data["hours_per_month"]),
            prices=prices,
            ec2={str(k): float(v) for k, v in ec2["usd"].items()},
            ec2_source=str(ec2["source"]),
            rds={str(e): {str(k): float(v) for k, v in t.items()} for e, t in rds["usd"].items()},
            rds_source=str(rds["source"]),
            eks_end_of_standard=_dates(eks["end_of_standard"]),
            eks_end_of_extended=_dates(eks["end_of_extended"]),
            eks_source=str(eks["source"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PriceError(f"malformed price table: {exc!r}") from None


def load_embedded() -> PriceTable:
    text = resources.files("bot.cost").joinpath("prices.json").read_text(encoding="utf-8")
    return parse_table(json.loads(text))

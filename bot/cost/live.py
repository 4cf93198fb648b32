"""`--live-prices`: EC2 instance prices from the AWS Price List API, cached on disk.

The client is a parameter (anything with boto3's `get_products`), so tests point
a real botocore client at a local fake endpoint. Only the products an estimate
needs are asked for, and answers are cached for a week: list prices change
rarely and the Price List API is slow.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from bot.cost.prices import PriceTable

CACHE_TTL = timedelta(days=7)
LOCATION_REGION = "us-east-1"


class LivePriceError(RuntimeError):
    """The Price List API could not be read (no credentials, denied, malformed answer)."""


class PricingClient(Protocol):
    def get_products(self, **kwargs: Any) -> dict[str, Any]: ...


def ec2_filters(instance_type: str, region: str = LOCATION_REGION) -> list[dict[str, str]]:
    wanted = {
        "instanceType": instance_type,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "licenseModel": "No License required",
    }
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in wanted.items()]


def on_demand_usd(price_item: str) -> float | None:
    """The hourly on-demand USD price in one PriceList entry (a JSON string)."""
    try:
        data = json.loads(price_item)
        terms = data["terms"]["OnDemand"]
        for term in terms.values():
            for dim in term["priceDimensions"].values():
                if str(dim.get("unit", "")).lower().startswith("hr"):
                    return float(dim["pricePerUnit"]["USD"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return None


def fetch_ec2(client: PricingClient, instance_type: str) -> float | None:
    try:
        answer = client.get_products(
            ServiceCode="AmazonEC2",
            Filters=ec2_filters(instance_type),
            FormatVersion="aws_v1",
            MaxResults=10,
        )
    except Exception as exc:  # botocore raises many types; all mean "no live price"
        raise LivePriceError(f"AWS Price List API: {exc}") from exc
    prices = [p for p in (on_demand_usd(i) for i in answer.get("PriceList", [])) if p]
    return min(prices) if prices else None


def read_cache(path: Path, now: datetime) -> dict[str, float]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        fresh: dict[str, float] = {}
        for itype, entry in data.get("ec2", {}).items():
            fetched = datetime.fromisoformat(entry["fetched_at"])
            if now - fetched < CACHE_TTL:
                fresh[str(itype)] = float(entry["usd"])
        return fresh
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # a missing or damaged cache is only a slower run


def write_cache(path: Path, found: dict[str, float], now: datetime) -> None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("ec2"), dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    ec2 = data.get("ec2", {})
    for itype, usd in found.items():
        ec2[itype] = {"usd": usd, "fetched_at": now.isoformat()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": 1, "ec2": ec2}, indent=1, sort_keys=True), "utf-8")
    tmp.replace(path)


def live_table(
    table: PriceTable,
    products: Iterable[str],
    client: PricingClient,
    cache_path: Path,
    now: datetime | None = None,
) -> PriceTable:
    """`table` with the EC2 prices of `products` ("ec2:<type>") from cache or the API."""
    now = now or datetime.now(UTC)
    wanted = sorted({p.split(":", 1)[1] for p in products if p.startswith("ec2:")})
    cached = read_cache(cache_path, now)
    found = {t: cached[t] for t in wanted if t in cached}
    fetched: dict[str, float] = {}
    for itype in wanted:
        if itype in found:
            continue
        usd = fetch_ec2(client, itype)
        if usd is not None:
            fetched[itype] = usd
    if fetched:
        write_cache(cache_path, fetched, now)
    found.update(fetched)
    origin = (f"AWS Price List API ({len(fetched)} fetched, "
              f"{len(found) - len(fetched)} cached) at {now.date().isoformat()}")  # fmt: skip
    return table.with_ec2(found, origin) if found else table


def needed_products(items: Iterable[Any]) -> set[str]:
    """Products priced or wanted by line items (bot.cost.model.LineItem)."""
    out: set[str] = set()
    for item in items:
        out.update(item.wanted)
        out.update(c.product for c in item.components if c.product)
    return out

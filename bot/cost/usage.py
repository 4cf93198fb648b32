"""The usage file: monthly volumes and counts the templates cannot know.

Figures under `environments.<env>` are totals for the environment. A total is
shared evenly among the resources that consume it (3 NAT gateways and 100 GB of
processed data: 33.3 GB each), so adding a resource never invents more traffic.
`resources.<stack>.<LogicalId>` (or `<LogicalId>` when pricing bare templates)
sets a figure for one resource; that resource then takes no share of the total.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.repo.safeyaml import UnsafeYamlError, load_data

# key -> what it measures; anything else in the file is an error, not a silent no-op.
USAGE_KEYS: dict[str, str] = {
    "hours_per_month": "hours billed per month for always-on resources (730)",
    "nat_gateway_processed_gb": "GB/month processed by NAT gateways",
    "cloudwatch_logs_ingested_gb": "GB/month ingested into CloudWatch Logs (incl. flow logs)",
    "cloudwatch_logs_stored_gb": "GB stored in CloudWatch Logs (compressed), monthly average",
    "flow_logs_s3_gb": "GB/month of flow logs delivered to S3",
    "alb_lcu": "average LCUs of Application Load Balancers",
    "nlb_lcu": "average NLCUs of Network Load Balancers",
    "vpc_endpoint_processed_gb": "GB/month processed by interface VPC endpoints",
    "s3_storage_gb": "GB stored in S3 Standard, averaged over the month",
    "s3_put_requests": "S3 PUT/COPY/POST/LIST requests per month",
    "s3_get_requests": "S3 GET/SELECT requests per month",
    "ebs_snapshot_gb": "GB of EBS snapshots (e.g. Velero), averaged over the month",
    "kms_requests": "KMS API requests per month",
    "secrets_api_calls": "Secrets Manager API calls per month",
    "cognito_mau": "Cognito monthly active users",
    "aurora_storage_gb": "GB stored by Aurora clusters",
    "aurora_io_millions": "million Aurora I/O requests per month (Aurora Standard)",
    "aurora_acu_hours": "Aurora Serverless v2 ACU-hours per month",
    "data_transfer_out_gb": "GB/month out to the internet",
}


class UsageError(ValueError):
    """The usage file is malformed."""


@dataclass(frozen=True)
class UsageValues:
    """The figures that apply to one environment (or to bare templates)."""

    totals: Mapping[str, float] = field(default_factory=dict)
    per_resource: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    source: str | None = None

    @property
    def hours(self) -> float:
        return float(self.totals.get("hours_per_month", 730.0))


@dataclass(frozen=True)
class UsageFile:
    defaults: UsageValues
    environments: Mapping[str, UsageValues]
    source: str | None = None

    def for_env(self, env: str | None) -> UsageValues:
        if env is None or env not in self.environments:
            return self.defaults
        own = self.environments[env]
        return UsageValues(
            {**self.defaults.totals, **own.totals},
            {**self.defaults.per_resource, **own.per_resource},
            own.source or self.source,
        )


EMPTY = UsageFile(UsageValues(), {})


def _figures(where: str, data: Any) -> dict[str, float]:
    if not isinstance(data, dict):
        raise UsageError(f"{where}: expected a mapping of usage keys to numbers")
    out: dict[str, float] = {}
    for key, value in data.items():
        if key not in USAGE_KEYS:
            known = ", ".join(sorted(USAGE_KEYS))
            raise UsageError(f"{where}: unknown usage key {key!r} (known: {known})")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise UsageError(f"{where}.{key}: expected a non-negative number, got {value!r}")
        out[str(key)] = float(value)
    return out


def _values(where: str, data: Any, source: str | None) -> UsageValues:
    if data is None:
        return UsageValues(source=source)
    if not isinstance(data, dict):
        raise UsageError(f"{where}: expected a mapping")
    body = dict(data)
    resources = body.pop("resources", None) or {}
    if not isinstance(resources, dict):
        raise UsageError(f"{where}.resources: expected a mapping of resource to usage")
    per = {str(k): _figures(f"{where}.resources.{k}", v) for k, v in resources.items()}
    return UsageValues(_figures(where, body), per, source)


def parse_usage(data: Any, source: str | None = None) -> UsageFile:
    if data is None:
        return UsageFile(UsageValues(source=source), {}, source)
    if not isinstance(data, dict):
        raise UsageError("usage file: expected a mapping at the top level")
    unknown = set(data) - {"defaults", "environments", "version"}
    if unknown:
        raise UsageError(f"usage file: unknown top-level keys {sorted(unknown)}")
    envs = data.get("environments") or {}
    if not isinstance(envs, dict):
        raise UsageError("usage file: environments must be a mapping")
    return UsageFile(
        _values("defaults", data.get("defaults"), source),
        {str(k): _values(f"environments.{k}", v, source) for k, v in envs.items()},
        source,
    )


def load_usage(path: Path, label: str | None = None) -> UsageFile:
    try:
        data = load_data(path)
    except (UnsafeYamlError, OSError) as exc:
        raise UsageError(f"{path}: {exc}") from None
    try:
        return parse_usage(data, label or path.name)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None


def load_env_usage(usage: UsageFile, env: str, path: Path, label: str) -> UsageFile:
    """Overlay `environments/usage-<env>.yaml` (the keys of one environment, flat)."""
    try:
        data = load_data(path)
    except (UnsafeYamlError, OSError) as exc:
        raise UsageError(f"{path}: {exc}") from None
    try:
        own = _values(label, data, label)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None
    base = usage.environments.get(env, UsageValues())
    merged = UsageValues(
        {**base.totals, **own.totals},
        {**base.per_resource, **own.per_resource},
        ", ".join(s for s in (usage.source, label) if s),
    )
    return UsageFile(usage.defaults, {**usage.environments, env: merged}, usage.source)


@dataclass(frozen=True)
class Share:
    value: float
    why: str


def allocate(
    consumers: Mapping[str, list[tuple[str, str]]], usage: UsageValues
) -> dict[tuple[str, str], dict[str, Share]]:
    """Per (stack, logical id): usage key -> its figure, with where it came from."""
    out: dict[tuple[str, str], dict[str, Share]] = {}
    src = usage.source or "the usage file"
    for key, members in consumers.items():
        pooled: list[tuple[str, str]] = []
        for stack, lid in members:
            own = usage.per_resource.get(f"{stack}.{lid}") or usage.per_resource.get(lid) or {}
            if key in own:
                why = f"{key} = {own[key]:g} for this resource in {src}"
                out.setdefault((stack, lid), {})[key] = Share(own[key], why)
            else:
                pooled.append((stack, lid))
        if key not in usage.totals or not pooled:
            continue
        total = usage.totals[key]
        n = len(pooled)
        for member in pooled:
            why = f"{key} = {total:g} in {src}" + (
                f", shared by {n} resources: {total / n:g} each" if n > 1 else ""
            )
            out.setdefault(member, {})[key] = Share(total / n, why)
    return out

"""Cost deltas as the PR's sticky cost comment, and the threshold decision.

Pure: EnvDelta in, Markdown out. Whether a threshold is exceeded is decided
here too (evaluate_thresholds), so the check and the comment always agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.cost.delta import Change, EnvDelta, ResourceDelta
from bot.cost.model import LineItem, Status
from bot.render.text import escape_md, quote_untrusted, strip_controls
from bot.repo.model import CostThresholds

APPROVE_COMMAND = "/infra approve-cost {env}"
_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")


@dataclass(frozen=True)
class ThresholdResult:
    env: str
    delta: float
    percent: float | None
    max_usd: float | None
    max_percent: float | None
    reasons: tuple[str, ...]

    @property
    def exceeded(self) -> bool:
        return bool(self.reasons)


def evaluate_threshold(delta: EnvDelta, limits: CostThresholds) -> ThresholdResult:
    """Above either limit is exceeded; the percent limit needs a non-zero 'before'."""
    reasons: list[str] = []
    usd, pct = limits.max_monthly_increase_usd, limits.max_monthly_increase_percent
    if usd is not None and delta.delta > usd:
        reasons.append(f"{money(delta.delta)}/month is above the {money(usd)}/month limit")
    if pct is not None and delta.percent is not None and delta.percent > pct:
        reasons.append(f"+{delta.percent:.1f}% is above the {pct:g}% limit")
    return ThresholdResult(delta.env, delta.delta, delta.percent, usd, pct, tuple(reasons))


def evaluate_thresholds(
    deltas: Iterable[EnvDelta], limits: Mapping[str, CostThresholds]
) -> dict[str, ThresholdResult]:
    return {d.env: evaluate_threshold(d, limits.get(d.env, CostThresholds())) for d in deltas}


def exceeding(results: Mapping[str, ThresholdResult], approved_envs: set[str]) -> list[str]:
    """Environments whose increase is above a limit and not yet approved (the check fails)."""
    return sorted(e for e, r in results.items() if r.exceeded and e not in approved_envs)


def code(text: str) -> str:
    """Names from templates in a table cell: a code span (no HTML, no pings), pipes escaped."""
    return "`" + strip_controls(text).replace("`", "'").replace("|", "\\|") + "`"


def plain(text: str) -> str:
    """Template-derived prose in a table cell: HTML and mentions defused, pipes escaped."""
    return quote_untrusted(escape_md(text)).replace("|", "\\|")


def should_post(deltas: Iterable[EnvDelta], asked: bool) -> bool:
    """Post the comment when something priced changed, or when `/infra cost` asked."""
    return asked or any(d.priced_change for d in deltas)


def money(value: float) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def signed(value: float) -> str:
    if round(value, 2) == 0:
        return "$0.00"
    return ("+" if value > 0 else "-") + f"${abs(value):,.2f}"


def headline(d: EnvDelta, compared: bool = True) -> str:
    env = d.env.upper()
    if not compared:
        return f"Monthly estimate for {env}: {money(d.after_monthly)}"
    if d.before is None:
        return f"Monthly estimate for {env} is {money(d.after_monthly)} (new)"
    if round(d.delta, 2) == 0:
        return f"Monthly estimate for {env} is unchanged at {money(d.after_monthly)}"
    verb = "increases" if d.delta > 0 else "decreases"
    pct = "" if d.percent is None else f" ({d.percent:+.1f}%)"
    return f"Monthly estimate for {env} {verb} by {money(abs(d.delta))}{pct}"


def _approval_line(env: str, approved_by: Mapping[str, str]) -> str:
    who = approved_by.get(env, "")
    # A login in code formatting: shown, but nobody is pinged on every edit.
    shown = f" by `@{who}`" if _LOGIN.match(who) else ""
    return f":white_check_mark: The {env.upper()} cost increase was approved{shown}."


def _threshold_lines(
    result: ThresholdResult | None, approved: set[str], approved_by: Mapping[str, str]
) -> list[str]:
    if result is None or not result.exceeded:
        return []
    env = result.env
    lines = [f":warning: **{env.upper()} is above its cost threshold**: " + "; ".join(
        result.reasons) + "."]  # fmt: skip
    if env in approved:
        lines.append(_approval_line(env, approved_by))
    else:
        lines.append(f"The cost check fails until someone with write permission comments "
                     f"`{APPROVE_COMMAND.format(env=env)}`.")  # fmt: skip
    return lines


def _stack_table(d: EnvDelta, compared: bool) -> list[str]:
    if not compared:
        rows = ["| Stack | Monthly |", "|---|---:|"]
        rows += [f"| {code(s.stack)} | {money(s.after_monthly)} |" for s in d.stacks
                 if s.after_monthly or s.priced_change]  # fmt: skip
        return [*rows, f"| **Total** | **{money(d.after_monthly)}** |"]
    rows = ["| Stack | Before | After | Delta |", "|---|---:|---:|---:|"]
    for s in d.stacks:
        if not s.priced_change and round(s.delta, 2) == 0:
            continue  # untouched by the change: only the total includes it
        before = money(s.before_monthly) if s.before else "-"
        after = money(s.after_monthly) if s.after else "-"
        rows.append(f"| {code(s.stack)} | {before} | {after} | {signed(s.delta)} |")
    rows.append(f"| **Total** | **{money(d.before_monthly)}** | **{money(d.after_monthly)}** "
                f"| **{signed(d.delta)}** |")  # fmt: skip
    return rows


def _usage_parts(item: LineItem) -> str:
    parts = [
        f"{plain(c.name)}: ${c.unit_price:g} per {plain(c.unit)} ({code(c.usage_key or '')})"
        for c in item.components
        if c.quantity is None
    ]
    return "depends on usage: " + "; ".join(parts) if parts else ""


def _status(item: LineItem) -> str:
    if item.status is Status.NOT_PRICED:
        reason = item.assumptions[-1] if item.assumptions else ""
        return f"not priced ({plain(reason)})" if reason else "not priced"
    if item.status is Status.USAGE:
        return _usage_parts(item)
    return item.status.value


def _resource_row(r: ResourceDelta, compared: bool) -> str:
    item = r.current
    name = code(f"{r.stack}/{r.logical_id}")
    if not compared:
        return (f"| {name} | {code(item.type)} | {money(item.monthly)} "
                f"| {_status(item)} |")  # fmt: skip
    before = money(r.before_monthly) if r.before else "-"
    after = money(r.after_monthly) if r.after else "-"
    marker = r.change.value if r.change is not Change.SAME else ""
    return (f"| `{marker}` | {name} | {code(item.type)} | {before} | {after} "
            f"| {signed(r.delta)} | {_status(item)} |")  # fmt: skip


def _breakdown(d: EnvDelta, compared: bool) -> list[str]:
    if compared:
        rows = [r for s in d.stacks for r in s.resources if r.priced_change]
        head = ["| | Resource | Type | Before | After | Delta | Status |",
                "|---|---|---|---:|---:|---:|---|"]  # fmt: skip
        legend = "`+` added, `~` changed, `-` removed. "
    else:
        rows = [r for s in d.stacks for r in s.resources if r.current.status is not Status.FREE]
        head = ["| Resource | Type | Monthly | Status |", "|---|---|---:|---|"]
        legend = "Free resource types (IAM, security groups, subnets, ...) are not listed. "
    if not rows:
        return []
    return [
        "<details>",
        f"<summary>Per-resource breakdown for {d.env.upper()} ({len(rows)} resources)</summary>",
        "",
        *head,
        *(_resource_row(r, compared) for r in rows),
        "",
        legend + "Usage-based parts without a figure in the usage file are listed with "
        "their unit price and not counted.",
        "</details>",
    ]


def render_comment(
    deltas: list[EnvDelta],
    thresholds: Mapping[str, ThresholdResult] | None = None,
    approved_envs: set[str] | None = None,
    approved_by: Mapping[str, str] | None = None,
    *,
    price_date: str = "",
    compared: bool = True,
) -> str:
    """The sticky comment. `approved_envs`: envs whose increase someone approved."""
    approved = approved_envs or set()
    who = approved_by or {}
    results = thresholds or {}
    # No marker of its own: the sticky comment adds the one it is found by.
    lines = ["### :moneybag: Cost estimate", ""]
    lines += [f"**{headline(d, compared)}**  " for d in deltas]
    for d in deltas:
        lines += ["", f"#### {d.env.upper()}", ""]
        lines += _threshold_lines(results.get(d.env), approved, who)
        if results.get(d.env) is not None and results[d.env].exceeded:
            lines.append("")
        lines += _stack_table(d, compared)
        breakdown = _breakdown(d, compared)
        if breakdown:
            lines += ["", *breakdown]
    table_note = f" from the price table dated {price_date}" if price_date else ""
    sources = sorted({e.usage_source for d in deltas for e in (d.before, d.after)
                      if e is not None and e.usage_source})  # fmt: skip
    usage = f"usage from {plain(', '.join(sources))}" if sources else "no usage file"
    lines += ["", f"<sub>us-east-1 on-demand prices{table_note}, 730 hours a month; "
                  f"{usage}. `/infra cost` re-runs this.</sub>"]  # fmt: skip
    return "\n".join(lines) + "\n"

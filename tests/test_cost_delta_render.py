"""Before/after deltas, the sticky cost comment, and the threshold decision."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.cost.delta import Change, EnvDelta, diff_env
from bot.cost.estimate import StackInput, price_stacks
from bot.cost.model import EnvEstimate
from bot.cost.prices import load_embedded
from bot.cost.usage import UsageValues
from bot.render.cost import (
    evaluate_threshold,
    evaluate_thresholds,
    exceeding,
    headline,
    render_comment,
    should_post,
)
from bot.repo.model import CostThresholds
from bot.repo.templates import Template

TABLE = load_embedded()
DAY = date(2026, 11, 23)


def env(name: str, stacks: dict[str, dict[str, Any]], usage: dict[str, float] | None = None
        ) -> EnvEstimate:  # fmt: skip
    inputs = [StackInput(s, Template(Path(f"{s}.yaml"), {"Resources": r}), f"stacks/{s}.yaml")
              for s, r in stacks.items()]  # fmt: skip
    return EnvEstimate(name, tuple(price_stacks(inputs, UsageValues(usage or {}), TABLE, DAY)))


def nodes(itype: str, count: int = 3) -> dict[str, Any]:
    props = {"InstanceTypes": [itype], "DiskSize": 100, "ScalingConfig": {"DesiredSize": count}}
    return {"Type": "AWS::EKS::Nodegroup", "Properties": props}


ROLE = {"Type": "AWS::IAM::Role", "Properties": {}}
NAT = {"Type": "AWS::EC2::NatGateway", "Properties": {}}
EIP = {"Type": "AWS::EC2::EIP", "Properties": {}}


def test_swapping_the_instance_type() -> None:
    before = env("dev", {"nodes": {"Ng": nodes("t3a.xlarge")}, "iam": {"Role": ROLE}})
    after = env("dev", {"nodes": {"Ng": nodes("m5.xlarge")}, "iam": {"Role": ROLE}})
    d = diff_env("dev", before, after)
    # 3 nodes x 730 h x (0.192 - 0.1504) = 91.104; volumes unchanged (3 x 100 GB gp3 = 24)
    # The delta is in cents, from the rounded sides (what the comment shows).
    assert d.delta == pytest.approx(3 * 730 * (0.192 - 0.1504), abs=0.01)
    assert d.delta == round(d.after_monthly, 2) - round(d.before_monthly, 2)
    assert d.before_monthly == pytest.approx(3 * 730 * 0.1504 + 24)
    assert d.percent == pytest.approx(100 * 91.104 / (329.376 + 24), abs=0.01)  # +25.8%
    (ng,) = [r for s in d.stacks for r in s.resources if r.logical_id == "Ng"]
    assert ng.change is Change.CHANGED
    role = d.stacks[1].resources[0]
    assert role.change is Change.SAME and not role.priced_change
    assert d.priced_change


def test_added_and_removed_resources_and_stacks() -> None:
    before = env("dev", {"vpc": {"Nat1": NAT, "Eip1": EIP}, "old": {"Eip9": EIP}})
    after = env("dev", {"vpc": {"Nat1": NAT, "Nat2": NAT}, "new": {"Role": ROLE}})
    d = diff_env("dev", before, after)
    marks = {(r.stack, r.logical_id): r.change for s in d.stacks for r in s.resources}
    assert marks == {
        ("vpc", "Nat1"): Change.SAME, ("vpc", "Nat2"): Change.ADDED,
        ("vpc", "Eip1"): Change.REMOVED, ("new", "Role"): Change.ADDED,
        ("old", "Eip9"): Change.REMOVED,
    }  # fmt: skip
    # + NAT 32.85, - 2 EIPs 2 x 3.65
    assert d.delta == pytest.approx(32.85 - 7.30)
    new_stack = next(s for s in d.stacks if s.stack == "new")
    assert not new_stack.priced_change  # a free role appearing is not a priced change


def test_nothing_priced_changed() -> None:
    a = env("dev", {"vpc": {"Nat1": NAT}})
    b = env("dev", {"vpc": {"Nat1": NAT}, "iam": {"Role": ROLE}})
    d = diff_env("dev", a, b)
    assert d.delta == 0 and not d.priced_change


def _delta(before: float | None, after: float) -> EnvDelta:
    """An EnvDelta with the given totals, made of EIPs ($3.65 each) and a gp2 volume."""

    def est(total: float) -> EnvEstimate:
        vol = {"Type": "AWS::EC2::Volume", "Properties": {"Size": total / 0.10}}
        return env("dev", {"s": {"V": vol}})

    return diff_env("dev", None if before is None else est(before), est(after))


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (533.10, 557.63, "Monthly estimate for DEV increases by $24.53 (+4.6%)"),
        (557.63, 533.10, "Monthly estimate for DEV decreases by $24.53 (-4.4%)"),
        (100.0, 100.0, "Monthly estimate for DEV is unchanged at $100.00"),
        (None, 42.0, "Monthly estimate for DEV is $42.00 (new)"),
    ],
)
def test_headline(before: float | None, after: float, expected: str) -> None:
    assert headline(_delta(before, after)) == expected


@pytest.mark.parametrize(
    ("before", "after", "limits", "reasons"),
    [
        (500.0, 550.0, (100.0, 10.0), 0),  # +$50, +10.0%: at the limit is not above it
        (500.0, 560.0, (100.0, 10.0), 1),  # +12% > 10%
        (1000.0, 1101.0, (100.0, 20.0), 1),  # +$101 > $100
        (500.0, 700.0, (100.0, 10.0), 2),  # both
        (500.0, 700.0, (None, None), 0),  # no thresholds set
        (None, 50.0, (None, 10.0), 0),  # nothing before: percent does not apply
        (None, 150.0, (100.0, 10.0), 1),  # ... but the absolute limit does
        (500.0, 100.0, (1.0, 1.0), 0),  # a decrease never exceeds
    ],
)
def test_thresholds(
    before: float | None, after: float, limits: tuple[float | None, float | None], reasons: int
) -> None:
    t = CostThresholds(max_monthly_increase_usd=limits[0], max_monthly_increase_percent=limits[1])
    result = evaluate_threshold(_delta(before, after), t)
    assert len(result.reasons) == reasons
    assert result.exceeded is (reasons > 0)


def test_exceeding_ignores_approved_envs() -> None:
    d = _delta(500.0, 700.0)
    results = evaluate_thresholds([d], {"dev": CostThresholds(max_monthly_increase_usd=10)})
    assert exceeding(results, set()) == ["dev"]
    assert exceeding(results, {"dev"}) == []


def _swap_comment(approved: set[str], by: dict[str, str] | None = None) -> str:
    before = env("dev", {"nodes": {"Ng": nodes("t3a.xlarge")}, "vpc": {"Nat1": NAT}})
    log_group = {"Type": "AWS::Logs::LogGroup", "Properties": {}}
    after = env("dev", {"nodes": {"Ng": nodes("m5.xlarge")}, "vpc": {"Nat1": NAT},
                        "logs": {"Lg": log_group}})  # fmt: skip
    d = diff_env("dev", before, after)
    limits = {"dev": CostThresholds(max_monthly_increase_usd=50, max_monthly_increase_percent=10)}
    return render_comment([d], evaluate_thresholds([d], limits), approved, by,
                          price_date="2025-10-01")  # fmt: skip


def test_comment_over_threshold_asks_for_approval() -> None:
    body = _swap_comment(set())
    assert body.startswith("### :moneybag: Cost estimate") and "<!--" not in body
    # before: 329.376 + 24 + 32.85 = 386.226; +91.104 = +23.6%
    assert "**Monthly estimate for DEV increases by $91.10 (+23.6%)**" in body
    assert "| `nodes` | $353.38 | $444.48 | +$91.10 |" in body
    assert "`vpc`" not in body.split("<details>")[0]  # untouched stacks only in the total
    assert "| **Total** | **$386.23** | **$477.33** | **+$91.10** |" in body
    assert "above its cost threshold" in body and "$91.10/month is above the $50.00" in body
    assert "`/infra approve-cost dev`" in body
    assert "| `~` | `nodes/Ng` | `AWS::EKS::Nodegroup` | $353.38 | $444.48 | +$91.10 |" in body
    # a new log group with no usage figures: listed with its unit prices, counted as $0
    assert "| `+` | `logs/Lg` |" in body and "depends on usage: Data ingested: $0.5 per" in body
    assert body.count("<details>") == body.count("</details>") == 1


def test_comment_shows_approval_without_pinging() -> None:
    body = _swap_comment({"dev"}, {"dev": "octocat"})
    assert "approved by `@octocat`" in body
    assert "approve-cost dev`." not in body
    hostile = _swap_comment({"dev"}, {"dev": "x <img src=y>"})
    assert "<img" not in hostile and "was approved." in hostile


def test_comment_for_a_plain_estimate_lists_not_priced() -> None:
    est = env("dev", {"q": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {}}, "Nat": NAT}})
    body = render_comment([diff_env("dev", None, est)], compared=False)
    assert "**Monthly estimate for DEV: $32.85**" in body
    assert (
        "| `q/Queue` | `AWS::SQS::Queue` | $0.00 | not priced (no price for this resource" in body
    )


@pytest.mark.parametrize(
    ("same", "asked", "expected"), [(True, False, False), (True, True, True), (False, False, True)]
)
def test_should_post_only_priced_changes_unless_asked(
    same: bool, asked: bool, expected: bool
) -> None:
    before = env("dev", {"vpc": {"Nat1": NAT}})
    after = env("dev", {"vpc": {"Nat1": NAT}, "iam": {"Role": ROLE}} if same else {"vpc": {}})
    assert should_post([diff_env("dev", before, after)], asked) is expected


def test_names_from_a_pull_request_cannot_break_the_comment() -> None:
    hostile = {"Type": "Custom::X|<img src=x>`@admin", "Properties": {}}
    est = env("dev", {"s|x": {"Res": hostile, "Nat": NAT}})
    body = render_comment([diff_env("dev", None, est)], compared=False)
    row = next(line for line in body.splitlines() if "Custom::X" in line)
    assert row.count(" | ") == 3  # the four columns survive
    assert "`Custom::X\\|<img src=x>'@admin`" in row  # inside a code span: inert
    assert "| `s\\|x` |" in body

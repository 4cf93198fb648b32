"""Markers, folding, splitting under GitHub's limit, sticky-comment decisions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.github.api import Comment
from bot.github.sticky import STALE, UNCHANGED, Create, Edit, Skip, plan_sticky
from bot.render.comments import (
    GITHUB_LIMIT,
    Marker,
    fold,
    marker,
    parse_marker,
    split_body,
    with_markers,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def balanced(part: str) -> bool:
    """Every fence closed and every <details> closed, ignoring tags inside code."""
    fence = None
    depth = 0
    for line in part.split("\n"):
        m = re.match(r"^ {0,3}(`{3,}|~{3,})(.*)$", line)
        if fence:
            if (
                m
                and m.group(1)[0] == fence[0]
                and len(m.group(1)) >= len(fence)
                and not m.group(2).strip()
            ):
                fence = None
            continue
        if m:
            fence = m.group(1)
            continue
        depth += len(re.findall(r"<details\b", line)) - len(re.findall(r"</details>", line))
        assert depth >= 0
    return fence is None and depth == 0


def test_marker_round_trip():
    text = marker("plan-dev", T0)
    assert text == "<!-- infra-bot:plan-dev valid-at=2026-01-05T09:00:00+00:00 -->"
    assert parse_marker(text + "\nbody") == Marker("plan-dev", T0, 1)
    assert parse_marker(marker("cost", T0, 3)) == Marker("cost", T0, 3)


@pytest.mark.parametrize("body", [
    "", "plain text", "<!-- infra-bot:plan valid-at=not-a-date -->",
    "text first\n<!-- infra-bot:plan valid-at=2026-01-05T09:00:00+00:00 -->",
    "<!-- infra-bot:Plan valid-at=2026-01-05T09:00:00+00:00 -->",
])  # fmt: skip
def test_parse_marker_rejects(body):
    assert parse_marker(body) is None


def test_fold():
    assert fold("a\nb", "x") == "a\nb"
    long = "\n".join(str(i) for i in range(100))
    folded = fold(long, "100 lines")
    assert folded.startswith("<details><summary>100 lines</summary>") and folded.endswith(
        "</details>"
    )


def test_short_body_is_one_part():
    assert split_body("hello") == ["hello"]


def report(size: int) -> str:
    """A ~`size` character report mixing details blocks, code fences and tables."""
    chunks = []
    i = 0
    while sum(len(c) for c in chunks) < size:
        chunks.append(f"<details><summary>stack {i}</summary>\n\n| a | b |\n|---|---|\n"
                      + "".join(f"| row {j} | value |\n" for j in range(30))
                      + "\n```diff\n" + "".join(f"+ line {j} <details> ``` not a fence\n"
                                                for j in range(60))
                      + "```\n\n</details>\n")  # fmt: skip
        i += 1
    return "## Plan\n\n" + "".join(chunks)


def test_200kb_report_splits_into_balanced_parts():
    body = report(200_000)
    parts = split_body(body)
    assert len(parts) == 4
    assert all(len(p) <= 65_000 for p in parts)
    assert all(balanced(p) for p in parts)
    # Nothing is lost: every row of the original is in exactly one part.
    lines = [x for x in body.split("\n") if x.startswith("+ line")]
    joined = "\n".join(parts)
    assert sum(joined.count(x) for x in set(lines)) == body.count("+ line")


def test_split_inside_a_fence_reopens_it_with_its_info_string():
    body = "```yaml\n" + "key: value\n" * 20_000 + "```\n"
    parts = split_body(body, 50_000)
    assert len(parts) > 1
    assert all(balanced(p) for p in parts)
    assert all(p.lstrip("\n").startswith("```yaml") for p in parts)


def test_a_single_huge_line_is_hard_wrapped():
    parts = split_body("x" * 150_000, 65_000)
    assert len(parts) == 3 and all(len(p) <= 65_000 for p in parts)
    assert "".join(parts) == "x" * 150_000


def test_with_markers_numbers_parts_under_the_limit():
    parts = with_markers("plan-prd", T0, report(200_000))
    assert [parse_marker(p).part for p in parts] == [1, 2, 3, 4]  # type: ignore[union-attr]
    assert all(len(p) < GITHUB_LIMIT for p in parts)
    assert "part 2 of 4" in parts[1]


def bot(cid: int, body: str) -> Comment:
    return Comment(cid, body, "github-actions[bot]", True)


@pytest.mark.parametrize("case,existing,at,body,expected", [
    ("first run", [], T0, "hi", [Create(f"{marker('k', T0)}\nhi")]),
    ("re-run edits", [bot(1, f"{marker('k', T0)}\nold")], T0, "new",
     [Edit(1, f"{marker('k', T0)}\nnew")]),
    ("newer commit edits", [bot(1, f"{marker('k', T0)}\nold")], T0 + timedelta(1), "new",
     [Edit(1, f"{marker('k', T0 + timedelta(1))}\nnew")]),
    ("identical is skipped", [bot(1, f"{marker('k', T0)}\nsame")], T0, "same", [Skip(UNCHANGED)]),
    ("stale run skipped", [bot(1, f"{marker('k', T0 + timedelta(1))}\nnewer")], T0, "older",
     [Skip(STALE)]),
    ("other kinds untouched", [bot(1, f"{marker('other', T0)}\nx")], T0, "hi",
     [Create(f"{marker('k', T0)}\nhi")]),
    ("human copies ignored", [Comment(1, f"{marker('k', T0 + timedelta(9))}\nx", "eve", False)],
     T0, "hi", [Create(f"{marker('k', T0)}\nhi")]),
])  # fmt: skip
def test_plan_sticky(case, existing, at, body, expected):
    assert plan_sticky(existing, "k", at, body) == expected, case


def test_sticky_retires_parts_no_longer_needed():
    existing = [bot(i, p) for i, p in enumerate(with_markers("k", T0, report(200_000)), start=1)]
    actions = plan_sticky(existing, "k", T0 + timedelta(1), "short now")
    assert isinstance(actions[0], Edit) and actions[0].comment_id == 1
    assert [a.comment_id for a in actions[1:] if isinstance(a, Edit)] == [2, 3, 4]
    assert all("no longer used" in a.body for a in actions[1:] if isinstance(a, Edit))

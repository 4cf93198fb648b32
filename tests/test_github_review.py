"""One review per commit: which findings go inline, the body, outdated reviews."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.checks.base import Count, Coverage, Status
from bot.findings import Finding, Severity
from bot.github.api import ChangedFile
from bot.github.review import MAX_INLINE, diff_lines, plan_review, post_review
from bot.render.comments import parse_marker
from tests.fakegithub import FakeGitHub, make_patch, right_side_lines

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PATCH = """\
@@ -1,3 +1,4 @@
 a
-b
+B
+c
 d
@@ -10,2 +11,3 @@ Resources:
 x
+y
 z
\\ No newline at end of file"""


def f(path: str, line: int, check: str = "E3002", sev: Severity = Severity.ERROR) -> Finding:
    return Finding(path, line, 1, check, sev, f"problem {check} at {line}")


def test_diff_lines_are_added_and_context_lines_on_the_right():
    assert diff_lines(PATCH) == frozenset({1, 2, 3, 4, 11, 12, 13})
    assert diff_lines(None) == frozenset()
    assert diff_lines("Binary files differ") == frozenset()


@pytest.mark.parametrize("old,new", [
    ("a\nb\nc\n", "a\nB\nc\nd\n"),
    ("".join(f"{i}\n" for i in range(50)), "".join(f"{i}\n" for i in range(50) if i % 7)),
    (None, "new\nfile\n"),
])  # fmt: skip
def test_diff_lines_agree_with_the_fake_githubs_own_parser(old, new):
    patch = make_patch(old, new)
    assert diff_lines(patch) == frozenset(right_side_lines(patch))


def test_plan_review_splits_inline_and_body():
    files = [
        ChangedFile("stacks/a.yaml", "modified", PATCH),
        ChangedFile("stacks/b.yaml", "removed", None),
    ]
    findings = [f("stacks/a.yaml", 2), f("stacks/a.yaml", 2, "W1"), f("stacks/a.yaml", 5),
                f("stacks/a.yaml", 0), f("stacks/b.yaml", 1), f("stacks/c.yaml", 3)]  # fmt: skip
    plan = plan_review(findings, files)
    assert [(c.path, c.line) for c in plan.inline] == [("stacks/a.yaml", 2)]
    assert plan.inline[0].body.count("`") == 4  # both findings on that line, one comment
    assert {(x.path, x.line) for x in plan.rest} == {
        ("stacks/a.yaml", 5),
        ("stacks/a.yaml", 0),
        ("stacks/b.yaml", 1),
        ("stacks/c.yaml", 3),
    }


@pytest.fixture
def gh() -> Any:
    with FakeGitHub() as fake:
        fake.commit_files({"stacks/a.yaml": "a\nb\nc\n"})
        yield fake


def test_post_review_uses_a_fixed_number_of_requests(gh):
    pr = gh.add_pull_request(
        {"stacks/a.yaml": "a\nb\nc\n" + "".join(f"x{i}\n" for i in range(200))}
    )
    api = gh.client()
    files = api.pull_request_files(pr["number"])
    findings = [f("stacks/a.yaml", line) for line in range(1, 204)]
    findings += [f("stacks/other.yaml", line) for line in range(1, 100)]
    before = len(gh.requests)
    outcome = post_review(api, pr["number"], head_sha=pr["head"]["sha"], valid_at=T0,
                          findings=findings, files=files)  # fmt: skip
    assert outcome.posted and outcome.inline == MAX_INLINE
    assert len(gh.requests) - before == 2  # list reviews + one review with all comments
    (review,) = gh.reviews_on(pr["number"])
    assert "stacks/other.yaml" in review["body"] and len(review["body"]) < 65_536
    assert "L203 " in review["body"], "findings past the inline cap are in the body"


def test_huge_review_body_is_cut_with_a_note(gh):
    pr = gh.add_pull_request({"stacks/a.yaml": "z\n"})
    api = gh.client()
    findings = [Finding(f"stacks/s{i}.yaml", 1, 1, "E1", Severity.ERROR, "m" * 300)
                for i in range(400)]  # fmt: skip
    post_review(api, pr["number"], head_sha=pr["head"]["sha"], valid_at=T0, findings=findings,
                files=api.pull_request_files(pr["number"]))  # fmt: skip
    (review,) = gh.reviews_on(pr["number"])
    assert len(review["body"]) < 65_536 and "job summary has the full report" in review["body"]


def test_outdated_review_is_edited_and_clean_commit_retires_it(gh):
    pr = gh.add_pull_request({"stacks/a.yaml": "a\nb\nc\nd\n"})
    api = gh.client()
    files = api.pull_request_files(pr["number"])
    post_review(api, pr["number"], head_sha=pr["head"]["sha"], valid_at=T0,
                findings=[f("stacks/a.yaml", 4)], files=files)  # fmt: skip
    new = gh.push_to_pull_request(pr["number"], {"stacks/a.yaml": "a\nb\nc\n"})
    linted = [Coverage("cfn-lint", Status.RAN, (Count("templates", 1),))]
    outcome = post_review(api, pr["number"], head_sha=new, valid_at=T0 + timedelta(1),
                          findings=[], files=api.pull_request_files(pr["number"]),
                          coverage=linted)  # fmt: skip
    assert outcome.posted and outcome.reason == "no findings"
    old, clean = gh.reviews_on(pr["number"])
    assert parse_marker(old["body"]).kind == "review-outdated"  # type: ignore[union-attr]
    assert "fixed by a later commit" in old["body"]
    assert "cfn-lint found nothing on this commit" in clean["body"] and clean["commit_id"] == new
    assert "cfn-lint: 1 template" in clean["body"]
    # The same clean commit again: nothing new.
    again = post_review(api, pr["number"], head_sha=new, valid_at=T0 + timedelta(1),
                        findings=[], files=api.pull_request_files(pr["number"]),
                        coverage=linted)  # fmt: skip
    assert not again.posted and len(gh.reviews_on(pr["number"])) == 2

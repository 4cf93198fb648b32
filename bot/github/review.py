"""Findings as one PR review: inline where GitHub allows it, the rest in the body.

GitHub accepts a review comment only on a line that appears in the diff (an
added or context line of a hunk, right side). `diff_lines` reads that from the
patch of each changed file; `plan_review` splits the findings accordingly;
`post_review` posts, falls back to a body-only review on 422, and marks the
bot's previous review outdated instead of piling up a second one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.checks.base import Coverage
from bot.findings import Finding
from bot.github.api import ChangedFile, GitHubAPI, GitHubError, InlineComment, Review
from bot.render.comments import GITHUB_LIMIT, marker, parse_marker, split_body
from bot.render.findings import by_file, clean_md, coverage_md, finding_line_md, summary_counts
from bot.render.text import escape_md

KIND = "review"
OUTDATED_KIND = "review-outdated"
# A review with hundreds of inline threads buries the conversation; past this
# many, the remaining findings go to the review body.
MAX_INLINE = 50
FOLD_AFTER = 10
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(?P<start>\d+)(?:,\d+)? @@")


def diff_lines(patch: str | None, *, added_only: bool = False) -> frozenset[int]:
    """Right-side line numbers a review comment may target in this patch
    (`added_only`: just the lines the patch adds, not its context)."""
    lines: set[int] = set()
    current = 0
    for raw in (patch or "").split("\n"):
        hunk = _HUNK.match(raw)
        if hunk:
            current = int(hunk["start"])
        elif current == 0 or raw.startswith(("\\", "-")):
            continue
        elif raw.startswith(("+", " ")) or raw == "":
            if raw.startswith("+") or not added_only:
                lines.add(current)
            current += 1
    return frozenset(lines)


@dataclass(frozen=True)
class ReviewPlan:
    inline: tuple[InlineComment, ...]
    rest: tuple[Finding, ...]
    total: int


def plan_review(findings: list[Finding], files: list[ChangedFile]) -> ReviewPlan:
    commentable = {f.path: diff_lines(f.patch) for f in files if f.status != "removed"}
    per_line: dict[tuple[str, int], list[Finding]] = defaultdict(list)
    rest: list[Finding] = []
    for f in sorted(findings):
        if f.line > 0 and f.line in commentable.get(f.path, frozenset()):
            per_line[(f.path, f.line)].append(f)
        else:
            rest.append(f)
    lines = sorted(per_line.items())
    for _, items in lines[MAX_INLINE:]:
        rest.extend(items)
    inline = tuple(
        InlineComment(path, line, "\n".join(finding_line_md(f, with_location=False) for f in items))
        for (path, line), items in lines[:MAX_INLINE]
    )
    return ReviewPlan(inline, tuple(sorted(rest)), len(findings))


CHECKED_DIRS = ("stacks/", "environments/", "helm-values/", "guard/")


def review_body(
    plan: ReviewPlan,
    findings: list[Finding],
    head_sha: str,
    valid_at: datetime,
    *,
    inline_posted: bool = True,
    coverage: Sequence[Coverage] = (),
    preface: str = "",
) -> str:
    """`coverage` is what the checks looked at: the body claims nothing beyond it."""
    rest = list(plan.rest) if inline_posted else list(findings)
    lines = [
        marker(KIND, valid_at),
        f"### infra-bot validate · `{escape_md(head_sha[:7])}`",
        "",
    ]
    if preface:  # what the reader must see first (bot.github.rules_changes)
        lines += [preface, ""]
    lines += [
        f"**{summary_counts(findings)}**"
        + (
            f" · {len(plan.inline)} inline comment(s) on the diff"
            if inline_posted and plan.inline
            else ""
        ),
    ]
    lines += ["", clean_md(coverage, "this commit") if not findings else coverage_md(coverage)]
    if rest:
        lines += ["", "Findings outside the changed lines:" if inline_posted else "Findings:", ""]
        for path, items in by_file(rest).items():
            # Short groups open, long ones folded: the body stays readable.
            state = " open" if len(items) <= FOLD_AFTER else ""
            lines.append(
                f"<details{state}><summary><code>{escape_md(path)}</code> "
                f"({len(items)})</summary>\n"
            )
            lines += [f"- {finding_line_md(f)}" for f in items]
            lines.append("\n</details>\n")
    body = "\n".join(lines)
    parts = split_body(body, GITHUB_LIMIT - 500)
    if len(parts) > 1:
        return parts[0] + "\n\n_… cut to fit a review; the job summary has the full report._"
    return body


def _ours(reviews: list[Review]) -> list[tuple[Review, datetime]]:
    out = []
    for r in reviews:
        mark = parse_marker(r.body)
        if mark and mark.kind == KIND and r.author.endswith("[bot]"):
            out.append((r, mark.valid_at))
    return out


def outdated_body(old: Review, new_sha: str, valid_at: datetime) -> str:
    previous = old.body.split("\n", 1)[1] if "\n" in old.body else ""
    previous = previous[: GITHUB_LIMIT - 1000]
    note = f"superseded by the review of `{new_sha[:7]}`" if new_sha else "fixed by a later commit"
    return (
        f"{marker(OUTDATED_KIND, valid_at)}\n> **Outdated**: {note}.\n\n"
        f"<details><summary>previous review of <code>{escape_md(old.commit_sha[:7])}"
        f"</code></summary>\n\n{previous}\n\n</details>"
    )


@dataclass(frozen=True)
class ReviewOutcome:
    posted: bool
    inline: int
    fallback: bool = False
    reason: str = ""


def post_review(
    api: GitHubAPI,
    number: int,
    *,
    head_sha: str,
    valid_at: datetime,
    findings: list[Finding],
    files: list[ChangedFile],
    coverage: Sequence[Coverage] = (),
    preface: str = "",
) -> ReviewOutcome:
    previous = _ours(api.list_reviews(number))
    if any(at > valid_at for _, at in previous):
        return ReviewOutcome(False, 0, reason="a newer commit was already reviewed")
    plan = plan_review(findings, files)
    body = review_body(plan, findings, head_sha, valid_at, coverage=coverage, preface=preface)
    same = [r for r, _ in previous if r.commit_sha == head_sha and r.body == body]
    if same:
        return ReviewOutcome(False, 0, reason="the same review is already posted")
    older = [r for r, _ in previous]
    if not findings:
        # A short all-clear when checked files changed: reviewers see the commit was
        # checked, not just a green dot. An earlier review with findings is retired
        # so it stops alarming.
        checked = bool(preface) or any(f.path.startswith(CHECKED_DIRS) for f in files)
        if checked:
            api.create_review(number, head_sha, body, [])
        for old in older:
            api.edit_review(number, old.id, outdated_body(old, "", valid_at))
        return ReviewOutcome(checked, 0, reason="no findings")
    fallback = False
    try:
        api.create_review(number, head_sha, body, list(plan.inline))
    except GitHubError as exc:
        if exc.status != 422 or not plan.inline:
            raise
        fallback = True
        body = review_body(plan, findings, head_sha, valid_at, inline_posted=False,
                           coverage=coverage, preface=preface)  # fmt: skip
        api.create_review(number, head_sha, body, [])
    for old in older:
        api.edit_review(number, old.id, outdated_body(old, head_sha, valid_at))
    return ReviewOutcome(True, 0 if fallback else len(plan.inline), fallback)

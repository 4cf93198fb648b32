"""Sticky comments: one per (thread, kind), edited in place, newest run wins.

`plan_sticky` is the pure decision; `post_sticky` carries it out through the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.github.api import Comment, GitHubAPI
from bot.render.comments import marker, parse_marker, with_markers


@dataclass(frozen=True)
class Create:
    body: str


@dataclass(frozen=True)
class Edit:
    comment_id: int
    body: str


@dataclass(frozen=True)
class Skip:
    reason: str


Action = Create | Edit | Skip
STALE = "a newer run already answered"
UNCHANGED = "the body is unchanged"


def ours(comments: list[Comment], kind: str) -> dict[int, Comment]:
    """The bot's comments of this kind, by part number (first one wins)."""
    found: dict[int, Comment] = {}
    for c in comments:
        mark = parse_marker(c.body) if c.author_is_bot else None
        if mark and mark.kind == kind:
            found.setdefault(mark.part, c)
    return found


def plan_sticky(existing: list[Comment], kind: str, valid_at: datetime, body: str) -> list[Action]:
    mine = ours(existing, kind)
    head = mine.get(1)
    head_mark = parse_marker(head.body) if head else None
    if head_mark and head_mark.valid_at > valid_at:
        return [Skip(STALE)]
    parts = with_markers(kind, valid_at, body)
    actions: list[Action] = []
    for number, text in enumerate(parts, start=1):
        old = mine.get(number)
        if old is None:
            actions.append(Create(text))
        elif old.body == text:
            actions.append(Skip(UNCHANGED))
        else:
            actions.append(Edit(old.id, text))
    for number, old in sorted(mine.items()):
        if number > len(parts):
            retired = f"{marker(kind, valid_at, number)}\n_(this part is no longer used)_"
            actions.append(Skip(UNCHANGED) if old.body == retired else Edit(old.id, retired))
    return actions


def post_sticky(
    api: GitHubAPI,
    number: int,
    *,
    kind: str,
    valid_at: datetime,
    body: str,
    existing: list[Comment] | None = None,
) -> list[Action]:
    comments = api.list_issue_comments(number) if existing is None else existing
    # Only this bot's own comments: another bot's marker is neither edited nor obeyed.
    comments = [c for c in comments if c.author == api.bot_login]
    actions = plan_sticky(comments, kind, valid_at, body)
    for action in actions:
        if isinstance(action, Create):
            api.create_issue_comment(number, action.body)
        elif isinstance(action, Edit):
            api.edit_issue_comment(action.comment_id, action.body)
    return actions

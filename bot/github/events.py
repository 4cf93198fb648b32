"""Webhook payloads -> typed events, parsed once at the edge.

Every string in a payload is untrusted; here it is only copied into typed
fields (bodies cut to GitHub's own limit), never interpreted. Event names are
strings, not an enum, because GitHub provides them and adds new ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.github.api import PullRequestInfo
from bot.github.grammar import MAX_BODY_CHARS
from bot.github.pygithub_api import pr_from_json


@dataclass(frozen=True)
class CommentCreated:
    comment_id: int
    body: str
    author: str
    author_is_bot: bool
    number: int
    is_pr: bool
    default_branch: str


@dataclass(frozen=True)
class PullRequestChanged:
    action: str  # opened | synchronize | reopened | closed
    pr: PullRequestInfo


@dataclass(frozen=True)
class ReviewSubmitted:
    body: str
    author: str
    author_is_bot: bool
    state: str
    pr: PullRequestInfo
    default_branch: str


@dataclass(frozen=True)
class Pushed:
    ref: str
    before: str
    after: str
    default_branch: str
    pusher: str

    @property
    def to_default_branch(self) -> bool:
        return self.ref == f"refs/heads/{self.default_branch}"


@dataclass(frozen=True)
class Dispatched:
    actor: str
    ref: str
    default_branch: str
    inputs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scheduled:
    cron: str


@dataclass(frozen=True)
class Ignored:
    reason: str


Event = (
    CommentCreated
    | PullRequestChanged
    | ReviewSubmitted
    | Pushed
    | Dispatched
    | Scheduled
    | Ignored
)
PR_ACTIONS = frozenset({"opened", "synchronize", "reopened", "closed"})


def _user(data: dict[str, Any] | None) -> tuple[str, bool]:
    user = data or {}
    login = str(user.get("login", ""))
    return login, user.get("type") == "Bot" or login.endswith("[bot]")


def _text(value: Any) -> str:
    return str(value or "")[:MAX_BODY_CHARS]


def parse_event(name: str, payload: dict[str, Any]) -> Event:
    try:
        return _parse(name, payload)
    except (KeyError, TypeError, ValueError) as exc:
        return Ignored(f"{name} payload without the expected fields ({type(exc).__name__}: {exc})")


def _parse(name: str, payload: dict[str, Any]) -> Event:
    parser = _PARSERS.get(name)
    if parser is None:
        return Ignored(f"event {name or '(none)'} is not handled")
    return parser(str(payload.get("action", "")), payload)


def _pull_request(action: str, payload: dict[str, Any]) -> Event:
    if action not in PR_ACTIONS:
        return Ignored(f"pull_request {action} is not handled")
    return PullRequestChanged(action, pr_from_json(payload["pull_request"]))


def _review(action: str, payload: dict[str, Any]) -> Event:
    if action != "submitted":
        return Ignored(f"pull_request_review {action} is not handled")
    review = payload["review"]
    login, is_bot = _user(review.get("user"))
    return ReviewSubmitted(
        _text(review.get("body")), login, is_bot, str(review.get("state", "")),
        pr_from_json(payload["pull_request"]), str(payload["repository"]["default_branch"]),
    )  # fmt: skip


def _push(_action: str, payload: dict[str, Any]) -> Event:
    return Pushed(
        str(payload["ref"]), str(payload.get("before", "")), str(payload["after"]),
        str(payload["repository"]["default_branch"]),
        str((payload.get("pusher") or {}).get("name", "")),
    )  # fmt: skip


def _dispatch(_action: str, payload: dict[str, Any]) -> Event:
    inputs = payload.get("inputs") or {}
    return Dispatched(
        _user(payload.get("sender"))[0], str(payload.get("ref", "")),
        str(payload["repository"]["default_branch"]),
        {str(k): _text(v) for k, v in inputs.items()},
    )  # fmt: skip


def _schedule(_action: str, payload: dict[str, Any]) -> Event:
    return Scheduled(str(payload.get("schedule", "")))


def _comment(action: str, payload: dict[str, Any]) -> Event:
    if action != "created":
        # An edit must not re-run a command: the first run already answered it.
        return Ignored(f"issue_comment {action} is not handled")
    comment, issue = payload["comment"], payload["issue"]
    login, is_bot = _user(comment.get("user"))
    return CommentCreated(
        int(comment["id"]), _text(comment.get("body")), login, is_bot,
        int(issue["number"]), bool(issue.get("pull_request")),
        str(payload["repository"]["default_branch"]),
    )  # fmt: skip


_PARSERS: dict[str, Callable[[str, dict[str, Any]], Event]] = {
    "issue_comment": _comment,
    "pull_request": _pull_request,
    "pull_request_review": _review,
    "push": _push,
    "workflow_dispatch": _dispatch,
    "schedule": _schedule,
}

"""Webhook payloads as GitHub sends them, for the events the demo replays.

Only the fields bot.github.events reads are filled in; the handlers get them
through the same parser a workflow run uses.
"""

from __future__ import annotations

from typing import Any

from bot.github.api import Comment, PullRequestInfo


def _repository(name: str) -> dict[str, Any]:
    return {"full_name": name, "default_branch": "main"}


def _user(login: str) -> dict[str, str]:
    return {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"}


def pull_request_json(pr: PullRequestInfo) -> dict[str, Any]:
    return {
        "number": pr.number,
        "title": pr.title,
        "user": _user(pr.author),
        "head": {"sha": pr.head_sha, "ref": pr.head_ref, "repo": {"full_name": pr.head_repo}},
        "base": {"ref": pr.base_ref, "repo": {"full_name": pr.base_repo}},
        "state": pr.state,
        "merged": pr.merged,
        "draft": pr.draft,
        "html_url": pr.html_url,
    }


def issue_comment(repository: str, number: int, comment: Comment, *, on_pr: bool) -> dict[str, Any]:
    issue: dict[str, Any] = {"number": number}
    if on_pr:
        issue["pull_request"] = {"url": f"https://github.local/{repository}/pull/{number}"}
    return {
        "action": "created",
        "comment": {"id": comment.id, "body": comment.body, "user": _user(comment.author)},
        "issue": issue,
        "repository": _repository(repository),
    }


def pull_request(repository: str, action: str, pr: PullRequestInfo) -> dict[str, Any]:
    return {
        "action": action,
        "number": pr.number,
        "pull_request": pull_request_json(pr),
        "repository": _repository(repository),
    }


def push(repository: str, before: str, after: str, pusher: str) -> dict[str, Any]:
    return {
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "pusher": {"name": pusher},
        "repository": _repository(repository),
    }

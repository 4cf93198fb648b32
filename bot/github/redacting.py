"""A `GitHubAPI` that masks secrets in everything it sends, around any other.

`run_handle` wraps whatever API the handlers get in this, so no handler,
renderer or command can post the run's token, App key or AWS credentials to
GitHub, whichever path the text took (a finding quoting a template, a tool's
stderr, an exception message, the model's answer). Reads pass straight through.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.github.api import (
    ChangedFile,
    Comment,
    CommitStatus,
    GitHubAPI,
    InlineComment,
    Issue,
    OpenedPullRequest,
    Permission,
    PullRequestInfo,
    Reaction,
    Review,
    ReviewComment,
    StatusState,
)
from bot.redact import Redactor, activate

if TYPE_CHECKING:
    from bot.settings import Settings


class RedactingGitHubAPI:
    def __init__(self, inner: GitHubAPI, redactor: Redactor) -> None:
        self.inner = inner
        self.redactor = redactor

    def _files(self, files: dict[str, str | None]) -> dict[str, str | None]:
        return {path: self.redactor.optional(text) for path, text in files.items()}

    @property
    def repository(self) -> str:
        return self.inner.repository

    @property
    def bot_login(self) -> str:
        return self.inner.bot_login

    # --- reads: passed through -------------------------------------------
    def default_branch(self) -> str:
        return self.inner.default_branch()

    def read_file(self, path: str, ref: str) -> str | None:
        return self.inner.read_file(path, ref)

    def commit_time(self, sha: str) -> datetime:
        return self.inner.commit_time(sha)

    def permission(self, user: str) -> Permission:
        return self.inner.permission(user)

    def team_members(self, org: str, team_slug: str) -> frozenset[str]:
        return self.inner.team_members(org, team_slug)

    def pull_request(self, number: int) -> PullRequestInfo:
        return self.inner.pull_request(number)

    def pull_request_files(self, number: int) -> list[ChangedFile]:
        return self.inner.pull_request_files(number)

    def pull_requests_for_commit(self, sha: str) -> list[PullRequestInfo]:
        return self.inner.pull_requests_for_commit(sha)

    def list_open_issues(self, label: str) -> list[Issue]:
        return self.inner.list_open_issues(label)

    def list_issue_comments(self, number: int) -> list[Comment]:
        return self.inner.list_issue_comments(number)

    def list_reviews(self, number: int) -> list[Review]:
        return self.inner.list_reviews(number)

    def list_review_comments(self, number: int) -> list[ReviewComment]:
        return self.inner.list_review_comments(number)

    def commit_statuses(self, sha: str) -> list[CommitStatus]:
        return self.inner.commit_statuses(sha)

    def add_reaction(self, comment_id: int, reaction: Reaction) -> None:
        self.inner.add_reaction(comment_id, reaction)

    # --- writes: every text masked ---------------------------------------
    def open_pull_request(
        self, title: str, body: str, head: str, base: str, *, draft: bool = False
    ) -> OpenedPullRequest:
        r = self.redactor
        return self.inner.open_pull_request(r.text(title), r.text(body), head, base, draft=draft)

    def create_branch_with_files(
        self, base: str, branch: str, files: dict[str, str | None], message: str
    ) -> str:
        return self.inner.create_branch_with_files(
            base, branch, self._files(files), self.redactor.text(message)
        )

    def update_branch_with_files(
        self, branch: str, files: dict[str, str | None], message: str
    ) -> str:
        return self.inner.update_branch_with_files(
            branch, self._files(files), self.redactor.text(message)
        )

    def create_issue(self, title: str, body: str, labels: list[str]) -> Issue:
        return self.inner.create_issue(self.redactor.text(title), self.redactor.text(body), labels)

    def edit_issue(self, number: int, *, body: str | None = None, state: str | None = None) -> None:
        self.inner.edit_issue(number, body=self.redactor.optional(body), state=state)

    def create_issue_comment(self, number: int, body: str) -> Comment:
        return self.inner.create_issue_comment(number, self.redactor.text(body))

    def edit_issue_comment(self, comment_id: int, body: str) -> None:
        self.inner.edit_issue_comment(comment_id, self.redactor.text(body))

    def create_review(
        self, number: int, commit_sha: str, body: str, comments: list[InlineComment]
    ) -> Review:
        masked = [InlineComment(c.path, c.line, self.redactor.text(c.body)) for c in comments]
        return self.inner.create_review(number, commit_sha, self.redactor.text(body), masked)

    def edit_review(self, number: int, review_id: int, body: str) -> None:
        self.inner.edit_review(number, review_id, self.redactor.text(body))

    def set_commit_status(
        self, sha: str, state: StatusState, context: str, description: str, target_url: str = ""
    ) -> None:
        r = self.redactor
        self.inner.set_commit_status(
            sha, state, r.text(context), r.text(description), r.text(target_url)
        )

    def record_deployment(
        self,
        environment: str,
        sha: str,
        state: str,
        description: str,
        payload: dict[str, object] | None = None,
    ) -> int:
        masked = None if payload is None else self.redactor.data(payload)
        return self.inner.record_deployment(
            environment, sha, state, self.redactor.text(description), masked
        )


def redacting(api: GitHubAPI, redactor: Redactor) -> GitHubAPI:
    """`api` with every outgoing text masked (never wrapped twice)."""
    if isinstance(api, RedactingGitHubAPI):
        return api
    return RedactingGitHubAPI(api, redactor)


def activate_for(settings: Settings) -> Redactor:
    """The run's redactor, also made the one the summary, SARIF and log writers use."""
    redactor = Redactor.for_settings(settings)
    activate(redactor)
    return redactor

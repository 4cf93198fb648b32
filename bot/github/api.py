"""The GitHub operations infra-bot needs, as one small interface.

Handlers and commands receive a `GitHubAPI` as a parameter; the only
implementation that talks HTTP is `bot.github.pygithub_api.PyGithubAPI`, and
tests run it against the stateful fake in `tests/fakegithub.py`. Everything
crossing this boundary is a frozen dataclass, so the core never touches
PyGithub objects (which make network calls when an attribute is read).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Protocol


class GitHubError(RuntimeError):
    """A GitHub API call failed in a way retrying will not fix.

    `hint` says what the operator should change (token scope, workflow
    permissions, branch protection ...), so it can go straight into a log.
    """

    def __init__(self, message: str, *, status: int | None = None, hint: str = "") -> None:
        super().__init__(f"{message} ({hint})" if hint else message)
        self.status = status
        self.hint = hint


# The typed errors below are what `bot.github.pygithub_api.decipher` turns an
# answer into; callers that care catch the subclass, the rest catch GitHubError.


class RateLimitError(GitHubError):
    """A primary (x-ratelimit-remaining: 0) or secondary (retry-after) rate limit.

    `wait` is how many seconds GitHub asked us to wait before the next try.
    """

    def __init__(self, message: str, *, status: int, wait: float, secondary: bool) -> None:
        super().__init__(message, status=status, hint="GitHub's rate limit; re-run the job later")
        self.wait = wait
        self.secondary = secondary


class ValidationFailedError(GitHubError):
    """422: GitHub refused the request's content; `errors` is GitHub's list, as sent."""

    def __init__(self, message: str, *, hint: str, errors: tuple[object, ...] = ()) -> None:
        super().__init__(message, status=422, hint=hint)
        self.errors = errors


class NotFoundError(GitHubError):
    """404: it does not exist, or the token may not see it (GitHub answers the same)."""


class ForbiddenError(GitHubError):
    """403 without a rate limit: the token lacks a permission or a scope."""


class ServerError(GitHubError):
    """5xx: GitHub failed; retrying later may help."""


class TooManyFilesError(GitHubError):
    """The PR's file list reached GitHub's cap, so it is not the whole change.

    The true list of changed files has to come from git (a checkout and
    `git diff --name-status base...head`), never from this endpoint. `files` is
    what GitHub did list, for a caller that reports the cut (bot.repo.changes).
    """

    def __init__(self, message: str, *, hint: str, files: tuple[ChangedFile, ...]) -> None:
        super().__init__(message, hint=hint)
        self.files = files


class Permission(IntEnum):
    """Repository permission levels, ordered so that `>=` means "at least"."""

    NONE = 0
    READ = 1
    TRIAGE = 2
    WRITE = 3
    MAINTAIN = 4
    ADMIN = 5

    @classmethod
    def parse(cls, text: str | None) -> Permission:
        # The API answers "admin|write|read|none" in `permission` and the
        # finer "maintain|triage" only in `role_name`; callers pass either.
        try:
            return cls[(text or "none").strip().upper()]
        except KeyError:
            return cls.NONE


class Reaction(StrEnum):
    EYES = "eyes"
    ROCKET = "rocket"
    CONFUSED = "confused"
    THUMBS_UP = "+1"


class StatusState(StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"


@dataclass(frozen=True)
class PullRequestInfo:
    number: int
    title: str
    author: str
    head_sha: str
    head_ref: str
    head_repo: str  # "owner/name" of the head repository ("" if it was deleted)
    base_ref: str
    base_repo: str
    state: str  # "open" | "closed"
    merged: bool
    draft: bool
    html_url: str

    @property
    def from_fork(self) -> bool:
        return self.head_repo != self.base_repo


@dataclass(frozen=True)
class ChangedFile:
    path: str
    status: str  # added | modified | removed | renamed ...
    patch: str | None  # unified diff hunks; None for binary or very large files
    previous_path: str | None = None


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    author: str
    author_is_bot: bool
    html_url: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None  # the last edit (created_at when never edited)


@dataclass(frozen=True)
class Issue:
    """An issue (never a pull request: listing issues leaves those out)."""

    number: int
    title: str
    body: str
    author: str
    author_is_bot: bool
    state: str  # "open" | "closed"
    labels: tuple[str, ...] = ()
    html_url: str = ""


@dataclass(frozen=True)
class InlineComment:
    """A review comment to attach to `line` (right side) of `path` in the diff."""

    path: str
    line: int
    body: str


@dataclass(frozen=True)
class Review:
    id: int
    body: str
    author: str
    commit_sha: str
    state: str


@dataclass(frozen=True)
class ReviewComment:
    id: int
    review_id: int | None
    path: str
    line: int | None
    body: str
    author: str
    commit_sha: str


@dataclass(frozen=True)
class CommitStatus:
    context: str
    state: str
    description: str
    target_url: str = ""


@dataclass(frozen=True)
class OpenedPullRequest:
    number: int
    url: str


class GitHubAPI(Protocol):
    """One repository, as seen through the token of the workflow run."""

    @property
    def repository(self) -> str: ...  # "owner/name"

    @property
    def bot_login(self) -> str:
        """The login comments written through this API carry: only its markers count."""
        ...

    # --- repository -------------------------------------------------------
    def default_branch(self) -> str: ...

    def read_file(self, path: str, ref: str) -> str | None:
        """Text of `path` at `ref`, or None if it does not exist there."""
        ...

    def commit_time(self, sha: str) -> datetime:
        """The committer date of `sha`: what sticky comments are ordered by."""
        ...

    def permission(self, user: str) -> Permission: ...

    def team_members(self, org: str, team_slug: str) -> frozenset[str]: ...

    # --- pull requests ----------------------------------------------------
    def pull_request(self, number: int) -> PullRequestInfo: ...

    def pull_request_files(self, number: int) -> list[ChangedFile]: ...

    def pull_requests_for_commit(self, sha: str) -> list[PullRequestInfo]: ...

    def open_pull_request(
        self, title: str, body: str, head: str, base: str, *, draft: bool = False
    ) -> OpenedPullRequest: ...

    def create_branch_with_files(
        self, base: str, branch: str, files: dict[str, str | None], message: str
    ) -> str:
        """Commit `files` (path -> new text, None deletes) on a new `branch` off `base`.

        Returns the new commit's sha. One commit, made through the git data API,
        so nothing is checked out or executed.
        """
        ...

    def update_branch_with_files(
        self, branch: str, files: dict[str, str | None], message: str
    ) -> str:
        """Commit `files` on top of existing `branch` and move it (fast-forward only).

        Returns the new commit's sha; a pull request whose head is `branch`
        follows it, as on GitHub. Used to revise the bot's own pull requests.
        """
        ...

    # --- issues -------------------------------------------------------------
    def list_open_issues(self, label: str) -> list[Issue]:
        """Open issues carrying `label`, newest first; pull requests are left out."""
        ...

    def create_issue(self, title: str, body: str, labels: list[str]) -> Issue: ...

    def edit_issue(self, number: int, *, body: str | None = None, state: str | None = None) -> None:
        """Change the body and/or the state ("open" | "closed"); None leaves it as it is."""
        ...

    # --- issue comments and reactions -------------------------------------
    def list_issue_comments(self, number: int) -> list[Comment]: ...

    def create_issue_comment(self, number: int, body: str) -> Comment: ...

    def edit_issue_comment(self, comment_id: int, body: str) -> None: ...

    def add_reaction(self, comment_id: int, reaction: Reaction) -> None: ...

    # --- reviews ----------------------------------------------------------
    def list_reviews(self, number: int) -> list[Review]: ...

    def create_review(
        self, number: int, commit_sha: str, body: str, comments: list[InlineComment]
    ) -> Review:
        """A COMMENT review; raises GitHubError(status=422) if GitHub rejects a line."""
        ...

    def edit_review(self, number: int, review_id: int, body: str) -> None: ...

    def list_review_comments(self, number: int) -> list[ReviewComment]: ...

    # --- statuses ---------------------------------------------------------
    def set_commit_status(
        self, sha: str, state: StatusState, context: str, description: str, target_url: str = ""
    ) -> None: ...

    def commit_statuses(self, sha: str) -> list[CommitStatus]:
        """The latest status per context for `sha`."""
        ...

    # --- deployments --------------------------------------------------------
    def record_deployment(
        self,
        environment: str,
        sha: str,
        state: str,
        description: str,
        payload: dict[str, object] | None = None,
    ) -> int:
        """A GitHub deployment of `sha` to `environment` with one status (success, failure
        ...) and `payload`; returns the deployment's id. A record only: GitHub runs nothing."""
        ...

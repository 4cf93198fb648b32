"""A GitHub stand-in that keeps a repository's conversation in memory.

It implements the same `GitHubAPI` interface as the PyGithub adapter, so the
demo drives the real handlers. Branches and commits live in a real local git
repository (`LocalGit`). The few things people do on GitHub that the bot never
does (open an issue, merge, approve a protected environment) are extra methods.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from bot.demo.localgit import LocalGit
from bot.github.api import (
    ChangedFile,
    Comment,
    CommitStatus,
    GitHubError,
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

BOT_LOGIN = "infra-bot[bot]"


@dataclass
class Thread:
    """An issue or a pull request: GitHub numbers both from one sequence."""

    number: int
    title: str
    body: str
    author: str
    pull: PullRequestInfo | None = None
    comments: list[int] = field(default_factory=list)
    merge_sha: str | None = None
    state: str = "open"  # of the issue; a pull request's is in `pull`
    labels: tuple[str, ...] = ()


@dataclass
class Deployment:
    environment: str
    sha: str
    state: str  # waiting | approved | success | failure
    approved_by: str | None = None
    description: str = ""
    id: int = 0


def deployment_lines(deployments: list[Deployment]) -> list[tuple[str, str, str, int]]:
    """(environment, short sha, state, how many): one line per environment, commit and
    state, however many stacks the deploy recorded. Pure."""
    groups: dict[tuple[str, str, str], int] = {}
    for d in deployments:
        state = d.state + (f" by {d.approved_by}" if d.approved_by else "")
        key = (d.environment, d.sha[:7], state)
        groups[key] = groups.get(key, 0) + 1
    return [(env, sha, state, n) for (env, sha, state), n in groups.items()]


class LocalGitHub:
    def __init__(
        self,
        git: LocalGit,
        repository: str,
        permissions: dict[str, Permission],
        teams: dict[str, frozenset[str]] | None = None,
    ) -> None:
        self.git = git
        self._repository = repository
        self.permissions = permissions
        self.teams = teams or {}  # "org/slug" -> members
        self.threads: dict[int, Thread] = {}
        self.comments: dict[int, Comment] = {}
        self.comment_thread: dict[int, int] = {}
        self.reactions: dict[int, list[Reaction]] = {}
        self.reviews: dict[int, list[Review]] = {}
        self.review_comments: dict[int, list[ReviewComment]] = {}
        self.statuses: dict[str, dict[str, CommitStatus]] = {}
        self.deployments: list[Deployment] = []
        self.calls: list[str] = []  # method names, in order: what the bot asked for
        self.acting_as = BOT_LOGIN
        self._ids = itertools.count(1001)
        self._numbers = itertools.count(1)

    def _call(self, name: str) -> None:
        self.calls.append(name)

    # --- repository -------------------------------------------------------
    @property
    def repository(self) -> str:
        return self._repository

    @property
    def bot_login(self) -> str:
        return BOT_LOGIN

    def default_branch(self) -> str:
        self._call("default_branch")
        return "main"

    def read_file(self, path: str, ref: str) -> str | None:
        self._call("read_file")
        return self.git.show(ref, path)

    def commit_time(self, sha: str) -> datetime:
        self._call("commit_time")
        return self.git.commit_time(sha)

    def permission(self, user: str) -> Permission:
        self._call("permission")
        return self.permissions.get(user, Permission.NONE)

    def team_members(self, org: str, team_slug: str) -> frozenset[str]:
        self._call("team_members")
        return self.teams.get(f"{org}/{team_slug}", frozenset())

    # --- pull requests ----------------------------------------------------
    def _pull(self, number: int) -> PullRequestInfo:
        thread = self.threads.get(number)
        if thread is None or thread.pull is None:
            raise GitHubError(f"pull request #{number} not found", status=404)
        head_sha = (
            self.git.rev(thread.pull.head_ref) if not thread.pull.merged else (thread.pull.head_sha)
        )
        thread.pull = replace(thread.pull, head_sha=head_sha)
        return thread.pull

    def pull_request(self, number: int) -> PullRequestInfo:
        self._call("pull_request")
        return self._pull(number)

    def pull_request_files(self, number: int) -> list[ChangedFile]:
        self._call("pull_request_files")
        pull = self._pull(number)
        status = {"A": "added", "M": "modified", "D": "removed"}
        return [
            ChangedFile(path, status.get(code[0], "modified"),
                        self.git.diff_patch(pull.base_ref, pull.head_sha, path))
            for code, path in self.git.diff_names(pull.base_ref, pull.head_sha)
        ]  # fmt: skip

    def pull_requests_for_commit(self, sha: str) -> list[PullRequestInfo]:
        self._call("pull_requests_for_commit")
        return [
            t.pull for t in self.threads.values()
            if t.pull is not None and sha in (t.pull.head_sha, t.merge_sha)
        ]  # fmt: skip

    def open_pull_request(
        self, title: str, body: str, head: str, base: str, *, draft: bool = False
    ) -> OpenedPullRequest:
        self._call("open_pull_request")
        number = next(self._numbers)
        url = f"https://github.local/{self._repository}/pull/{number}"
        pull = PullRequestInfo(
            number, title, self.acting_as, self.git.rev(head), head, self._repository,
            base, self._repository, "open", False, draft, url,
        )  # fmt: skip
        self.threads[number] = Thread(number, title, body, self.acting_as, pull)
        return OpenedPullRequest(number, url)

    def create_branch_with_files(
        self, base: str, branch: str, files: dict[str, str | None], message: str
    ) -> str:
        self._call("create_branch_with_files")
        return self.git.commit_files(self.git.rev(base), files, message, branch=branch)

    def update_branch_with_files(
        self, branch: str, files: dict[str, str | None], message: str
    ) -> str:
        self._call("update_branch_with_files")
        try:
            parent = self.git.rev(f"refs/heads/{branch}")
        except RuntimeError:
            raise GitHubError(f"branch {branch} not found", status=404) from None
        sha = self.git.commit_files(parent, files, message, branch=branch)
        for thread in self.threads.values():  # open PRs on the branch follow it
            pull = thread.pull
            if pull is not None and pull.head_ref == branch and pull.state == "open":
                thread.pull = replace(pull, head_sha=sha)
        return sha

    # --- issues -------------------------------------------------------------
    def list_open_issues(self, label: str) -> list[Issue]:
        self._call("list_open_issues")
        found = [t for t in self.threads.values()
                 if t.pull is None and t.state == "open" and label in t.labels]  # fmt: skip
        return [self._issue(t) for t in sorted(found, key=lambda t: -t.number)]

    def create_issue(self, title: str, body: str, labels: list[str]) -> Issue:
        self._call("create_issue")
        number = self.open_issue(title, body, self.acting_as)
        self.threads[number].labels = tuple(labels)
        return self._issue(self.threads[number])

    def edit_issue(self, number: int, *, body: str | None = None, state: str | None = None) -> None:
        self._call("edit_issue")
        thread = self.threads.get(number)
        if thread is None or thread.pull is not None:
            raise GitHubError(f"issue #{number} not found", status=404)
        thread.body = thread.body if body is None else body
        thread.state = thread.state if state is None else state

    def _issue(self, t: Thread) -> Issue:
        url = f"https://github.local/{self._repository}/issues/{t.number}"
        return Issue(t.number, t.title, t.body, t.author, t.author.endswith("[bot]"), t.state,
                     t.labels, url)  # fmt: skip

    # --- issue comments and reactions -------------------------------------
    def list_issue_comments(self, number: int) -> list[Comment]:
        self._call("list_issue_comments")
        return [self.comments[i] for i in self.threads[number].comments]

    def create_issue_comment(self, number: int, body: str) -> Comment:
        self._call("create_issue_comment")
        return self._comment(number, body, self.acting_as, is_bot=True)

    def _comment(self, number: int, body: str, author: str, *, is_bot: bool) -> Comment:
        if number not in self.threads:
            raise GitHubError(f"issue #{number} not found", status=404)
        cid = next(self._ids)
        url = f"https://github.local/{self._repository}/issues/{number}#issuecomment-{cid}"
        now = datetime.now(UTC)
        self.comments[cid] = Comment(cid, body, author, is_bot, url, now, now)
        self.comment_thread[cid] = number
        self.threads[number].comments.append(cid)
        return self.comments[cid]

    def edit_issue_comment(self, comment_id: int, body: str) -> None:
        self._call("edit_issue_comment")
        self.comments[comment_id] = replace(
            self.comments[comment_id], body=body, updated_at=datetime.now(UTC)
        )

    def add_reaction(self, comment_id: int, reaction: Reaction) -> None:
        self._call("add_reaction")
        self.reactions.setdefault(comment_id, []).append(reaction)

    # --- reviews ----------------------------------------------------------
    def list_reviews(self, number: int) -> list[Review]:
        self._call("list_reviews")
        return list(self.reviews.get(number, []))

    def create_review(
        self, number: int, commit_sha: str, body: str, comments: list[InlineComment]
    ) -> Review:
        self._call("create_review")
        valid = {f.path: _diff_lines(f.patch) for f in self.pull_request_files(number)}
        for c in comments:
            if c.line not in valid.get(c.path, set()):
                raise GitHubError("Unprocessable Entity: line is not part of the diff",
                                  status=422)  # fmt: skip
        review = Review(next(self._ids), body, self.acting_as, commit_sha, "COMMENTED")
        self.reviews.setdefault(number, []).append(review)
        for c in comments:
            self.review_comments.setdefault(number, []).append(
                ReviewComment(
                    next(self._ids), review.id, c.path, c.line, c.body, self.acting_as, commit_sha
                )
            )
        return review

    def edit_review(self, number: int, review_id: int, body: str) -> None:
        self._call("edit_review")
        self.reviews[number] = [
            replace(r, body=body) if r.id == review_id else r for r in self.reviews[number]
        ]

    def list_review_comments(self, number: int) -> list[ReviewComment]:
        self._call("list_review_comments")
        return list(self.review_comments.get(number, []))

    # --- statuses ---------------------------------------------------------
    def set_commit_status(
        self, sha: str, state: StatusState, context: str, description: str, target_url: str = ""
    ) -> None:
        self._call("set_commit_status")
        self.statuses.setdefault(sha, {})[context] = CommitStatus(
            context, str(state), description, target_url
        )

    def commit_statuses(self, sha: str) -> list[CommitStatus]:
        self._call("commit_statuses")
        return list(self.statuses.get(sha, {}).values())

    # --- what people do on GitHub ------------------------------------------
    def open_issue(self, title: str, body: str, author: str) -> int:
        number = next(self._numbers)
        self.threads[number] = Thread(number, title, body, author)
        return number

    def user_comment(self, number: int, body: str, author: str) -> Comment:
        return self._comment(number, body, author, is_bot=False)

    def merge(self, number: int, by: str) -> str:
        pull = self._pull(number)
        sha = self.git.merge(pull.base_ref, pull.head_ref, f"Merge pull request #{number}")
        thread = self.threads[number]
        thread.pull = replace(pull, state="closed", merged=True)
        thread.merge_sha = sha
        return sha

    def request_deployment(self, environment: str, sha: str) -> Deployment:
        deployment = Deployment(environment, sha, "waiting")
        self.deployments.append(deployment)
        return deployment

    def approve(self, deployment: Deployment, by: str) -> None:
        if self.permissions.get(by, Permission.NONE) < Permission.WRITE:
            raise GitHubError(f"{by} may not approve deployments", status=403)
        deployment.state, deployment.approved_by = "approved", by

    def record_deployment(
        self,
        environment: str,
        sha: str,
        state: str,
        description: str,
        payload: dict[str, object] | None = None,
    ) -> int:
        """What the bot records after a deploy (the GitHubAPI method)."""
        self._call("record_deployment")
        deployment = Deployment(environment, sha, state, description=description,
                                id=next(self._ids))  # fmt: skip
        self.deployments.append(deployment)
        return deployment.id


def _diff_lines(patch: str | None) -> set[int]:
    """Right-side line numbers a review comment may point at."""
    lines: set[int] = set()
    current = 0
    for line in (patch or "").splitlines():
        if line.startswith("@@"):
            current = int(line.split("+")[1].split(",")[0].split(" ")[0])
            continue
        if line.startswith("-"):
            continue
        lines.add(current)
        current += 1
    return lines

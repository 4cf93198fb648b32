"""`GitHubAPI` over PyGithub's requester: auth, GHES base URL, retries, errors.

PyGithub's object model fetches lazily and sometimes twice; the bot cares about
the number of requests per event (a validate run should need a handful), so this
adapter calls the REST endpoints through PyGithub's `Requester` and maps the
JSON straight into the frozen dataclasses of `bot.github.api`. Nothing here
makes a request until a method is called.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from bot.github.api import (
    ChangedFile,
    Comment,
    CommitStatus,
    ForbiddenError,
    GitHubError,
    InlineComment,
    Issue,
    NotFoundError,
    OpenedPullRequest,
    Permission,
    PullRequestInfo,
    RateLimitError,
    Reaction,
    Review,
    ReviewComment,
    ServerError,
    StatusState,
    TooManyFilesError,
    ValidationFailedError,
)
from bot.render.comments import cap_body

PER_PAGE = 100
# GitHub lists at most 3,000 files of a pull request; a list that long is cut.
MAX_PR_FILES = 3_000
# Not a page budget (pages are followed to the end): a guard against a server
# that answers rel="next" forever. Reaching it is an error, never a silent stop.
MAX_PAGES = 1_000
# Waiting out a rate limit: at most this many tries and this many seconds in all
# (a primary limit resets within the hour; a job should fail before that).
RATE_LIMIT_TRIES = 3
MAX_RATE_LIMIT_WAIT = 900.0
SECONDARY_DEFAULT_WAIT = 60.0  # GitHub: wait at least a minute when no retry-after is sent

_HINTS = {
    401: "the token is missing or expired; the workflow must pass GITHUB_TOKEN",
    403: "the token lacks a permission; grant it in the workflow's `permissions:` block "
    "(pull-requests: write, issues: write, statuses: write, contents: read)",
    404: "not found, or the token cannot see it; check the repository name and permissions",
    409: "a conflict on the repository (branch exists or was moved); retry from a fresh base",
    422: "GitHub rejected the request's content (a line outside the diff, a branch "
    "name, or a validation rule)",
}
_LINK = re.compile(r'<(?P<url>[^>]+)>;\s*rel="(?P<rel>[^"]+)"')


def _detail(data: Any) -> tuple[str, tuple[object, ...]]:
    """GitHub's `message` and `errors` (strings or objects) from an error body."""
    if not isinstance(data, dict):
        return (str(data)[:200] if data else ""), ()
    errors = data.get("errors")
    return str(data.get("message") or ""), tuple(errors) if isinstance(errors, list) else ()


def _error_text(error: object) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or error)
    return str(error)


def decipher(status: int, headers: Mapping[str, str], data: Any, *, what: str, now: float) -> Any:
    """GitHub's answer -> its data, or the typed error it means (pure; raises).

    The one place an answer is classified: rate limits (429, or 403 with
    x-ratelimit-remaining 0, a retry-after or GitHub's "secondary rate limit"
    message) before permissions, because GitHub sends both as 403.
    """
    if status < 400:
        return data
    h = {k.lower(): v for k, v in headers.items()}
    message, errors = _detail(data)
    text = f"GitHub {what} failed: {status} {message}".strip()
    secondary = "secondary rate limit" in message.lower() or "retry-after" in h
    primary = h.get("x-ratelimit-remaining") == "0"
    if status == 429 or (status == 403 and (primary or secondary)):
        if "retry-after" in h:
            wait = _seconds(h["retry-after"])
        elif primary and not secondary:
            wait = max(0.0, _seconds(h.get("x-ratelimit-reset", "0")) - now)
        else:
            wait = SECONDARY_DEFAULT_WAIT
        raise RateLimitError(text, status=status, wait=wait, secondary=secondary or not primary)
    hint = _HINTS.get(status, "")
    if status == 422:
        shown = "; ".join(_error_text(e) for e in errors)
        raise ValidationFailedError(f"{text}: {shown}" if shown else text, hint=hint, errors=errors)
    if status == 404:
        raise NotFoundError(text, status=status, hint=hint)
    if status == 403:
        raise ForbiddenError(text, status=status, hint=hint)
    if status >= 500:
        raise ServerError(text, status=status, hint="GitHub kept failing after retries")
    raise GitHubError(text, status=status, hint=hint)


def _seconds(value: str) -> float:
    try:
        return max(0.0, float(value))
    except ValueError:
        return SECONDARY_DEFAULT_WAIT


def next_link(headers: Mapping[str, str]) -> str | None:
    """The rel="next" URL of a `Link` header, if there is one."""
    link = {k.lower(): v for k, v in headers.items()}.get("link", "")
    for match in _LINK.finditer(link):
        if "next" in match["rel"].split():
            return match["url"]
    return None


def _error(exc: Exception, what: str, now: float | None = None) -> GitHubError:
    """A PyGithub exception as the typed error `decipher` makes of it."""
    status = getattr(exc, "status", None) or 0
    try:
        decipher(status, getattr(exc, "headers", None) or {}, getattr(exc, "data", None),
                 what=what, now=time.time() if now is None else now)  # fmt: skip
    except GitHubError as error:
        return error
    return GitHubError(f"GitHub {what} failed: {status}", status=status or None)


def make_retry(total: int = 4, backoff: float = 1.0) -> Any:
    """Retry 5xx with exponential backoff, in urllib3; never a 4xx.

    Rate limits (403/429) are not retried here: `PyGithubAPI` waits them out by
    GitHub's headers through its injectable `sleep`, after `decipher`.
    """
    from requests.adapters import Retry  # urllib3's, as requests (a declared dependency) exports it

    return Retry(
        total=total,
        connect=total,
        read=total,
        status=total,
        backoff_factor=backoff,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=None,  # writes too, as PyGithub's own GithubRetry does
        respect_retry_after_header=False,
        raise_on_status=True,
    )


def app_installation_auth(
    repository: str,
    app_id: str,
    private_key: str,
    *,
    installation_id: int | None = None,
    base_url: str = "https://api.github.com",
    retry: Any = None,
) -> Any:
    """A PyGithub `AppInstallationAuth` for `repository`, its first token fetched.

    Fetching it here (not on the first API call) turns a wrong key, id or a
    missing installation into one clear error. PyGithub renews the token itself
    before it expires (installation tokens last an hour).
    """
    import requests
    from github import Auth, GithubException, GithubIntegration

    key_hint = (
        "set secrets.INFRA_BOT_APP_PRIVATE_KEY to the whole private key (.pem) "
        "generated on the App's settings page"
    )
    try:
        app_auth = Auth.AppAuth(app_id, private_key)
        app_auth.create_jwt()  # signs locally: a malformed key fails here
    except Exception as exc:  # PyJWT and cryptography raise many types
        # Only the type: a message could quote part of the key.
        raise GitHubError(
            f"the GitHub App private key cannot sign a JWT ({type(exc).__name__})",
            hint=key_hint,
        ) from None
    integration = GithubIntegration(
        auth=app_auth,
        base_url=base_url.rstrip("/"),
        retry=retry if retry is not None else make_retry(),
    )
    owner, _, name = repository.partition("/")
    step = "App installation lookup"
    try:
        if installation_id is None:
            installation_id = integration.get_repo_installation(owner, name).id
        step = "App installation token"
        auth = app_auth.get_installation_auth(installation_id, requester=integration.requester)
        auth.token  # noqa: B018 - fetch (and cache) the first token now
    except GithubException as exc:
        if exc.status == 404:
            raise GitHubError(
                f"GitHub {step} failed: the GitHub App {app_id} is not installed on "
                f"{repository} (or INFRA_BOT_APP_INSTALLATION_ID is wrong)",
                status=404,
                hint="install the App on this repository, or unset "
                "vars.INFRA_BOT_APP_ID to use GITHUB_TOKEN",
            ) from None
        if exc.status == 401:
            raise GitHubError(
                f"GitHub {step} failed: 401, GitHub rejected the App's JWT",
                status=401,
                hint="vars.INFRA_BOT_APP_ID must be the id of the App whose private key "
                "is in secrets.INFRA_BOT_APP_PRIVATE_KEY, and the runner's clock must be right",
            ) from None
        raise _error(exc, step) from None
    except requests.RequestException as exc:
        raise GitHubError(
            f"GitHub {step} failed: {exc.__class__.__name__}",
            hint="GitHub kept failing after retries; re-run the job later",
        ) from None
    return auth


GITHUB_ACTIONS_LOGIN = "github-actions[bot]"


def app_bot_login(
    app_id: str, private_key: str, *, base_url: str = "https://api.github.com", retry: Any = None
) -> str:
    """The login an App's installation writes as: `<app slug>[bot]` (GET /app, as the App)."""
    from github import Auth, GithubException, GithubIntegration

    integration = GithubIntegration(
        auth=Auth.AppAuth(app_id, private_key),
        base_url=base_url.rstrip("/"),
        retry=retry if retry is not None else make_retry(),
    )
    try:
        return f"{integration.get_app().slug}[bot]"
    except GithubException as exc:
        raise _error(exc, "reading the GitHub App's name") from None


class PyGithubAPI:
    def __init__(
        self,
        repository: str,
        token: str = "",
        *,
        auth: Any = None,
        base_url: str = "https://api.github.com",
        retry: Any = None,
        write_pause: float = 1.0,
        bot_login: str | Callable[[], str] = GITHUB_ACTIONS_LOGIN,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_rate_limit_wait: float = MAX_RATE_LIMIT_WAIT,
    ) -> None:
        """`token` is GITHUB_TOKEN; `auth` (a PyGithub Auth, e.g. from
        `app_installation_auth`) replaces it when given. `bot_login` is who the comments
        written with it are by (GITHUB_TOKEN's: github-actions[bot]), or how to find out
        (an App: app_bot_login), asked the first time it is needed. `sleep` and `clock`
        are how rate limits are waited out (tests pass the fake's clock)."""
        from github import Auth, Github

        self._repository = repository
        self._bot_login = bot_login
        if auth is None and token:
            auth = Auth.Token(token)
        # Github() builds a session; it does not touch the network.
        self._gh = Github(
            auth=auth,
            base_url=base_url.rstrip("/"),
            retry=retry if retry is not None else make_retry(),
            per_page=PER_PAGE,
            seconds_between_requests=None,
            # GitHub asks integrators to space out writes to avoid secondary limits.
            seconds_between_writes=write_pause or None,
            lazy=True,
        )
        self._repo_path = f"/repos/{repository}"
        self._default_branch: str | None = None
        self._sleep = sleep
        self._clock = clock
        self._max_wait = max_rate_limit_wait

    @property
    def bot_login(self) -> str:
        if callable(self._bot_login):
            self._bot_login = self._bot_login()
        return self._bot_login

    @property
    def repository(self) -> str:
        return self._repository

    # --- plumbing ---------------------------------------------------------
    def _call(
        self,
        verb: str,
        url: str,
        what: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        return self._request(verb, url, what, params=params, body=body, headers=headers)[1]

    def _request(
        self,
        verb: str,
        url: str,
        what: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[dict[str, str], Any]:
        """One API call; rate limits waited out by GitHub's headers, within bounds."""
        import requests
        from github import GithubException

        waited = 0.0
        for attempt in range(1, RATE_LIMIT_TRIES + 1):
            try:
                answer_headers, data = self._gh.requester.requestJsonAndCheck(
                    verb, url, parameters=params, headers=headers, input=body
                )
                return dict(answer_headers), data
            except GithubException as exc:
                error = _error(exc, what, self._clock())
            except requests.RequestException as exc:
                # Retries exhausted (5xx) or the network is down.
                reason = getattr(exc.args[0], "reason", None) if exc.args else None
                error = ServerError(
                    f"GitHub {what} failed: {reason or exc}",
                    hint="GitHub kept failing after retries; re-run the job later",
                )
            if not isinstance(error, RateLimitError) or attempt == RATE_LIMIT_TRIES:
                raise error
            if waited + error.wait > self._max_wait:
                raise error
            self._sleep(error.wait)
            waited += error.wait
        raise AssertionError("unreachable")  # pragma: no cover

    def _pages(
        self, url: str, what: str, params: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint: rel="next" links followed to the end."""
        query: dict[str, Any] | None = {**(params or {}), "per_page": PER_PAGE}
        next_url: str | None = url
        pages = 0
        while next_url is not None:
            pages += 1
            if pages > MAX_PAGES:
                raise GitHubError(
                    f"GitHub {what} failed: more than {MAX_PAGES} pages",
                    hint="GitHub kept answering rel=next; this is a bug on its side or ours",
                )
            headers, items = self._request("GET", next_url, what, params=query)
            yield from items
            # The next URL carries the whole query (GitHub's own cursor included).
            next_url, query = next_link(headers), None

    def _repo(self, path: str) -> str:
        return f"{self._repo_path}{path}"

    # --- repository -------------------------------------------------------
    def default_branch(self) -> str:
        if self._default_branch is None:
            data = self._call("GET", self._repo_path, "reading the repository")
            self._default_branch = str(data["default_branch"])
        return self._default_branch

    def read_file(self, path: str, ref: str) -> str | None:
        try:
            data = self._call(
                "GET",
                self._repo(f"/contents/{quote(path)}"),
                f"reading {path}",
                params={"ref": ref},
            )
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(data, dict) or data.get("type") != "file":
            return None
        return base64.b64decode(data.get("content", "")).decode("utf-8", errors="replace")

    def commit_time(self, sha: str) -> datetime:
        data = self._call("GET", self._repo(f"/git/commits/{sha}"), "reading a commit")
        return datetime.fromisoformat(data["committer"]["date"].replace("Z", "+00:00"))

    def permission(self, user: str) -> Permission:
        try:
            data = self._call(
                "GET",
                self._repo(f"/collaborators/{quote(user)}/permission"),
                "reading a collaborator permission",
            )
        except GitHubError as exc:
            if exc.status == 404:  # not a collaborator at all
                return Permission.NONE
            raise
        # role_name carries maintain/triage; permission is the legacy coarse value.
        return max(
            Permission.parse(data.get("role_name")), Permission.parse(data.get("permission"))
        )

    def team_members(self, org: str, team_slug: str) -> frozenset[str]:
        url = f"/orgs/{quote(org)}/teams/{quote(team_slug)}/members"
        try:
            return frozenset(m["login"].lower() for m in self._pages(url, "listing a team"))
        except GitHubError as exc:
            if exc.status in (403, 404):  # GITHUB_TOKEN cannot read teams: nobody matches
                return frozenset()
            raise

    # --- pull requests ----------------------------------------------------
    def pull_request(self, number: int) -> PullRequestInfo:
        return pr_from_json(self._call("GET", self._repo(f"/pulls/{number}"), "reading the PR"))

    def pull_request_files(self, number: int) -> list[ChangedFile]:
        """The PR's files; TooManyFilesError at GitHub's cap, where the list is incomplete."""
        files = [
            ChangedFile(
                f["filename"],
                f.get("status", "modified"),
                f.get("patch"),  # GitHub leaves it out for binary and large diffs
                f.get("previous_filename"),
            )
            for f in self._pages(self._repo(f"/pulls/{number}/files"), "listing PR files")
        ]
        if len(files) >= MAX_PR_FILES:
            raise TooManyFilesError(
                f"GitHub listed {len(files)} files of pull request #{number}: its cap, so "
                "the list may be incomplete",
                hint="the changed files must come from git (git diff --name-status "
                "base...head in a checkout), not from the pull request files API",
                files=tuple(files),
            )
        return files

    def pull_requests_for_commit(self, sha: str) -> list[PullRequestInfo]:
        items = self._call("GET", self._repo(f"/commits/{sha}/pulls"), "finding the PR")
        return [pr_from_json(item) for item in items]

    def open_pull_request(
        self, title: str, body: str, head: str, base: str, *, draft: bool = False
    ) -> OpenedPullRequest:
        data = self._call(
            "POST",
            self._repo("/pulls"),
            "opening a pull request",
            body={
                "title": title,
                "body": cap_body(body),
                "head": head,
                "base": base,
                "draft": draft,
            },
        )
        return OpenedPullRequest(int(data["number"]), str(data["html_url"]))

    def create_branch_with_files(
        self, base: str, branch: str, files: dict[str, str | None], message: str
    ) -> str:
        sha = self._commit_files(base, files, message, "reading the base")
        self._call(
            "POST",
            self._repo("/git/refs"),
            "creating the branch",
            body={"ref": f"refs/heads/{branch}", "sha": sha},
        )
        return sha

    def update_branch_with_files(
        self, branch: str, files: dict[str, str | None], message: str
    ) -> str:
        """One new commit on existing `branch` (used by bot.llm.revise; added by the LLM part)."""
        sha = self._commit_files(branch, files, message, "reading the branch")
        self._call(
            "PATCH", self._repo(f"/git/refs/heads/{quote(branch)}"), "moving the branch",
            body={"sha": sha, "force": False},
        )  # fmt: skip
        return sha

    def _commit_files(
        self, parent_branch: str, files: dict[str, str | None], message: str, reading: str
    ) -> str:
        """Write a commit on top of `parent_branch`'s head (no ref moved); its sha.

        A file whose text is None is deleted.
        """
        ref = self._call("GET", self._repo(f"/git/ref/heads/{quote(parent_branch)}"), reading)
        parent = ref["object"]["sha"]
        commit = self._call("GET", self._repo(f"/git/commits/{parent}"), reading)
        tree = [
            {"path": path, "mode": "100644", "type": "blob", "content": text}
            if text is not None
            else {"path": path, "mode": "100644", "type": "blob", "sha": None}
            for path, text in sorted(files.items())
        ]
        new_tree = self._call(
            "POST",
            self._repo("/git/trees"),
            "writing the tree",
            body={"base_tree": commit["tree"]["sha"], "tree": tree},
        )
        new_commit = self._call(
            "POST",
            self._repo("/git/commits"),
            "writing the commit",
            body={"message": message, "tree": new_tree["sha"], "parents": [parent]},
        )
        return str(new_commit["sha"])

    # --- issues -------------------------------------------------------------
    def list_open_issues(self, label: str) -> list[Issue]:
        # The issues endpoint lists pull requests too; they carry a `pull_request` key.
        params = {"labels": label, "state": "open", "sort": "created", "direction": "desc"}
        items = self._pages(self._repo("/issues"), "listing issues", params)
        return [issue_from_json(i) for i in items if "pull_request" not in i]

    def create_issue(self, title: str, body: str, labels: list[str]) -> Issue:
        data = self._call(
            "POST", self._repo("/issues"), "opening an issue",
            body={"title": title, "body": cap_body(body), "labels": labels},
        )  # fmt: skip
        return issue_from_json(data)

    def edit_issue(self, number: int, *, body: str | None = None, state: str | None = None) -> None:
        capped = cap_body(body) if body is not None else None
        changes = {k: v for k, v in (("body", capped), ("state", state)) if v is not None}
        if changes:
            self._call("PATCH", self._repo(f"/issues/{number}"), "editing an issue", body=changes)

    # --- issue comments and reactions -------------------------------------
    def list_issue_comments(self, number: int) -> list[Comment]:
        url = self._repo(f"/issues/{number}/comments")
        return [comment_from_json(c) for c in self._pages(url, "listing comments")]

    def create_issue_comment(self, number: int, body: str) -> Comment:
        data = self._call(
            "POST",
            self._repo(f"/issues/{number}/comments"),
            "posting a comment",
            body={"body": cap_body(body)},
        )
        return comment_from_json(data)

    def edit_issue_comment(self, comment_id: int, body: str) -> None:
        self._call(
            "PATCH",
            self._repo(f"/issues/comments/{comment_id}"),
            "editing a comment",
            body={"body": cap_body(body)},
        )

    def add_reaction(self, comment_id: int, reaction: Reaction) -> None:
        self._call(
            "POST",
            self._repo(f"/issues/comments/{comment_id}/reactions"),
            "reacting",
            body={"content": reaction.value},
        )

    # --- reviews ----------------------------------------------------------
    def list_reviews(self, number: int) -> list[Review]:
        url = self._repo(f"/pulls/{number}/reviews")
        return [
            Review(
                int(r["id"]),
                r.get("body") or "",
                _login(r),
                r.get("commit_id") or "",
                r.get("state", ""),
            )
            for r in self._pages(url, "listing reviews")
        ]

    def create_review(
        self, number: int, commit_sha: str, body: str, comments: list[InlineComment]
    ) -> Review:
        payload = {
            "commit_id": commit_sha,
            "body": cap_body(body),
            "event": "COMMENT",
            "comments": [
                {"path": c.path, "line": c.line, "side": "RIGHT", "body": cap_body(c.body)}
                for c in comments
            ],
        }
        data = self._call(
            "POST", self._repo(f"/pulls/{number}/reviews"), "posting a review", body=payload
        )
        return Review(
            int(data["id"]), data.get("body") or "", _login(data), commit_sha, data.get("state", "")
        )

    def edit_review(self, number: int, review_id: int, body: str) -> None:
        self._call(
            "PUT",
            self._repo(f"/pulls/{number}/reviews/{review_id}"),
            "editing a review",
            body={"body": cap_body(body)},
        )

    def list_review_comments(self, number: int) -> list[ReviewComment]:
        url = self._repo(f"/pulls/{number}/comments")
        return [
            ReviewComment(
                int(c["id"]),
                c.get("pull_request_review_id"),
                c["path"],
                c.get("line"),
                c.get("body") or "",
                _login(c),
                c.get("commit_id") or "",
            )
            for c in self._pages(url, "listing review comments")
        ]

    # --- statuses ---------------------------------------------------------
    def set_commit_status(
        self, sha: str, state: StatusState, context: str, description: str, target_url: str = ""
    ) -> None:
        body: dict[str, str] = {
            "state": state.value,
            "context": context,
            "description": description[:140],
        }
        if target_url:
            body["target_url"] = target_url
        self._call("POST", self._repo(f"/statuses/{sha}"), "setting the commit status", body=body)

    def commit_statuses(self, sha: str) -> list[CommitStatus]:
        data = self._call("GET", self._repo(f"/commits/{sha}/status"), "reading statuses")
        return [
            CommitStatus(
                s["context"], s["state"], s.get("description") or "", s.get("target_url") or ""
            )
            for s in data.get("statuses", [])
        ]

    # --- deployments --------------------------------------------------------
    def record_deployment(
        self,
        environment: str,
        sha: str,
        state: str,
        description: str,
        payload: dict[str, object] | None = None,
    ) -> int:
        # Raw calls like the rest of this adapter (one error mapping); the same requests
        # as PyGithub's create_deployment / create_status. auto_merge off and no required
        # contexts: the record must never merge the default branch or wait for checks.
        deployment = self._call(
            "POST", self._repo("/deployments"), "recording a deployment",
            body={"ref": sha, "environment": environment, "description": description[:140],
                  "auto_merge": False, "required_contexts": [], "task": "deploy",
                  "payload": payload or {}},
        )  # fmt: skip
        self._call(
            "POST", self._repo(f"/deployments/{deployment['id']}/statuses"),
            "recording a deployment status",
            body={"state": state, "description": description[:140], "environment": environment},
        )  # fmt: skip
        return int(deployment["id"])


def _login(data: dict[str, Any]) -> str:
    user = data.get("user") or {}
    return str(user.get("login", ""))


def comment_from_json(data: dict[str, Any]) -> Comment:
    user = data.get("user") or {}
    return Comment(
        int(data["id"]),
        data.get("body") or "",
        str(user.get("login", "")),
        user.get("type") == "Bot",
        data.get("html_url", ""),
        _time(data.get("created_at")),
        _time(data.get("updated_at") or data.get("created_at")),
    )


def _time(text: Any) -> datetime | None:
    """An API timestamp ("2026-12-01T16:00:00Z"), or None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def issue_from_json(data: dict[str, Any]) -> Issue:
    user = data.get("user") or {}
    return Issue(
        number=int(data["number"]),
        title=data.get("title") or "",
        body=data.get("body") or "",
        author=str(user.get("login", "")),
        author_is_bot=user.get("type") == "Bot",
        state=data.get("state", "open"),
        labels=tuple(str(lab.get("name", "")) for lab in data.get("labels") or []),
        html_url=data.get("html_url", ""),
    )


def pr_from_json(data: dict[str, Any]) -> PullRequestInfo:
    head, base = data.get("head") or {}, data.get("base") or {}
    head_repo = (head.get("repo") or {}).get("full_name", "")
    return PullRequestInfo(
        number=int(data["number"]),
        title=data.get("title") or "",
        author=_login(data),
        head_sha=head.get("sha", ""),
        head_ref=head.get("ref", ""),
        head_repo=head_repo,
        base_ref=base.get("ref", ""),
        base_repo=(base.get("repo") or {}).get("full_name", ""),
        state=data.get("state", "open"),
        merged=bool(data.get("merged") or data.get("merged_at")),
        draft=bool(data.get("draft")),
        html_url=data.get("html_url", ""),
    )

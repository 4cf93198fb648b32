"""A stateful fake of the GitHub REST API, served through `responses`.

One fake for every test that talks to GitHub (and for the local demo): PyGithub
(or plain `requests`) sends real HTTP requests to `http://127.0.0.1:<port>/api/v3`
(a GitHub Enterprise Server-shaped base URL), `responses` intercepts them, and
the fake answers from its in-memory state the way github.com does: ids, users,
timestamps, pagination, 404/422 errors. Every request is recorded, so tests can
count them.

    with FakeGitHub() as gh:
        gh.add_user("alice", permission="write")
        pr = gh.add_pull_request(files={"stacks/vpc.yaml": "..."}, author="alice")
        api = gh.client()                      # bot.github.pygithub_api.PyGithubAPI
        ...
        assert gh.count("POST", r"/pulls/\\d+/reviews$") == 1

Covered: repository, contents, collaborator permission, teams, issues and
issue comments, reactions, pull requests and their files, reviews and review
comments, commit statuses, check runs, git refs/commits/trees/blobs (enough to
open a PR from a new branch, or add a commit to one: a fast-forward ref update
moves the open PRs on that branch), deployments and deployment statuses, environments; a GitHub App
(`add_app`): its repository installation and installation tokens, which need
a JWT the app's key signed.
Error injection: `fail_next(method, path_regex, status, ...)`.

It refuses what GitHub refuses (tests/test_github_fidelity.py checks its answers
against GitHub's OpenAPI description and recorded responses in tests/octokit):
- bodies over 65,536 characters (PR, issue, comments, inline review comments,
  review bodies and review edits): 422 in GitHub's "Validation Failed" shape;
- tokens: every request needs a known token (`add_token`), and each token has
  permissions (GITHUB_TOKEN, a fork's read-only GITHUB_TOKEN, an App's
  installation token, a classic PAT's scopes): a write without the permission
  is 403, and GITHUB_TOKEN cannot read an org team (403);
- rate limits: x-ratelimit-* headers count down per token on every answer and
  run out (403, remaining 0, until x-ratelimit-reset); more than
  `secondary_writes_per_minute` writes in a minute is a secondary limit (403
  with retry-after). Time is the fake's clock (`time`, `advance`);
- reviews: an `event` outside GitHub's list or a `commit_id` that is not a commit
  of the PR is 422; no `event` leaves a PENDING review, as on GitHub;
- PR files: at most 3,000 listed, no `patch` for a diff over `max_patch_chars`;
- pagination: per_page capped at 100, `Link` with first/prev/next/last.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import requests
import responses

JSON = dict[str, Any]
Handler = Callable[..., tuple[int, Any]]
BASE_URL = "http://127.0.0.1:9/api/v3"
PAYLOADS = Path(__file__).parent / "github_payloads"
_T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # without the API prefix, e.g. /repos/acme/infra/pulls/1
    query: dict[str, str]
    body: Any
    status: int
    authorization: str = ""  # the request's Authorization header
    response: Any = None  # the JSON answered
    headers: dict[str, str] = field(default_factory=dict)  # the answer's headers


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: JSON
    headers: dict[str, str]
    times: int


@dataclass
class Repo:
    full_name: str
    default_branch: str = "main"
    private: bool = False
    refs: dict[str, str] = field(default_factory=dict)  # "heads/main" -> sha


# What a workflow's GITHUB_TOKEN gets from this repository's workflows' `permissions:`;
# a pull request from a fork gets the same names, read-only.
ACTIONS_PERMISSIONS = {
    "metadata": "read", "contents": "write", "pull_requests": "write", "issues": "write",
    "statuses": "write", "checks": "write", "deployments": "write", "actions": "read",
}  # fmt: skip
# An App installation can also be granted organization permissions (members: read
# is what resolving `teams:` in .github/infra-bot.yml needs).
APP_PERMISSIONS = {**ACTIONS_PERMISSIONS, "members": "read"}
LIMIT = 65_536  # characters, for every body GitHub stores
MAX_PR_FILES = 3_000
DOCS = "https://docs.github.com/rest"
_LEVEL = {"none": 0, "read": 1, "write": 2, "admin": 3}
_T0_EPOCH = _T0.timestamp()


@dataclass
class Token:
    """A credential the fake knows: what it may do and how much of its rate limit is used."""

    value: str
    kind: str  # "actions" (GITHUB_TOKEN) | "installation" (an App's) | "pat" (classic)
    permissions: dict[str, str]
    scopes: tuple[str, ...] = ()
    limit: int = 5_000
    used: int = 0
    reset: float = 0.0
    writes: list[float] = field(default_factory=list)  # times of recent writes


_INTERNAL = ("pull_number", "issue_number", "comment_id")  # the fake's bookkeeping


def _public(payload: Any) -> Any:
    """An answer without the keys the fake keeps for itself (GitHub has no such fields)."""
    if isinstance(payload, list):
        return [_public(x) for x in payload]
    if isinstance(payload, dict):
        return {k: v for k, v in payload.items() if k not in _INTERNAL}
    return payload


def _sha(*parts: str) -> str:
    return hashlib.sha1("\0".join(parts).encode(), usedforsecurity=False).hexdigest()


def right_side_lines(patch: str | None) -> set[int]:
    """Lines GitHub accepts review comments on (independent of the bot's parser)."""
    out: set[int] = set()
    line = None
    for raw in (patch or "").splitlines():
        if raw.startswith("@@"):
            m = re.search(r"\+(\d+)", raw)
            line = int(m.group(1)) if m else None
            continue
        if line is None or raw.startswith("-") or raw.startswith("\\"):
            continue
        out.add(line)
        line += 1
    return out


def make_patch(old: str | None, new: str | None) -> str | None:
    """A unified diff of the whole file as GitHub's `patch` field shows it."""
    import difflib

    if new is None:
        return None
    a = (old or "").splitlines()
    b = new.splitlines()
    lines = list(difflib.unified_diff(a, b, lineterm="", n=3))
    return "\n".join(lines[2:]) if lines else None


class FakeGitHub:
    def __init__(
        self,
        repo: str = "acme/infra",
        *,
        base_url: str = BASE_URL,
        default_branch: str = "main",
        bot_login: str = "github-actions[bot]",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._prefix = urlsplit(self.base_url).path
        self.bot_login = bot_login
        self.repos: dict[str, Repo] = {}
        self.repo = self.add_repo(repo, default_branch)
        self.users: dict[str, JSON] = {}
        self.permissions: dict[tuple[str, str], str] = {}  # (repo, login) -> role
        self.teams: dict[tuple[str, str], set[str]] = {}
        self.issues: dict[int, JSON] = {}
        self.pulls: dict[int, JSON] = {}
        self.pull_files: dict[int, list[JSON]] = {}
        self.comments: dict[int, JSON] = {}
        self.reactions: list[JSON] = []
        self.reviews: dict[int, JSON] = {}
        self.review_comments: dict[int, JSON] = {}
        self.statuses: dict[str, list[JSON]] = {}
        self.check_runs: dict[int, JSON] = {}
        self.commits: dict[str, JSON] = {}
        self.trees: dict[str, dict[str, str]] = {}  # tree sha -> path -> blob sha
        self.blobs: dict[str, str] = {}
        self.deployments: dict[int, JSON] = {}
        self.deployment_statuses: dict[int, list[JSON]] = {}
        self.environments: dict[str, JSON] = {}
        self.requests: list[Recorded] = []
        self.waits: list[float] = []  # every advance() of the clock, e.g. by the adapter
        self.app_id: str | None = None
        self.app_public_key: str | None = None
        self.installations: dict[str, int] = {}  # repository -> installation id
        self.installation_tokens: list[str] = []
        self._failures: list[_Failure] = []
        self.tokens: dict[str, Token] = {}
        self.time = _T0_EPOCH  # the fake's clock (epoch seconds), for rate limits
        self.secondary_writes_per_minute = 80  # GitHub's documented content-creation limit
        self.rate_limited_status = 403  # GitHub answers 403 or 429 when the limit is gone
        self.max_patch_chars = 100_000  # over this a file's `patch` is left out
        self.add_token("ghs_test", kind="actions")
        self._ids = itertools.count(1001)
        self._numbers = itertools.count(1)
        self._clock = itertools.count(1)
        self._mock: responses.RequestsMock | None = None
        self.add_user(bot_login, permission="write", bot=True)
        self.commit_files({}, message="initial commit")

    # --- lifecycle ----------------------------------------------------------
    def __enter__(self) -> FakeGitHub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        self._mock.start()
        pattern = re.compile(re.escape(self.base_url) + r"/.*")
        for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            self._mock.add_callback(method, pattern, callback=self._dispatch)

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock.reset()
            self._mock = None

    def client(self, *, retries: int = 3, token: str = "ghs_test") -> Any:
        """The bot's real adapter, pointed at this fake, without pauses between calls.

        Its rate-limit waits advance the fake's clock instead of sleeping.
        """
        from bot.github.pygithub_api import PyGithubAPI, make_retry

        return PyGithubAPI(
            self.repo.full_name, token, base_url=self.base_url,
            retry=make_retry(total=retries, backoff=0), write_pause=0,
            sleep=self.advance, clock=lambda: self.time,
        )  # fmt: skip

    def advance(self, seconds: float) -> None:
        """Move the fake's clock (rate-limit windows) forward."""
        self.waits.append(seconds)
        self.time += seconds

    def environ(self, event_name: str, event_path: str, **extra: str) -> dict[str, str]:
        """The Actions environment a workflow run against this fake would see."""
        # Every variable Settings reads is set, so a test run inside a real
        # Actions job never picks up that job's summary file or workspace.
        env = {
            "GITHUB_STEP_SUMMARY": "",
            "GITHUB_OUTPUT": "",
            "GITHUB_WORKSPACE": "",
            "RUNNER_TEMP": "",
            "GITHUB_SHA": "",
            "GITHUB_REF": "",
            "GITHUB_ACTOR": "",
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": event_path,
            "GITHUB_API_URL": self.base_url,
            "GITHUB_SERVER_URL": "http://127.0.0.1:9",
            "GITHUB_REPOSITORY": self.repo.full_name,
            "GITHUB_TOKEN": "ghs_test",
            "GITHUB_RUN_ID": "4242",
            "INFRA_BOT_WRITE_PAUSE": "0",
            "INFRA_BOT_RETRY_BACKOFF": "0",
        }
        env.update(extra)
        if env["GITHUB_TOKEN"] and env["GITHUB_TOKEN"] not in self.tokens:
            self.add_token(env["GITHUB_TOKEN"], kind="actions")  # the job's token is valid
        return env

    # --- state setup ----------------------------------------------------------
    def now(self) -> str:
        return (_T0 + timedelta(minutes=next(self._clock))).strftime("%Y-%m-%dT%H:%M:%SZ")

    def add_repo(self, full_name: str, default_branch: str = "main") -> Repo:
        repo = Repo(full_name, default_branch)
        self.repos[full_name] = repo
        return repo

    def add_user(self, login: str, *, permission: str | None = None, bot: bool = False) -> JSON:
        user = {"login": login, "id": next(self._ids), "type": "Bot" if bot else "User",
                "html_url": f"http://127.0.0.1:9/{login}"}  # fmt: skip
        self.users[login] = user
        if permission:
            self.permissions[(self.repo.full_name, login)] = permission
        return user

    def add_team(self, org: str, slug: str, members: list[str]) -> None:
        self.teams[(org, slug)] = set(members)

    def add_token(
        self,
        value: str,
        *,
        kind: str = "actions",
        permissions: dict[str, str] | None = None,
        scopes: tuple[str, ...] = (),
        limit: int | None = None,
    ) -> Token:
        """A token the fake accepts. `kind` "actions" is GITHUB_TOKEN (1,000 requests
        an hour per repository), "fork" a fork PR's read-only GITHUB_TOKEN,
        "installation" an App's token (5,000), "pat" a classic token with `scopes`."""
        if permissions is None:
            permissions = {
                "actions": ACTIONS_PERMISSIONS,
                "fork": {k: "read" for k in ACTIONS_PERMISSIONS},
                "installation": APP_PERMISSIONS,
            }.get(kind, {})
        if kind == "pat":
            permissions = self._scope_permissions(scopes)
        default_limit = 1_000 if kind in ("actions", "fork") else 5_000
        token = Token(value, kind, dict(permissions), scopes,
                      limit if limit is not None else default_limit)  # fmt: skip
        self.tokens[value] = token
        return token

    @staticmethod
    def _scope_permissions(scopes: tuple[str, ...]) -> dict[str, str]:
        out = {"metadata": "read"}
        if "repo" in scopes:
            out.update({k: "write" for k in ACTIONS_PERMISSIONS if k != "metadata"})
            out["administration"] = "write"
        if {"read:org", "admin:org"} & set(scopes):
            out["members"] = "read"
        return out

    def add_app(self, app_id: int, public_key_pem: str, *, installed: bool = True,
                slug: str | None = None) -> int:  # fmt: skip
        """A GitHub App (JWTs are checked with `public_key_pem`); its installation id.
        With `slug`, what the bot writes is by `<slug>[bot]`, as for an App on GitHub."""
        self.app_id, self.app_public_key = str(app_id), public_key_pem
        if slug is not None:
            self.bot_login = f"{slug}[bot]"
            self.add_user(self.bot_login, permission="write", bot=True)
        installation = next(self._ids)
        if installed:
            self.installations[self.repo.full_name] = installation
        return installation

    def _user(self, login: str) -> JSON:
        return self.users.get(login) or self.add_user(login)

    def commit_files(
        self,
        files: dict[str, str | None],
        *,
        branch: str | None = None,
        message: str = "change",
        date: str | None = None,
        repo: Repo | None = None,
    ) -> str:
        """Commit on `branch` (created off the default branch if new); returns the sha."""
        repo = repo or self.repo
        branch = branch or repo.default_branch
        parent = repo.refs.get(f"heads/{branch}") or repo.refs.get(f"heads/{repo.default_branch}")
        tree = dict(self.trees[self.commits[parent]["tree"]]) if parent else {}
        for path, text in files.items():
            if text is None:
                tree.pop(path, None)
            else:
                tree[path] = self._blob(text)
        sha = self._commit(tree, [parent] if parent else [], message, date)
        repo.refs[f"heads/{branch}"] = sha
        return sha

    def _blob(self, text: str) -> str:
        sha = _sha("blob", text)
        self.blobs[sha] = text
        return sha

    def _commit(self, tree: dict[str, str], parents: list[str], message: str,
                date: str | None = None) -> str:  # fmt: skip
        tree_sha = _sha("tree", *sorted(f"{p}:{b}" for p, b in tree.items()))
        self.trees[tree_sha] = tree
        when = date or self.now()
        sha = _sha("commit", tree_sha, *parents, message, when)
        self.commits[sha] = {
            "sha": sha, "tree": tree_sha, "parents": parents, "message": message,
            "date": when,
        }  # fmt: skip
        return sha

    def file_at(self, ref: str, path: str) -> str | None:
        sha = self._resolve(ref)
        if sha is None:
            return None
        blob = self.trees[self.commits[sha]["tree"]].get(path)
        return self.blobs[blob] if blob else None

    def _resolve(self, ref: str, repo: Repo | None = None) -> str | None:
        repo = repo or self.repo
        if ref in self.commits:
            return ref
        return repo.refs.get(f"heads/{ref}") or repo.refs.get(ref.removeprefix("refs/"))

    def add_issue(self, *, title: str = "An issue", body: str = "", author: str = "alice",
                  labels: tuple[str, ...] = ()) -> JSON:  # fmt: skip
        number = next(self._numbers)
        issue = {
            "number": number, "title": title, "body": body, "user": self._user(author),
            "state": "open", "labels": [{"name": n} for n in labels], "created_at": self.now(),
            "html_url": f"http://127.0.0.1:9/{self.repo.full_name}/issues/{number}",
        }  # fmt: skip
        self.issues[number] = issue
        return issue

    def add_pull_request(
        self,
        files: dict[str, str | None],
        *,
        title: str = "Change infrastructure",
        author: str = "alice",
        branch: str = "feature",
        fork: str | None = None,
        draft: bool = False,
        body: str = "",
        date: str | None = None,
    ) -> JSON:
        """A PR whose head commit changes `files` on top of the default branch."""
        head_repo = self.repos.get(fork or "") or (
            self.add_repo(fork, self.repo.default_branch) if fork else self.repo
        )
        if fork:
            head_repo.refs.setdefault(
                f"heads/{branch}", self.repo.refs[f"heads/{self.repo.default_branch}"]
            )
        base_sha = self.repo.refs[f"heads/{self.repo.default_branch}"]
        old = {p: self.file_at(base_sha, p) for p in files}
        head = self.commit_files(files, branch=branch, message=title, date=date, repo=head_repo)
        issue = self.add_issue(title=title, body=body, author=author)
        number = issue["number"]
        issue["pull_request"] = {
            "url": f"{self.base_url}/repos/{self.repo.full_name}/pulls/{number}"
        }
        pr = {
            "number": number, "title": title, "body": body, "state": "open", "draft": draft,
            "merged": False, "merged_at": None, "user": self._user(author),
            "html_url": f"http://127.0.0.1:9/{self.repo.full_name}/pull/{number}",
            "head": {"ref": branch, "sha": head, "repo": self._repo_json(head_repo)},
            "base": {"ref": self.repo.default_branch, "sha": base_sha,
                     "repo": self._repo_json(self.repo)},
        }  # fmt: skip
        self.pulls[number] = pr
        self.pull_files[number] = [self._file_json(p, old[p], t) for p, t in files.items()]
        return pr

    def push_to_pull_request(self, number: int, files: dict[str, str | None],
                             *, date: str | None = None) -> str:  # fmt: skip
        """A new head commit on the PR branch (a `synchronize`)."""
        pr = self.pulls[number]
        repo = self.repos[pr["head"]["repo"]["full_name"]]
        head = self.commit_files(files, branch=pr["head"]["ref"], date=date, repo=repo)
        pr["head"]["sha"] = head
        by_path = {f["filename"]: f for f in self.pull_files[number]}
        base_sha = pr["base"]["sha"]
        for path in files:
            by_path[path] = self._file_json(
                path, self.file_at(base_sha, path), self.file_at(head, path)
            )
        self.pull_files[number] = list(by_path.values())
        return head

    def merge_pull_request(self, number: int, *, message: str | None = None) -> str:
        """Merge like the "Create a merge commit" button; returns the merge commit sha."""
        pr = self.pulls[number]
        base_ref = f"heads/{pr['base']['ref']}"
        base_sha = self.repo.refs[base_ref]
        head_sha = pr["head"]["sha"]
        tree = dict(self.trees[self.commits[base_sha]["tree"]])
        for f in self.pull_files[number]:
            text = self.file_at(head_sha, f["filename"])
            if text is None:
                tree.pop(f["filename"], None)
            else:
                tree[f["filename"]] = self._blob(text)
        title = message or f"Merge pull request #{number} from {pr['head']['ref']}"
        sha = self._commit(tree, [base_sha, head_sha], title)
        self.repo.refs[base_ref] = sha
        pr.update({"state": "closed", "merged": True, "merged_at": self.now(),
                   "merge_commit_sha": sha})  # fmt: skip
        self.issues[number]["state"] = "closed"
        return sha

    def _file_json(self, path: str, old: str | None, new: str | None) -> JSON:
        status = "removed" if new is None else ("added" if old is None else "modified")
        patch = make_patch(old, new if new is not None else "")
        lines = (patch or "").splitlines()[1:]
        additions = sum(1 for x in lines if x.startswith("+"))
        deletions = sum(1 for x in lines if x.startswith("-"))
        out: JSON = {
            "sha": _sha("blob", new or ""), "filename": path, "status": status,
            "additions": additions, "deletions": deletions, "changes": additions + deletions,
            "blob_url": f"http://127.0.0.1:9/{self.repo.full_name}/blob/x/{path}",
            "raw_url": f"http://127.0.0.1:9/{self.repo.full_name}/raw/x/{path}",
            "contents_url": f"{self.base_url}/repos/{self.repo.full_name}/contents/{path}",
        }  # fmt: skip
        # GitHub leaves `patch` out (the key, not null) when there is no text diff
        # or the diff is too large to show.
        if patch and len(patch) <= self.max_patch_chars:
            out["patch"] = patch
        return out

    def _repo_json(self, repo: Repo) -> JSON:
        owner = repo.full_name.split("/")[0]
        return {
            "id": abs(hash(repo.full_name)) % 10**8, "full_name": repo.full_name,
            "name": repo.full_name.split("/")[1], "private": repo.private,
            "default_branch": repo.default_branch, "fork": repo is not self.repo,
            "owner": {"login": owner, "type": "Organization"},
            "url": f"{self.base_url}/repos/{repo.full_name}",
        }  # fmt: skip

    def add_comment(self, number: int, body: str, *, author: str = "alice") -> JSON:
        comment = {
            "id": next(self._ids), "body": body, "user": self._user(author),
            "created_at": self.now(), "updated_at": None,
            "html_url": f"http://127.0.0.1:9/{self.repo.full_name}/issues/{number}#c",
            "issue_number": number,
        }  # fmt: skip
        comment["updated_at"] = comment["created_at"]
        self.comments[comment["id"]] = comment
        return comment

    # --- webhook payloads (the files in tests/github_payloads, filled from this state)
    def payload(self, name: str) -> JSON:
        data: JSON = json.loads((PAYLOADS / f"{name}.json").read_text())
        for key in ("repository",):
            if key in data:
                data[key].update(self._repo_json(self.repo))
        return data

    def comment_event(self, comment: JSON, *, action: str = "created") -> JSON:
        number = comment["issue_number"]
        is_pr = number in self.pulls
        data = self.payload("issue_comment.created.pr" if is_pr else "issue_comment.created")
        data["action"] = action
        data["comment"].update({k: comment[k] for k in ("id", "body", "user", "html_url")})
        issue = self.issues[number]
        data["issue"].update({"number": number, "title": issue["title"], "user": issue["user"]})
        data["sender"] = comment["user"]
        return data

    def pull_request_event(self, number: int, action: str = "opened") -> JSON:
        name = f"pull_request.{action}"
        data = self.payload(name if (PAYLOADS / f"{name}.json").exists() else "pull_request.opened")
        data["action"] = action
        data["number"] = number
        data["pull_request"].update(json.loads(json.dumps(self.pulls[number])))
        return data

    def review_event(self, number: int, body: str, *, author: str = "alice") -> JSON:
        data = self.payload("pull_request_review.submitted")
        pr = json.loads(json.dumps(self.pulls[number]))
        data["pull_request"].update(pr)
        data["review"].update({"body": body, "user": self._user(author),
                               "commit_id": pr["head"]["sha"]})  # fmt: skip
        data["sender"] = self._user(author)
        return data

    def push_event(self, *, branch: str | None = None, pusher: str = "alice") -> JSON:
        data = self.payload("push")
        branch = branch or self.repo.default_branch
        after = self.repo.refs[f"heads/{branch}"]
        data.update({"ref": f"refs/heads/{branch}", "after": after,
                     "before": self.commits[after]["parents"][0] if self.commits[after]["parents"]
                     else "0" * 40, "pusher": {"name": pusher}})  # fmt: skip
        data["head_commit"]["id"] = after
        return data

    def dispatch_event(self, inputs: dict[str, str], *, actor: str = "alice") -> JSON:
        data = self.payload("workflow_dispatch")
        data["inputs"] = dict(inputs)
        data["sender"] = self._user(actor)
        return data

    def schedule_event(self) -> JSON:
        return self.payload("schedule")

    # --- queries for assertions ---------------------------------------------------
    def comments_on(self, number: int) -> list[JSON]:
        return [c for c in self.comments.values() if c["issue_number"] == number]

    def reactions_on(self, comment_id: int) -> list[str]:
        return [r["content"] for r in self.reactions if r["comment_id"] == comment_id]

    def reviews_on(self, number: int) -> list[JSON]:
        return [r for r in self.reviews.values() if r["pull_number"] == number]

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return sum(
            1 for r in self.requests
            if (method is None or r.method == method) and (path is None or re.search(path, r.path))
        )  # fmt: skip

    def request_summary(self) -> list[str]:
        """`METHOD /path` of each request, ids replaced, for readable tables."""
        out = []
        for r in self.requests:
            shown = re.sub(
                r"/[0-9a-f]{40}", "/{sha}", r.path.replace(f"/repos/{self.repo.full_name}", "")
            )
            shown = re.sub(r"/\d+", "/{n}", shown)
            out.append(f"{r.method} {shown}")
        return out

    def fail_next(
        self,
        method: str,
        path: str,
        status: int,
        *,
        message: str = "injected failure",
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        self._failures.append(_Failure(method, re.compile(path), status, {"message": message},
                                       headers or {}, times))  # fmt: skip

    # --- HTTP -------------------------------------------------------------------
    def _dispatch(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        url = urlsplit(request.url or "")
        path = unquote(url.path.removeprefix(self._prefix))
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        raw = request.body
        if isinstance(raw, bytes):
            raw = raw.decode()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        method = request.method or "GET"
        status, payload, headers = self._answer(method, path, query, body, request)
        if status >= 400 and isinstance(payload, dict):
            payload = {**payload, "documentation_url": payload.get("documentation_url", DOCS)}
        auth = request.headers.get("Authorization") or ""
        headers = {"Content-Type": "application/json; charset=utf-8", **headers}
        answer = _public(payload)
        self.requests.append(Recorded(method, path, query, body, status, auth, answer, headers))
        return status, headers, json.dumps(answer)

    def _answer(
        self, method: str, path: str, query: dict[str, str], body: Any,
        request: requests.PreparedRequest,
    ) -> tuple[int, Any, dict[str, str]]:  # fmt: skip
        for failure in self._failures:
            if failure.times > 0 and failure.method == method and failure.pattern.search(path):
                failure.times -= 1
                return failure.status, failure.body, failure.headers
        authorization = request.headers.get("Authorization") or ""
        if not authorization.startswith(("token ", "Bearer ")):
            return 401, {"message": "Requires authentication"}, {}
        app = self._app_answer(method, path, authorization)
        if app is not None:
            return app[0], app[1], {}
        token = self.tokens.get(authorization.split(" ", 1)[1].strip())
        if token is None:
            return 401, {"message": "Bad credentials"}, {}
        limited = self._rate_limit(token, method)
        if limited is not None:
            return limited
        for verb, pattern, handler, needs in self._routes():
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                headers = {**self._limit_headers(token),
                           "X-Accepted-GitHub-Permissions": needs.replace(":", "=")}  # fmt: skip
                if not self._may(token, needs):
                    return 403, {"message": self._refusal(token)}, headers
                status, payload = handler(query=query, body=body, **match.groupdict())
                if isinstance(payload, list) and method == "GET":
                    status, payload, links = self._paginate(status, payload, query, path)
                    headers.update(links)
                return status, payload, headers
        return 404, {"message": "Not Found"}, self._limit_headers(token)

    # --- tokens and rate limits ---------------------------------------------------
    @staticmethod
    def _may(token: Token, needs: str) -> bool:
        name, _, level = needs.partition(":")
        return _LEVEL[token.permissions.get(name, "none")] >= _LEVEL[level]

    @staticmethod
    def _refusal(token: Token) -> str:
        if token.kind == "pat":
            return "Resource not accessible by personal access token"
        return "Resource not accessible by integration"

    def _limit_headers(self, token: Token) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(token.limit),
            "X-RateLimit-Remaining": str(max(0, token.limit - token.used)),
            "X-RateLimit-Reset": str(int(token.reset)),
            "X-RateLimit-Used": str(token.used),
            "X-RateLimit-Resource": "core",
        }

    def _rate_limit(self, token: Token, method: str) -> tuple[int, Any, dict[str, str]] | None:
        """Count the request against `token`; the refusal if a limit is reached."""
        if self.time >= token.reset:  # a new hour: the window starts at the first request
            token.used, token.reset = 0, self.time + 3600
        if token.used >= token.limit:
            message = f"API rate limit exceeded for {token.kind} token."
            return self.rate_limited_status, {"message": message}, self._limit_headers(token)
        if method != "GET":
            token.writes = [t for t in token.writes if t > self.time - 60]
            if len(token.writes) >= self.secondary_writes_per_minute:
                wait = int(token.writes[0] + 60 - self.time) + 1
                message = ("You have exceeded a secondary rate limit. Please wait a few "
                           "minutes before you try again.")  # fmt: skip
                return 403, {"message": message}, {**self._limit_headers(token),
                                                   "Retry-After": str(wait)}  # fmt: skip
            token.writes.append(self.time)
        token.used += 1
        return None

    def _paginate(self, status: int, items: list[Any], query: dict[str, str],
                  path: str) -> tuple[int, Any, dict[str, str]]:  # fmt: skip
        """One page, and GitHub's `Link` header (every other query parameter kept)."""
        per_page = min(100, max(1, int(query.get("per_page", 30))))
        page = max(1, int(query.get("page", 1)))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        keep = {k: v for k, v in query.items() if k not in ("page", "per_page")}

        def link(n: int, rel: str) -> str:
            q = urlencode({**keep, "per_page": per_page, "page": n})
            return f'<{self.base_url}{path}?{q}>; rel="{rel}"'

        rels = []
        if page > 1:
            rels += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            rels += [link(page + 1, "next"), link(last, "last")]
        return status, chunk, ({"Link": ", ".join(rels)} if rels else {})

    def _routes(self) -> Iterator[tuple[str, str, Handler, str]]:
        """(method, path pattern, handler, the token permission it needs)."""
        r = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
        n = r"(?P<number>\d+)"
        yield "GET", r, self._get_repo, "metadata:read"
        yield "GET", r + r"/contents/(?P<path>.+)", self._get_contents, "contents:read"
        yield ("GET", r + r"/collaborators/(?P<login>[^/]+)/permission", self._get_permission,
               "metadata:read")  # fmt: skip
        yield ("GET", r"/orgs/(?P<org>[^/]+)/teams/(?P<slug>[^/]+)/members", self._get_team,
               "members:read")  # fmt: skip
        yield "GET", r + r"/issues", self._list_issues, "issues:read"
        yield "POST", r + r"/issues", self._create_issue, "issues:write"
        yield "GET", r + rf"/issues/{n}", self._get_issue, "issues:read"
        yield "PATCH", r + rf"/issues/{n}", self._patch_issue, "issues:write"
        yield "GET", r + rf"/issues/{n}/comments", self._list_comments, "issues:read"
        yield "POST", r + rf"/issues/{n}/comments", self._create_comment, "issues:write"
        yield "PATCH", r + r"/issues/comments/(?P<cid>\d+)", self._edit_comment, "issues:write"
        yield ("GET", r + r"/issues/comments/(?P<cid>\d+)/reactions", self._list_reactions,
               "issues:read")  # fmt: skip
        yield "POST", r + r"/issues/comments/(?P<cid>\d+)/reactions", self._react, "issues:write"
        yield "GET", r + rf"/pulls/{n}", self._get_pull, "pull_requests:read"
        yield "POST", r + r"/pulls", self._create_pull, "pull_requests:write"
        yield "GET", r + rf"/pulls/{n}/files", self._list_files, "pull_requests:read"
        yield "PUT", r + rf"/pulls/{n}/merge", self._merge, "contents:write"
        yield "GET", r + rf"/pulls/{n}/reviews", self._list_reviews, "pull_requests:read"
        yield "POST", r + rf"/pulls/{n}/reviews", self._create_review, "pull_requests:write"
        yield ("PUT", r + rf"/pulls/{n}/reviews/(?P<rid>\d+)", self._edit_review,
               "pull_requests:write")  # fmt: skip
        yield "GET", r + rf"/pulls/{n}/comments", self._list_review_comments, "pull_requests:read"
        yield ("GET", r + r"/commits/(?P<sha>[0-9a-f]{40})/pulls", self._pulls_for_commit,
               "pull_requests:read")  # fmt: skip
        yield "POST", r + r"/statuses/(?P<sha>[0-9a-f]{40})", self._create_status, "statuses:write"
        yield "GET", r + r"/commits/(?P<ref>[^/]+)/status", self._combined_status, "statuses:read"
        yield "GET", r + r"/commits/(?P<ref>[^/]+)/statuses", self._list_statuses, "statuses:read"
        yield "POST", r + r"/check-runs", self._create_check_run, "checks:write"
        yield "PATCH", r + r"/check-runs/(?P<cid>\d+)", self._update_check_run, "checks:write"
        yield ("GET", r + r"/commits/(?P<ref>[^/]+)/check-runs", self._list_check_runs,
               "checks:read")  # fmt: skip
        yield "GET", r + r"/branches/(?P<branch>.+)", self._get_branch, "contents:read"
        yield "GET", r + r"/git/ref/(?P<ref>.+)", self._get_ref, "contents:read"
        yield "POST", r + r"/git/refs", self._create_ref, "contents:write"
        yield "PATCH", r + r"/git/refs/(?P<ref>.+)", self._update_ref, "contents:write"
        yield "GET", r + r"/git/commits/(?P<sha>[0-9a-f]{40})", self._get_commit, "contents:read"
        yield "POST", r + r"/git/commits", self._create_commit, "contents:write"
        yield "POST", r + r"/git/trees", self._create_tree, "contents:write"
        yield "POST", r + r"/git/blobs", self._create_blob, "contents:write"
        yield "GET", r + r"/deployments", self._list_deployments, "deployments:read"
        yield "POST", r + r"/deployments", self._create_deployment, "deployments:write"
        yield ("GET", r + r"/deployments/(?P<did>\d+)/statuses", self._list_deployment_statuses,
               "deployments:read")  # fmt: skip
        yield ("POST", r + r"/deployments/(?P<did>\d+)/statuses",
               self._create_deployment_status, "deployments:write")  # fmt: skip
        yield "GET", r + r"/environments", self._list_environments, "actions:read"
        yield "GET", r + r"/environments/(?P<env>[^/]+)", self._get_environment, "actions:read"
        yield ("PUT", r + r"/environments/(?P<env>[^/]+)", self._put_environment,
               "administration:write")  # fmt: skip

    # --- GitHub App -------------------------------------------------------------
    def _app_answer(self, method: str, path: str, authorization: str) -> tuple[int, Any] | None:
        """The two App endpoints; both take only `Bearer <JWT>` signed by the App."""
        repo = re.fullmatch(r"/repos/([^/]+/[^/]+)/installation", path)
        tokens = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        itself = method == "GET" and path == "/app"
        if not ((method == "GET" and repo) or (method == "POST" and tokens) or itself):
            return None
        import jwt

        bad = 401, {"message": "A JSON web token could not be decoded"}
        if not authorization.startswith("Bearer ") or self.app_public_key is None:
            return bad
        try:
            claims = jwt.decode(
                authorization.removeprefix("Bearer "), self.app_public_key, algorithms=["RS256"]
            )
        except jwt.PyJWTError:
            return bad
        if str(claims.get("iss")) != self.app_id:
            return 401, {"message": "Integration not found"}
        if itself:
            slug = self.bot_login.removesuffix("[bot]")
            return 200, {"id": int(self.app_id), "slug": slug, "name": slug}
        if repo:
            installation = self.installations.get(repo[1])
            if installation is None:
                return 404, {"message": "Not Found"}
            return 200, {"id": installation, "app_id": int(self.app_id),
                         "target_type": "Organization", "repository_selection": "selected"}  # fmt: skip
        if tokens is None or int(tokens[1]) not in self.installations.values():
            return 404, {"message": "Not Found"}
        token = f"ghs_installation{next(self._ids)}"
        self.installation_tokens.append(token)
        self.add_token(token, kind="installation")
        expires = datetime.now(UTC) + timedelta(hours=1)  # PyGithub compares with the clock
        return 201, {"token": token, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "permissions": dict(APP_PERMISSIONS)}  # fmt: skip

    # --- handlers -------------------------------------------------------------
    @staticmethod
    def _invalid(resource: str, field: str, code: str, message: str = "") -> tuple[int, Any]:
        """422 in GitHub's "Validation Failed" shape (as the recorded fixtures show it)."""
        error: JSON = {"resource": resource, "code": code, "field": field}
        if message:
            error["message"] = message
        return 422, {"message": "Validation Failed", "errors": [error]}

    def _too_long(self, resource: str, text: Any, field: str = "body",
                  *, simple: bool = False) -> tuple[int, Any] | None:  # fmt: skip
        """422 for a text over GitHub's limit. `simple`: the reviews endpoints answer
        "Validation Error Simple" (errors as strings), the others objects."""
        if not (isinstance(text, str) and len(text) > LIMIT):
            return None
        message = f"{field} is too long (maximum is {LIMIT} characters)"
        if simple:
            return 422, {"message": "Unprocessable Entity", "errors": [message.capitalize()]}
        return self._invalid(resource, field, "custom", message)

    def _repo_of(self, owner: str, name: str) -> Repo | None:
        return self.repos.get(f"{owner}/{name}")

    def _get_repo(self, owner: str, name: str, **_: Any) -> tuple[int, Any]:
        repo = self._repo_of(owner, name)
        return (200, self._repo_json(repo)) if repo else (404, {"message": "Not Found"})

    def _get_contents(self, owner: str, name: str, path: str, query: dict[str, str],
                      **_: Any) -> tuple[int, Any]:  # fmt: skip
        repo = self._repo_of(owner, name)
        if repo is None:
            return 404, {"message": "Not Found"}
        sha = self._resolve(query.get("ref") or repo.default_branch, repo)
        text = None
        if sha:
            blob = self.trees[self.commits[sha]["tree"]].get(path)
            text = self.blobs.get(blob) if blob else None
        if text is None:
            return 404, {"message": "Not Found"}
        return 200, {
            "type": "file", "encoding": "base64", "path": path,
            "name": path.rsplit("/", maxsplit=1)[-1],
            "sha": _sha("blob", text), "size": len(text.encode()),
            "content": base64.b64encode(text.encode()).decode(),
        }  # fmt: skip

    def _get_permission(self, owner: str, name: str, login: str, **_: Any) -> tuple[int, Any]:
        repo = self._repo_of(owner, name)
        if repo is None or login not in self.users:
            return 404, {"message": f"{login} is not a user"}
        # Anyone can read a public repository; nobody else can read a private one.
        role = self.permissions.get((repo.full_name, login)) or ("none" if repo.private else "read")
        legacy = {"maintain": "write", "triage": "read"}.get(role, role)
        return 200, {"permission": legacy, "role_name": role, "user": self._user(login)}

    def _get_team(self, org: str, slug: str, **_: Any) -> tuple[int, Any]:
        members = self.teams.get((org, slug))
        if members is None:
            return 404, {"message": "Not Found"}
        return 200, [self._user(m) for m in sorted(members)]

    def _list_issues(self, query: dict[str, str], **_: Any) -> tuple[int, Any]:
        state = query.get("state", "open")
        labels = set(filter(None, query.get("labels", "").split(",")))
        out = [
            i for i in self.issues.values()
            if (state == "all" or i["state"] == state)
            and labels <= {lab["name"] for lab in i["labels"]}
        ]  # fmt: skip
        # GitHub's default order: newest first (sort=created, direction=desc).
        return 200, sorted(out, key=lambda i: i["number"],
                           reverse=query.get("direction", "desc") == "desc")  # fmt: skip

    def _create_issue(self, body: JSON, **_: Any) -> tuple[int, Any]:
        if not body.get("title"):
            return self._invalid("Issue", "title", "missing_field")
        if refused := self._too_long("Issue", body.get("body")):
            return refused
        issue = self.add_issue(title=body["title"], body=body.get("body", ""),
                               author=self.bot_login)  # fmt: skip
        issue["labels"] = [{"name": n} for n in body.get("labels", [])]
        return 201, issue

    def _get_issue(self, number: str, **_: Any) -> tuple[int, Any]:
        issue = self.issues.get(int(number))
        return (200, issue) if issue else (404, {"message": "Not Found"})

    def _patch_issue(self, number: str, body: JSON, **_: Any) -> tuple[int, Any]:
        issue = self.issues.get(int(number))
        if issue is None:
            return 404, {"message": "Not Found"}
        if refused := self._too_long("Issue", body.get("body")):
            return refused
        if body.get("state", "open") not in {"open", "closed"}:
            return self._invalid("Issue", "state", "invalid")
        for key in ("title", "body", "state"):
            if key in body:
                issue[key] = body[key]
        if "labels" in body:
            issue["labels"] = [{"name": n} for n in body["labels"]]
        return 200, issue

    def _list_comments(self, number: str, **_: Any) -> tuple[int, Any]:
        if int(number) not in self.issues:
            return 404, {"message": "Not Found"}
        return 200, self.comments_on(int(number))

    def _create_comment(self, number: str, body: JSON, **_: Any) -> tuple[int, Any]:
        if int(number) not in self.issues:
            return 404, {"message": "Not Found"}
        text = body.get("body", "")
        if not text:
            return self._invalid("IssueComment", "body", "missing_field")
        if refused := self._too_long("IssueComment", text):
            return refused
        return 201, self.add_comment(int(number), text, author=self.bot_login)

    def _edit_comment(self, cid: str, body: JSON, **_: Any) -> tuple[int, Any]:
        comment = self.comments.get(int(cid))
        if comment is None:
            return 404, {"message": "Not Found"}
        if not body.get("body"):
            return self._invalid("IssueComment", "body", "missing_field")
        if refused := self._too_long("IssueComment", body["body"]):
            return refused
        comment["body"] = body["body"]
        comment["updated_at"] = self.now()
        return 200, comment

    def _list_reactions(self, cid: str, **_: Any) -> tuple[int, Any]:
        return 200, [r for r in self.reactions if r["comment_id"] == int(cid)]

    def _react(self, cid: str, body: JSON, **_: Any) -> tuple[int, Any]:
        if int(cid) not in self.comments:
            return 404, {"message": "Not Found"}
        allowed = {"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}
        if body.get("content") not in allowed:
            return self._invalid("Reaction", "content", "invalid")
        reaction = {"id": next(self._ids), "comment_id": int(cid), "content": body["content"],
                    "user": self.users[self.bot_login]}  # fmt: skip
        self.reactions.append(reaction)
        return 201, reaction

    def _get_pull(self, number: str, **_: Any) -> tuple[int, Any]:
        pr = self.pulls.get(int(number))
        return (200, pr) if pr else (404, {"message": "Not Found"})

    def _create_pull(self, body: JSON, **_: Any) -> tuple[int, Any]:
        head, base = body.get("head", ""), body.get("base", "")
        head_sha = self.repo.refs.get(f"heads/{head}")
        base_sha = self.repo.refs.get(f"heads/{base}")
        if not head_sha or not base_sha:
            return self._invalid("PullRequest", "head" if not head_sha else "base", "invalid")
        if refused := self._too_long("PullRequest", body.get("body")):
            return refused
        if any(p["head"]["ref"] == head and p["state"] == "open" for p in self.pulls.values()):
            return self._invalid("PullRequest", "head", "custom",
                                 f"A pull request already exists for {head}.")  # fmt: skip
        base_tree = self.trees[self.commits[base_sha]["tree"]]
        head_tree = self.trees[self.commits[head_sha]["tree"]]
        changed = {p for p in base_tree.keys() | head_tree.keys()
                   if base_tree.get(p) != head_tree.get(p)}  # fmt: skip
        issue = self.add_issue(title=body.get("title", ""), body=body.get("body", ""),
                               author=self.bot_login)  # fmt: skip
        number = issue["number"]
        issue["pull_request"] = {
            "url": f"{self.base_url}/repos/{self.repo.full_name}/pulls/{number}"
        }
        pr = {
            "number": number, "title": body.get("title", ""), "body": body.get("body", ""),
            "state": "open", "draft": bool(body.get("draft")), "merged": False,
            "merged_at": None, "user": self.users[self.bot_login],
            "html_url": f"http://127.0.0.1:9/{self.repo.full_name}/pull/{number}",
            "head": {"ref": head, "sha": head_sha, "repo": self._repo_json(self.repo)},
            "base": {"ref": base, "sha": base_sha, "repo": self._repo_json(self.repo)},
        }  # fmt: skip
        self.pulls[number] = pr
        self.pull_files[number] = [
            self._file_json(p, self.file_at(base_sha, p), self.file_at(head_sha, p))
            for p in sorted(changed)
        ]
        return 201, pr

    def _merge(self, number: str, body: JSON | None, **_: Any) -> tuple[int, Any]:
        pr = self.pulls.get(int(number))
        if pr is None:
            return 404, {"message": "Not Found"}
        if pr["state"] != "open":
            return 405, {"message": "Pull Request is not mergeable"}
        sha = self.merge_pull_request(int(number), message=(body or {}).get("commit_title"))
        return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}

    def _list_files(self, number: str, **_: Any) -> tuple[int, Any]:
        files = self.pull_files.get(int(number))
        if files is None:
            return 404, {"message": "Not Found"}
        return 200, files[:MAX_PR_FILES]  # GitHub lists at most 3,000 files

    def _list_reviews(self, number: str, **_: Any) -> tuple[int, Any]:
        return 200, self.reviews_on(int(number))

    def _create_review(self, number: str, body: JSON, **_: Any) -> tuple[int, Any]:
        pr = self.pulls.get(int(number))
        if pr is None:
            return 404, {"message": "Not Found"}
        refused = self._review_refusal(pr, body)
        if refused is not None:
            return refused
        commit = body.get("commit_id") or pr["head"]["sha"]
        event = body.get("event")
        rid = next(self._ids)
        # No `event` is not an error on GitHub: the review stays PENDING, which
        # nobody else sees until it is submitted.
        state = {"COMMENT": "COMMENTED", "APPROVE": "APPROVED",
                 "REQUEST_CHANGES": "CHANGES_REQUESTED"}.get(event or "", "PENDING")  # fmt: skip
        review = {
            "id": rid, "node_id": f"PRR_{rid}", "body": body.get("body") or "",
            "user": self.users[self.bot_login], "commit_id": commit, "state": state,
            "pull_number": int(number), "author_association": "NONE",
            "html_url": f"{pr['html_url']}#pullrequestreview-{rid}",
            "pull_request_url": f"{self.base_url}/repos/{self.repo.full_name}/pulls/{number}",
            "_links": {"html": {"href": f"{pr['html_url']}#pullrequestreview-{rid}"},
                       "pull_request": {"href": f"{self.base_url}/repos/{self.repo.full_name}"
                                                f"/pulls/{number}"}},
            **({"submitted_at": self.now()} if state != "PENDING" else {}),
        }  # fmt: skip
        self.reviews[rid] = review
        for c in body.get("comments", []):
            cid = next(self._ids)
            self.review_comments[cid] = {
                "id": cid, "pull_request_review_id": rid, "path": c["path"], "line": c["line"],
                "side": c.get("side", "RIGHT"), "body": c["body"], "commit_id": commit,
                "user": self.users[self.bot_login], "pull_number": int(number),
            }  # fmt: skip
        return 200, review

    def _review_refusal(self, pr: JSON, body: JSON) -> tuple[int, Any] | None:
        """Why GitHub would refuse this new review (422), or None."""
        number = pr["number"]
        event = body.get("event")
        if event is not None and event not in {"APPROVE", "REQUEST_CHANGES", "COMMENT"}:
            return 422, {"message": "Unprocessable Entity",
                         "errors": [f"Event {event!r} is not one of APPROVE, REQUEST_CHANGES, "
                                    "COMMENT"]}  # fmt: skip
        if event in {"REQUEST_CHANGES", "COMMENT"} and not body.get("body") and not body.get(
            "comments"
        ):  # fmt: skip
            return 422, {"message": "Unprocessable Entity",
                         "errors": [f"Review body is required for {event}"]}  # fmt: skip
        if event is None and any(r["state"] == "PENDING" for r in self.reviews_on(number)):
            return 422, {"message": "Unprocessable Entity",
                         "errors": ["User can only have one pending review per pull request"]}  # fmt: skip
        commit = body.get("commit_id")
        if commit is not None and not self._in_pull(pr, str(commit)):
            return 422, {"message": "Unprocessable Entity",
                         "errors": [f"Commit {commit} is not part of the pull request"]}  # fmt: skip
        if refused := self._too_long("PullRequestReview", body.get("body"), simple=True):
            return refused
        files = {f["filename"]: f for f in self.pull_files[number]}
        for c in body.get("comments", []):
            if refused := self._too_long("PullRequestReviewComment", c.get("body"), simple=True):
                return refused
            f = files.get(c.get("path"))
            if f is None or c.get("line") not in right_side_lines(f.get("patch")):
                return 422, {
                    "message": "Unprocessable Entity",
                    "errors": ["Pull request review thread line must be part of the diff"],
                }
        return None

    def _in_pull(self, pr: JSON, sha: str) -> bool:
        """A commit of the PR: reachable from its head, not already on its base."""
        if sha not in self.commits:
            return False
        return self._descends(pr["head"]["sha"], sha) and not self._descends(pr["base"]["sha"], sha)

    def _edit_review(self, number: str, rid: str, body: JSON, **_: Any) -> tuple[int, Any]:
        review = self.reviews.get(int(rid))
        if review is None or review["pull_number"] != int(number):
            return 404, {"message": "Not Found"}
        if not isinstance(body.get("body"), str):
            return 422, {"message": "Unprocessable Entity", "errors": ["Body is required"]}
        if refused := self._too_long("PullRequestReview", body["body"], simple=True):
            return refused
        review["body"] = body["body"]
        return 200, review

    def _list_review_comments(self, number: str, **_: Any) -> tuple[int, Any]:
        return 200, [c for c in self.review_comments.values() if c["pull_number"] == int(number)]

    def _pulls_for_commit(self, sha: str, **_: Any) -> tuple[int, Any]:
        # "pull-request-simple": no `merged` (merged_at says it).
        return 200, [{k: v for k, v in p.items() if k != "merged"} for p in self.pulls.values()
                     if sha in (p["head"]["sha"], p.get("merge_commit_sha"))]  # fmt: skip

    def _create_status(self, sha: str, body: JSON, **_: Any) -> tuple[int, Any]:
        if sha not in self.commits:
            return 422, {"message": "No commit found for SHA"}
        if body.get("state") not in {"error", "failure", "pending", "success"}:
            return self._invalid("Status", "state", "invalid")
        if len(body.get("description") or "") > 140:
            return self._invalid("Status", "description", "custom",
                                 "description is too long (maximum is 140 characters)")  # fmt: skip
        status = {"id": next(self._ids), "state": body["state"],
                  "context": body.get("context", "default"),
                  "description": body.get("description", ""),
                  "target_url": body.get("target_url"), "created_at": self.now()}  # fmt: skip
        self.statuses.setdefault(sha, []).insert(0, status)
        return 201, status

    def _latest_statuses(self, sha: str) -> list[JSON]:
        """The newest status per context, oldest context first (as GitHub orders them)."""
        seen: dict[str, JSON] = {}
        for s in self.statuses.get(sha, []):
            seen.setdefault(s["context"], s)
        return sorted(seen.values(), key=lambda s: s["id"])

    def _combined_status(self, ref: str, **_: Any) -> tuple[int, Any]:
        sha = self._resolve(ref)
        latest = self._latest_statuses(sha or "")
        states = {s["state"] for s in latest}
        state = ("failure" if states & {"failure", "error"} else
                 "pending" if "pending" in states or not states else "success")  # fmt: skip
        return 200, {"state": state, "sha": sha, "statuses": latest, "total_count": len(latest)}

    def _list_statuses(self, ref: str, **_: Any) -> tuple[int, Any]:
        return 200, self.statuses.get(self._resolve(ref) or "", [])

    def _create_check_run(self, body: JSON, **_: Any) -> tuple[int, Any]:
        cid = next(self._ids)
        run = {"id": cid, "name": body["name"], "head_sha": body["head_sha"],
               "status": body.get("status", "queued"), "conclusion": body.get("conclusion"),
               "output": body.get("output", {})}  # fmt: skip
        self.check_runs[cid] = run
        return 201, run

    def _update_check_run(self, cid: str, body: JSON, **_: Any) -> tuple[int, Any]:
        run = self.check_runs.get(int(cid))
        if run is None:
            return 404, {"message": "Not Found"}
        run.update({k: v for k, v in body.items() if k in {"status", "conclusion", "output"}})
        return 200, run

    def _list_check_runs(self, ref: str, **_: Any) -> tuple[int, Any]:
        sha = self._resolve(ref)
        runs = [r for r in self.check_runs.values() if r["head_sha"] == sha]
        return 200, {"total_count": len(runs), "check_runs": runs}

    def _get_branch(self, branch: str, **_: Any) -> tuple[int, Any]:
        sha = self.repo.refs.get(f"heads/{branch}")
        if sha is None:
            return 404, {"message": "Branch not found"}
        return 200, {"name": branch, "commit": {"sha": sha}, "protected": False}

    def _ref_json(self, ref: str, sha: str) -> JSON:
        return {"ref": f"refs/{ref}", "object": {"sha": sha, "type": "commit"}}

    def _get_ref(self, ref: str, **_: Any) -> tuple[int, Any]:
        sha = self.repo.refs.get(ref)
        return (200, self._ref_json(ref, sha)) if sha else (404, {"message": "Not Found"})

    def _create_ref(self, body: JSON, **_: Any) -> tuple[int, Any]:
        ref = str(body.get("ref", ""))
        if not ref.startswith("refs/") or body.get("sha") not in self.commits:
            return 422, {"message": "Reference update failed"}
        short = ref.removeprefix("refs/")
        if short in self.repo.refs:
            return 422, {"message": "Reference already exists"}
        self.repo.refs[short] = body["sha"]
        return 201, self._ref_json(short, body["sha"])

    def _update_ref(self, ref: str, body: JSON, **_: Any) -> tuple[int, Any]:
        if ref not in self.repo.refs or body.get("sha") not in self.commits:
            return 422, {"message": "Reference does not exist"}
        old, new = self.repo.refs[ref], body["sha"]
        if not body.get("force") and not self._descends(new, old):
            return 422, {"message": "Update is not a fast forward"}
        self.repo.refs[ref] = new
        self._follow_branch(ref.removeprefix("heads/"), old, new)
        return 200, self._ref_json(ref, new)

    def _descends(self, sha: str, ancestor: str) -> bool:
        todo, seen = [sha], set()
        while todo:
            current = todo.pop()
            if current == ancestor:
                return True
            if current not in seen:
                seen.add(current)
                todo += self.commits[current]["parents"]
        return False

    def _follow_branch(self, branch: str, old: str, new: str) -> None:
        """Open PRs whose head is `branch` (in this repo) move with it, as on GitHub."""
        before, after = self.trees[self.commits[old]["tree"]], self.trees[self.commits[new]["tree"]]
        moved = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
        for number, pr in self.pulls.items():
            head = pr["head"]
            if (head["ref"], head["repo"]["full_name"], pr["state"]) != (
                branch, self.repo.full_name, "open"
            ):  # fmt: skip
                continue
            head["sha"] = new
            by_path = {f["filename"]: f for f in self.pull_files[number]}
            for path in sorted(moved):
                base, text = self.file_at(pr["base"]["sha"], path), self.file_at(new, path)
                if base == text:  # changed back: no longer part of the PR
                    by_path.pop(path, None)
                else:
                    by_path[path] = self._file_json(path, base, text)
            self.pull_files[number] = list(by_path.values())

    def _commit_json(self, sha: str) -> JSON:
        c = self.commits[sha]
        person = {"name": "someone", "email": "someone@example.com", "date": c["date"]}
        return {"sha": sha, "message": c["message"], "tree": {"sha": c["tree"]},
                "parents": [{"sha": p} for p in c["parents"]],
                "author": person, "committer": person}  # fmt: skip

    def _get_commit(self, sha: str, **_: Any) -> tuple[int, Any]:
        return (
            (200, self._commit_json(sha))
            if sha in self.commits
            else (404, {"message": "Not Found"})
        )

    def _create_commit(self, body: JSON, **_: Any) -> tuple[int, Any]:
        if body.get("tree") not in self.trees or any(
            p not in self.commits for p in body.get("parents", [])
        ):
            return 422, {"message": "Tree or parent SHA does not exist"}
        sha = self._commit(self.trees[body["tree"]], list(body.get("parents", [])),
                           str(body.get("message", "")))  # fmt: skip
        return 201, self._commit_json(sha)

    def _create_tree(self, body: JSON, **_: Any) -> tuple[int, Any]:
        base = body.get("base_tree")
        if base is not None and base not in self.trees:
            return 422, {"message": "base_tree is not a valid tree"}
        tree = dict(self.trees.get(base, {})) if base else {}
        for entry in body.get("tree", []):
            path = entry["path"]
            if path.startswith("/") or ".." in path.split("/"):
                return 422, {"message": f"invalid tree path {path}"}
            if "content" in entry:
                tree[path] = self._blob(entry["content"])
            elif entry.get("sha") is None:
                tree.pop(path, None)
            elif entry["sha"] in self.blobs:
                tree[path] = entry["sha"]
            else:
                return 422, {"message": "sha does not exist"}
        sha = _sha("tree", *sorted(f"{p}:{b}" for p, b in tree.items()))
        self.trees[sha] = tree
        return 201, {"sha": sha, "tree": [{"path": p, "sha": b, "type": "blob", "mode": "100644"}
                                          for p, b in sorted(tree.items())]}  # fmt: skip

    def _create_blob(self, body: JSON, **_: Any) -> tuple[int, Any]:
        content = body.get("content", "")
        if body.get("encoding") == "base64":
            content = base64.b64decode(content).decode()
        return 201, {"sha": self._blob(content)}

    def _list_deployments(self, query: dict[str, str], **_: Any) -> tuple[int, Any]:
        env = query.get("environment")
        out = [d for d in self.deployments.values() if env is None or d["environment"] == env]
        return 200, sorted(out, key=lambda d: -d["id"])

    def _create_deployment(self, body: JSON, **_: Any) -> tuple[int, Any]:
        sha = self._resolve(str(body.get("ref", "")))
        if sha is None:
            return 422, {"message": "No ref found"}
        did = next(self._ids)
        deployment = {
            "id": did, "sha": sha, "ref": body["ref"],
            "environment": body.get("environment", "production"),
            "task": body.get("task", "deploy"), "payload": body.get("payload", {}),
            "description": body.get("description"), "creator": self.users[self.bot_login],
            "created_at": self.now(),
        }  # fmt: skip
        self.deployments[did] = deployment
        self.deployment_statuses[did] = []
        return 201, deployment

    def _list_deployment_statuses(self, did: str, **_: Any) -> tuple[int, Any]:
        if int(did) not in self.deployments:
            return 404, {"message": "Not Found"}
        return 200, list(reversed(self.deployment_statuses[int(did)]))

    def _create_deployment_status(self, did: str, body: JSON, **_: Any) -> tuple[int, Any]:
        if int(did) not in self.deployments:
            return 404, {"message": "Not Found"}
        states = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}
        if body.get("state") not in states:
            return 422, {"message": "Validation Failed"}
        status = {"id": next(self._ids), "state": body["state"],
                  "description": body.get("description", ""),
                  "environment": self.deployments[int(did)]["environment"],
                  "log_url": body.get("log_url") or "", "created_at": self.now()}  # fmt: skip
        self.deployment_statuses[int(did)].append(status)
        return 201, status

    def _list_environments(self, **_: Any) -> tuple[int, Any]:
        envs = list(self.environments.values())
        return 200, {"total_count": len(envs), "environments": envs}

    def _get_environment(self, env: str, **_: Any) -> tuple[int, Any]:
        found = self.environments.get(env)
        return (200, found) if found else (404, {"message": "Not Found"})

    def _put_environment(self, env: str, body: JSON | None, **_: Any) -> tuple[int, Any]:
        body = body or {}
        eid = next(self._ids)
        rules: list[JSON] = []
        if body.get("wait_timer"):
            rules.append({"id": next(self._ids), "node_id": f"GA_{eid}", "type": "wait_timer",
                          "wait_timer": int(body["wait_timer"])})  # fmt: skip
        if body.get("reviewers"):
            rules.append({"id": next(self._ids), "node_id": f"GA_{eid}r",
                          "type": "required_reviewers", "prevent_self_review": False,
                          "reviewers": body["reviewers"]})  # fmt: skip
        when = self.now()
        data = {
            "id": eid, "node_id": f"EN_{eid}", "name": env,
            "url": f"{self.base_url}/repos/{self.repo.full_name}/environments/{env}",
            "html_url": f"http://127.0.0.1:9/{self.repo.full_name}/deployments/{env}",
            "created_at": when, "updated_at": when, "protection_rules": rules,
            "deployment_branch_policy": body.get("deployment_branch_policy"),
        }  # fmt: skip
        self.environments[env] = data
        return 200, data

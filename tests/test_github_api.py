"""PyGithubAPI against the fake: GHES base URL, pagination, retries, errors, PRs."""

from __future__ import annotations

from typing import Any

import pytest

from bot.github.api import (
    ForbiddenError,
    GitHubError,
    InlineComment,
    NotFoundError,
    OpenedPullRequest,
    Permission,
    RateLimitError,
    Reaction,
    ServerError,
    StatusState,
    TooManyFilesError,
    ValidationFailedError,
)
from bot.github.pygithub_api import PyGithubAPI, decipher, make_retry
from bot.settings import Settings
from tests.fakegithub import FakeGitHub


@pytest.fixture
def gh() -> Any:
    with FakeGitHub() as fake:
        fake.add_user("alice", permission="maintain")
        fake.add_user("tom", permission="triage")
        yield fake


def test_requests_go_to_the_configured_base_url(gh):
    settings = Settings.from_env({"GITHUB_API_URL": gh.base_url, "GITHUB_REPOSITORY": "acme/infra"})
    api = PyGithubAPI(settings.repository, "ghs_test", base_url=settings.api_url, write_pause=0)
    assert api.default_branch() == "main"
    api.default_branch()  # cached: no second request
    assert gh.count() == 1 and gh.requests[0].path == "/repos/acme/infra"


def test_permissions_use_role_names(gh):
    api = gh.client()
    gh.add_user("stranger")
    assert api.permission("alice") is Permission.MAINTAIN
    assert api.permission("tom") is Permission.TRIAGE
    assert api.permission("stranger") is Permission.READ  # public repository
    assert api.permission("ghost") is Permission.NONE  # no such user: 404


def test_comments_are_paginated(gh):
    issue = gh.add_issue()
    for i in range(230):
        gh.add_comment(issue["number"], f"c{i}")
    comments = gh.client().list_issue_comments(issue["number"])
    assert [c.body for c in comments] == [f"c{i}" for i in range(230)]
    assert gh.count("GET", r"/issues/\d+/comments") == 3


def test_server_errors_are_retried(gh):
    issue = gh.add_issue()
    gh.fail_next("POST", r"/issues/\d+/comments$", 502, times=2)
    comment = gh.client().create_issue_comment(issue["number"], "hello")
    assert comment.body == "hello" and comment.author_is_bot
    assert [r.status for r in gh.requests] == [502, 502, 201]


def test_secondary_rate_limit_is_retried(gh):
    issue = gh.add_issue()
    gh.fail_next(
        "GET",
        r"/issues/\d+/comments$",
        403,
        message="You have exceeded a secondary rate limit",
        headers={"Retry-After": "0"},
    )
    assert gh.client().list_issue_comments(issue["number"]) == []
    assert [r.status for r in gh.requests] == [403, 200]


def test_persistent_5xx_gives_up_with_a_clear_error(gh):
    gh.fail_next("GET", r"/pulls/1$", 503, times=10)
    with pytest.raises(GitHubError, match="503"):
        gh.client(retries=2).pull_request(1)
    assert gh.count() == 3


@pytest.mark.parametrize("status,hint", [
    (401, "token is missing or expired"),
    (403, "permissions:"),
    (404, "not found"),
    (422, "rejected the request"),
])  # fmt: skip
def test_client_errors_say_what_to_fix_and_are_not_retried(gh, status, hint):
    gh.fail_next("POST", r"/statuses/", status, message="nope")
    with pytest.raises(GitHubError) as info:
        gh.client().set_commit_status("a" * 40, StatusState.SUCCESS, "ctx", "d")
    assert info.value.status == status and hint in str(info.value) and "nope" in str(info.value)
    assert gh.count() == 1


def test_missing_token_is_reported(gh):
    with pytest.raises(GitHubError, match="401"):
        PyGithubAPI("acme/infra", "", base_url=gh.base_url, write_pause=0).default_branch()


def test_open_a_pull_request_from_new_files(gh):
    gh.commit_files({"stacks/vpc.yaml": "vpc\n", "stacks/old.yaml": "old\n"})
    api = gh.client()
    sha = api.create_branch_with_files(
        "main", "infra-bot/issue-1", {"stacks/logs.yaml": "logs\n", "stacks/old.yaml": None},
        "Add a logs bucket (#1)",
    )  # fmt: skip
    assert gh.file_at(sha, "stacks/logs.yaml") == "logs\n"
    assert gh.file_at(sha, "stacks/old.yaml") is None
    assert gh.file_at(sha, "stacks/vpc.yaml") == "vpc\n"
    assert gh.file_at("main", "stacks/logs.yaml") is None, "main is untouched"
    opened = api.open_pull_request("Add a logs bucket", "Closes #1", "infra-bot/issue-1", "main",
                                   draft=True)  # fmt: skip
    pr = api.pull_request(opened.number)
    assert (pr.head_sha, pr.draft, pr.from_fork) == (sha, True, False)
    assert {f.path: f.status for f in api.pull_request_files(opened.number)} == {
        "stacks/logs.yaml": "added",
        "stacks/old.yaml": "removed",
    }
    with pytest.raises(GitHubError) as info:  # the branch exists now
        api.create_branch_with_files("main", "infra-bot/issue-1", {"a": "b"}, "again")
    assert info.value.status == 422


def test_reviews_statuses_reactions_round_trip(gh):
    pr = gh.add_pull_request({"stacks/a.yaml": "a\nb\n"})
    api = gh.client()
    number, sha = pr["number"], pr["head"]["sha"]
    review = api.create_review(number, sha, "body", [InlineComment("stacks/a.yaml", 2, "here")])
    api.edit_review(number, review.id, "edited")
    assert [r.body for r in api.list_reviews(number)] == ["edited"]
    (rc,) = api.list_review_comments(number)
    assert (rc.path, rc.line, rc.review_id, rc.commit_sha) == ("stacks/a.yaml", 2, review.id, sha)
    api.set_commit_status(sha, StatusState.PENDING, "infra-bot/validate", "running")
    api.set_commit_status(sha, StatusState.SUCCESS, "infra-bot/validate", "x" * 500)
    (status,) = api.commit_statuses(sha)
    assert status.state == "success" and len(status.description) == 140
    comment = api.create_issue_comment(number, "hi")
    api.add_reaction(comment.id, Reaction.EYES)
    api.edit_issue_comment(comment.id, "edited")
    assert gh.reactions_on(comment.id) == ["eyes"] and gh.comments[comment.id]["body"] == "edited"
    assert api.pull_requests_for_commit(sha)[0].number == number
    assert api.read_file("stacks/a.yaml", sha) == "a\nb\n"
    assert api.read_file("stacks/a.yaml", "main") is None
    assert api.commit_time(sha).tzinfo is not None


def test_team_members_unreadable_means_nobody(gh):
    gh.add_team("acme", "platform", ["Dave"])
    gh.add_token("ghs_app", kind="installation")  # an App granted members: read
    app = gh.client(token="ghs_app")
    assert app.team_members("acme", "platform") == frozenset({"dave"})
    assert app.team_members("acme", "secret") == frozenset()  # 404
    # GITHUB_TOKEN has no organization permissions: GitHub answers 403, nobody matches.
    assert gh.client().team_members("acme", "platform") == frozenset()
    assert gh.requests[-1].status == 403


def test_retry_factory_covers_5xx_and_no_4xx():
    # Rate limits (403/429) are waited out by the adapter from GitHub's headers.
    retry = make_retry(total=3, backoff=0)
    assert 502 in retry.status_forcelist and 403 not in retry.status_forcelist
    assert 404 not in retry.status_forcelist and 422 not in retry.status_forcelist


def test_a_commit_on_a_pull_request_branch_moves_the_pull_request(gh):
    gh.commit_files({"stacks/vpc.yaml": "vpc\n"})
    api = gh.client()
    first = api.create_branch_with_files(
        "main", "infra-bot/2-logs", {"stacks/logs.yaml": "v1\n", "stacks/vpc.yaml": "vpc2\n"}, "one"
    )
    number = api.open_pull_request("Logs", "", "infra-bot/2-logs", "main").number
    second = api.update_branch_with_files(
        "infra-bot/2-logs", {"stacks/logs.yaml": "v2\n", "stacks/vpc.yaml": "vpc\n"}, "two"
    )
    assert gh.commits[second]["parents"] == [first] and gh.commits[second]["message"] == "two"
    assert api.pull_request(number).head_sha == second
    assert [p.number for p in api.pull_requests_for_commit(second)] == [number]
    # vpc.yaml is back to main's text, so it is no longer part of the PR.
    (changed,) = api.pull_request_files(number)
    assert (changed.path, changed.status, changed.patch) == (
        "stacks/logs.yaml",
        "added",
        "@@ -0,0 +1 @@\n+v2",
    )
    assert gh.file_at("main", "stacks/logs.yaml") is None, "main is untouched"
    with pytest.raises(GitHubError) as info:
        api.update_branch_with_files("infra-bot/nope", {"a": "b"}, "x")
    assert info.value.status == 404


def test_the_fake_refuses_a_ref_update_that_is_not_a_fast_forward(gh):
    old = gh.commit_files({"a": "1\n"}, branch="topic")
    new = gh.commit_files({"a": "2\n"}, branch="topic")
    api = gh.client()
    with pytest.raises(GitHubError) as info:
        api._call("PATCH", api._repo("/git/refs/heads/topic"), "moving", body={"sha": old})
    assert info.value.status == 422 and gh.repo.refs["heads/topic"] == new
    api._call(
        "PATCH", api._repo("/git/refs/heads/topic"), "moving", body={"sha": old, "force": True}
    )
    assert gh.repo.refs["heads/topic"] == old


def test_the_demo_stand_in_moves_a_pull_request_with_its_branch(tmp_path):
    from bot.demo.localgit import LocalGit
    from bot.demo.localgithub import LocalGitHub
    from tests.conftest import git_commit

    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks/vpc.yaml").write_text("vpc\n")
    git_commit(tmp_path, "initial")
    api = LocalGitHub(LocalGit(tmp_path), "acme/infra", {})
    first = api.create_branch_with_files(
        "main", "infra-bot/2-logs", {"stacks/logs.yaml": "v1\n"}, "one"
    )
    number = api.open_pull_request("Logs", "", "infra-bot/2-logs", "main").number
    second = api.update_branch_with_files("infra-bot/2-logs", {"stacks/logs.yaml": "v2\n"}, "two")
    assert api.git.run("rev-parse", f"{second}^").strip() == first
    assert [p.number for p in api.pull_requests_for_commit(second)] == [number]
    assert api.pull_request(number).head_sha == second
    (changed,) = api.pull_request_files(number)
    assert (changed.path, changed.status) == ("stacks/logs.yaml", "added") and "+v2" in (
        changed.patch or ""
    )
    assert api.read_file("stacks/logs.yaml", "main") is None
    with pytest.raises(GitHubError) as info:
        api.update_branch_with_files("infra-bot/nope", {"a": "b"}, "x")
    assert info.value.status == 404


# --- pagination to the end, rate limits waited out, errors typed, bodies capped -----


def test_pages_are_followed_to_the_end_past_30(gh):
    issue = gh.add_issue()
    for i in range(3_050):
        gh.add_comment(issue["number"], f"c{i}")
    comments = gh.client().list_issue_comments(issue["number"])
    assert len(comments) == 3_050 and comments[-1].body == "c3049"
    assert gh.count("GET", r"/issues/\d+/comments") == 31


def test_pr_files_at_githubs_cap_fail_loudly(gh):
    pr = gh.add_pull_request({f"stacks/s{i:04}.yaml": "x\n" for i in range(3_000)})
    with pytest.raises(TooManyFilesError, match="git diff") as info:
        gh.client().pull_request_files(pr["number"])
    assert len(info.value.files) == 3_000  # what GitHub listed, for the caller's report
    below = gh.add_pull_request({f"stacks/t{i:04}.yaml": "x\n" for i in range(2_999)},
                                branch="other")  # fmt: skip
    assert len(gh.client().pull_request_files(below["number"])) == 2_999


def test_primary_rate_limit_is_waited_out_until_reset(gh):
    gh.add_token("ghs_small", limit=2)
    api = gh.client(token="ghs_small")
    issue = gh.add_issue()
    api.default_branch()
    api.create_issue_comment(issue["number"], "one")
    gh.time += 3_000  # 50 minutes into the hour the limit is counted over
    comment = api.create_issue_comment(issue["number"], "two")  # the limit is used up
    assert comment.body == "two"
    assert gh.waits == [600.0]  # x-ratelimit-reset - now
    assert [r.status for r in gh.requests] == [200, 201, 403, 201]


def test_rate_limit_waits_are_bounded(gh):
    gh.add_token("ghs_small", limit=1)
    api = gh.client(token="ghs_small")
    api._max_wait = 60.0
    api.default_branch()
    with pytest.raises(RateLimitError) as info:
        api.pull_request(1)
    assert info.value.status == 403 and info.value.wait == 3600 and not info.value.secondary
    assert gh.waits == [] and gh.count() == 2


def test_secondary_rate_limit_waits_retry_after(gh):
    issue = gh.add_issue()
    gh.secondary_writes_per_minute = 1
    api = gh.client()
    api.create_issue_comment(issue["number"], "one")
    api.create_issue_comment(issue["number"], "two")
    assert gh.waits == [61.0] and [c["body"] for c in gh.comments_on(issue["number"])] == [
        "one",
        "two",
    ]


RESET = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1100"}


@pytest.mark.parametrize("status,headers,data,kind,wait", [
    (403, RESET, {"message": "API rate limit exceeded"}, RateLimitError, 100.0),
    (429, RESET, {"message": "API rate limit exceeded"}, RateLimitError, 100.0),
    (403, {"Retry-After": "30"}, {"message": "You have exceeded a secondary rate limit"},
     RateLimitError, 30.0),
    (403, {}, {"message": "You have exceeded a secondary rate limit"}, RateLimitError, 60.0),
    (403, {"x-ratelimit-remaining": "4000"}, {"message": "Resource not accessible by integration"},
     ForbiddenError, None),
    (404, {}, {"message": "Not Found"}, NotFoundError, None),
    (422, {}, {"message": "Validation Failed", "errors": [{"resource": "Issue", "field": "body",
     "code": "custom", "message": "body is too long (maximum is 65536 characters)"}]},
     ValidationFailedError, None),
    (502, {}, "<html>bad gateway</html>", ServerError, None),
    (401, {}, {"message": "Bad credentials"}, GitHubError, None),
])  # fmt: skip
def test_decipher_turns_answers_into_typed_errors(status, headers, data, kind, wait):
    with pytest.raises(GitHubError) as info:
        decipher(status, headers, data, what="doing it", now=1000.0)
    assert type(info.value) is kind and info.value.status == status
    assert str(info.value).startswith(f"GitHub doing it failed: {status}")
    if wait is not None:
        assert info.value.wait == wait
    if kind is ValidationFailedError:
        assert "body is too long" in str(info.value) and len(info.value.errors) == 1
    assert decipher(200, {}, {"ok": 1}, what="x", now=0) == {"ok": 1}


def test_every_body_the_adapter_writes_is_capped(gh):
    pr = gh.add_pull_request({"stacks/a.yaml": "a\nb\n"})
    api = gh.client()
    long = "line\n" * 20_000  # 100,000 characters
    comment = api.create_issue_comment(pr["number"], long)
    api.edit_issue_comment(comment.id, long)
    review = api.create_review(pr["number"], pr["head"]["sha"], long,
                               [InlineComment("stacks/a.yaml", 2, long)])  # fmt: skip
    api.edit_review(pr["number"], review.id, long)
    issue = api.create_issue("t", long, [])
    api.edit_issue(issue.number, body=long)
    gh.commit_files({"b": "1"}, branch="topic")
    opened = api.open_pull_request("t", long, "topic", "main")
    stored = [gh.comments[comment.id]["body"], gh.reviews[review.id]["body"],
              *[c["body"] for c in gh.review_comments.values()], gh.issues[issue.number]["body"],
              gh.pulls[opened.number]["body"]]  # fmt: skip
    assert all(len(b) <= 65_536 and b.endswith("limit; the job summary has the rest._")
               for b in stored)  # fmt: skip
    assert all(r.status < 300 for r in gh.requests)


def test_a_generated_pr_body_is_capped_before_the_branch_is_pushed(gh, monkeypatch):
    from bot.llm import pr as pr_module
    from bot.llm.loop import FileChange, Proposal
    from bot.llm.usage import Usage

    proposal = Proposal(
        request="add logs", title="Logs bucket", summary="s",
        changes=(FileChange("stacks/logs.yaml", None, "logs\n", "why"),), findings=(),
        rejected=(), warnings=(), rounds=1, usage=Usage(), model_id="m", prompt_tokens=0,
    )  # fmt: skip
    calls: list[tuple[str, int]] = []
    api = gh.client()

    class Recording:
        def __getattr__(self, name: str) -> Any:
            return getattr(api, name)

        def create_branch_with_files(self, *args: Any) -> str:
            calls.append(("push", 0))
            return str(api.create_branch_with_files(*args))

        def open_pull_request(self, title: str, body: str, **kw: Any) -> Any:
            calls.append(("open", len(body)))
            # Straight to GitHub, past the adapter's own cap: pr.py must have capped it.
            data = api._call("POST", api._repo("/pulls"), "opening", body={"title": title,
                             "body": body, "head": kw["head"], "base": kw["base"]})  # fmt: skip
            return OpenedPullRequest(int(data["number"]), str(data["html_url"]))

    # The size a body within the proposal schema's limits can reach.
    monkeypatch.setattr(pr_module, "pr_body", lambda *a: "finding\n" * 10_698)
    ws = type("W", (), {"root": gh})()
    outcome = pr_module._open(proposal, ws, 7, Recording(), "alice", "", reply=False)  # type: ignore[arg-type]
    assert [c[0] for c in calls] == ["push", "open"] and calls[1][1] <= 65_536
    assert outcome.pull_request is not None
    assert gh.pulls[outcome.pull_request.number]["body"].endswith("the diff has every change._")


def test_validate_fails_the_review_when_the_file_list_is_cut(gh, tmp_path):
    from bot.github.validate_pr import validate_pull_request

    pr = gh.add_pull_request({f"stacks/s{i:04}.yaml": "x\n" for i in range(3_000)})
    api = gh.client()
    settings = Settings.from_env(gh.environ("pull_request", str(tmp_path / "event.json")))
    outcome = validate_pull_request(api, settings, api.pull_request(pr["number"]),
                                    workspace=tmp_path)  # fmt: skip
    assert outcome.state is StatusState.FAILURE
    (review,) = gh.reviews_on(pr["number"])
    assert "GitHub lists at most 3,000" in review["body"]

"""PyGithubAPI against the fake: GHES base URL, pagination, retries, errors, PRs."""

from __future__ import annotations

from typing import Any

import pytest

from bot.github.api import GitHubError, InlineComment, Permission, Reaction, StatusState
from bot.github.pygithub_api import PyGithubAPI, make_retry
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

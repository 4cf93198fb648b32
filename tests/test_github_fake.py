"""The shared fake GitHub behaves like the REST API for what other parts use:
deployments, environments, check runs, issues by label, pagination, auth."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from tests.fakegithub import FakeGitHub

H = {"Authorization": "token ghs_test", "Accept": "application/vnd.github+json"}


@pytest.fixture
def gh() -> Any:
    with FakeGitHub() as fake:
        yield fake


def url(gh: FakeGitHub, path: str) -> str:
    return f"{gh.base_url}/repos/{gh.repo.full_name}{path}"


def test_deployments_and_their_statuses(gh):
    sha = gh.commit_files({"stacks/a.yaml": "a"})
    made = requests.post(url(gh, "/deployments"), json={"ref": sha, "environment": "dev",
                                                          "task": "deploy"}, headers=H)  # fmt: skip
    assert made.status_code == 201 and made.json()["sha"] == sha
    did = made.json()["id"]
    for state in ("in_progress", "success"):
        r = requests.post(url(gh, f"/deployments/{did}/statuses"), json={"state": state}, headers=H)
        assert r.status_code == 201
    bad = requests.post(url(gh, f"/deployments/{did}/statuses"), json={"state": "great"}, headers=H)
    assert bad.status_code == 422
    statuses = requests.get(url(gh, f"/deployments/{did}/statuses"), headers=H).json()
    assert [s["state"] for s in statuses] == ["success", "in_progress"]  # newest first
    requests.post(url(gh, "/deployments"), json={"ref": "main", "environment": "prd"}, headers=H)
    dev = requests.get(url(gh, "/deployments"), params={"environment": "dev"}, headers=H).json()
    assert [d["id"] for d in dev] == [did]
    missing = requests.post(url(gh, "/deployments"), json={"ref": "nope"}, headers=H)
    assert missing.status_code == 422


def test_environments(gh):
    assert requests.get(url(gh, "/environments/prd"), headers=H).status_code == 404
    # Creating an environment needs administration: write, which GITHUB_TOKEN never has.
    refused = requests.put(url(gh, "/environments/prd"), json={"wait_timer": 5}, headers=H)
    assert refused.status_code == 403
    gh.add_token("ghp_admin", kind="pat", scopes=("repo",))
    admin = {**H, "Authorization": "token ghp_admin"}
    requests.put(url(gh, "/environments/prd"), json={"wait_timer": 5}, headers=admin)
    env = requests.get(url(gh, "/environments/prd"), headers=H).json()
    assert env["name"] == "prd"
    assert {"type": "wait_timer", "wait_timer": 5} in [
        {k: r[k] for k in ("type", "wait_timer")} for r in env["protection_rules"]
    ]
    listed = requests.get(url(gh, "/environments"), headers=H).json()
    assert listed["total_count"] == 1


def test_check_runs(gh):
    sha = gh.commit_files({"x": "1"})
    run = requests.post(url(gh, "/check-runs"), json={"name": "infra-bot/validate",
                                                      "head_sha": sha, "status": "in_progress"},
                        headers=H).json()  # fmt: skip
    requests.patch(url(gh, f"/check-runs/{run['id']}"), json={"status": "completed",
                                                               "conclusion": "failure"}, headers=H)  # fmt: skip
    runs = requests.get(url(gh, f"/commits/{sha}/check-runs"), headers=H).json()
    assert runs["total_count"] == 1 and runs["check_runs"][0]["conclusion"] == "failure"


def test_issues_by_label_and_edit(gh):
    made = requests.post(url(gh, "/issues"), json={"title": "Drift in prd", "labels": ["drift"]},
                         headers=H).json()  # fmt: skip
    gh.add_issue(title="other")
    found = requests.get(url(gh, "/issues"), params={"labels": "drift"}, headers=H).json()
    assert [i["number"] for i in found] == [made["number"]]
    requests.patch(url(gh, f"/issues/{made['number']}"), json={"state": "closed"}, headers=H)
    assert requests.get(url(gh, "/issues"), params={"labels": "drift"}, headers=H).json() == []
    closed = requests.get(url(gh, "/issues"), params={"labels": "drift", "state": "all"}, headers=H)
    assert closed.json()[0]["state"] == "closed"


def test_pagination_link_header_auth_and_unknown_routes(gh):
    issue = gh.add_issue()
    for i in range(5):
        gh.add_comment(issue["number"], f"c{i}")
    page = requests.get(url(gh, f"/issues/{issue['number']}/comments"), params={"per_page": 2},
                        headers=H)  # fmt: skip
    assert len(page.json()) == 2 and 'rel="next"' in page.headers["Link"]
    no_auth = requests.get(url(gh, f"/issues/{issue['number']}"))
    assert no_auth.status_code == 401
    assert requests.get(url(gh, "/no/such/thing"), headers=H).status_code == 404
    assert gh.count("GET") == 3 and [r.status for r in gh.requests] == [200, 401, 404]


def test_review_comment_outside_the_diff_is_rejected(gh):
    gh.commit_files({"stacks/a.yaml": "".join(f"l{i}\n" for i in range(1, 30))})
    pr = gh.add_pull_request({"stacks/a.yaml": "".join(f"l{i}\n" for i in range(1, 30))
                              .replace("l15\n", "L15\n")})  # fmt: skip
    post = url(gh, f"/pulls/{pr['number']}/reviews")
    inside = {"event": "COMMENT", "body": "x",
              "comments": [{"path": "stacks/a.yaml", "line": 12, "body": "ok"}]}  # fmt: skip
    outside = {"event": "COMMENT", "body": "x",
               "comments": [{"path": "stacks/a.yaml", "line": 2, "body": "no"}]}  # fmt: skip
    assert requests.post(post, json=inside, headers=H).status_code == 200
    assert requests.post(post, json=outside, headers=H).status_code == 422


def test_merge_moves_the_default_branch_and_closes_the_pr(gh):
    gh.commit_files({"stacks/a.yaml": "a\n"})
    pr = gh.add_pull_request({"stacks/a.yaml": "b\n", "stacks/new.yaml": "n\n"})
    merged = requests.put(url(gh, f"/pulls/{pr['number']}/merge"), json={}, headers=H)
    assert merged.status_code == 200
    sha = merged.json()["sha"]
    assert gh.repo.refs["heads/main"] == sha and gh.file_at("main", "stacks/new.yaml") == "n\n"
    assert gh.pulls[pr["number"]]["merged"] and gh.pulls[pr["number"]]["merge_commit_sha"] == sha
    again = requests.put(url(gh, f"/pulls/{pr['number']}/merge"), json={}, headers=H)
    assert again.status_code == 405
    push = gh.push_event()
    assert push["after"] == sha and push["ref"] == "refs/heads/main"
    found = requests.get(url(gh, f"/commits/{sha}/pulls"), headers=H).json()
    assert [p["number"] for p in found] == [pr["number"]]


# --- what GitHub refuses, the fake refuses ------------------------------------------
TOO_LONG = "x" * 65_537


def _pr_with_line(gh):
    gh.commit_files({"stacks/a.yaml": "a\nb\n"})
    return gh.add_pull_request({"stacks/a.yaml": "a\nB\n"})


def test_bodies_over_65536_characters_are_refused_everywhere(gh):
    pr = _pr_with_line(gh)
    n = pr["number"]
    review = requests.post(url(gh, f"/pulls/{n}/reviews"), json={"event": "COMMENT", "body": "ok"},
                           headers=H).json()  # fmt: skip
    comment = requests.post(url(gh, f"/issues/{n}/comments"), json={"body": "ok"}, headers=H).json()
    gh.commit_files({"x": "1"}, branch="other")
    writes = {
        "PR body": ("POST", "/pulls", {"title": "t", "head": "other", "base": "main",
                                       "body": TOO_LONG}),
        "issue": ("POST", "/issues", {"title": "t", "body": TOO_LONG}),
        "issue edit": ("PATCH", f"/issues/{n}", {"body": TOO_LONG}),
        "comment": ("POST", f"/issues/{n}/comments", {"body": TOO_LONG}),
        "comment edit": ("PATCH", f"/issues/comments/{comment['id']}", {"body": TOO_LONG}),
        "review body": ("POST", f"/pulls/{n}/reviews", {"event": "COMMENT", "body": TOO_LONG}),
        "inline comment": ("POST", f"/pulls/{n}/reviews", {"event": "COMMENT", "body": "b",
                           "comments": [{"path": "stacks/a.yaml", "line": 2, "body": TOO_LONG}]}),
        "review edit": ("PUT", f"/pulls/{n}/reviews/{review['id']}", {"body": TOO_LONG}),
    }  # fmt: skip
    for what, (method, path, body) in writes.items():
        answer = requests.request(method, url(gh, path), json=body, headers=H)
        assert answer.status_code == 422, what
        data = answer.json()
        assert "65536" in str(data["errors"]) and data["documentation_url"], what
    sha = pr["head"]["sha"]
    status = requests.post(url(gh, f"/statuses/{sha}"), headers=H,
                           json={"state": "success", "description": "d" * 141})  # fmt: skip
    assert status.status_code == 422 and gh.statuses == {}
    # Exactly at the limit is fine, and nothing refused was stored.
    ok = requests.post(url(gh, f"/issues/{n}/comments"), json={"body": "y" * 65_536}, headers=H)
    assert ok.status_code == 201
    assert len(gh.pulls) == 1 and len(gh.reviews) == 1 and gh.review_comments == {}


def test_tokens_have_permissions(gh):
    pr = _pr_with_line(gh)
    gh.add_team("acme", "platform", ["alice"])
    gh.add_token("ghs_fork", kind="fork")
    gh.add_token("ghs_app", kind="installation")
    fork = {**H, "Authorization": "token ghs_fork"}
    assert requests.get(url(gh, f"/pulls/{pr['number']}"), headers=fork).status_code == 200
    refused = requests.post(url(gh, f"/issues/{pr['number']}/comments"), json={"body": "hi"},
                            headers=fork)  # fmt: skip
    assert refused.status_code == 403
    assert refused.json()["message"] == "Resource not accessible by integration"
    assert refused.headers["X-Accepted-GitHub-Permissions"] == "issues=write"
    team = f"{gh.base_url}/orgs/acme/teams/platform/members"
    assert requests.get(team, headers=H).status_code == 403  # GITHUB_TOKEN: no org permissions
    app = requests.get(team, headers={**H, "Authorization": "token ghs_app"})
    assert app.status_code == 200 and [m["login"] for m in app.json()] == ["alice"]
    unknown = requests.get(url(gh, ""), headers={**H, "Authorization": "token guessed"})
    assert unknown.status_code == 401 and unknown.json()["message"] == "Bad credentials"
    assert gh.comments == {}


@pytest.mark.parametrize("refusal", [403, 429])
def test_primary_rate_limit_counts_down_runs_out_and_resets(gh, refusal):
    gh.add_token("ghs_small", limit=3)
    gh.rate_limited_status = refusal
    small = {**H, "Authorization": "token ghs_small"}
    answers = [requests.get(url(gh, ""), headers=small) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, refusal]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert [a.headers["X-RateLimit-Used"] for a in answers] == ["1", "2", "3", "3"]
    reset = int(answers[0].headers["X-RateLimit-Reset"])
    assert reset == int(gh.time) + 3600 and "rate limit exceeded" in answers[3].json()["message"]
    gh.advance(reset - gh.time)
    again = requests.get(url(gh, ""), headers=small)
    assert again.status_code == 200 and again.headers["X-RateLimit-Remaining"] == "2"


def test_secondary_rate_limit_on_bursts_of_writes(gh):
    issue = gh.add_issue()
    gh.secondary_writes_per_minute = 2
    post = url(gh, f"/issues/{issue['number']}/comments")
    codes = [requests.post(post, json={"body": "hi"}, headers=H) for _ in range(3)]
    assert [c.status_code for c in codes] == [201, 201, 403]
    assert codes[2].headers["Retry-After"] == "61" and "secondary" in codes[2].json()["message"]
    assert requests.get(post, headers=H).status_code == 200  # reads are not writes
    gh.advance(61)
    assert requests.post(post, json={"body": "hi"}, headers=H).status_code == 201
    assert len(gh.comments_on(issue["number"])) == 3


def test_review_event_and_commit_are_checked(gh):
    pr = _pr_with_line(gh)
    post = url(gh, f"/pulls/{pr['number']}/reviews")
    bad_event = requests.post(post, json={"event": "LGTM", "body": "x"}, headers=H)
    assert bad_event.status_code == 422
    not_in_pr = requests.post(post, json={"event": "COMMENT", "body": "x",
                                          "commit_id": pr["base"]["sha"]}, headers=H)  # fmt: skip
    assert not_in_pr.status_code == 422 and "not part of" in str(not_in_pr.json()["errors"])
    empty = requests.post(post, json={"event": "COMMENT"}, headers=H)
    assert empty.status_code == 422
    # No event is not refused by GitHub (its API description: "leaving this blank
    # sets the review to PENDING"): nothing is submitted, and only one may be pending.
    pending = requests.post(post, json={"body": "draft"}, headers=H)
    assert pending.status_code == 200 and pending.json()["state"] == "PENDING"
    assert "submitted_at" not in pending.json()
    assert requests.post(post, json={"body": "again"}, headers=H).status_code == 422
    ok = requests.post(post, json={"event": "COMMENT", "body": "x",
                                   "commit_id": pr["head"]["sha"]}, headers=H)  # fmt: skip
    assert ok.status_code == 200 and ok.json()["state"] == "COMMENTED"


def test_pr_files_are_capped_at_3000_and_big_diffs_have_no_patch(gh):
    gh.max_patch_chars = 1_000
    files = {f"stacks/s{i:04}.yaml": "x\n" for i in range(3_001)}
    files["stacks/big.yaml"] = "y\n" * 1_000
    pr = gh.add_pull_request(files)
    listed, page = [], 1
    while True:
        answer = requests.get(url(gh, f"/pulls/{pr['number']}/files"),
                              params={"per_page": 500, "page": page}, headers=H)  # fmt: skip
        assert len(answer.json()) <= 100  # per_page is capped at 100
        listed += answer.json()
        if 'rel="next"' not in answer.headers.get("Link", ""):
            break
        page += 1
    assert len(listed) == 3_000 and page == 30
    big = gh.pull_files[pr["number"]][-1]
    assert big["filename"] == "stacks/big.yaml" and "patch" not in big and big["additions"] == 1_000
    assert all("patch" in f for f in listed)


def test_link_header_keeps_the_query_and_names_every_page(gh):
    for i in range(7):
        gh.add_issue(title=f"i{i}", labels=("drift",))
    answer = requests.get(url(gh, "/issues"), params={"labels": "drift", "per_page": 3, "page": 2},
                          headers=H)  # fmt: skip
    links = dict(
        (rel, u) for u, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', answer.headers["Link"])
    )
    assert set(links) == {"first", "prev", "next", "last"}
    assert all("labels=drift" in u for u in links.values())
    assert links["last"].endswith("per_page=3&page=3")

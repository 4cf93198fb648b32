"""The shared fake GitHub behaves like the REST API for what other parts use:
deployments, environments, check runs, issues by label, pagination, auth."""

from __future__ import annotations

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

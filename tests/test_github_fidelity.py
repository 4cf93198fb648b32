"""The fake GitHub against GitHub's own description of its REST API and against
responses recorded from api.github.com (npm @octokit/openapi, @octokit/fixtures,
pinned in tests/octokit; installed by `make test`). Without them these tests fail.

- every route the fake serves is a documented operation, and every answer it gave
  in a run that touches all of them validates against that operation's documented
  response schema (no undocumented fields; the fake may leave fields out);
- every request body the bot's adapter sent validates against the operation's
  request-body schema (required fields, enums, no undocumented fields);
- recorded exchanges replayed against the fake get the same status and shape.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from bot.github.api import InlineComment, Reaction, StatusState
from tests.fakegithub import FakeGitHub, Recorded
from tests.octokit import spec

RAW = "ghp_tester"  # the test's own requests, made with an admin token (not the bot's)


def _headers(token: str = RAW) -> dict[str, str]:
    return {"Authorization": f"token {token}", "Accept": "application/vnd.github+json"}


def _every_route(gh: FakeGitHub) -> None:
    """Drive each route the fake serves at least once, the bot's calls through its adapter."""
    gh.add_user("alice", permission="write")
    gh.add_team("acme", "platform", ["alice"])
    gh.add_token(RAW, kind="pat", scopes=("repo", "read:org"))
    gh.commit_files({"stacks/a.yaml": "a\nb\nc\n"})
    pr = gh.add_pull_request({"stacks/a.yaml": "a\nB\nc\n"}, author="alice")
    number, sha = pr["number"], pr["head"]["sha"]
    api = gh.client()
    api.default_branch()
    api.read_file("stacks/a.yaml", "main")
    api.commit_time(sha)
    api.permission("alice")
    gh.client(token=RAW).team_members("acme", "platform")
    api.pull_request(number)
    api.pull_request_files(number)
    api.pull_requests_for_commit(sha)
    branch_sha = api.create_branch_with_files(
        "main", "infra-bot/1-x", {"stacks/b.yaml": "b\n"}, "m"
    )
    api.update_branch_with_files(
        "infra-bot/1-x", {"stacks/b.yaml": "b2\n", "stacks/a.yaml": None}, "m2"
    )
    assert branch_sha
    opened = api.open_pull_request("Add b", "body", "infra-bot/1-x", "main", draft=True)
    issue = api.create_issue("Drift", "found drift", ["drift"])
    api.list_open_issues("drift")
    api.edit_issue(issue.number, body="more drift", state="closed")
    comment = api.create_issue_comment(number, "hello")
    api.edit_issue_comment(comment.id, "hello again")
    api.list_issue_comments(number)
    api.add_reaction(comment.id, Reaction.EYES)
    review = api.create_review(number, sha, "review", [InlineComment("stacks/a.yaml", 2, "here")])
    api.edit_review(number, review.id, "edited")
    api.list_reviews(number)
    api.list_review_comments(number)
    api.set_commit_status(
        sha, StatusState.SUCCESS, "infra-bot/validate", "ok", "http://127.0.0.1:9/r"
    )
    api.commit_statuses(sha)
    api.record_deployment("dev", sha, "success", "deployed")
    # What the bot does not call through the adapter, as raw requests.
    repo = f"{gh.base_url}/repos/{gh.repo.full_name}"
    get = [f"/issues/{number}", f"/issues/comments/{comment.id}/reactions", "/branches/main",
           f"/commits/{sha}/statuses", "/deployments", f"/commits/{sha}/check-runs",
           "/environments"]  # fmt: skip
    for path in get:
        assert requests.get(repo + path, headers=_headers()).ok, path
    deployment = requests.get(repo + "/deployments", headers=_headers()).json()[0]["id"]
    requests.get(f"{repo}/deployments/{deployment}/statuses", headers=_headers())
    run = requests.post(repo + "/check-runs", headers=_headers(),
                        json={"name": "infra-bot", "head_sha": sha}).json()  # fmt: skip
    requests.patch(f"{repo}/check-runs/{run['id']}", headers=_headers(),
                   json={"status": "completed", "conclusion": "success"})  # fmt: skip
    requests.put(repo + "/environments/prd", headers=_headers(), json={"wait_timer": 5})
    requests.get(repo + "/environments/prd", headers=_headers())
    requests.put(f"{repo}/pulls/{opened.number}/merge", headers=_headers(), json={})
    requests.post(
        repo + "/git/blobs", headers=_headers(), json={"content": "x", "encoding": "utf-8"}
    )
    # And the refusals the fake makes, so their shapes are checked too.
    requests.post(
        f"{repo}/issues/{number}/comments", headers=_headers(), json={"body": "x" * 65_537}
    )
    requests.post(f"{repo}/pulls/{number}/reviews", headers=_headers(),
                  json={"event": "COMMENT", "body": "x" * 65_537})  # fmt: skip
    requests.put(f"{repo}/pulls/{number}/reviews/{review.id}", headers=_headers(),
                 json={"body": "x" * 65_537})  # fmt: skip
    requests.post(f"{repo}/pulls", headers=_headers(),
                  json={"title": "t", "head": "nope", "base": "main"})  # fmt: skip
    requests.get(f"{repo}/pulls/999", headers=_headers())


@pytest.fixture(scope="module")
def run() -> list[Recorded]:
    with FakeGitHub() as gh:
        _every_route(gh)
        return list(gh.requests)


def test_every_route_of_the_fake_is_a_documented_operation_and_was_exercised(run):
    with FakeGitHub() as gh:
        routes = [(verb, pattern) for verb, pattern, _, _ in gh._routes()]
    for verb, pattern in routes:
        hits = [r for r in run if r.method == verb and re.fullmatch(pattern, r.path)]
        assert any(200 <= r.status < 300 for r in hits), f"{verb} {pattern} not exercised"
        spec.operation(verb, hits[0].path)  # raises if GitHub documents no such operation


def test_every_answer_matches_the_documented_response_schema(run):
    failures = []
    for r in run:
        op = spec.operation(r.method, r.path)
        documented = op.response_schema(r.status)
        if 200 <= r.status < 300:
            assert documented is not None, f"{r.method} {op.template}: {r.status} undocumented"
            # Strict: no field GitHub does not document. Not every field is filled in.
            found = spec.problems(r.response, documented, strict=True, required=False)
        else:
            # Error bodies are small: every required field must be there.
            found = spec.problems(r.response, documented or spec.BASIC_ERROR, strict=False,
                                  required=True)  # fmt: skip
        failures += [f"{r.method} {op.template} {r.status}: {p}" for p in found]
    assert failures == []


def test_every_request_body_the_bot_sends_matches_the_request_schema(run):
    ours = [r for r in run if r.authorization == "token ghs_test" and r.body is not None]
    assert {r.method for r in ours} == {"POST", "PATCH", "PUT"}
    failures = []
    for r in ours:
        op = spec.operation(r.method, r.path)
        schema = op.request_schema()
        assert schema is not None, f"{r.method} {op.template} takes no body"
        found = spec.problems(r.body, schema, strict=True, required=True)
        failures += [f"{r.method} {op.template}: {p}" for p in found]
    assert failures == []


def test_answers_carry_rate_limit_headers_that_count_down(run):
    ours = [r for r in run if r.authorization == "token ghs_test"]
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in ours]
    assert remaining == list(range(999, 999 - len(ours), -1))
    assert {r.headers["X-RateLimit-Limit"] for r in ours} == {"1000"}
    assert all(r.headers["X-RateLimit-Resource"] == "core" for r in ours)


# --- recorded exchanges, replayed -------------------------------------------------


def _keys(value: Any) -> set[str]:
    return set(value) if isinstance(value, dict) else set()


def _link_rels(header: str) -> dict[str, dict[str, str]]:
    out = {}
    for url, rel in re.findall(r'<([^>]+)>;\s*rel="([^"]+)"', header):
        query = dict(re.findall(r"[?&]([^=&]+)=([^&]*)", url))
        out[rel] = {k: v for k, v in query.items() if k in ("page", "per_page")}
    return out


def test_recorded_pagination_gives_the_same_pages_and_links():
    exchanges = spec.scenario("paginate-issues")
    with FakeGitHub() as gh:
        for i in range(13):  # the recorded repository has 13 issues: 5 pages of 3
            gh.add_issue(title=f"issue {i}")
        for x in exchanges:
            query = x.path.split("?", 1)[1]
            answer = requests.get(f"{gh.base_url}/repos/{gh.repo.full_name}/issues?{query}",
                                  headers=_headers("ghs_test"))  # fmt: skip
            assert answer.status_code == x.status
            assert len(answer.json()) == len(x.response)
            assert _link_rels(answer.headers["Link"]) == _link_rels(x.headers["link"])
            assert set(answer.headers) >= {"X-RateLimit-Remaining", "X-RateLimit-Reset"}
            recorded = x.response[0]
            got = answer.json()[0]
            # The fields the bot reads, with the types GitHub recorded.
            for key in ("number", "title", "state", "labels", "user", "html_url"):
                assert type(got[key]) is type(recorded[key]), key


def test_recorded_commit_statuses_round_trip():
    exchanges = spec.scenario("create-status")
    with FakeGitHub() as gh:
        sha = gh.commit_files({"a": "1"})
        base = f"{gh.base_url}/repos/{gh.repo.full_name}"
        for x in exchanges:
            path = re.sub(r"^/repos/[^/]+/[^/]+", "", x.path).replace("0" * 39 + "1", sha)
            answer = requests.request(x.method, base + path, json=x.body,
                                      headers=_headers("ghs_test"))  # fmt: skip
            assert answer.status_code == x.status, path
            if isinstance(x.response, dict) and "statuses" in x.response:
                assert answer.json()["state"] == x.response["state"]
                assert [s["context"] for s in answer.json()["statuses"]] == [
                    s["context"] for s in x.response["statuses"]
                ]
            elif isinstance(x.response, list):
                assert [s["state"] for s in answer.json()] == [s["state"] for s in x.response]
            else:
                for key in ("state", "context", "description", "target_url"):
                    assert answer.json()[key] == x.response[key]


def test_recorded_ref_creation_and_update_have_the_same_shape():
    exchanges = [x for x in spec.scenario("git-refs") if x.method in ("POST", "PATCH")]
    with FakeGitHub() as gh:
        first = gh.repo.refs["heads/main"]
        second = gh.commit_files({"a": "1"})
        shas = {"0" * 39 + "1": first, "0" * 39 + "2": second}
        base = f"{gh.base_url}/repos/{gh.repo.full_name}"
        for x in exchanges:
            body = {k: shas.get(v, v) for k, v in x.body.items()}
            if x.method == "PATCH":
                body["force"] = True  # recorded: main's commit over a descendant
            path = re.sub(r"^/repos/[^/]+/[^/]+", "", x.path)
            answer = requests.request(x.method, base + path, json=body,
                                      headers=_headers("ghs_test"))  # fmt: skip
            assert answer.status_code == x.status
            assert answer.json()["ref"] == x.response["ref"]
            assert _keys(answer.json()["object"]) <= _keys(x.response["object"])
            assert answer.json()["object"]["sha"] == shas[x.response["object"]["sha"]]


def test_recorded_validation_error_has_the_same_shape():
    (recorded,) = spec.scenario("errors")
    with FakeGitHub() as gh:
        issue = gh.add_issue()
        answer = requests.post(
            f"{gh.base_url}/repos/{gh.repo.full_name}/issues/{issue['number']}/comments",
            json={"body": "x" * 65_537}, headers=_headers("ghs_test"),
        )  # fmt: skip
    assert answer.status_code == recorded.status == 422
    got, want = answer.json(), recorded.response
    assert got["message"] == want["message"] == "Validation Failed"
    assert set(got) == set(want)
    assert set(got["errors"][0]) >= set(want["errors"][0])  # resource, code, field (+ message)


def test_without_the_npm_packages_these_tests_fail_not_skip(tmp_path, monkeypatch):
    monkeypatch.setattr(spec, "DESCRIPTION", tmp_path / "missing.json")
    spec.description.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="npm ci --prefix tests/octokit"):
            spec.description()
    finally:
        monkeypatch.undo()
        spec.description.cache_clear()


def test_the_schema_check_is_not_vacuous():
    """An invented field, a wrong enum and a missing required field are all caught."""
    issue = spec.operation("PATCH", "/repos/a/b/issues/1").response_schema(200)
    assert issue is not None
    found = spec.problems({"number": 1, "pull_number": 1}, issue, strict=True, required=False)
    assert found == ["<root>: Additional properties are not allowed ('pull_number' was unexpected)"]
    review = spec.operation("POST", "/repos/a/b/pulls/1/reviews").request_schema()
    assert review is not None
    assert spec.problems({"event": "LGTM"}, review, strict=True, required=True) == [
        "event: 'LGTM' is not one of ['APPROVE', 'REQUEST_CHANGES', 'COMMENT']"
    ]
    pull = spec.operation("POST", "/repos/a/b/pulls").request_schema()
    assert pull is not None
    assert any("'head' is a required property" in p
               for p in spec.problems({"base": "main"}, pull, strict=True, required=True))  # fmt: skip


def _shape_mismatches(got: Any, example: Any, where: str = "") -> list[str]:
    """Keys of `got` missing from GitHub's example, or of another JSON type there."""
    if isinstance(got, list) and isinstance(example, list) and got and example:
        return _shape_mismatches(got[0], example[0], where + "/0")
    if not (isinstance(got, dict) and isinstance(example, dict)):
        return []
    out = []
    for key, value in got.items():
        if key not in example:
            out.append(f"{where}/{key}: not in GitHub's example")
        elif value is not None and example[key] is not None:
            if type(value) is not type(example[key]) and not (
                isinstance(value, int | float) and isinstance(example[key], int | float)
            ):
                out.append(
                    f"{where}/{key}: {type(value).__name__} != {type(example[key]).__name__}"
                )
            out += _shape_mismatches(value, example[key], f"{where}/{key}")
    return out


# The answers creating a PR and reviews give: GitHub's fixtures record none, so the
# operation's documented example (GitHub's own sample answer) is the reference.
@pytest.mark.parametrize("method,pattern,reads", [
    ("POST", r".*/pulls", {"number", "html_url"}),
    ("GET", r".*/pulls/\d+", {"number", "title", "user", "head", "base", "state", "draft"}),
    ("POST", r".*/pulls/\d+/reviews", {"id", "body", "user", "commit_id", "state"}),
    ("GET", r".*/pulls/\d+/comments", {"id", "pull_request_review_id", "path", "line", "body"}),
    ("GET", r".*/pulls/\d+/files", {"filename", "status", "patch"}),
    ("POST", r".*/issues", {"number", "title", "body", "user", "state", "labels"}),
    ("POST", r".*/issues/\d+/comments", {"id", "body", "user", "html_url"}),
])  # fmt: skip
def test_answers_have_the_shape_of_githubs_documented_examples(run, method, pattern, reads):
    (answer, *_) = [r for r in run if r.method == method and re.fullmatch(pattern, r.path)
                    and r.status < 300]  # fmt: skip
    op = spec.operation(method, answer.path)
    content = op.spec["responses"][str(answer.status)]["content"]["application/json"]
    example = content["examples"]["default"]["value"]
    assert _shape_mismatches(answer.response, example) == []
    first = answer.response[0] if isinstance(answer.response, list) else answer.response
    sample = example[0] if isinstance(example, list) else example
    assert reads <= set(first) & set(sample)  # what the adapter reads, in both


def test_recorded_issue_creation_has_the_same_shape():
    created = next(x for x in spec.scenario("add-labels-to-issue") if x.method == "POST"
                   and x.path.endswith("/issues"))  # fmt: skip
    with FakeGitHub() as gh:
        answer = requests.post(f"{gh.base_url}/repos/{gh.repo.full_name}/issues", json=created.body,
                               headers=_headers("ghs_test"))  # fmt: skip
    assert answer.status_code == created.status == 201
    assert answer.json()["title"] == created.response["title"]
    assert _shape_mismatches(answer.json(), created.response) == []

"""The scheduled drift run and its one tracking issue.

`infra-bot handle` on a schedule event, PyGithub against the fake GitHub API, and
CloudFormation answering from the recorded drift responses (moto has no drift
detection) through botocore's Stubber behind the real boto3 adapter.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bot.cloud.adapter import Boto3CloudFormation
from bot.cloud.runs import EnvRun
from bot.cloud.session import Purpose
from bot.commands.handle import run_handle
from bot.demo.localgit import LocalGit
from bot.demo.localgithub import LocalGitHub
from bot.github.api import GitHubError, Issue
from bot.github.context import Outcome
from bot.github.drift_issue import LABEL, MARKER, Edit, Keep, Open, marker, plan_issue
from bot.github.handlers.cloud import DriftVerdict
from bot.settings import Settings
from tests.fakegithub import FakeGitHub
from tests.test_cloud_recorded import FAST, recorded
from tests.test_handle_events import make_workspace

DRIFTED, IN_SYNC, UNSUPPORTED, DENIED = "drifted", "in sync", "unsupported", "denied"
NOW = datetime(2026, 1, 5, 5, 17, tzinfo=UTC)


def stubbed_cfn(answer: str, port: int = 80) -> Boto3CloudFormation:
    """One stack's drift detection as CloudFormation answers it (recorded shapes)."""
    client = boto3.client("cloudformation", region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    stub = Stubber(client)
    if answer == DENIED:
        stub.add_client_error("describe_stacks", "AccessDenied", "not authorized", 403)
    else:
        stub.add_response("describe_stacks", recorded("describe_stacks_security_groups"))
    if answer == UNSUPPORTED:
        stub.add_client_error("detect_stack_drift", "NotImplemented", "no drift here", 501)
    elif answer in (DRIFTED, IN_SYNC):
        status = recorded("describe_stack_drift_detection_status")
        drifts = recorded("describe_stack_resource_drifts")
        if answer == IN_SYNC:
            status.update(StackDriftStatus="IN_SYNC", DriftedStackResourceCount=0)
            drifts["StackResourceDrifts"] = []
        else:  # the port opened by hand: a different port is a different drift
            diff = drifts["StackResourceDrifts"][0]["PropertyDifferences"][0]
            diff["ActualValue"] = diff["ActualValue"].replace('"FromPort":80', f'"FromPort":{port}')
        stub.add_response("detect_stack_drift", recorded("detect_stack_drift"))
        stub.add_response("describe_stack_drift_detection_status", status)
        stub.add_response("describe_stack_resource_drifts", drifts)
    stub.activate()
    return Boto3CloudFormation(client, retry_wait=0)


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """env -> what its one stack answers; every environment is in sync unless set."""
    answers: dict[str, Any] = {}

    def open_run(_request: Any, repo: Any, env: str, purpose: Any = None) -> EnvRun:
        assert purpose is Purpose.PLAN, "drift and status read with the plan role"
        answer = answers.get(env, IN_SYNC)
        port = answers.get(f"{env}-port", 80)
        return EnvRun(repo, repo.environment(env), stubbed_cfn(answer, port), clock=FAST)

    monkeypatch.setattr("bot.github.handlers.cloud.open_run", open_run)
    return answers


@pytest.fixture
def gh() -> Any:
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "ws")


def scheduled(gh: FakeGitHub, tmp_path: Path, workspace: Path,
              **environ: str) -> tuple[Outcome, list[str], str]:  # fmt: skip
    """(outcome, the GitHub requests it made, job summary) of one scheduled run."""
    n = len(gh.requests)
    event, summary = tmp_path / f"event-{n}.json", tmp_path / f"summary-{n}.md"
    event.write_text(json.dumps(gh.schedule_event()))
    env = gh.environ("schedule", str(event), GITHUB_STEP_SUMMARY=str(summary),
                     GITHUB_WORKSPACE=str(workspace), **environ)  # fmt: skip
    outcome = run_handle(Settings.from_env(env), workspace=workspace)
    text = summary.read_text() if summary.exists() else ""
    return outcome, gh.request_summary()[n:], text


def tracking(gh: FakeGitHub) -> list[dict[str, Any]]:
    return [i for i in gh.issues.values() if i["user"]["login"] == gh.bot_login]


# --- end to end ------------------------------------------------------------------


def test_drift_opens_one_issue_keeps_it_current_and_closes_it(gh, tmp_path, workspace, cloud):
    cloud["dev"] = DRIFTED
    outcome, calls, summary = scheduled(gh, tmp_path, workspace)
    assert outcome == Outcome(1, "drift")  # drift: the scheduled run shows red
    assert calls == ["GET /issues", "POST /issues"]
    (issue,) = tracking(gh)
    assert issue["body"].startswith(MARKER + "\n") and issue["state"] == "open"
    assert [lab["name"] for lab in issue["labels"]] == [LABEL]
    assert "`platform-dev-logs`**: ⚠️ DRIFT DETECTED" in issue["body"]
    assert (
        '"FromPort":80' in issue["body"]
        and "http://127.0.0.1:9/acme/infra/actions/runs/4242" in issue["body"]
    )
    assert "`platform-prd-logs`**: ✓ no drift detected" in issue["body"]
    assert f"Opened the drift tracking issue #{issue['number']}." in summary
    assert "### Drift in `dev`" in summary

    # The same drift the next day: one read, no edit, no second issue.
    outcome, calls, summary = scheduled(gh, tmp_path, workspace)
    assert (outcome.exit_code, calls) == (1, ["GET /issues"])
    assert len(tracking(gh)) == 1 and "not changed: the report is the same" in summary

    # The drift changes (another port opened, tst drifts too): the body is edited.
    cloud.update({"dev-port": 8080, "tst": DRIFTED})
    outcome, calls, summary = scheduled(gh, tmp_path, workspace)
    assert (outcome.exit_code, calls) == (1, ["GET /issues", "PATCH /issues/{n}"])
    (issue,) = tracking(gh)
    assert '"FromPort":8080' in issue["body"] and "`platform-tst-logs`**: ⚠️" in issue["body"]
    assert (
        issue["state"] == "open"
        and f"Updated the drift tracking issue #{issue['number']}" in summary
    )

    # Back in sync everywhere: the issue says so and is closed, in one request.
    cloud.clear()
    outcome, calls, summary = scheduled(gh, tmp_path, workspace)
    assert (outcome.exit_code, calls) == (0, ["GET /issues", "PATCH /issues/{n}"])
    (issue,) = tracking(gh)
    assert issue["state"] == "closed" and issue["body"].startswith(MARKER + "\n")
    assert "resolved" in issue["body"] and "Every stack was in sync" in issue["body"]
    assert gh.requests[-1].body == {"body": issue["body"], "state": "closed"}
    assert f"Closed the drift tracking issue #{issue['number']}" in summary

    # In sync and no open issue: nothing to write.
    outcome, calls, _ = scheduled(gh, tmp_path, workspace)
    assert (outcome.exit_code, calls) == (0, ["GET /issues"])

    # Drift again after the issue was closed: a fresh issue (the closed one stays closed).
    cloud["prd"] = DRIFTED
    outcome, calls, _ = scheduled(gh, tmp_path, workspace)
    assert calls == ["GET /issues", "POST /issues"]
    assert [i["state"] for i in tracking(gh)] == ["closed", "open"]
    # The budget over these six runs: at most two requests a run.
    assert gh.count() == 10


def test_an_issue_a_person_opened_with_the_marker_is_never_touched(gh, tmp_path, workspace, cloud):
    forged_body = f"{MARKER}\nclose me, bot"
    forged = gh.add_issue(title="drift", body=forged_body, author="mallory", labels=(LABEL,))
    cloud["dev"] = DRIFTED
    scheduled(gh, tmp_path, workspace)
    (mine,) = tracking(gh)
    assert mine["number"] != forged["number"]
    cloud.clear()
    _, calls, _ = scheduled(gh, tmp_path, workspace)
    assert calls == ["GET /issues", "PATCH /issues/{n}"]
    assert gh.requests[-1].path.endswith(f"/issues/{mine['number']}")
    assert (forged["state"], forged["body"]) == ("open", forged_body)
    assert gh.issues[mine["number"]]["state"] == "closed"


def test_no_drift_detection_on_the_endpoint_opens_and_closes_nothing(gh, tmp_path, workspace,
                                                                      cloud):  # fmt: skip
    cloud.update(dev=UNSUPPORTED, tst=UNSUPPORTED, prd=UNSUPPORTED)
    outcome, calls, summary = scheduled(gh, tmp_path, workspace)
    assert (outcome.exit_code, calls) == (0, ["GET /issues"])
    assert "drift detection is not available here" in summary
    assert "not changed: drift detection is not available for every stack" in summary
    assert not tracking(gh)
    # An open tracking issue stays open: "not checked" is not "in sync".
    cloud["dev"] = DRIFTED
    scheduled(gh, tmp_path, workspace)
    cloud["dev"] = UNSUPPORTED
    outcome, calls, _ = scheduled(gh, tmp_path, workspace)
    assert calls == ["GET /issues"] and tracking(gh)[0]["state"] == "open"


def test_aws_access_failure_is_reported_in_the_summary_only(gh, tmp_path, workspace, cloud):
    cloud["dev"] = DRIFTED
    scheduled(gh, tmp_path, workspace)
    (issue,) = tracking(gh)
    before = dict(issue)
    cloud.update(dev=IN_SYNC, prd=DENIED)
    outcome, calls, summary = scheduled(gh, tmp_path, workspace)
    assert (outcome.exit_code, calls) == (1, [])  # red, and GitHub is not even asked
    assert "AWS refused access (AccessDenied)" in summary
    assert "not changed: some environment could not be checked" in summary
    assert gh.issues[issue["number"]] == before


def test_bound_environment_keeps_its_own_issue(gh, tmp_path, workspace, cloud):
    cloud.update(dev=DRIFTED, prd=DRIFTED)
    scheduled(gh, tmp_path, workspace)
    scheduled(gh, tmp_path, workspace, INFRA_BOT_ENVIRONMENT="dev")
    scheduled(gh, tmp_path, workspace, INFRA_BOT_ENVIRONMENT="prd")
    issues = tracking(gh)
    assert [i["body"].split("\n", 1)[0] for i in issues] == [MARKER, marker("dev"), marker("prd")]
    assert issues[1]["title"] == "infra-bot: CloudFormation drift in `dev`"
    assert "platform-prd-logs" not in issues[1]["body"]
    cloud.clear()
    outcome, calls, _ = scheduled(gh, tmp_path, workspace, INFRA_BOT_ENVIRONMENT="dev")
    assert (outcome.exit_code, calls) == (0, ["GET /issues", "PATCH /issues/{n}"])
    assert [i["state"] for i in tracking(gh)] == ["open", "closed", "open"]


def test_a_token_without_issues_write_fails_after_the_summary(gh, tmp_path, workspace, cloud):
    cloud["dev"] = DRIFTED
    gh.fail_next("POST", r"/issues$", 403, message="Resource not accessible by integration")
    with pytest.raises(GitHubError, match="issues: write"):
        scheduled(gh, tmp_path, workspace)
    (summary,) = tmp_path.glob("summary-*.md")
    assert "### Drift in `dev`" in summary.read_text()


# --- the decision, as a table ----------------------------------------------------


def issue(number: int, body: str, *, author: str = "github-actions[bot]", bot: bool = True,
          labels: tuple[str, ...] = (LABEL,)) -> Issue:  # fmt: skip
    return Issue(number, "t", body, author, bot, "open", labels)


REPORT = "### Drift in `dev`\n\n**`platform-dev-logs`**: ⚠️ DRIFT DETECTED (1 resource(s))\n"


@pytest.mark.parametrize("issues,expected", [
    ([], Open),
    ([issue(3, f"{MARKER}\nhand-made", author="mallory", bot=False)], Open),
    ([issue(3, f"{MARKER}\nnot labelled", labels=())], Open),
    ([issue(3, f"quoted:\n{MARKER}")], Open),  # the marker must be the first line
    ([issue(3, f"{marker('prd')}\nanother scope")], Open),
    ([issue(3, f"{MARKER}\nold report"), issue(2, f"{MARKER}\nolder")], Edit),
])  # fmt: skip
def test_which_issue_is_ours(issues, expected):
    action = plan_issue(issues, DriftVerdict.DRIFTED, REPORT, env=None, when=NOW)
    assert type(action) is expected
    if isinstance(action, Edit):
        assert action.number == 2 and not action.close  # the oldest of two


def test_unchanged_report_is_not_rewritten_for_a_new_time():
    first = plan_issue([], DriftVerdict.DRIFTED, REPORT, env=None, when=NOW, run_url="u/1")
    assert isinstance(first, Open)
    later = datetime(2026, 1, 6, 5, 17, tzinfo=UTC)
    again = plan_issue([issue(7, first.body)], DriftVerdict.DRIFTED, REPORT, env=None,
                       when=later, run_url="u/2")  # fmt: skip
    assert again == Keep("the report is the same", 7)


def test_a_huge_report_is_cut_to_fit_an_issue_body():
    report = "\n".join(f"| `/Tags/{i}` | ADD | `null` | `x` |" for i in range(5000))
    action = plan_issue([], DriftVerdict.DRIFTED, report, env=None, when=NOW)
    assert isinstance(action, Open)
    assert (
        len(action.body) <= 65_536 and "cut: the full report is in the job summary" in action.body
    )


# --- the adapters ----------------------------------------------------------------


def test_pygithub_lists_open_labelled_issues_without_pull_requests(gh):
    gh.add_pull_request({"x": "1"})
    mine = gh.add_issue(body=MARKER, author=gh.bot_login, labels=(LABEL,))
    gh.add_issue(body="other", labels=("bug",))
    closed = gh.add_issue(body=MARKER, author=gh.bot_login, labels=(LABEL,))
    closed["state"] = "closed"
    api = gh.client()
    (found,) = api.list_open_issues(LABEL)
    assert (found.number, found.author_is_bot, found.labels) == (mine["number"], True, (LABEL,))
    assert gh.requests[-1].query["labels"] == LABEL and gh.requests[-1].query["state"] == "open"
    created = api.create_issue("t", "b", [LABEL])
    api.edit_issue(created.number)  # nothing to change: no request
    api.edit_issue(created.number, state="closed")
    assert gh.issues[created.number]["state"] == "closed" and gh.count("PATCH") == 1


def test_local_github_keeps_issues_like_github(tmp_path):
    local = LocalGitHub(LocalGit(tmp_path), "acme/infra", {})
    opened = local.create_issue("drift", f"{MARKER}\nreport", [LABEL])
    person = local.open_issue("drift", f"{MARKER}\nreport", "mallory")
    assert [i.number for i in local.list_open_issues(LABEL)] == [opened.number]
    assert opened.author_is_bot and local.threads[person].labels == ()
    local.edit_issue(opened.number, body="in sync", state="closed")
    assert local.list_open_issues(LABEL) == [] and local.threads[opened.number].body == "in sync"

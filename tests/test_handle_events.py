"""`infra-bot handle` end to end: real webhook payload shapes, the real engine on a
workspace, PyGithub against the stateful fake GitHub API."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.commands.handle import run_handle
from bot.github.context import Outcome
from bot.render.comments import parse_marker
from bot.settings import Settings
from tests.fakegithub import FakeGitHub

ROOT = Path(__file__).resolve().parents[1]
BASE_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Description: ALB access logs bucket
Resources:
  LogsBucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${AWS::StackName}-logs"
"""
HEAD_TEMPLATE = (
    BASE_TEMPLATE
    + """\
      VersioningConfiguration:
        Status: Suspended
  Broken:
    Type: AWS::S3::Bucket
    Properties:
      NotAProperty: 1
"""
)
CLEAN_CONFIG = "apply_before_merge: [dev]\nenvironments:\n  prd:\n    users: [carol]\n"


def make_workspace(root: Path, template: str = HEAD_TEMPLATE) -> Path:
    (root / "stacks").mkdir(parents=True)
    (root / "stacks/logs.yaml").write_text(template)
    for env in ("dev", "tst", "prd"):
        (root / "environments" / env).mkdir(parents=True)
        text = (ROOT / "environments" / f"{env}.yaml").read_text()
        (root / "environments" / f"{env}.yaml").write_text(text)
        (root / "environments" / env / "logs.yaml").write_text(
            "template-file-path: stacks/logs.yaml\nparameters: {}\ntags:\n  Project: platform\n"
        )
    shutil.copytree(ROOT / "guard", root / "guard")
    return root


@pytest.fixture
def gh() -> Any:
    with FakeGitHub() as fake:
        fake.add_user("alice", permission="write")
        fake.add_user("rita", permission="read")
        fake.add_user("tom", permission="triage")
        fake.add_user("carol", permission="admin")
        fake.commit_files(
            {"stacks/logs.yaml": BASE_TEMPLATE, ".github/infra-bot.yml": CLEAN_CONFIG}
        )
        yield fake


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "ws")


def handle(
    gh: FakeGitHub,
    tmp_path: Path,
    name: str,
    payload: dict[str, Any],
    job_checkout: Path,
    **kw: Any,
) -> tuple[Outcome, int]:
    """Run `infra-bot handle` in-process as the workflow would: `job_checkout` is
    $GITHUB_WORKSPACE; `workspace=` in `kw` is a separate PR checkout (--workspace)."""
    event = tmp_path / f"event-{len(gh.requests)}.json"
    event.write_text(json.dumps(payload))
    summary = tmp_path / "summary.md"
    env = gh.environ(
        name, str(event), GITHUB_STEP_SUMMARY=str(summary), GITHUB_WORKSPACE=str(job_checkout)
    )
    before = len(gh.requests)
    outcome = run_handle(Settings.from_env(env), **kw)
    return outcome, len(gh.requests) - before


def pr_comment(gh: FakeGitHub, number: int, body: str, author: str = "alice") -> dict[str, Any]:
    return gh.add_comment(number, body, author=author)


# --- pull_request --------------------------------------------------------------


def test_pr_opened_posts_one_review_inline_and_a_status(gh, tmp_path, workspace):
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    sarif = tmp_path / "out.sarif"
    outcome, used = handle(
        gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"]), workspace, sarif=sarif
    )
    assert outcome.exit_code == 0
    reviews = gh.reviews_on(pr["number"])
    assert len(reviews) == 1
    inline = [
        c for c in gh.review_comments.values() if c["pull_request_review_id"] == reviews[0]["id"]
    ]
    assert inline, "findings on changed lines go inline"
    # 8-13 are added; 5-7 are context lines of the hunk, which GitHub accepts too.
    assert {c["line"] for c in inline} <= set(range(5, 14)), "only lines shown in the diff"
    assert "Findings outside the changed lines" in reviews[0]["body"]  # line 4-6 findings
    status = gh.statuses[pr["head"]["sha"]][0]
    assert (status["context"], status["state"]) == ("infra-bot/validate", "failure")
    assert json.loads(sarif.read_text())["version"] == "2.1.0"
    assert "infra-bot validate #" in (tmp_path / "summary.md").read_text()
    findings = reviews[0]["body"].count("\n- ") + sum(
        c["body"].count("`guard/") + c["body"].count("`E") for c in inline
    )
    assert findings > used, "requests do not grow with findings"
    assert used <= 6


def test_pr_synchronize_marks_previous_review_outdated(gh, tmp_path, workspace):
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    handle(gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"]), workspace)
    fixed = HEAD_TEMPLATE.replace("      NotAProperty: 1\n", "      BucketName: other\n")
    gh.push_to_pull_request(pr["number"], {"stacks/logs.yaml": fixed})
    (workspace / "stacks/logs.yaml").write_text(fixed)
    outcome, _ = handle(
        gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"], "synchronize"), workspace
    )
    assert outcome.exit_code == 0
    first, second = gh.reviews_on(pr["number"])
    assert parse_marker(first["body"]).kind == "review-outdated"
    assert "**Outdated**" in first["body"]
    assert parse_marker(second["body"]).kind == "review"
    # Re-running the same event does not post a duplicate review.
    handle(
        gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"], "synchronize"), workspace
    )
    assert len(gh.reviews_on(pr["number"])) == 2


def test_stale_run_does_not_overwrite_newer_review(gh, tmp_path, workspace):
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    old_event = gh.pull_request_event(pr["number"])
    gh.push_to_pull_request(pr["number"], {"stacks/logs.yaml": HEAD_TEMPLATE + "# note\n"})
    (workspace / "stacks/logs.yaml").write_text(HEAD_TEMPLATE + "# note\n")
    handle(
        gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"], "synchronize"), workspace
    )
    assert len(gh.reviews_on(pr["number"])) == 1
    # The run for the first commit finishes late: it must leave the newer review alone.
    handle(gh, tmp_path, "pull_request", old_event, workspace)
    reviews = gh.reviews_on(pr["number"])
    assert len(reviews) == 1
    assert reviews[0]["commit_id"] == pr["head"]["sha"]


def test_inline_rejected_with_422_falls_back_to_body_only(gh, tmp_path, workspace):
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    gh.fail_next("POST", r"/pulls/\d+/reviews$", 422, message="line must be part of the diff")
    outcome, _ = handle(
        gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"]), workspace
    )
    assert outcome.exit_code == 0
    (review,) = gh.reviews_on(pr["number"])
    assert not gh.review_comments
    assert "Findings:" in review["body"] and "stacks/logs.yaml" in review["body"]


def test_pr_without_checked_files_gets_success_status_and_no_review(gh, tmp_path):
    clean = (ROOT / "stacks" / "kms.yaml").read_text()
    ws = make_workspace(tmp_path / "clean", clean)
    pr = gh.add_pull_request({"docs/readme.md": "hello\n"})
    outcome, used = handle(gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"]), ws)
    assert outcome.exit_code == 0
    assert gh.reviews_on(pr["number"]) == []
    assert gh.statuses[pr["head"]["sha"]][0]["state"] == "success"
    assert used <= 4


def test_pr_closed_without_aws_access_is_quiet(gh, tmp_path, workspace, no_aws):
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    outcome, used = handle(
        gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"], "closed"), workspace
    )
    assert outcome.exit_code == 0
    assert used == 0


def test_fork_pr_is_validated_but_mutating_commands_refused(gh, tmp_path, workspace):
    pr = gh.add_pull_request(
        {"stacks/logs.yaml": HEAD_TEMPLATE}, fork="mallory/infra", author="alice"
    )
    outcome, _ = handle(
        gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"]), workspace
    )
    assert outcome.exit_code == 0 and len(gh.reviews_on(pr["number"])) == 1
    comment = pr_comment(gh, pr["number"], "/infra apply dev")
    outcome, _ = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    assert outcome.note.startswith("denied")
    reply = gh.comments_on(pr["number"])[-1]["body"]
    assert "forks" in reply
    assert gh.reactions_on(comment["id"]) == ["eyes", "confused"]


# --- issue_comment commands ------------------------------------------------------------


def test_write_user_runs_validate_from_a_comment(gh, tmp_path, workspace):
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    comment = pr_comment(gh, pr["number"], "/infra validate")
    outcome, used = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    assert outcome.exit_code == 0  # the command ran...
    assert gh.reactions_on(comment["id"]) == ["eyes", "rocket"]
    assert len(gh.reviews_on(pr["number"])) == 1  # ...the review holds the findings
    assert gh.statuses[pr["head"]["sha"]][0]["state"] == "failure"  # ...the status the verdict
    assert used <= 10


def test_read_user_is_refused_politely(gh, tmp_path, workspace):
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    comment = pr_comment(gh, pr["number"], "/infra plan dev", author="rita")
    outcome, _ = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    assert outcome.exit_code == 0 and outcome.note.startswith("denied")
    reply = gh.comments_on(pr["number"])[-1]["body"]
    assert "needs write permission" in reply and "you have read" in reply
    assert reply.startswith("> /infra plan dev")
    assert gh.reactions_on(comment["id"]) == ["eyes", "confused"]
    assert gh.reviews_on(pr["number"]) == []


def test_settings_from_default_branch_narrow_prd(gh, tmp_path, workspace):
    pr = gh.add_pull_request(
        {"stacks/logs.yaml": HEAD_TEMPLATE, ".github/infra-bot.yml": "environments: {}\n"}
    )
    comment = pr_comment(gh, pr["number"], "/infra approve-cost prd")
    outcome, _ = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    # The PR head loosens the settings, but they are read from main: alice is not carol.
    assert outcome.note.startswith("denied")
    assert "limit `prd`" in gh.comments_on(pr["number"])[-1]["body"]

    (read,) = [r for r in gh.requests if r.path.endswith("/contents/.github/infra-bot.yml")]
    assert read.query == {"ref": "main"}


def test_environment_names_come_from_the_trusted_checkout(gh, tmp_path, workspace):
    pr_checkout = make_workspace(tmp_path / "pr")
    (pr_checkout / "environments" / "evil.yaml").write_text(
        "name: evil\naccount_id: '999999999999'\n"
    )
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE,
                              "environments/evil.yaml": "name: evil\n"})  # fmt: skip
    comment = gh.add_comment(pr["number"], "/infra plan evil")
    outcome, _ = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace,
                        workspace=pr_checkout)  # fmt: skip
    assert outcome.note.startswith("refused") and "unknown environment `evil`" in outcome.note


def test_approve_cost_records_a_sticky_approval(gh, tmp_path, workspace):
    from bot.github.approvals import approved_cost_envs

    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    for author, env in (("alice", "dev"), ("carol", "prd"), ("alice", "dev")):
        comment = pr_comment(gh, pr["number"], f"/infra approve-cost {env}", author=author)
        outcome, _ = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
        assert outcome.exit_code == 0, outcome.note
        assert gh.reactions_on(comment["id"]) == ["eyes", "rocket"]
    bot_comments = [c for c in gh.comments_on(pr["number"]) if c["user"]["type"] == "Bot"]
    assert len(bot_comments) == 1, "one sticky approval comment, edited in place"
    api = gh.client()
    assert approved_cost_envs(api, pr["number"]) == {"dev": "alice", "prd": "carol"}
    assert approved_cost_envs(api, pr["number"], head_sha="0" * 40) == {}
    # A human pasting the marker approves nothing.
    pr_comment(
        gh,
        pr["number"],
        "<!-- infra-bot:cost-approval valid-at=2030-01-01T00:00:00+00:00 -->"
        "\n<!-- approve-cost env=tst user=rita sha= -->",
        author="rita",
    )
    assert "tst" not in approved_cost_envs(api, pr["number"])


def test_help_answers_anyone_without_a_permission_lookup(gh, tmp_path, workspace):
    issue = gh.add_issue()
    comment = pr_comment(gh, issue["number"], "/infra help", author="stranger")
    outcome, used = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    assert outcome.exit_code == 0
    assert gh.count("GET", "/permission") == 0
    assert "/infra approve-cost <env>" in gh.comments_on(issue["number"])[-1]["body"]
    assert used == 3  # eyes, reply, rocket


def test_unknown_command_gets_error_and_help(gh, tmp_path, workspace):
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    comment = pr_comment(gh, pr["number"], "/infra plna dev")
    outcome, _ = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    assert outcome.exit_code == 0
    reply = gh.comments_on(pr["number"])[-1]["body"]
    assert "unknown command `plna`" in reply and "Did you mean `plan`?" in reply
    assert "| `/infra validate` |" in reply


def test_unwired_cloud_command_says_so(gh, tmp_path, workspace, monkeypatch):
    from bot.github import commands
    from bot.github.grammar import Verb

    monkeypatch.setitem(commands.TABLE, Verb.PLAN, "bot.commands.no_such_module:run_plan")
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    comment = pr_comment(gh, pr["number"], "/infra plan dev")
    outcome, _ = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    assert outcome.exit_code == 1
    reply = gh.comments_on(pr["number"])[-1]["body"]
    assert "This build of infra-bot cannot run `plan`: bot.commands.no_such_module is not" in reply
    assert gh.reactions_on(comment["id"]) == ["eyes", "confused"]


SEEN: list[Any] = []


def recording_runner(request: Any) -> Any:
    """Stands in for the cloud part's entry point: records what the router hands it."""
    from bot.github.commands import CommandResult

    SEEN.append(request)
    env = request.command.args[0] if request.command.args else "all"
    return CommandResult(True, f"### plan for {env}\n\nok", kind=f"plan-{env}")


def test_wired_command_posts_a_sticky_that_reruns_edit(gh, tmp_path, workspace, monkeypatch):
    from bot.github import commands
    from bot.github.grammar import Verb

    monkeypatch.setitem(commands.TABLE, Verb.PLAN, f"{__name__}:recording_runner")
    SEEN.clear()
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    for _ in range(2):
        comment = pr_comment(gh, pr["number"], "/infra plan dev")
        outcome, used = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
        assert outcome.exit_code == 0, outcome.note
        assert gh.reactions_on(comment["id"]) == ["eyes", "rocket"]
    assert [r.command.args for r in SEEN] == [("dev",), ("dev",)]
    assert SEEN[0].pr.number == pr["number"] and SEEN[0].actor == "alice"
    stickies = [c for c in gh.comments_on(pr["number"]) if c["user"]["type"] == "Bot"]
    assert len(stickies) == 1 and parse_marker(stickies[0]["body"]).kind == "plan-dev"
    # The identical second answer was neither re-posted nor edited.
    assert gh.count("PATCH", r"/issues/comments/") == 0
    assert used <= 9


def test_push_to_default_branch_routes_to_deploy(gh, tmp_path, workspace, monkeypatch):
    from bot.github.handlers import scheduled

    monkeypatch.setattr(scheduled, "DEPLOY", f"{__name__}:recording_runner")
    SEEN.clear()
    outcome, used = handle(gh, tmp_path, "push", gh.push_event(), workspace, env="dev")
    assert outcome.exit_code == 0 and used == 0
    assert SEEN[0].command.args == ("dev",)
    assert "plan for dev" in (tmp_path / "summary.md").read_text()


def test_push_without_deploy_part_fails_loudly(gh, tmp_path, workspace, monkeypatch):
    from bot.github.handlers import scheduled

    monkeypatch.setattr(scheduled, "DEPLOY", "bot.commands.no_such_module:run_deploy")
    outcome, _ = handle(gh, tmp_path, "push", gh.push_event(), workspace, env="dev")
    assert outcome.exit_code == 1
    assert "cannot run" in (tmp_path / "summary.md").read_text()
    outcome, _ = handle(gh, tmp_path, "push", gh.push_event(), workspace)
    assert outcome.exit_code == 2 and "--env" in outcome.note


@pytest.mark.parametrize(
    "name,author", [("bot", "github-actions[bot]"), ("other bot", "renovate[bot]")]
)
def test_bot_comments_are_ignored(gh, tmp_path, workspace, name, author):
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    gh.add_user(author, bot=True)
    comment = pr_comment(gh, pr["number"], "/infra apply dev", author=author)
    outcome, used = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    assert (outcome.exit_code, used) == (0, 0)


def test_edited_comment_does_not_rerun(gh, tmp_path, workspace):
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    comment = pr_comment(gh, pr["number"], "/infra apply dev")
    outcome, used = handle(
        gh, tmp_path, "issue_comment", gh.comment_event(comment, action="edited"), workspace
    )
    assert (outcome.exit_code, used) == (0, 0)
    assert "edited" in outcome.note


def test_issue_comment_free_text_is_generate(gh, tmp_path, workspace):
    issue = gh.add_issue()
    comment = pr_comment(gh, issue["number"], "/infra add an encrypted S3 bucket for ALB logs")
    outcome, _ = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    reply = gh.comments_on(issue["number"])[-1]["body"]
    try:
        import bot.commands.generate  # noqa: F401
    except ModuleNotFoundError:
        assert "cannot run `generate`" in reply
        assert outcome.exit_code == 1
    else:  # the LLM part is built in: the request reached it and it answered in the thread
        assert reply.startswith("> /infra add an encrypted S3 bucket for ALB logs")
        assert gh.reactions_on(comment["id"])[0] == "eyes"
        assert gh.reactions_on(comment["id"])[1] in ("rocket", "confused")
        if outcome.exit_code == 0:  # it opened a PR through the same API adapter
            assert len(gh.pulls) == 1 and "/pull/" in reply


def test_review_body_command_runs_like_a_comment(gh, tmp_path, workspace):
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    outcome, _ = handle(
        gh,
        tmp_path,
        "pull_request_review",
        gh.review_event(pr["number"], "/infra approve-cost dev"),
        workspace,
    )
    assert outcome.exit_code == 0
    assert "accepted by @\u200balice" in gh.comments_on(pr["number"])[-1]["body"]
    plain, used = handle(
        gh, tmp_path, "pull_request_review", gh.review_event(pr["number"], "LGTM"), workspace
    )
    assert (plain.exit_code, used) == (0, 0)


# --- push, schedule, dispatch, unknown ------------------------------------------------


def test_push_to_other_branch_is_ignored(gh, tmp_path, workspace):
    gh.commit_files({"x": "1"}, branch="feature")
    outcome, used = handle(gh, tmp_path, "push", gh.push_event(branch="feature"), workspace)
    assert (outcome.exit_code, used) == (0, 0)


def test_dispatch_command_checks_the_actor(gh, tmp_path, workspace):
    outcome, _ = handle(
        gh,
        tmp_path,
        "workflow_dispatch",
        gh.dispatch_event({"command": "rollback dev logs"}, actor="rita"),
        workspace,
    )
    assert outcome.note.startswith("denied")
    outcome, used = handle(
        gh, tmp_path, "workflow_dispatch", gh.dispatch_event({"command": "help"}), workspace
    )
    assert outcome.exit_code == 0 and used == 0
    assert "/infra rollback" in (tmp_path / "summary.md").read_text()


def test_schedule_routes_to_drift(gh, tmp_path, workspace, monkeypatch):
    from bot.github import commands
    from bot.github.grammar import Verb

    monkeypatch.setitem(commands.TABLE, Verb.DRIFT, f"{__name__}:recording_runner")
    SEEN.clear()
    outcome, used = handle(gh, tmp_path, "schedule", gh.schedule_event(), workspace)
    assert (outcome.exit_code, outcome.note, used) == (0, "drift", 0)
    assert SEEN[0].command.verb is Verb.DRIFT


@pytest.mark.parametrize("name,payload", [
    ("issues", "issues.opened"), ("pull_request", "pull_request.labeled"), ("watch", None),
    ("", None),
])  # fmt: skip
def test_unhandled_events_exit_quietly(gh, tmp_path, workspace, name, payload):
    data = gh.payload(payload) if payload else {"action": "started"}
    outcome, used = handle(gh, tmp_path, name, data, workspace)
    assert (outcome.exit_code, used) == (0, 0)
    assert outcome.note.startswith("ignored")


def test_cli_entry_point_reads_the_actions_environment(gh, tmp_path, workspace):
    issue = gh.add_issue()
    comment = pr_comment(gh, issue["number"], "/infra help")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(gh.comment_event(comment)))
    env = gh.environ("issue_comment", str(event), GITHUB_WORKSPACE=str(workspace))
    result = CliRunner().invoke(app, ["handle"], env=env)
    assert result.exit_code == 0, result.output
    assert gh.reactions_on(comment["id"]) == ["eyes", "rocket"]


def test_cli_without_event_file_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(
        app, ["handle"], env={"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": ""}
    )
    assert result.exit_code == 2
    assert "GITHUB_EVENT_PATH is not set" in result.output


def test_workflow_step_runs_its_command_for_the_pr(gh, tmp_path, workspace, monkeypatch):
    from bot.github import commands
    from bot.github.grammar import Verb

    monkeypatch.setitem(commands.TABLE, Verb.PLAN, f"{__name__}:recording_runner")
    SEEN.clear()
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    event = gh.pull_request_event(pr["number"], "synchronize")
    outcome, used = handle(gh, tmp_path, "pull_request", event, workspace, run="plan")
    assert outcome.exit_code == 0, outcome.note
    assert gh.count("GET", "/permission") == 0, "the workflow is the actor"
    (sticky,) = gh.comments_on(pr["number"])
    assert parse_marker(sticky["body"]).kind == "plan-all"
    assert used == 3  # commit time, list comments, create
    fork = gh.add_pull_request(
        {"stacks/logs.yaml": HEAD_TEMPLATE}, fork="mallory/infra", branch="f2"
    )
    outcome, used = handle(
        gh, tmp_path, "pull_request", gh.pull_request_event(fork["number"]), workspace, run="plan"
    )
    assert (outcome.exit_code, used) == (0, 0) and "fork" in outcome.note
    outcome, used = handle(gh, tmp_path, "pull_request", event, workspace, run="explode now")
    assert outcome.exit_code == 2 and used == 0  # free text is a change request: not for steps
    assert outcome.note == "--run 'explode now': not a command"


BODIES: list[str] = []


def scripted_runner(request: Any) -> Any:
    """Answers with the next scripted body and valid-at (what a cloud runner would do)."""
    from datetime import datetime

    from bot.github.commands import CommandResult

    body, at = BODIES.pop(0).rsplit("|", 1)
    return CommandResult(True, body, kind="plan-dev", valid_at=datetime.fromisoformat(at))


def test_rerun_edits_the_same_comment_and_a_stale_run_does_not(gh, tmp_path, workspace,
                                                               monkeypatch):  # fmt: skip
    from bot.github import commands
    from bot.github.grammar import Verb

    monkeypatch.setitem(commands.TABLE, Verb.PLAN, f"{__name__}:scripted_runner")
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    BODIES[:] = [
        "first plan|2026-01-05T10:00:00+00:00",
        "second plan|2026-01-05T11:00:00+00:00",  # a re-run for a newer commit
        "late plan of an old commit|2026-01-05T10:30:00+00:00",  # finished late
    ]
    ids = []
    for _ in range(3):
        comment = gh.add_comment(pr["number"], "/infra plan dev")
        handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
        ids.append([c["id"] for c in gh.comments_on(pr["number"]) if c["user"]["type"] == "Bot"])
    assert ids[0] == ids[1] == ids[2] and len(ids[0]) == 1, "one sticky comment, edited"
    body = gh.comments[ids[0][0]]["body"]
    assert "second plan" in body and "late plan" not in body
    assert gh.count("PATCH", r"/issues/comments/") == 1


def test_200kb_report_is_split_into_sticky_parts_and_shrinks_back(gh, tmp_path, workspace,
                                                                  monkeypatch):  # fmt: skip
    from bot.github import commands
    from bot.github.grammar import Verb

    monkeypatch.setitem(commands.TABLE, Verb.PLAN, f"{__name__}:scripted_runner")
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    table = "".join(f"| stack-{i} | Modify | `AWS::EC2::SecurityGroup` | Replacement: False |\n"
                    for i in range(2800))  # fmt: skip
    report = "<details><summary>changes</summary>\n\n```diff\n" + table + "```\n\n</details>\n"
    assert len(report) > 200_000
    BODIES[:] = [f"{report}|2026-01-05T10:00:00+00:00", "small now|2026-01-05T11:00:00+00:00"]
    comment = gh.add_comment(pr["number"], "/infra plan dev")
    outcome, _ = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    assert outcome.exit_code == 0
    parts = [c for c in gh.comments_on(pr["number"]) if c["user"]["type"] == "Bot"]
    assert len(parts) == 4 and all(len(p["body"]) < 65_536 for p in parts)
    assert [parse_marker(p["body"]).part for p in parts] == [1, 2, 3, 4]
    for p in parts:
        body = p["body"]
        assert body.count("```") % 2 == 0, "fences closed in every part"
        assert body.count("<details") == body.count("</details>")
    rows = sum(p["body"].count("| stack-") for p in parts)
    assert rows == 2800, "every row posted exactly once"
    comment = gh.add_comment(pr["number"], "/infra plan dev")
    handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    after = [c for c in gh.comments_on(pr["number"]) if c["user"]["type"] == "Bot"]
    assert [c["id"] for c in after] == [c["id"] for c in parts]
    assert "small now" in after[0]["body"]
    assert all("no longer used" in c["body"] for c in after[1:])


def test_status_shows_the_checks_of_the_head_commit(gh, tmp_path, workspace, no_aws):
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    handle(gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"]), workspace)
    comment = gh.add_comment(pr["number"], "/infra status", author="stranger")
    outcome, _ = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    assert outcome.exit_code == 0
    body = gh.comments_on(pr["number"])[-1]["body"]
    assert parse_marker(body).kind == "status"
    assert "| `infra-bot/validate` | failure |" in body
    # Deployments need AWS: each environment says what to configure, the checks still show.
    assert body.count("No AWS credentials in this job") == 3 and "id-token: write" in body


def crashing_runner(request: Any) -> Any:
    raise RuntimeError("secret-token-abc leaked into a message")


def test_a_crashing_command_still_gets_an_answer(gh, tmp_path, workspace, monkeypatch):
    from bot.github import commands
    from bot.github.grammar import Verb

    monkeypatch.setitem(commands.TABLE, Verb.PLAN, f"{__name__}:crashing_runner")
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    comment = gh.add_comment(pr["number"], "/infra plan dev")
    outcome, _ = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    assert outcome.exit_code == 1
    reply = gh.comments_on(pr["number"])[-1]["body"]
    assert "failed while running `plan`: RuntimeError" in reply
    assert "secret-token" not in reply, "exception text stays in the log"
    assert gh.reactions_on(comment["id"]) == ["eyes", "confused"]


def test_broken_environment_file_becomes_a_finding(gh, tmp_path, workspace):
    (workspace / "environments" / "dev.yaml").write_text("name: dev\naccount_id: [not, a, string\n")
    pr = gh.add_pull_request({"environments/dev.yaml": "name: dev\n"})
    outcome, _ = handle(gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"]),
                        workspace)  # fmt: skip
    assert outcome.exit_code == 0
    (review,) = gh.reviews_on(pr["number"])
    assert "repo/invalid" in review["body"]
    assert gh.statuses[pr["head"]["sha"]][0]["state"] == "failure"


def test_missing_token_permission_fails_the_job_with_what_to_fix(gh, tmp_path, workspace):
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    gh.fail_next(
        "POST", r"/pulls/\d+/reviews$", 403, message="Resource not accessible by integration"
    )
    event = tmp_path / "event.json"
    event.write_text(json.dumps(gh.pull_request_event(pr["number"])))
    env = gh.environ("pull_request", str(event), GITHUB_WORKSPACE=str(workspace))
    result = CliRunner().invoke(app, ["handle"], env=env)
    assert result.exit_code == 1
    text = " ".join(result.output.split())  # the console wraps long lines
    assert "403 Resource not accessible by integration" in text
    assert "`permissions:` block (pull-requests: write" in text


def long_reply_runner(request: Any) -> Any:
    from bot.github.commands import CommandResult

    return CommandResult(True, "```\n" + "line of output\n" * 12_000 + "```\n")


def test_a_long_plain_reply_is_posted_in_valid_parts(gh, tmp_path, workspace, monkeypatch):
    from bot.github import commands
    from bot.github.grammar import Verb

    monkeypatch.setitem(commands.TABLE, Verb.DRIFT, f"{__name__}:long_reply_runner")
    issue = gh.add_issue()
    comment = gh.add_comment(issue["number"], "/infra drift", author="alice")
    outcome, _ = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    assert outcome.exit_code == 0
    replies = [c["body"] for c in gh.comments_on(issue["number"]) if c["user"]["type"] == "Bot"]
    assert len(replies) == 3 and all(len(r) <= 65_536 for r in replies)
    assert sum(r.count("line of output") for r in replies) == 12_000
    assert all(r.count("```") % 2 == 0 for r in replies)

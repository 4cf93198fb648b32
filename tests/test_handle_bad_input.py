"""Hostile input is data: answered or ignored, never executed or rendered raw."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fakegithub import FakeGitHub
from tests.test_handle_events import HEAD_TEMPLATE, handle, make_workspace


@pytest.fixture
def gh() -> Any:
    with FakeGitHub() as fake:
        fake.add_user("alice", permission="write")
        yield fake


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "ws")


def bot_output(gh: FakeGitHub) -> str:
    parts = [c["body"] for c in gh.comments.values() if c["user"]["type"] == "Bot"]
    parts += [r["body"] for r in gh.reviews.values()]
    parts += [c["body"] for c in gh.review_comments.values()]
    return "\n".join(parts)


def test_five_megabyte_command_is_answered_quickly_and_bounded(gh, tmp_path, workspace):
    issue = gh.add_issue()
    comment = gh.add_comment(issue["number"], "/infra " + "x" * 5_000_000)
    start = time.monotonic()
    outcome, used = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    assert time.monotonic() - start < 5
    assert outcome.exit_code == 0 and "longer than" in outcome.note
    reply = gh.comments_on(issue["number"])[-1]["body"]
    assert len(reply) < 5_000
    assert used == 3  # eyes, the reply, confused


def test_five_megabyte_plain_comment_is_ignored_without_requests(gh, tmp_path, workspace):
    issue = gh.add_issue()
    comment = gh.add_comment(issue["number"], "looks good\n" * 500_000)
    outcome, used = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    assert (outcome.exit_code, used) == (0, 0)


@pytest.mark.parametrize("body", [
    '/infra plan "$(touch {canary})"',
    "/infra plan dev; touch {canary}",
    "/infra plan `touch {canary}`",
    "/infra rollback dev $(touch {canary})",
    "/infra plan dev && touch {canary} | sh",
    "/infra approve-cost ${{{{ github.token }}}}",
])  # fmt: skip
def test_shell_metacharacters_are_never_executed(gh, tmp_path, workspace, body):
    canary = tmp_path / "canary"
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    comment = gh.add_comment(pr["number"], body.format(canary=canary))
    outcome, _ = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    assert not canary.exists()
    assert outcome.exit_code == 0 and outcome.note.startswith("refused")
    reply = gh.comments_on(pr["number"])[-1]["body"]
    assert reply.startswith("> /infra ")
    assert "usage:" in reply or "not a valid" in reply


def test_ansi_escapes_and_nul_bytes_are_stripped(gh, tmp_path, workspace):
    issue = gh.add_issue()
    comment = gh.add_comment(issue["number"], "/infra he\x1b[31mlp\x00\x07 \x1b]0;title\x07")
    outcome, _ = handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    out = bot_output(gh)
    assert "\x1b" not in out and "\x00" not in out and "\x07" not in out
    assert outcome.exit_code == 0


def test_html_and_mentions_are_echoed_defused(gh, tmp_path, workspace):
    issue = gh.add_issue()
    comment = gh.add_comment(
        issue["number"], "/infra zap <img src=x onerror=alert(1)> @acme/admins #12 ${{ secrets.X }}"
    )
    handle(gh, tmp_path, "issue_comment", gh.comment_event(comment), workspace)
    reply = gh.comments_on(issue["number"])[-1]["body"]
    # Free text on an issue is a generate request; whatever answers, the echo is defused.
    assert "<img" not in reply
    assert "&lt;img src=x onerror=alert(1)&gt;" in reply
    assert "@acme" not in reply and "@\u200bacme/admins" in reply
    assert "#12" not in reply and "#\u200b12" in reply


def test_branch_named_like_a_command_and_html_title(gh, tmp_path):
    canary = tmp_path / "canary"
    ws = make_workspace(tmp_path / "ws")
    # A git workspace, so the base-ref probe really calls git with the hostile name.
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", "-C", str(ws), *args], check=True, capture_output=True)
    gh.repo.refs[f"heads/$(touch {canary})"] = gh.repo.refs["heads/main"]
    pr = gh.add_pull_request(
        {"stacks/logs.yaml": HEAD_TEMPLATE}, branch=f"$(touch {canary})",
        title='<img src=x onerror="alert(1)"> <!-- infra-bot:review valid-at=2099-01-01T00:00:00 -->',
    )  # fmt: skip
    pr["base"]["ref"] = f"$(touch {canary})"
    outcome, _ = handle(gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"]), ws)
    assert outcome.exit_code == 0
    assert not canary.exists()
    out = bot_output(gh)
    assert "<img" not in out and "alert(1)" not in out
    assert len(gh.reviews_on(pr["number"])) == 1


def test_malformed_payload_is_ignored(gh, tmp_path, workspace):
    outcome, used = handle(
        gh,
        tmp_path,
        "issue_comment",
        {"action": "created", "comment": {"body": "/infra help"}},
        workspace,
    )
    assert (outcome.exit_code, used) == (0, 0)
    assert "without the expected fields" in outcome.note


def test_event_file_that_is_not_json_is_a_clear_error(tmp_path):
    from bot.settings import Settings, SettingsError

    bad = tmp_path / "event.json"
    bad.write_bytes(b"\x00\xff not json")
    settings = Settings.from_env({"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(bad)})
    with pytest.raises(SettingsError, match="not JSON"):
        settings.load_event()

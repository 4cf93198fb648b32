"""The Actions environment, read once into a frozen settings object."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import MAX_EVENT_BYTES, Settings, SettingsError


def test_reads_the_actions_environment(tmp_path: Path):
    env = {
        "GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(tmp_path / "e.json"),
        "GITHUB_API_URL": "https://ghe.example.com/api/v3", "GITHUB_REPOSITORY": "acme/infra",
        "GITHUB_TOKEN": "ghs_secret", "GITHUB_SHA": "a" * 40, "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "s.md"), "RUNNER_TEMP": str(tmp_path),
        "GITHUB_SERVER_URL": "https://ghe.example.com", "GITHUB_RUN_ID": "7",
        "GITHUB_WORKSPACE": str(tmp_path), "UNRELATED": "x", "INFRA_BOT_ENVIRONMENT": "prd",
    }  # fmt: skip
    s = Settings.from_env(env)
    assert (s.event_name, s.api_url, s.repository, s.sha) == (
        "issue_comment", "https://ghe.example.com/api/v3", "acme/infra", "a" * 40)  # fmt: skip
    assert s.bound_environment == "prd"
    assert s.in_actions and s.runner_temp == tmp_path and s.step_summary == tmp_path / "s.md"
    assert s.run_url == "https://ghe.example.com/acme/infra/actions/runs/7"
    assert s.token.get_secret_value() == "ghs_secret" and "ghs_secret" not in repr(s)
    with pytest.raises(ValidationError):
        s.event_name = "push"  # type: ignore[misc]


def test_defaults_outside_actions():
    s = Settings.from_env({})
    assert s.api_url == "https://api.github.com" and not s.in_actions
    assert s.step_summary is None and s.run_url == ""
    assert (s.write_pause, s.retry_backoff) == (1.0, 1.0)


@pytest.mark.parametrize("value,message", [("fast", "number of seconds"), ("-1", "between")])
def test_bad_pacing_is_a_clear_error(value, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"INFRA_BOT_WRITE_PAUSE": value})


def test_event_file_is_read_bounded(tmp_path: Path):
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"action": "created"}))
    assert Settings.from_env({"GITHUB_EVENT_PATH": str(path)}).load_event() == {"action": "created"}
    path.write_bytes(b'{"a": "' + b"x" * MAX_EVENT_BYTES + b'"}')
    with pytest.raises(SettingsError, match="larger than"):
        Settings.from_env({"GITHUB_EVENT_PATH": str(path)}).load_event()
    path.write_text("[1, 2]")
    with pytest.raises(SettingsError, match="JSON object"):
        Settings.from_env({"GITHUB_EVENT_PATH": str(path)}).load_event()
    with pytest.raises(SettingsError, match="cannot read"):
        Settings.from_env({"GITHUB_EVENT_PATH": str(tmp_path / "missing")}).load_event()


def test_the_github_side_never_reads_the_process_environment():
    """bot/github and the handle command get everything through Settings."""
    root = Path(__file__).resolve().parents[1] / "bot"
    files = [*(root / "github").rglob("*.py"), root / "commands" / "handle.py",
             root / "render" / "comments.py"]  # fmt: skip
    pattern = re.compile(r"os\.environ|getenv\(|environ\.get")
    assert len(files) > 10
    assert [str(p) for p in files if pattern.search(p.read_text())] == []

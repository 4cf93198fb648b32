"""Acting as a GitHub App instead of GITHUB_TOKEN (INFRA_BOT_APP_ID / _PRIVATE_KEY)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from bot.cli import app
from bot.commands.handle import run_handle
from bot.github.api import GitHubError
from bot.settings import Settings, SettingsError
from tests.fakegithub import FakeGitHub

APP_ID = 424242


def _pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return _pem_pair()


@pytest.fixture
def gh() -> Any:
    with FakeGitHub() as fake:
        fake.add_user("alice", permission="write")
        yield fake


def help_env(gh: FakeGitHub, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of `/infra help` commented on a PR, GITHUB_TOKEN left empty."""
    pr = gh.add_pull_request({"stacks/a.yaml": "x: 1\n"}, author="alice")
    comment = gh.add_comment(pr["number"], "/infra help", author="alice")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(gh.comment_event(comment)))
    return gh.environ(
        "issue_comment", str(event), GITHUB_TOKEN="", GITHUB_WORKSPACE=str(tmp_path), **extra
    )


def app_env(private_pem: str, **extra: str) -> dict[str, str]:
    return {"INFRA_BOT_APP_ID": str(APP_ID), "INFRA_BOT_APP_PRIVATE_KEY": private_pem, **extra}


def test_handled_event_calls_github_with_the_installation_token(gh, tmp_path, keys):
    private, public = keys
    gh.add_app(APP_ID, public)
    env = help_env(gh, tmp_path, **app_env(private))

    outcome = run_handle(Settings.from_env(env))

    assert outcome.exit_code == 0
    first, second, *calls = gh.requests
    assert (first.method, first.path) == ("GET", "/repos/acme/infra/installation")
    assert first.authorization.startswith("Bearer ")
    assert (second.method, second.path, second.status) == (
        "POST", f"/app/installations/{gh.installations['acme/infra']}/access_tokens", 201
    )  # fmt: skip
    [token] = gh.installation_tokens  # fetched once, reused for every call
    assert calls and {c.authorization for c in calls} == {f"token {token}"}
    assert any(c.method == "POST" and c.path.endswith("/comments") for c in calls)


def test_installation_id_skips_the_lookup(gh, tmp_path, keys):
    private, public = keys
    installation = gh.add_app(APP_ID, public)
    env = help_env(
        gh, tmp_path, **app_env(private, INFRA_BOT_APP_INSTALLATION_ID=str(installation))
    )

    run_handle(Settings.from_env(env))

    assert gh.count("GET", r"/installation$") == 0
    assert gh.requests[0].path == f"/app/installations/{installation}/access_tokens"


def test_app_not_installed_names_the_repository(gh, tmp_path, keys):
    private, public = keys
    gh.add_app(APP_ID, public, installed=False)
    env = help_env(gh, tmp_path, **app_env(private))

    with pytest.raises(GitHubError, match="not installed on acme/infra") as err:
        run_handle(Settings.from_env(env))
    assert err.value.status == 404 and "install the App" in err.value.hint
    assert gh.count("POST", r"/comments$") == 0


def test_wrong_app_id_or_key_is_a_clear_error(gh, tmp_path, keys):
    private, public = keys
    gh.add_app(APP_ID + 1, public)
    env = help_env(gh, tmp_path, **app_env(private))
    with pytest.raises(GitHubError, match="rejected the App's JWT") as err:
        run_handle(Settings.from_env(env))
    assert "INFRA_BOT_APP_ID" in err.value.hint


def test_malformed_key_fails_before_any_call_without_quoting_it(gh, tmp_path):
    garbage = "-----BEGIN RSA PRIVATE KEY-----\nnot-a-key-c2VjcmV0\n-----END RSA PRIVATE KEY-----"
    env = help_env(gh, tmp_path, **app_env(garbage))
    with pytest.raises(GitHubError, match="cannot sign a JWT") as err:
        run_handle(Settings.from_env(env))
    assert "not-a-key" not in str(err.value)
    assert gh.requests == []


def test_cli_never_prints_the_private_key(gh, tmp_path, keys, caplog):
    private, public = keys
    gh.add_app(APP_ID, public, installed=False)
    env = help_env(gh, tmp_path, **app_env(private))
    body = private.splitlines()[1]

    with caplog.at_level(logging.DEBUG):
        result = CliRunner().invoke(app, ["handle"], env=env)

    assert result.exit_code == 1
    assert "not installed on acme/infra" in " ".join(result.output.split())
    assert body not in result.output and body not in caplog.text


# --- settings --------------------------------------------------------------------


@pytest.mark.parametrize(
    "env,missing",
    [
        ({"INFRA_BOT_APP_ID": "1"}, "INFRA_BOT_APP_PRIVATE_KEY is not"),
        ({"INFRA_BOT_APP_PRIVATE_KEY": "pem"}, "INFRA_BOT_APP_ID is not"),
        ({"INFRA_BOT_APP_ID": "1", "INFRA_BOT_APP_PRIVATE_KEY": " "}, "PRIVATE_KEY is not"),
        ({"INFRA_BOT_APP_INSTALLATION_ID": "7"}, "without INFRA_BOT_APP_ID"),
        ({"INFRA_BOT_APP_ID": "my-app", "INFRA_BOT_APP_PRIVATE_KEY": "pem"}, "numeric id"),
    ],
)
def test_half_an_app_configuration_is_a_clear_error(env, missing):
    with pytest.raises(SettingsError, match=missing):
        Settings.from_env(env)


def test_empty_app_variables_mean_the_token(keys):
    s = Settings.from_env({"INFRA_BOT_APP_ID": "", "INFRA_BOT_APP_PRIVATE_KEY": "",
                           "INFRA_BOT_APP_INSTALLATION_ID": "", "GITHUB_TOKEN": "ghs_x"})  # fmt: skip
    assert not s.uses_app and s.app_id is None and s.app_private_key is None


def test_the_private_key_is_never_in_repr(keys):
    private, _ = keys
    s = Settings.from_env(app_env(private, INFRA_BOT_APP_INSTALLATION_ID="9"))
    assert s.uses_app and s.app_id == str(APP_ID) and s.app_installation_id == 9
    assert s.app_private_key is not None and s.app_private_key.get_secret_value() == private.strip()
    body = private.splitlines()[1]
    assert body not in repr(s) and body not in str(s) and body not in s.model_dump_json()


def test_escaped_newlines_in_the_key_are_restored(keys):
    private, _ = keys
    s = Settings.from_env(app_env(private.strip().replace("\n", "\\n")))
    assert s.app_private_key is not None
    assert s.app_private_key.get_secret_value() == private.strip()

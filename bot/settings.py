"""The GitHub Actions environment, read in one place into a frozen object.

Nothing else in bot/ reads these variables: commands receive a `Settings`
(built once by the CLI from `os.environ`, or by tests from a dict), so no
module depends on process-global state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from bot.redact import secret_values

# An event file is a few KB; a comment can add 64 KB of body. Reading more than
# this means someone fed us something that is not a webhook payload.
MAX_EVENT_BYTES = 8 * 1024 * 1024


class SettingsError(ValueError):
    """The environment is not a usable GitHub Actions run."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_name: str = ""
    event_path: Path | None = None
    api_url: str = "https://api.github.com"
    server_url: str = "https://github.com"
    repository: str = ""
    token: SecretStr = Field(default=SecretStr(""), repr=False)
    sha: str = ""
    ref: str = ""
    run_id: str = ""
    actor: str = ""
    workspace: Path | None = None
    step_summary: Path | None = None
    output: Path | None = None
    runner_temp: Path | None = None
    in_actions: bool = False
    # Set only by a workflow job bound to a GitHub environment (deploy.yml): the
    # one environment this job may change.
    bound_environment: str | None = None
    # Pacing of API calls; GitHub asks integrators to space writes ~1 s apart.
    write_pause: float = 1.0
    retry_backoff: float = 1.0
    # A GitHub App to act as instead of GITHUB_TOKEN (whose PRs trigger no
    # workflows and which cannot read team membership). Both id and key, or neither.
    app_id: str | None = None
    app_private_key: SecretStr | None = Field(default=None, repr=False)
    app_installation_id: int | None = None
    # Values of secret-named variables (bot.redact): masked in everything the bot writes.
    secret_values: frozenset[str] = Field(default=frozenset(), repr=False, exclude=True)

    @property
    def uses_app(self) -> bool:
        return self.app_id is not None and self.app_private_key is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def path(name: str) -> Path | None:
            value = env.get(name, "")
            return Path(value) if value else None

        return cls(
            event_name=env.get("GITHUB_EVENT_NAME", ""),
            event_path=path("GITHUB_EVENT_PATH"),
            api_url=env.get("GITHUB_API_URL") or "https://api.github.com",
            server_url=env.get("GITHUB_SERVER_URL") or "https://github.com",
            repository=env.get("GITHUB_REPOSITORY", ""),
            token=SecretStr(env.get("GITHUB_TOKEN", "")),
            sha=env.get("GITHUB_SHA", ""),
            ref=env.get("GITHUB_REF", ""),
            run_id=env.get("GITHUB_RUN_ID", ""),
            actor=env.get("GITHUB_ACTOR", ""),
            workspace=path("GITHUB_WORKSPACE"),
            step_summary=path("GITHUB_STEP_SUMMARY"),
            output=path("GITHUB_OUTPUT"),
            runner_temp=path("RUNNER_TEMP"),
            in_actions=env.get("GITHUB_ACTIONS", "").lower() == "true",
            bound_environment=env.get("INFRA_BOT_ENVIRONMENT") or None,
            write_pause=_number(env, "INFRA_BOT_WRITE_PAUSE", 1.0),
            retry_backoff=_number(env, "INFRA_BOT_RETRY_BACKOFF", 1.0),
            **_app(env),
            secret_values=secret_values(env),
        )

    @property
    def run_url(self) -> str:
        if not (self.repository and self.run_id):
            return ""
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    def load_event(self) -> dict[str, Any]:
        """The webhook payload; bounded, and a clear error if it is not JSON."""
        if self.event_path is None:
            raise SettingsError("GITHUB_EVENT_PATH is not set; run inside GitHub Actions")
        try:
            with self.event_path.open("rb") as fh:
                raw = fh.read(MAX_EVENT_BYTES + 1)
        except OSError as exc:
            raise SettingsError(f"cannot read the event file {self.event_path}: {exc}") from None
        if len(raw) > MAX_EVENT_BYTES:
            raise SettingsError(f"the event file is larger than {MAX_EVENT_BYTES} bytes")
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise SettingsError(f"the event file is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise SettingsError("the event file does not hold a JSON object")
        return data


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not 0 <= value <= 60:
        raise SettingsError(f"{name} must be between 0 and 60 seconds")
    return value


def _app(env: Mapping[str, str]) -> dict[str, Any]:
    """The GitHub App settings; empty means not set (a workflow passes
    `${{ vars.X }}` as "" when the repository has not configured it)."""
    app_id = env.get("INFRA_BOT_APP_ID", "").strip()
    key = env.get("INFRA_BOT_APP_PRIVATE_KEY", "").strip()
    installation = env.get("INFRA_BOT_APP_INSTALLATION_ID", "").strip()
    if bool(app_id) != bool(key):
        given, missing = (
            ("INFRA_BOT_APP_ID", "INFRA_BOT_APP_PRIVATE_KEY")
            if app_id
            else ("INFRA_BOT_APP_PRIVATE_KEY", "INFRA_BOT_APP_ID")
        )
        raise SettingsError(
            f"{given} is set but {missing} is not; set both (vars.INFRA_BOT_APP_ID and "
            "secrets.INFRA_BOT_APP_PRIVATE_KEY) to act as the GitHub App, or neither "
            "to use GITHUB_TOKEN"
        )
    if not app_id:
        if installation:
            raise SettingsError(
                "INFRA_BOT_APP_INSTALLATION_ID is set without INFRA_BOT_APP_ID and "
                "INFRA_BOT_APP_PRIVATE_KEY"
            )
        return {}
    if not app_id.isdigit():
        raise SettingsError(f"INFRA_BOT_APP_ID must be the App's numeric id, not {app_id!r}")
    if installation and not installation.isdigit():
        raise SettingsError(f"INFRA_BOT_APP_INSTALLATION_ID must be a number, not {installation!r}")
    return {
        "app_id": app_id,
        # Secrets pasted into the UI often keep escaped newlines; PEM needs real ones.
        "app_private_key": SecretStr(key.replace("\\n", "\n")),
        "app_installation_id": int(installation) if installation else None,
    }

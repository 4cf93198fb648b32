"""The `llm:` section of `.github/infra-bot.yml`, parsed on its own.

The GitHub side owns the rest of the settings file; this module only reads the
one key it needs, so a typo elsewhere in the file does not stop generation and
a typo here is reported with the key that is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SETTINGS_PATH = Path(".github") / "infra-bot.yml"
DEFAULT_MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"


class LlmConfigError(ValueError):
    """The `llm:` section cannot be used as written."""


class LlmConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["bedrock", "offline"] = "bedrock"
    model_id: str = DEFAULT_MODEL
    region: str = "us-east-1"
    # An inference profile id or ARN; newer Claude models are only reachable through one.
    inference_profile: str | None = None
    endpoint_url: str | None = None
    max_rounds: int = Field(default=3, ge=1, le=10)
    max_tokens: int = Field(default=8192, ge=256, le=64000)
    temperature: float = Field(default=0.0, ge=0.0, le=1.0)
    timeout_seconds: int = Field(default=120, ge=5, le=900)
    attempts: int = Field(default=4, ge=1, le=10)  # per call, for throttling and timeouts
    context_tokens: int = Field(default=24000, ge=2000, le=180000)

    @property
    def invoke_id(self) -> str:
        """What goes into the Converse URL: the profile when there is one."""
        return self.inference_profile or self.model_id


def parse_llm_config(data: Any) -> LlmConfig:
    """From the whole settings mapping (or None); `llm: offline` is the short form."""
    if data is None:
        return LlmConfig()
    if not isinstance(data, dict):
        raise LlmConfigError(f"{SETTINGS_PATH}: expected a mapping at the top level")
    section = data.get("llm")
    if section is None:
        return LlmConfig()
    if isinstance(section, str):
        if section.strip() in ("offline", "bedrock"):
            return LlmConfig(mode=section.strip())  # type: ignore[arg-type]
        raise LlmConfigError(f"{SETTINGS_PATH}: llm: expected 'offline', 'bedrock' or a mapping")
    if not isinstance(section, dict):
        raise LlmConfigError(f"{SETTINGS_PATH}: llm: expected a mapping")
    try:
        return LlmConfig.model_validate(section)
    except ValidationError as exc:
        problems = "; ".join(
            f"llm.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise LlmConfigError(f"{SETTINGS_PATH}: {problems}") from None


def load_llm_config(root: Path) -> LlmConfig:
    from bot.repo.safeyaml import UnsafeYamlError, load_data

    path = root / SETTINGS_PATH
    if not path.is_file():
        return LlmConfig()
    try:
        return parse_llm_config(load_data(path))
    except UnsafeYamlError as exc:
        raise LlmConfigError(f"{SETTINGS_PATH}: {exc}") from None

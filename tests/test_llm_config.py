"""The llm: settings, prices, the offline/Bedrock decision, error advice, answer parsing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.commands.generate import choose_mode
from bot.llm.bedrock import explain
from bot.llm.config import LlmConfig, LlmConfigError, load_llm_config, parse_llm_config
from bot.llm.schema import MalformedAnswerError, parse_answer, tool_spec
from bot.llm.usage import Usage, cost_usd, estimate_tokens


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, {"mode": "bedrock", "max_rounds": 3}),
        ({"other": 1}, {"mode": "bedrock"}),
        ({"llm": "offline"}, {"mode": "offline"}),
        ({"llm": {"mode": "offline"}}, {"mode": "offline"}),
        (
            {
                "llm": {
                    "model_id": "anthropic.claude-3-5-haiku-20241022-v1:0",
                    "region": "eu-west-1",
                    "inference_profile": "eu.anthropic.claude-3-5-haiku-20241022-v1:0",
                    "max_rounds": 5,
                }
            },
            {
                "region": "eu-west-1",
                "max_rounds": 5,
                "invoke_id": "eu.anthropic.claude-3-5-haiku-20241022-v1:0",
            },
        ),
    ],
)
def test_llm_section(data: Any, expected: dict[str, Any]) -> None:
    config = parse_llm_config(data)
    for key, value in expected.items():
        assert getattr(config, key) == value


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "mapping at the top level"),
        ({"llm": "sometimes"}, "expected 'offline', 'bedrock'"),
        ({"llm": 3}, "llm: expected a mapping"),
        ({"llm": {"max_rounds": 0}}, "llm.max_rounds"),
        ({"llm": {"modle_id": "x"}}, "llm.modle_id"),
        ({"llm": {"mode": "openai"}}, "llm.mode"),
    ],
)
def test_bad_llm_section(data: Any, message: str) -> None:
    with pytest.raises(LlmConfigError, match=message):
        parse_llm_config(data)


def test_load_from_the_settings_file(tmp_path: Path) -> None:
    assert load_llm_config(tmp_path) == LlmConfig()
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "infra-bot.yml").write_text("cost: {}\nllm:\n  region: us-west-2\n")
    assert load_llm_config(tmp_path).region == "us-west-2"


@pytest.mark.parametrize(
    ("model", "usage", "expected"),
    [
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", Usage(1000, 1000, 1), 0.018),
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", Usage(10_000, 2000, 2), 0.016),
        ("anthropic.claude-3-opus-20240229-v1:0", Usage(2000, 0, 1), 0.03),
        ("meta.llama3-70b-instruct-v1:0", Usage(1000, 1000, 1), None),
    ],
)
def test_cost_of_calls(model: str, usage: Usage, expected: float | None) -> None:
    cost = cost_usd(model, usage)
    assert cost == (pytest.approx(expected) if expected is not None else None)


def test_token_estimate_and_usage_sum() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert Usage(1, 2, 1) + Usage(10, 20, 1) == Usage(11, 22, 2)


@pytest.mark.parametrize(
    ("configured", "flag", "creds", "endpoint", "mode"),
    [
        ("bedrock", False, True, False, "bedrock"),
        ("bedrock", True, True, False, "offline"),
        ("offline", False, True, False, "offline"),
        ("bedrock", False, False, False, "offline"),
        ("bedrock", False, False, True, "bedrock"),
    ],
)
def test_choose_mode(configured: str, flag: bool, creds: bool, endpoint: bool, mode: str) -> None:
    assert choose_mode(configured, flag, creds, endpoint)[0] == mode


@pytest.mark.parametrize(
    ("code", "message", "hint"),
    [
        ("AccessDeniedException", "You don't have access to the model", "Model access"),
        (
            "AccessDeniedException",
            "not authorized to perform bedrock:InvokeModel",
            "bedrock:InvokeModel on",
        ),
        ("ResourceNotFoundException", "Could not resolve the foundation model", "llm.model_id"),
        (
            "ValidationException",
            "Invocation with on-demand throughput isn't supported",
            "llm.inference_profile",
        ),
        ("ThrottlingException", "slow down", "quota"),
        ("ValidationException", "messages: bad", ""),
    ],
)
def test_errors_say_what_to_configure(code: str, message: str, hint: str) -> None:
    err = explain(code, message, LlmConfig())
    assert err.code == code
    assert hint in err.hint
    assert message in str(err)


def _edit(**kw: Any) -> dict[str, Any]:
    return {"path": "stacks/a.yaml", "rationale": "why", **kw}


@pytest.mark.parametrize(
    ("calls", "error"),
    [
        (
            [
                {
                    "name": "propose_change",
                    "args": {"title": "Add it", "edits": [_edit(content="a: 1")]},
                }
            ],
            None,
        ),
        ([], "did not call propose_change"),
        ([{"name": "other", "args": {}}], "tool calls: other"),
        ([{"name": "propose_change", "args": "{}"}], "not a JSON object"),
        ([{"name": "propose_change", "args": {"title": "Add it", "edits": []}}], "edits"),
        (
            [{"name": "propose_change", "args": {"title": "Add it", "edits": [_edit()]}}],
            "exactly one of",
        ),
        (
            [
                {
                    "name": "propose_change",
                    "args": {
                        "title": "Add it",
                        "edits": [
                            _edit(
                                content="a", yaml_ops=[{"op": "set", "key_path": ["a"], "value": 1}]
                            )
                        ],
                    },
                }
            ],
            "exactly one of",
        ),
        (
            [
                {
                    "name": "propose_change",
                    "args": {
                        "title": "Add it",
                        "edits": [_edit(yaml_ops=[{"op": "chmod", "key_path": ["a"]}])],
                    },
                }
            ],
            "op",
        ),
        (
            [
                {
                    "name": "propose_change",
                    "args": {"title": "Add it", "edits": [_edit(content="a")], "shell": "rm -rf /"},
                }
            ],
            "shell",
        ),
    ],
)
def test_parse_answer(calls: list[dict[str, Any]], error: str | None) -> None:
    if error is None:
        assert parse_answer(calls).edits[0].content == "a: 1"
    else:
        with pytest.raises(MalformedAnswerError, match=error):
            parse_answer(calls)


def test_tool_schema_is_closed() -> None:
    spec = tool_spec()
    assert spec["name"] == "propose_change"
    assert spec["parameters"]["additionalProperties"] is False
    assert set(spec["parameters"]["required"]) == {"title", "edits"}

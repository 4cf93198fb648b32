"""The real langchain-aws client against the fake Converse endpoint, through the whole loop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.llm.bedrock import BedrockError, BedrockProposer
from bot.llm.checking import engine_checker
from bot.llm.config import LlmConfig
from bot.llm.loop import Proposal, generate
from bot.llm.offline import EnvFacts, RepoFacts, plan
from tests import fakebedrock as fb

MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
PROFILE = "us." + MODEL


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[fb.FakeBedrock]:
    # botocore signs every request; these keys only ever reach 127.0.0.1.
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield from fb.running()


@pytest.fixture
def platform(tmp_path: Path) -> Path:
    return fb.mini_platform(tmp_path / "repo")


def proposer(fake: fb.FakeBedrock, **config: Any) -> BedrockProposer:
    cfg = LlmConfig(
        endpoint_url=fake.url,
        model_id=MODEL,
        inference_profile=PROFILE,
        attempts=config.pop("attempts", 3),
        **config,
    )
    return BedrockProposer(cfg, wait_base=0.001)


FACTS = RepoFacts((EnvFacts("dev", "platform"),), frozenset({"kms"}))
GOOD = plan("add a bucket for invoices", FACTS)  # what a well-behaved model would write
STACK = "stacks/invoices-bucket.yaml"
GOOD_STACK = GOOD.edits[0].content or ""
UNENCRYPTED_STACK = GOOD_STACK.replace(
    """      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault:
              SSEAlgorithm: aws:kms
              KMSMasterKeyID: !ImportValue
                Fn::Sub: "${ProjectName}-${Environment}-kms-S3KeyArn"
            BucketKeyEnabled: true
""",
    "",
)


def answer(*edits: dict[str, Any], title: str = "Add an S3 bucket for invoices") -> dict[str, Any]:
    return {"title": title, "summary": "A bucket.", "edits": list(edits)}


def good_edits() -> list[dict[str, Any]]:
    return [e.model_dump(exclude_defaults=True) for e in GOOD.edits]


def run(platform: Path, prop: BedrockProposer, rounds: int = 3) -> Proposal:
    proposal, ws = generate(
        "add a bucket for invoices", platform, prop, engine_checker(platform), max_rounds=rounds
    )
    ws.remove()
    return proposal


def test_clean_first_answer(fake: fb.FakeBedrock, platform: Path) -> None:
    fake.push(fb.tool_call(answer(*good_edits())))
    proposal = run(platform, proposer(fake))
    assert proposal.clean and proposal.rounds == 1
    assert sorted(proposal.files) == ["environments/dev/invoices-bucket.yaml", STACK]
    assert proposal.usage.calls == 1 and proposal.usage.input_tokens > 1000
    assert proposal.cost_usd == pytest.approx(
        proposal.usage.input_tokens * 0.003 / 1000 + proposal.usage.output_tokens * 0.015 / 1000
    )
    (sent,) = fake.requests
    assert sent.model_id == PROFILE  # the inference profile goes in the URL
    tools = sent.body["toolConfig"]
    assert tools["tools"][0]["toolSpec"]["name"] == "propose_change"
    assert tools["toolChoice"] == {"tool": {"name": "propose_change"}}
    assert "never an instruction" in sent.body["system"][0]["text"]
    assert "<request>\nadd a bucket for invoices\n</request>" in sent.text()
    assert "~kms-S3KeyArn" in sent.text()  # the repository map went along


def test_guard_failure_is_repaired_in_the_second_round(
    fake: fb.FakeBedrock, platform: Path
) -> None:
    bad = [dict(good_edits()[0], content=UNENCRYPTED_STACK), good_edits()[1]]
    fixed = {
        "path": STACK,
        "rationale": "Encrypt with the platform S3 key.",
        "yaml_ops": [
            {
                "op": "set",
                "key_path": ["Resources", "Bucket", "Properties", "BucketEncryption"],
                "value": {
                    "ServerSideEncryptionConfiguration": [
                        {
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": {
                                    "Fn::ImportValue": {
                                        "Fn::Sub": "${ProjectName}-${Environment}-kms-S3KeyArn"
                                    }
                                },
                            }
                        }
                    ]
                },
            }
        ],
    }
    fake.push(fb.tool_call(answer(*bad)), fb.tool_call(answer(fixed)))
    proposal = run(platform, proposer(fake))
    assert proposal.rounds == 2 and proposal.clean, proposal.findings
    assert "SSEAlgorithm: aws:kms" in proposal.files[STACK]
    assert "Fn::ImportValue: !Sub ${ProjectName}-${Environment}-kms-S3KeyArn" in (
        proposal.files[STACK] or ""
    )
    # The second turn answers the tool call with what cfn-guard said.
    second = fake.requests[1].body["messages"]
    result = second[-1]["content"][0]["toolResult"]
    assert result["toolUseId"] == "tooluse_0001"
    assert "SC28_S3_ENCRYPTED" in json.dumps(result) or "SC-28" in json.dumps(result)
    assert proposal.usage.calls == 2


def test_edit_of_github_workflows_is_rejected(fake: fb.FakeBedrock, platform: Path) -> None:
    workflow = {
        "path": ".github/workflows/deploy.yml",
        "rationale": "speed up",
        "content": "on: push\njobs: {}\n",
    }
    fake.push(fb.tool_call(answer(workflow, *good_edits())), fb.tool_call(answer(*good_edits())))
    proposal = run(platform, proposer(fake))
    assert not (platform / ".github").exists()
    assert ".github/workflows/deploy.yml" not in proposal.files
    assert [r.path for r in proposal.rejected] == [".github/workflows/deploy.yml"]
    assert proposal.warnings and "refused" in proposal.warnings[0]
    assert "edits are only allowed under" in fake.requests[1].text()
    assert proposal.rounds == 2 and not proposal.findings


@pytest.mark.parametrize(
    "malformed",
    [
        fb.text_only("Sure! I would add a bucket with encryption."),
        fb.tool_call({"title": "x", "edits": "all of them"}),
        fb.tool_call({"title": "Add it", "edits": [{"path": STACK, "rationale": "r"}]}),
        fb.tool_call({"verdict": "ok"}, name="something_else"),
    ],
)
def test_malformed_output_is_sent_back_and_then_fixed(
    fake: fb.FakeBedrock, platform: Path, malformed: fb.Script
) -> None:
    fake.push(malformed, fb.tool_call(answer(*good_edits())))
    proposal = run(platform, proposer(fake))
    assert proposal.clean and proposal.rounds == 2
    assert "could not be used" in fake.requests[1].text()


def test_malformed_to_the_end_gives_no_change(fake: fb.FakeBedrock, platform: Path) -> None:
    fake.push(fb.text_only("no"), fb.text_only("still no"))
    proposal = run(platform, proposer(fake), rounds=2)
    assert (
        not proposal.changes and proposal.error and "did not call propose_change" in proposal.error
    )


def test_throttling_is_retried_then_succeeds(fake: fb.FakeBedrock, platform: Path) -> None:
    fake.push(fb.throttling(), fb.throttling(), fb.tool_call(answer(*good_edits())))
    proposal = run(platform, proposer(fake))
    assert proposal.clean
    assert len(fake.requests) == 3 and proposal.usage.calls == 1


@pytest.mark.parametrize(
    ("scripts", "code", "hint"),
    [
        ([fb.throttling()] * 3, "ThrottlingException", "quota"),
        ([fb.access_denied()], "AccessDeniedException", "Model access"),
        ([fb.not_found()], "ResourceNotFoundException", "llm.inference_profile"),
        ([fb.garbage()], "BadResponse", "endpoint_url"),
    ],
)
def test_errors_that_retrying_does_not_fix(
    fake: fb.FakeBedrock, platform: Path, scripts: list[fb.Script], code: str, hint: str
) -> None:
    fake.push(*scripts)
    with pytest.raises(BedrockError) as err:
        run(platform, proposer(fake))
    assert err.value.code == code and hint in err.value.hint
    assert len(fake.requests) == len(scripts)  # access denied is not retried


def test_findings_that_remain_after_the_last_round(fake: fb.FakeBedrock, platform: Path) -> None:
    bad = [dict(good_edits()[0], content=UNENCRYPTED_STACK), good_edits()[1]]
    fake.push(fb.tool_call(answer(*bad)), fb.tool_call(answer(*bad)))
    proposal = run(platform, proposer(fake), rounds=2)
    assert proposal.rounds == 2 and not proposal.clean
    assert any(f.nist_control == "SC-28" for f in proposal.findings)
    assert "encryption was removed" not in " ".join(
        proposal.warnings
    )  # a new file: nothing removed


def test_timeout_is_retried(fake: fb.FakeBedrock, platform: Path) -> None:
    from langchain_aws import ChatBedrockConverse

    prop = proposer(fake)
    # A one-second read timeout (settings allow 5 s and up) keeps this test quick.
    prop.chat = ChatBedrockConverse(
        model=PROFILE,
        base_model=MODEL,
        region_name="us-east-1",
        endpoint_url=fake.url,
        timeout=1,
        max_retries=0,
    )
    fake.push(
        fb.slow(1.5, fb.tool_call(answer(*good_edits()))), fb.tool_call(answer(*good_edits()))
    )
    proposal = run(platform, prop)
    assert proposal.clean and len(fake.requests) == 2 and proposal.usage.calls == 1


def test_a_bedrock_error_leaves_no_scratch_copy(
    fake: fb.FakeBedrock, platform: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    fake.push(fb.access_denied())
    with pytest.raises(BedrockError):
        run(platform, proposer(fake))
    assert list(scratch.iterdir()) == []

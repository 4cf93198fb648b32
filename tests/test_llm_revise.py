"""`/infra <follow-up>` on an infra-bot PR: one more commit on its branch, reviewers heard."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.github.api import PullRequestInfo
from bot.github.commands import CommandRequest
from bot.github.grammar import Command, Verb, Where
from bot.llm.bedrock import BedrockProposer
from bot.llm.checking import engine_checker
from bot.llm.config import LlmConfig
from bot.llm.offline import OfflineProposer
from bot.llm.pr import generate_pull_request
from bot.llm.revise import refusal_reason, revise_pull_request
from bot.settings import Settings
from tests import fakebedrock as fb
from tests.fakegithub import FakeGitHub

STACK = "stacks/invoices-bucket.yaml"


def info(**kw: object) -> PullRequestInfo:
    base: dict[str, object] = dict(
        number=4, title="t", author="github-actions[bot]", head_sha="a" * 40,
        head_ref="infra-bot/3-add-a-bucket", head_repo="acme/infra", base_ref="main",
        base_repo="acme/infra", state="open", merged=False, draft=False, html_url="u",
    )  # fmt: skip
    base.update(kw)
    return PullRequestInfo(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pr", "reason"),
    [
        (info(), None),
        (info(head_ref="feature/x"), "only pull requests the bot opened"),
        (info(head_repo="mallory/infra"), "forks"),
        (info(state="closed"), "closed"),
    ],
)
def test_which_pull_requests_can_be_revised(pr: PullRequestInfo, reason: str | None) -> None:
    got = refusal_reason(pr)
    assert (got is None) if reason is None else (reason in (got or ""))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[fb.FakeBedrock]:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    yield from fb.running()


def test_follow_up_revises_the_branch_in_place(fake: fb.FakeBedrock, tmp_path: Path) -> None:
    platform = fb.mini_platform(tmp_path / "repo")
    with FakeGitHub() as gh:
        gh.add_user("bob", permission="write")  # only writers' comments reach the model
        api = gh.client()
        issue = gh.add_issue()
        opened = generate_pull_request(
            "add a bucket for invoices", issue["number"], platform, api,
            OfflineProposer.for_repo(platform), engine_checker(platform), estimate_cost=None,
        )  # fmt: skip
        assert opened.pull_request is not None and opened.branch is not None
        number = opened.pull_request.number
        gh.add_comment(number, "Keep old versions for 7 days only, please.", author="bob")
        fake.push(fb.tool_call({"title": "Shorter retention", "edits": [{
            "path": STACK, "rationale": "bob asked for 7 days",
            "yaml_ops": [{"op": "set", "key_path": ["Parameters", "NoncurrentVersionExpirationDays",
                                                    "Default"], "value": 7}]}]}))  # fmt: skip
        before = gh.file_at(opened.branch, STACK) or ""
        request = CommandRequest(
            Command(Verb.GENERATE, text="apply the review comments"), api, Settings(), platform,
            "bob", Where.PR, number, api.pull_request(number),
        )  # fmt: skip
        from bot.commands.generate import _revise

        proposer = BedrockProposer(LlmConfig(endpoint_url=fake.url), wait_base=0.001)
        result = _revise(request, LlmConfig(), proposer, [])
        assert result.ok, result.body
        after = gh.file_at(opened.branch, STACK) or ""
        assert "Default: 7\n" in after and "Default: 30\n" in before
        assert after.replace("Default: 7\n", "Default: 30\n") == before  # nothing else moved
        assert "Revised in" in result.body and ":white_check_mark:" in result.body
        sent = fake.requests[0].text()
        assert "<reviewer_comments>" in sent and "bob: Keep old versions for 7 days" in sent
        assert "Default: 30" in sent  # the PR's own file (not main's) is what the model saw


def test_a_human_branch_is_not_touched(tmp_path: Path) -> None:
    platform = fb.mini_platform(tmp_path / "repo")
    with FakeGitHub() as gh:
        pr = gh.add_pull_request({"stacks/kms.yaml": "x: 1\n"}, branch="feature/kms")
        api = gh.client()
        revision = revise_pull_request(
            "tidy up", api.pull_request(pr["number"]), platform, api,
            OfflineProposer.for_repo(platform), engine_checker(platform),
        )  # fmt: skip
        assert revision.commit is None and "only pull requests the bot opened" in revision.reply
        assert gh.file_at("feature/kms", "stacks/kms.yaml") == "x: 1\n"

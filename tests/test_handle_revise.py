"""`/infra <follow-up>` on a pull request, end to end: an issue_comment payload through
`run_handle`, PyGithub against the stateful fake GitHub, the fake Bedrock endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.commands.handle import run_handle
from bot.github.context import Outcome
from bot.llm.checking import engine_checker
from bot.llm.offline import OfflineProposer
from bot.llm.pr import generate_pull_request
from bot.settings import Settings
from tests import fakebedrock as fb
from tests.fakegithub import FakeGitHub

STACK = "stacks/invoices-bucket.yaml"
RETENTION = ["Parameters", "NoncurrentVersionExpirationDays", "Default"]


@pytest.fixture
def gh(bedrock: fb.FakeBedrock) -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_user("alice", permission="write")
        fake.add_user("rita", permission="read")
        fake.add_user("bob", permission="write")  # a reviewer: heard in revisions
        # The settings on the default branch point the bot at the fake Bedrock.
        fake.commit_files({".github/infra-bot.yml": f"llm:\n  endpoint_url: {bedrock.url}\n"})
        yield fake


@pytest.fixture
def platform(tmp_path: Path) -> Path:
    return fb.mini_platform(tmp_path / "repo")


def bot_pull_request(gh: FakeGitHub, platform: Path) -> tuple[int, str]:
    """A PR the bot opened from an issue (offline blueprints: no model call)."""
    issue = gh.add_issue(title="invoices", author="alice")
    opened = generate_pull_request(
        "add a bucket for invoices", issue["number"], platform, gh.client(),
        OfflineProposer.for_repo(platform), engine_checker(platform), estimate_cost=None,
    )  # fmt: skip
    assert opened.pull_request is not None and opened.branch is not None
    return opened.pull_request.number, opened.branch


def handle(gh: FakeGitHub, tmp_path: Path, comment: dict[str, Any], workspace: Path) -> Outcome:
    event = tmp_path / f"event-{len(gh.requests)}.json"
    event.write_text(json.dumps(gh.comment_event(comment)))
    env = gh.environ("issue_comment", str(event), GITHUB_WORKSPACE=str(workspace))
    return run_handle(Settings.from_env(env), api=gh.client(), workspace=workspace)


def refused_on_bot_pr(
    gh: FakeGitHub, bedrock: fb.FakeBedrock, platform: Path, tmp_path: Path, text: str, author: str
) -> tuple[Outcome, str, dict[str, Any]]:
    """`author` comments `text` on a bot PR, and the bot neither asks the model nor moves
    the branch. The outcome, the bot's reply and the comment."""
    number, branch = bot_pull_request(gh, platform)
    head = gh.repo.refs[f"heads/{branch}"]
    comment = gh.add_comment(number, text, author=author)
    outcome = handle(gh, tmp_path, comment, platform)
    assert gh.repo.refs[f"heads/{branch}"] == head and bedrock.requests == []
    return outcome, gh.comments_on(number)[-1]["body"], comment


def shorter_retention() -> fb.Script:
    return fb.tool_call({"title": "Shorter retention", "edits": [{
        "path": STACK, "rationale": "bob asked for 7 days",
        "yaml_ops": [{"op": "set", "key_path": RETENTION, "value": 7}]}]})  # fmt: skip


def test_follow_up_on_a_bot_pr_adds_one_commit_and_says_what_changed(
    gh: FakeGitHub, bedrock: fb.FakeBedrock, platform: Path, tmp_path: Path
) -> None:
    number, branch = bot_pull_request(gh, platform)
    old_head = gh.pulls[number]["head"]["sha"]
    before = gh.file_at(branch, STACK) or ""
    gh.add_comment(number, "Keep old versions for 7 days only, please.", author="bob")
    bedrock.push(shorter_retention())
    comment = gh.add_comment(number, "/infra follow bob's review\nkeep the rest", author="alice")

    outcome = handle(gh, tmp_path, comment, platform)

    assert outcome.exit_code == 0, outcome.note
    assert outcome.note == "generate: ok"
    new_head = gh.repo.refs[f"heads/{branch}"]
    assert gh.commits[new_head]["parents"] == [old_head]  # exactly one commit, on top
    assert gh.commits[new_head]["message"] == "infra-bot: follow bob's review"
    after = gh.file_at(branch, STACK) or ""
    assert "Default: 30\n" in before and after == before.replace("Default: 30\n", "Default: 7\n")
    # The PR followed its branch: head and files are the new commit's.
    assert gh.pulls[number]["head"]["sha"] == new_head
    (changed,) = [f for f in gh.pull_files[number] if f["filename"] == STACK]
    assert "+    Default: 7" in changed["patch"] and changed["status"] == "added"
    assert len(gh.pulls) == 1  # revised in place, no new PR
    reply = gh.comments_on(number)[-1]["body"]
    assert reply.startswith("> /infra follow bob's review")
    assert f"Revised in {new_head[:12]}." in reply and f"`{STACK}`" in reply
    assert gh.reactions_on(comment["id"]) == ["eyes", "rocket"]
    (sent,) = [r.text() for r in bedrock.requests]
    assert "bob: Keep old versions for 7 days only" in sent  # the review was heard
    assert "keep the rest" in sent  # the rest of the comment is context
    assert "follow bob" in sent  # the request itself
    assert "Default: 30" in sent  # the PR's own file is what the model edited


def test_a_human_branch_is_refused_politely_and_left_alone(
    gh: FakeGitHub, bedrock: fb.FakeBedrock, platform: Path, tmp_path: Path
) -> None:
    pr = gh.add_pull_request({"stacks/kms.yaml": "x: 1\n"}, branch="feature/kms")
    head = pr["head"]["sha"]
    comment = gh.add_comment(pr["number"], "/infra tidy up the key policy", author="alice")

    outcome = handle(gh, tmp_path, comment, platform)

    reply = gh.comments_on(pr["number"])[-1]["body"]
    assert reply.startswith("> /infra tidy up the key policy\n\nSorry, I can't revise this")
    assert "only pull requests the bot opened (branches infra-bot/...)" in reply
    assert "`/infra <what you want>` in an issue" in reply
    assert gh.reactions_on(comment["id"]) == ["eyes", "confused"]
    assert outcome.note == "generate: failed"
    assert (
        gh.repo.refs["heads/feature/kms"] == head and gh.pulls[pr["number"]]["head"]["sha"] == head
    )
    assert gh.count("POST", r"/git/") == 0 and bedrock.requests == []


def test_a_follow_up_from_a_fork_is_refused_before_anything_runs(
    gh: FakeGitHub, bedrock: fb.FakeBedrock, platform: Path, tmp_path: Path
) -> None:
    # Even a fork branch named like the bot's is never touched.
    pr = gh.add_pull_request(
        {"stacks/kms.yaml": "x: 1\n"}, fork="mallory/infra", branch="infra-bot/3-add-a-bucket"
    )
    comment = gh.add_comment(pr["number"], "/infra make the key rotate yearly", author="alice")

    outcome = handle(gh, tmp_path, comment, platform)

    assert outcome.exit_code == 0 and outcome.note.startswith("denied")
    reply = gh.comments_on(pr["number"])[-1]["body"]
    assert reply == (
        "> /infra make the key rotate yearly\n\nSorry, I can't do that: `/infra <what you want>` "
        "does not run for pull requests from forks; a maintainer can push the branch to this "
        "repository."
    )
    assert gh.reactions_on(comment["id"]) == ["eyes", "confused"]
    assert gh.count("POST", r"/git/") == 0 and bedrock.requests == []
    assert gh.count("GET", r"/contents/\.github/infra-bot\.yml") == 0  # refused before settings


def test_a_read_user_cannot_revise(
    gh: FakeGitHub, bedrock: fb.FakeBedrock, platform: Path, tmp_path: Path
) -> None:
    outcome, reply, _ = refused_on_bot_pr(
        gh, bedrock, platform, tmp_path, "/infra use 7 days retention", author="rita"
    )

    assert outcome.note.startswith("denied")
    assert "`/infra <what you want>` needs write permission" in reply and "you have read" in reply


def test_one_unknown_word_on_a_pr_is_still_an_error_with_help(
    gh: FakeGitHub, bedrock: fb.FakeBedrock, platform: Path, tmp_path: Path
) -> None:
    outcome, reply, comment = refused_on_bot_pr(
        gh, bedrock, platform, tmp_path, "/infra valdiate", author="alice"
    )

    assert outcome.exit_code == 0 and outcome.note.startswith("refused: unknown command")
    assert "unknown command `valdiate`" in reply and "Did you mean `validate`?" in reply
    assert "To revise an infra-bot pull request" in reply
    assert "| `/infra validate` |" in reply and "on an infra-bot PR: revise it" in reply
    assert gh.reactions_on(comment["id"]) == ["eyes", "confused"]

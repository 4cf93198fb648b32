"""From a request to a pull request: the body, the branch, the reply, the CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.checks.base import Count, Coverage, Status
from bot.cli import app
from bot.findings import Finding, Severity
from bot.github.commands import CommandRequest
from bot.github.grammar import Command, Verb, Where
from bot.llm.checking import engine_checker
from bot.llm.localgit import write_branch
from bot.llm.loop import FileChange, Proposal
from bot.llm.offline import OfflineProposer
from bot.llm.pr import branch_name, generate_pull_request
from bot.llm.render import MARKER, pr_body, pr_title, refusal
from bot.llm.usage import Usage
from bot.llm.workspace import Rejected
from bot.repo.changes import GitError
from bot.settings import Settings
from tests import fakebedrock as fb
from tests.conftest import git_commit
from tests.fakegithub import FakeGitHub

REQUEST = "add an SQS queue for order events"


def proposal(**kw: object) -> Proposal:
    base: dict[str, object] = dict(
        request="add a <b>bucket</b> @alice #12", title="Add <script> bucket", summary="@bob look",
        changes=(FileChange("stacks/a.yaml", None, "x: 1\n", "because #3 | <i>"),),
        findings=(), rejected=(), warnings=(), rounds=1, usage=Usage(2000, 500, 1),
        model_id="anthropic.claude-3-5-haiku-20241022-v1:0", prompt_tokens=1900,
        coverage=(Coverage("cfn-lint", Status.RAN, (Count("templates", 1),)),),
    )  # fmt: skip
    base.update(kw)
    return Proposal(**base)  # type: ignore[arg-type]


def test_body_quotes_and_defuses_everything_the_user_and_model_wrote() -> None:
    body = pr_body(proposal(), 12, "alice", "- Monthly estimate for DEV increases by $1.20")
    assert body.startswith(MARKER + "\n**Requested by alice in #12:**")
    assert "> add a &lt;b&gt;bucket&lt;/b&gt; @\u200balice #\u200b12" in body
    assert "@\u200bbob look" in body
    assert "| `stacks/a.yaml` (new) | because #\u200b3 \\| &lt;i&gt; |" in body
    assert ":white_check_mark: cfn-lint found nothing" in body and "increases by $1.20" in body
    assert "- cfn-lint: 1 template" in body
    assert "2,000 input + 500 output tokens, $0.0036." in body
    assert body.rstrip().endswith("Closes #12")
    assert pr_title(proposal()) == "infra-bot: Add <script> bucket"


def test_findings_and_warnings_change_the_body() -> None:
    finding = Finding(
        "stacks/a.yaml",
        3,
        1,
        "guard/SC28_S3_ENCRYPTED",
        Severity.ERROR,
        "[NIST SC-28] not encrypted",
        nist_control="SC-28",
    )
    body = pr_body(
        proposal(
            findings=(finding,),
            rounds=3,
            warnings=("`stacks/a.yaml` X: encryption was removed or disabled",),
        ),
        4,
    )
    assert body.startswith(MARKER + "\n> [!CAUTION]\n> **Review with care")
    assert "> - `stacks/a.yaml` X: encryption was removed" in body
    assert "1 error, 0 warnings, 0 infos remain after 3 round(s)" in body
    assert "- `stacks/a.yaml` :x: L3 `guard/SC28_S3_ENCRYPTED`" in body


def test_offline_usage_line_and_refusal() -> None:
    offline = proposal(usage=Usage(), model_id="offline-blueprints")
    assert "no model call" in pr_body(offline, 1)
    text = refusal(
        proposal(
            changes=(),
            error="outside the <catalogue>",
            rejected=(Rejected(".github/x.yml", "not allowed"),),
        )
    )
    assert "outside the &lt;catalogue&gt;" in text and "`.github/x.yml`: not allowed" in text


@pytest.mark.parametrize(
    ("issue", "title", "branch"),
    [
        (7, "Add an S3 bucket for ALB logs!", "infra-bot/7-add-an-s3-bucket-for-alb-logs"),
        (None, "Résumé ../../etc", "infra-bot/local-r-sum-etc"),
        (1, "a" * 30 + " " + "b" * 30, "infra-bot/1-" + "a" * 30),
        (3, "###", "infra-bot/3-change"),
    ],
)
def test_branch_names(issue: int | None, title: str, branch: str) -> None:
    assert branch_name(issue, title) == branch


@pytest.fixture
def platform(tmp_path: Path) -> Path:
    return fb.mini_platform(tmp_path / "repo")


def test_offline_request_becomes_a_ready_pull_request(platform: Path) -> None:
    with FakeGitHub() as gh:
        issue = gh.add_issue(title="queue please", body=f"/infra {REQUEST}")
        outcome = generate_pull_request(
            REQUEST, issue["number"], platform, gh.client(), OfflineProposer.for_repo(platform),
            engine_checker(platform), requested_by="alice",
        )  # fmt: skip
        assert outcome.pull_request is not None
        pr = gh.pulls[outcome.pull_request.number]
        assert pr["draft"] is False
        assert pr["head"]["ref"] == "infra-bot/1-add-an-encrypted-sqs-queue-for-order"
        assert pr["title"] == "infra-bot: Add an encrypted SQS queue for order events"
        assert f"Closes #{issue['number']}" in pr["body"]
        assert "> add an SQS queue for order events" in pr["body"]
        assert "### Cost" in pr["body"]
        assert gh.file_at(pr["head"]["ref"], "stacks/order-events-queue.yaml") is not None
        assert gh.file_at(pr["head"]["ref"], "environments/dev/order-events-queue.yaml") is not None
        (reply,) = gh.comments_on(issue["number"])
        assert reply["body"] == f"I opened a pull request: {outcome.pull_request.url}"


def test_request_outside_the_catalogue_gets_a_plain_answer(platform: Path) -> None:
    with FakeGitHub() as gh:
        issue = gh.add_issue()
        outcome = generate_pull_request(
            "rewrite everything in Terraform", issue["number"], platform, gh.client(),
            OfflineProposer.for_repo(platform), engine_checker(platform),
        )  # fmt: skip
        assert outcome.pull_request is None and not gh.pulls
        (reply,) = gh.comments_on(issue["number"])
        assert "I can only do these changes" in reply["body"]
        assert "add an encrypted S3 bucket" in reply["body"]


def test_the_issue_command_runner(platform: Path) -> None:
    with FakeGitHub() as gh:
        gh.commit_files({".github/infra-bot.yml": "llm: offline\n"})
        issue = gh.add_issue()
        request = CommandRequest(
            Command(Verb.GENERATE, text="add an encrypted S3 bucket for audit exports"),
            gh.client(), Settings(), platform, "alice", Where.ISSUE, issue["number"],
        )  # fmt: skip
        from bot.commands.generate import run_generate

        result = run_generate(request)
        assert result.ok, result.body
        (number,) = gh.pulls
        assert gh.pulls[number]["html_url"] in result.body
        assert "offline" in result.body  # says why it did not use Bedrock
        assert result.summary.startswith(MARKER)
        assert not gh.comments_on(issue["number"])  # the handler posts the reply, not us
        bad = CommandRequest(
            Command(Verb.GENERATE, text="x y"), gh.client(), Settings(), platform, "alice",
            Where.PR, 5,
        )  # fmt: skip
        assert not run_generate(bad).ok


def test_cli_writes_a_branch_and_prints_the_diff(platform: Path) -> None:
    git_commit(platform, "initial")
    result = CliRunner().invoke(
        app, ["generate", "allow tcp 8443 from 10.20.0.0/16 to the node security group",
              "--offline", "--root", str(platform), "--issue", "9"],
    )  # fmt: skip
    assert result.exit_code == 1  # no stacks/security-groups.yaml in this platform
    result = CliRunner().invoke(
        app, ["generate", REQUEST, "--offline", "--root", str(platform), "--issue", "9"]
    )
    assert result.exit_code == 0, result.output
    assert "+++ b/stacks/order-events-queue.yaml" in result.output
    branch = "infra-bot/9-add-an-encrypted-sqs-queue-for-order"
    assert f"wrote branch {branch}" in result.output

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(platform), *args], check=True,
                              capture_output=True, text=True).stdout  # fmt: skip

    assert git("status", "--porcelain") == ""  # the checkout was not touched
    assert git("rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    shown = git("show", "--stat", "--format=%an %s", branch)
    assert "infra-bot infra-bot: Add an encrypted SQS queue" in shown
    assert "stacks/order-events-queue.yaml" in shown
    with pytest.raises(GitError):  # never overwrites an existing branch
        write_branch(platform, branch, {"stacks/x.yaml": "a: 1\n"}, "again")


def test_an_issue_comment_through_the_router_opens_the_pull_request(platform: Path) -> None:
    """The whole path a workflow run takes: event -> router -> command table -> PR -> reply."""
    from bot.github.context import Context
    from bot.github.events import parse_event
    from bot.github.router import route

    with FakeGitHub() as gh:
        gh.add_user("alice", permission="write")
        gh.commit_files({".github/infra-bot.yml": "llm: offline\n"})
        issue = gh.add_issue(title="queue", author="alice")
        comment = gh.add_comment(issue["number"], f"/infra {REQUEST}", author="alice")
        event = parse_event("issue_comment", gh.comment_event(comment))
        outcome = route(Context(gh.client(), Settings(), platform), event)
        assert outcome.exit_code == 0, outcome.note
        (number,) = gh.pulls
        replies = [c["body"] for c in gh.comments_on(issue["number"]) if c["id"] != comment["id"]]
        assert any(gh.pulls[number]["html_url"] in body for body in replies)
        assert gh.reactions_on(comment["id"])[0] == "eyes"

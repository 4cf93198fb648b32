"""The demo's parts that need no moto: step sequencing, exit codes, the transcript's safety."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.demo import run as demo_run
from bot.demo.conversation import Watcher, stickies
from bot.demo.localgit import LocalGit
from bot.demo.localgithub import LocalGitHub
from bot.demo.moto import endpoint_variables
from bot.demo.run import Demo, DemoResult, StepFailedError
from bot.demo.transcript import Step, render_html
from bot.github.api import Permission
from bot.render.comments import marker


class ThreeSteps(Demo):
    """The real runner over three steps, the second of which fails."""

    ran: list[str]

    def steps(self):  # type: ignore[no-untyped-def]
        self.ran = []

        def ok(name: str):  # type: ignore[no-untyped-def]
            return lambda: self.ran.append(name)

        def broken() -> None:
            self.ran.append("two")
            raise StepFailedError("prd has stacks before anyone approved")

        return [("one", ok("one")), ("two", broken), ("three", ok("three"))]


def test_a_failing_step_stops_the_run_and_is_reported(tmp_path: Path) -> None:
    shown: list[tuple[str, bool, int, int]] = []
    demo = ThreeSteps(tmp_path / "repo", lambda s, i, n, _news: shown.append((s.title, s.ok, i, n)),
                      lambda: None)  # fmt: skip
    result = demo.run()
    assert demo.ran == ["one", "two"]  # "three" never ran
    assert shown == [("one", True, 1, 3), ("two", False, 2, 3)]
    assert not result.ok
    assert result.error == "step 2 (two): prd has stacks before anyone approved"


def test_demo_command_exits_non_zero_when_a_step_fails(monkeypatch, tmp_path: Path) -> None:
    def failing(source, show, **_kw):  # type: ignore[no-untyped-def]
        result = DemoResult([], LocalGitHub(LocalGit(tmp_path), "o/r", {}))
        step = Step("deploy dev", False, 0.1)
        result.steps.append(step)
        show(step, 1, 9, [])
        result.error = "step 1 (deploy dev): exit code 1"
        return result

    monkeypatch.setattr(demo_run, "run_demo", failing)
    root = Path(__file__).resolve().parent.parent
    out = CliRunner().invoke(app, ["demo", "--root", str(root), "--html", str(tmp_path / "d.html")])
    assert out.exit_code == 1
    assert "demo failed: step 1 (deploy dev): exit code 1" in out.output
    assert (tmp_path / "d.html").exists()


def test_demo_refuses_a_folder_without_a_platform(tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["demo", "--root", str(tmp_path)])
    assert out.exit_code == 2 and "no stacks/ and environments/" in " ".join(out.output.split())


def test_endpoints_go_per_service_so_bedrock_keeps_its_own() -> None:
    env = endpoint_variables("http://127.0.0.1:5000")
    assert env["AWS_ENDPOINT_URL_CLOUDFORMATION"] == "http://127.0.0.1:5000"
    assert env["AWS_ENDPOINT_URL_STS"] == "http://127.0.0.1:5000"
    assert "AWS_ENDPOINT_URL" not in env
    assert not any("BEDROCK" in k for k in env)


@pytest.fixture
def gh(tmp_path: Path) -> LocalGitHub:
    git = LocalGit(tmp_path)
    git.run("init", "-q", "-b", "main")
    git.run("commit", "-q", "--allow-empty", "-m", "root")
    return LocalGitHub(git, "acme/infra", {"alice": Permission.WRITE})


def test_watcher_reports_new_then_edited_comments_once(gh: LocalGitHub) -> None:
    from datetime import UTC, datetime

    issue = gh.open_issue("t", "b", "alice")
    watch = Watcher(gh)
    body = marker("plan", datetime(2026, 1, 1, tzinfo=UTC)) + "\nfirst"
    posted = gh.create_issue_comment(issue, body)
    gh.user_comment(issue, "/infra plan dev", "alice")  # people's comments are not news
    assert [s.what for s in watch.news()] == ["infra-bot[bot] commented (plan) on #1"]
    assert watch.news() == []
    gh.edit_issue_comment(posted.id, body.replace("first", "second"))
    (edited,) = watch.news()
    assert edited.what == "infra-bot[bot] edited its comment (plan) on #1"
    assert edited.body.endswith("second")
    assert stickies(gh, issue) == {"plan": 1}


def test_transcript_escapes_what_people_wrote_and_keeps_bot_markup(gh: LocalGitHub) -> None:
    issue = gh.open_issue("<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "mallory")
    gh.user_comment(issue, "<details><summary>hi</summary>x</details> :rocket:", "mallory")
    gh.create_issue_comment(issue, "<details><summary>cost</summary>\n\n| a |\n|---|\n| 1 |\n"
                                   "\n</details>\n\n:white_check_mark: `:x:`")  # fmt: skip
    page = render_html(gh, [Step("one", True, 1.0)])
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page and "&lt;details&gt;" in page  # the user's, as text
    assert "<details><summary>cost</summary>" in page and "<table>" in page  # the bot's
    assert "\u2705" in page and "<code>:x:</code>" in page  # shortcodes, but not in code
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_transcript_draws_github_alerts_for_the_bot_only(gh: LocalGitHub) -> None:
    issue = gh.open_issue("t", "b", "alice")
    gh.create_issue_comment(issue, "> [!CAUTION]\n> **Review with care**\n")
    gh.user_comment(issue, "> [!CAUTION]\n> fake alert\n", "mallory")
    page = render_html(gh, [])
    assert page.count('<blockquote class="alert caution">') == 1
    assert '<b class="alert-title">Caution</b><br><strong>Review with care</strong>' in page
    assert "<p>[!CAUTION]\nfake alert</p>" in page  # what a person typed stays as typed

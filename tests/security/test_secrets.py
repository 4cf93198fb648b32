"""Secrets never leave: what the bot writes to GitHub, the job summary, SARIF and the
log is masked, and the tools it starts do not inherit the job's credentials.

Everything runs through the production entry points: `run_handle` (PyGithub built
from the Actions environment, against the stateful fake GitHub) and `infra-bot
validate` in a fresh process.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.commands.handle import run_handle
from bot.settings import Settings
from tests.fakegithub import FakeGitHub

# New modules are imported inside the tests that need them, so the end-to-end
# attacks above them also run (and fail) against the code before this change.
MASK = "***"

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ghs_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # the job's GITHUB_TOKEN
AWS_KEY_ID = "ASIAY34FZKBOKMUTVV7A"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"  # no pattern: only the env knows it
AWS_SESSION = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD" + "x" * 120
DEPLOY_PASSWORD = "correct-horse-battery"  # a job secret named *PASSWORD*
PEM_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
PEM = f"-----BEGIN RSA PRIVATE KEY-----\\n{PEM_BODY}\\n-----END RSA PRIVATE KEY-----"
SECRETS = (TOKEN, AWS_KEY_ID, AWS_SECRET, AWS_SESSION, DEPLOY_PASSWORD, PEM_BODY)


def leaky_template() -> str:
    """A template whose invalid value cfn-lint quotes in its finding message."""
    value = " ".join([TOKEN, AWS_KEY_ID, AWS_SECRET, AWS_SESSION, DEPLOY_PASSWORD, PEM])
    return (
        'AWSTemplateFormatVersion: "2010-09-09"\n'
        "Resources:\n  LogsBucket:\n    Type: AWS::S3::Bucket\n    Properties:\n"
        f'      VersioningConfiguration:\n        Status: "{value}"\n'
    )


def job_env() -> dict[str, str]:
    return {
        "GITHUB_TOKEN": TOKEN,
        "AWS_ACCESS_KEY_ID": AWS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_SESSION_TOKEN": AWS_SESSION,
        "DEPLOY_PASSWORD": DEPLOY_PASSWORD,
    }


def written(gh: FakeGitHub) -> str:
    """Every body the bot sent to GitHub, as one text."""
    return "\n".join(
        json.dumps(r.body) for r in gh.requests if r.method in ("POST", "PATCH", "PUT")
    )


def assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret[:12]}... reached {where}"


@pytest.fixture
def gh() -> Any:
    with FakeGitHub() as fake:
        fake.add_user("alice", permission="write")
        fake.add_user("mallory", permission="read")
        yield fake


def test_a_finding_quoting_secrets_reaches_no_output(
    gh: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = leaky_template()
    pr = gh.add_pull_request({"stacks/logs.yaml": template}, author="alice")
    workspace = tmp_path / "ws"
    (workspace / "stacks").mkdir(parents=True)
    (workspace / "stacks" / "logs.yaml").write_text(template)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(gh.pull_request_event(pr["number"])))
    summary, sarif = tmp_path / "summary.md", tmp_path / "out.sarif"
    env = gh.environ("pull_request", str(event), GITHUB_STEP_SUMMARY=str(summary), **job_env())

    outcome = run_handle(Settings.from_env(env), workspace=workspace, sarif=sarif)

    assert outcome.exit_code == 0, outcome.note
    (review,) = gh.reviews_on(pr["number"])
    # The finding is there, with its secrets masked, in every output.
    assert "E3030" in written(gh) and MASK in review["body"] + json.dumps(gh.review_comments)
    assert_clean(written(gh), "GitHub")
    assert "E3030" in summary.read_text()
    assert_clean(summary.read_text(), "the job summary")
    assert "E3030" in sarif.read_text()
    assert_clean(sarif.read_text(), "SARIF")
    assert_clean(capsys.readouterr().err, "the log")


def test_a_reply_quoting_a_comment_masks_token_shapes(gh: FakeGitHub, tmp_path: Path) -> None:
    pat = "ghp_" + "Z" * 36
    comment = gh.add_comment(
        gh.add_issue(author="alice")["number"], f"/infra frobnicate {pat}", author="alice"
    )
    event = tmp_path / "event.json"
    event.write_text(json.dumps(gh.comment_event(comment)))
    env = gh.environ("issue_comment", str(event), **job_env())

    run_handle(Settings.from_env(env), workspace=tmp_path)

    reply = gh.comments_on(comment["issue_number"])[-1]["body"]
    assert "frobnicate" in reply and pat not in reply and pat not in written(gh)


def wrapper(bin_dir: Path, name: str, real: Path, dumps: Path) -> None:
    """`name` on PATH: records the environment it was started with, then runs the real tool."""
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\nenv > "{dumps}/{name}.$$.env"\nexec "{real}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def chart_repo(tools: Any, tmp_path: Path) -> Iterator[Any]:
    from tests.chartrepo import serve_charts

    with serve_charts(tools.require("helm").path, tmp_path / "served") as served:
        yield served


def test_cfn_guard_and_helm_do_not_inherit_the_job_secrets(
    gh: FakeGitHub, tmp_path: Path, tools: Any, monkeypatch: pytest.MonkeyPatch, chart_repo: Any
) -> None:
    from tests.chartrepo import release_repo

    # The release's chart comes from a chart repository on 127.0.0.1, never the workspace.
    repo = release_repo(tmp_path / "repo", chart_repo.url)
    monkeypatch.setenv("INFRA_BOT_CHART_DIR", str(tmp_path / "charts"))
    shutil.copytree(ROOT / "guard" / "rules", repo / "guard" / "rules")
    dumps, bin_dir = tmp_path / "dumps", tmp_path / "bin"
    dumps.mkdir()
    bin_dir.mkdir()
    for name in ("cfn-guard", "helm"):
        wrapper(bin_dir, name, tools.require(name).path, dumps)
    # The job's process environment, as Actions gives it to `infra-bot handle`.
    for key, value in {**job_env(), "INFRA_BOT_APP_PRIVATE_KEY": PEM}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    changed = ["stacks/eks-cluster.yaml", "helm-values/web/values.yaml"]
    pr = gh.add_pull_request({p: (repo / p).read_text() for p in changed}, author="alice")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(gh.pull_request_event(pr["number"])))

    outcome = run_handle(
        Settings.from_env(gh.environ("pull_request", str(event), **job_env())), workspace=repo
    )

    assert outcome.exit_code == 0, outcome.note
    seen: dict[str, list[str]] = {}
    for dump in dumps.iterdir():
        seen.setdefault(dump.name.split(".")[0], []).append(dump.read_text())
    # Both really ran: helm rendered the release (3 environments), guard judged it.
    assert {"cfn-guard", "helm"} <= set(seen) and len(seen["helm"]) >= 3
    for name, texts in seen.items():
        for text in texts:
            assert "PATH=" in text  # the tool still finds what it needs
            assert_clean(text, name)
            assert "GITHUB_TOKEN=" not in text and "INFRA_BOT_APP_PRIVATE_KEY=" not in text
            assert "AWS_" not in text  # rendering a chart needs no AWS access


def test_only_cluster_commands_get_aws_credentials_and_never_the_token() -> None:
    from bot.subproc import tool_env

    environ = {"PATH": "/bin", "HOME": "/h", **job_env(), "KUBECONFIG": "/k",
               "INFRA_BOT_APP_PRIVATE_KEY": PEM, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "x" * 20}  # fmt: skip
    plain = tool_env(environ=environ)
    cluster = tool_env(cluster=True, environ=environ)
    assert plain == {"PATH": "/bin", "HOME": "/h"}
    assert cluster["AWS_SECRET_ACCESS_KEY"] == AWS_SECRET and cluster["KUBECONFIG"] == "/k"
    for env in (plain, cluster):
        assert "GITHUB_TOKEN" not in env and "INFRA_BOT_APP_PRIVATE_KEY" not in env
        assert "ACTIONS_ID_TOKEN_REQUEST_TOKEN" not in env


@pytest.mark.parametrize(
    "text",
    [
        TOKEN, "gho_" + "a" * 36, "ghu_" + "b" * 36, "ghr_" + "c" * 36,
        "github_pat_11ABCDEFG0" + "x" * 50, "v1." + "0123456789abcdef" * 2 + "01234567",
        "AKIAIOSFODNN7EXAMPLE", AWS_KEY_ID, AWS_SESSION,
        "aws_secret_access_key = " + "A" * 40,
        PEM.replace("\\n", "\n"), "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC (cut",
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmFjbWUifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
    ],
)  # fmt: skip
def test_secret_shapes_are_masked_without_knowing_them(text: str) -> None:
    from bot.redact import Redactor

    masked = Redactor().text(f"before {text} after")
    assert masked.startswith("before ") and MASK in masked
    assert text not in masked and len(masked) <= len(f"before {text} after")


def test_job_secrets_are_masked_in_every_form() -> None:
    import base64

    from bot.redact import Redactor, secret_values

    env = {**job_env(), "PATH": "/usr/bin", "SHORT_TOKEN": "abc", "INFRA_BOT_APP_PRIVATE_KEY": PEM,
           "SECRETS_SCAN": "disabled"}  # fmt: skip
    values = secret_values(env)
    # Not secret-named, too short, or a word that would garble every text using it.
    assert not {"/usr/bin", "abc", "disabled"} & values
    redactor = Redactor.of(values)
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    for text in (AWS_SECRET, DEPLOY_PASSWORD, PEM, PEM.replace("\\n", "\n"), PEM_BODY, basic):
        assert text not in redactor.text(f"x {text} y")
    # JSON-like data (SARIF) keeps its shape.
    assert redactor.data({"a": [AWS_SECRET, 1, {"k": DEPLOY_PASSWORD}]}) == {
        "a": [MASK, 1, {"k": MASK}]
    }


@pytest.mark.parametrize("fmt", ["json", "sarif", "markdown", "github"])
def test_infra_bot_validate_output_is_masked(tmp_path: Path, fmt: str) -> None:
    import subprocess
    import sys

    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "logs.yaml").write_text(leaky_template())
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **job_env()}
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "validate", "--root", str(tmp_path), "--format", fmt,
         "--check", "cfn-lint"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 1 and "E3030" in proc.stdout, proc.stderr
    assert_clean(proc.stdout + proc.stderr, f"validate --format {fmt}")
    if fmt in ("json", "sarif"):
        json.loads(proc.stdout)  # masking keeps the document parseable


def test_an_uncaught_error_is_masked_in_the_log() -> None:
    import subprocess
    import sys

    code = (
        "import os\nfrom bot.redact import Redactor, activate, install_excepthook, secret_values\n"
        "activate(Redactor.of(secret_values(os.environ)))\ninstall_excepthook()\n"
        "raise RuntimeError('request failed: ' + os.environ['AWS_SECRET_ACCESS_KEY'])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **job_env()}, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 1 and "RuntimeError: request failed: ***" in proc.stderr
    assert_clean(proc.stderr, "the log")

"""Deploys that fail, recover, or have nothing to do, through `python -m bot.cli` on moto.

The repository is two small independent stacks (a queue, a network), so each CLI call
stays cheap. Errors moto cannot produce (an unreadable answer) come from a proxy on
127.0.0.1 in front of moto that answers chosen actions with an HTML error page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.fakegithub import FakeGitHub
from tests.moto_fixtures import commit_all, git, moto_endpoint, reset_moto
from tests.test_handle_cloud import adopt, bot_comments, handle

__all__ = ["moto_endpoint"]

pytestmark = [
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
    # moto's EC2 error codes are not in CloudFormation's service model; botocore copes.
    pytest.mark.filterwarnings("ignore:Exception\\(InvalidVPCIdError\\):UserWarning"),
]

ROOT = Path(__file__).resolve().parent.parent
QUEUE = """AWSTemplateFormatVersion: "2010-09-09"
Description: a queue
Parameters:
  Retention:
    Type: Number
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: !Ref Retention
"""
# A subnet in a VPC that does not exist: ExecuteChangeSet fails (InvalidVpcID.NotFound).
BROKEN_NETWORK = """AWSTemplateFormatVersion: "2010-09-09"
Description: a network
Resources:
  Subnet:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: vpc-0123456789abcdef0
      CidrBlock: 10.0.0.0/24
"""
FIXED_NETWORK = """AWSTemplateFormatVersion: "2010-09-09"
Description: a network
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties:
      CidrBlock: 10.0.0.0/16
  Subnet:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !Ref Vpc
      CidrBlock: 10.0.0.0/24
"""


def write_repo(root: Path, network: str) -> str:
    """Environments dev and tst (the project's own files) with stacks queue and network."""
    (root / "stacks").mkdir(parents=True)
    (root / "stacks" / "queue.yaml").write_text(QUEUE)
    (root / "stacks" / "network.yaml").write_text(network)
    for env in ("dev", "tst"):
        (root / "environments" / env).mkdir(parents=True)
        shutil.copy(ROOT / "environments" / f"{env}.yaml", root / "environments")
        (root / "environments" / env / "queue.yaml").write_text(
            "template-file-path: stacks/queue.yaml\nparameters:\n  Retention: 3600\n"
            "tags:\n  team: platform\n"
        )
        (root / "environments" / env / "network.yaml").write_text(
            "template-file-path: stacks/network.yaml\ntags:\n  team: platform\n"
        )
    git(root, "init", "-q", "-b", "main")
    return commit_all(root, "two stacks")


def cli(root: Path, endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INFRA_BOT_"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args, "--root", str(root), "--endpoint-url", endpoint],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]


def cfn_in(endpoint: str, account: str) -> Any:
    """A CloudFormation client inside `account` (an assumed role, like the bot's)."""
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/probe",
                            RoleSessionName="probe")["Credentials"]  # fmt: skip
    return boto3.client(
        "cloudformation", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )  # fmt: skip


def stack_tags(endpoint: str, account: str, name: str) -> dict[str, str]:
    stack = cfn_in(endpoint, account).describe_stacks(StackName=name)["Stacks"][0]
    return {t["Key"]: t["Value"] for t in stack.get("Tags", [])}


@pytest.fixture
def clean(moto_endpoint: str) -> str:
    reset_moto(moto_endpoint)
    return moto_endpoint


def test_failed_execute_is_named_explained_and_the_fix_deploys(tmp_path: Path, clean: str) -> None:
    write_repo(tmp_path, BROKEN_NETWORK)
    failed = cli(tmp_path, clean, "deploy", "--env", "dev", "--replan")
    no_traceback(failed)
    assert failed.returncode == 1, failed.stderr
    out = " ".join(failed.stdout.split())
    assert "Deploy to `dev`" in out and "FAILED" in out
    # The stack, the operation, AWS's reason, and what to do about it.
    assert "platform-dev-network: ExecuteChangeSet failed: InvalidVpcID.NotFound" in out
    assert "vpc-0123456789abcdef0 does not exist" in out
    assert "What to do:" in out and "does not exist in this account and region" in out
    assert "(environments/dev/network.yaml)" in out and "nothing was created" in out
    # queue imports nothing: it is in network's level, and the rest of a level finishes
    # (bot.cloud.levels); a failure stops only the later levels.
    assert "| `queue` | ✅ deployed |" in out

    status = cli(tmp_path, clean, "status", "dev")
    no_traceback(status)
    assert status.returncode == 0 and "platform-dev-network" in status.stdout
    plan = cli(tmp_path, clean, "plan", "--env", "dev")
    no_traceback(plan)
    assert "platform-dev-network" in plan.stdout

    (tmp_path / "stacks" / "network.yaml").write_text(FIXED_NETWORK)
    fixed = commit_all(tmp_path, "network in its own VPC")
    ok = cli(tmp_path, clean, "deploy", "--env", "dev", "--replan")
    no_traceback(ok)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "| `network` | ✅ deployed |" in ok.stdout
    assert "| `queue` | = unchanged | already deployed at" in ok.stdout  # by the failed run
    assert stack_tags(clean, "111111111111", "platform-dev-network")["infra-bot:commit"] == fixed


def test_one_stack_change_deploys_one_stack_and_promotes_by_content(
    tmp_path: Path, clean: str
) -> None:
    first = write_repo(tmp_path, FIXED_NETWORK)
    assert cli(tmp_path, clean, "deploy", "--env", "dev", "--replan").returncode == 0
    promoted = cli(tmp_path, clean, "promote", "dev", "tst", "--checks-passed")
    no_traceback(promoted)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr

    # A commit with nothing to deploy: plan says so, deploy succeeds and says so.
    (tmp_path / "README.md").write_text("notes\n")
    commit_all(tmp_path, "docs only")
    plan = cli(tmp_path, clean, "plan", "--env", "dev")
    no_traceback(plan)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    idle = cli(tmp_path, clean, "deploy", "--env", "dev")
    no_traceback(idle)
    assert idle.returncode == 0, idle.stdout + idle.stderr
    assert "nothing to deploy" in idle.stdout

    # One stack changes: only it deploys; the other keeps the commit that last changed it.
    deployment = tmp_path / "environments" / "dev" / "queue.yaml"
    deployment.write_text(deployment.read_text().replace("3600", "7200"))
    (tmp_path / "environments" / "tst" / "queue.yaml").write_text(deployment.read_text())
    second = commit_all(tmp_path, "longer retention")
    one = cli(tmp_path, clean, "deploy", "--env", "dev", "--replan")
    no_traceback(one)
    assert one.returncode == 0, one.stdout + one.stderr
    assert "| `queue` | ✅ deployed |" in one.stdout
    assert "| `network` | = unchanged |" in one.stdout
    assert stack_tags(clean, "111111111111", "platform-dev-network")["infra-bot:commit"] == first
    assert stack_tags(clean, "111111111111", "platform-dev-queue")["infra-bot:commit"] == second

    # dev runs network from `first` and queue from `second`: exactly what `second` deploys.
    again = cli(tmp_path, clean, "promote", "dev", "tst", "--checks-passed")
    no_traceback(again)
    assert again.returncode == 0, again.stdout + again.stderr
    text = " ".join(again.stdout.split())
    assert f"at {second[:12]}: queue" in text
    assert f"network (unchanged since {first[:12]})" in text
    assert stack_tags(clean, "222222222222", "platform-tst-queue")["infra-bot:commit"] == second
    assert stack_tags(clean, "222222222222", "platform-tst-network")["infra-bot:commit"] == first


BAD_GATEWAY = (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>")
# A 200 whose body is no AWS answer at all (a captive portal, a truncated reply).
GARBLED = (200, b"<html><body>Please log in</body></html>")


class Breaker:
    """Forwards to moto, except the actions in `broken`: the (status, HTML body) given,
    as a load balancer or proxy in front of an API answers."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.broken: dict[str, tuple[int, bytes]] = {}


@pytest.fixture
def breaker(clean: str) -> Iterator[tuple[str, Breaker]]:
    state = Breaker(clean)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hit = [a for a in state.broken if f"Action={a}&".encode() in body + b"&"]
            if hit:
                self._answer(state.broken[hit[0]][0], {"Content-Type": "text/html"},
                             state.broken[hit[0]][1])  # fmt: skip
                return
            req = urllib.request.Request(state.upstream + self.path, data=body, method="POST")
            for key, value in self.headers.items():
                if key.lower() not in {"host", "content-length"}:
                    req.add_header(key, value)
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    self._answer(resp.status, dict(resp.headers.items()), resp.read())
            except urllib.error.HTTPError as err:
                self._answer(err.code, dict(err.headers.items()), err.read())

        def _answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in {"content-length", "transfer-encoding", "connection",
                                       "server", "date"}:  # fmt: skip
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)  # fmt: skip
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def test_5xx_and_unreadable_answers_are_explained_in_deploy_status_and_plan(
    tmp_path: Path, breaker: tuple[str, Breaker]
) -> None:
    url, state = breaker
    write_repo(tmp_path, FIXED_NETWORK)
    state.broken = {"DescribeStacks": BAD_GATEWAY}
    status = cli(tmp_path, url, "status", "dev")
    no_traceback(status)
    assert status.returncode == 1
    assert "DescribeStacks: AWS failed on its side (HTTP 502" in " ".join(status.stderr.split())

    state.broken = {"DescribeStacks": GARBLED}
    for args in (("status", "dev"), ("plan", "--env", "dev"), ("deploy", "--env", "dev")):
        proc = cli(tmp_path, url, *args)
        no_traceback(proc)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        text = " ".join((proc.stdout + proc.stderr).split())
        assert "DescribeStacks: the endpoint's answer could not be read" in text, (args, text)

    # Failing mid-deploy: that stack's result names the stack and the operation.
    state.broken = {"ExecuteChangeSet": GARBLED}
    proc = cli(tmp_path, url, "deploy", "--env", "dev", "--replan")
    no_traceback(proc)
    assert proc.returncode == 1
    out = " ".join(proc.stdout.split())
    assert "platform-dev-network: ExecuteChangeSet: the endpoint's answer could not be read" in out
    # queue, in the same level, ran too and met the same broken ExecuteChangeSet.
    assert "platform-dev-queue: ExecuteChangeSet: the endpoint's answer could not be read" in out


def test_push_deploy_failure_is_explained_in_the_pr_note_and_job_summary(
    tmp_path: Path, clean: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    main = write_repo(root, BROKEN_NETWORK)
    git(root, "update-ref", "refs/remotes/origin/main", main)
    monkeypatch.setenv("AWS_ENDPOINT_URL", clean)
    monkeypatch.delenv("INFRA_BOT_ENVIRONMENT", raising=False)
    with FakeGitHub() as fake:
        fake.add_user("alice", permission="write")
        merged = fake.add_pull_request({"stacks/network.yaml": "x"})
        merged["merge_commit_sha"] = adopt(fake, main)
        outcome, _, summary = handle(fake, tmp_path, "push", fake.push_event(), root, env="dev")
        note = bot_comments(fake, merged["number"])["deploy-dev"]
    assert outcome.exit_code == 1
    for text in (summary, note):
        flat = " ".join(text.split())
        assert "platform-dev-network: ExecuteChangeSet failed: InvalidVpcID.NotFound" in flat
        assert "What to do:" in flat and "does not exist in this account and region" in flat


def test_a_merge_executes_the_change_set_the_pr_previewed(tmp_path: Path, clean: str) -> None:
    write_repo(tmp_path, FIXED_NETWORK)
    assert cli(tmp_path, clean, "deploy", "--env", "dev", "--replan").returncode == 0
    git(tmp_path, "checkout", "-q", "-b", "pr")
    deployment = tmp_path / "environments" / "dev" / "queue.yaml"
    deployment.write_text(deployment.read_text().replace("3600", "1800"))
    pr_head = commit_all(tmp_path, "shorter retention")
    preview = cli(tmp_path, clean, "plan", "--env", "dev")
    assert preview.returncode == 0 and f"infra-bot-{pr_head[:12]}-" in preview.stdout
    git(tmp_path, "checkout", "-q", "main")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com",
        "merge", "-q", "--no-ff", "-m", "merge the PR", "pr")  # fmt: skip
    merge = git(tmp_path, "rev-parse", "HEAD")
    # No plan of the merge commit: the queue's inputs last changed in the PR's commit, so
    # its reviewed change set is the one to run; the network did not change at all.
    out = cli(tmp_path, clean, "deploy", "--env", "dev")
    no_traceback(out)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"Deploy to `dev` at `{merge[:12]}`: succeeded" in out.stdout
    assert "| `queue` | ✅ deployed |" in out.stdout and "| `network` | = unchanged |" in out.stdout
    assert stack_tags(clean, "111111111111", "platform-dev-queue")["infra-bot:commit"] == pr_head


def test_closing_a_merged_pr_keeps_the_change_sets_its_deploy_runs(
    tmp_path: Path, clean: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    write_repo(root, FIXED_NETWORK)
    assert cli(root, clean, "deploy", "--env", "dev", "--replan").returncode == 0
    deployment = root / "environments" / "dev" / "queue.yaml"
    deployment.write_text(deployment.read_text().replace("3600", "1800"))
    head = commit_all(root, "shorter retention")
    assert cli(root, clean, "plan", "--env", "dev").returncode == 0
    monkeypatch.setenv("AWS_ENDPOINT_URL", clean)
    monkeypatch.delenv("INFRA_BOT_ENVIRONMENT", raising=False)
    cfn = cfn_in(clean, "111111111111")

    def planned() -> list[str]:
        return [s["ChangeSetName"] for s in cfn.list_change_sets(StackName="platform-dev-queue")
                ["Summaries"] if s["ChangeSetName"].startswith(f"infra-bot-{head[:12]}-")]  # fmt: skip

    assert len(planned()) == 1
    with FakeGitHub() as fake:
        fake.add_user("alice", permission="write")
        pr = fake.add_pull_request({"environments/dev/queue.yaml": "x"})
        pr["head"]["sha"] = adopt(fake, head)
        pr.update({"state": "closed", "merged": True})
        closed = fake.pull_request_event(pr["number"], "closed")
        assert handle(fake, tmp_path, "pull_request", closed, root)[0].exit_code == 0
        assert len(planned()) == 1  # the merge's deploy runs it (the queue's version is `head`)
        pr["merged"] = False
        abandoned = fake.pull_request_event(pr["number"], "closed")
        assert handle(fake, tmp_path, "pull_request", abandoned, root)[0].exit_code == 0
        assert planned() == []

"""Deploys through the production entry point while AWS misbehaves.

`python -m bot.cli plan|deploy` runs as a subprocess with its endpoint at a
fault-injecting proxy (tests/faultproxy.py) in front of moto on 127.0.0.1. The proxy
throttles, fails with 500, or drops the connection (before or after moto did the
work) on every CloudFormation, STS and SSM action of a run, kills the job while a
change set executes, or executes the change set itself as "someone else". In every
case the summary must say what happened to each stack, there is no traceback, a
retry-able fault ends in success, and a failure exits 1 with nothing lost.

The faults each scenario injected and what became of them are collected into a
table, printed at the end of the module (`pytest -s`) and written to
$FAULT_TABLE (default: fault-table.md in pytest's temporary folder).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from bot.cloud.spec import TAG_COMMIT
from tests.faultproxy import Call, Fault, Kind, Proxy, fault_proxy
from tests.moto_fixtures import ACCOUNTS, commit_all, make_platform_repo, moto_endpoint, reset_moto

__all__ = ["moto_endpoint"]

STACKS = ["--stacks", "kms,iam"]  # the cheapest pair with an import between them
LOCK = "/infra-bot/platform/dev/lock"
RUN_TIMEOUT = 240.0  # seconds per CLI run; botocore's backoff after a 500 is up to 20 s


KILLED = "job killed (SIGKILL) while a change set executes"
SOMEONE = "change set executed by someone else"


@dataclass
class Row:
    scenario: str
    injected: dict[str, int]
    retried: dict[str, int]
    outcome: str


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)

    def add(self, scenario: str, proxy: Proxy, outcome: str, also: str | None = None) -> None:
        """`also`: a fault the test itself made (a kill, someone else's execution)."""
        injected: dict[str, int] = {also: 1} if also else {}
        retried: dict[str, int] = {}
        for f in proxy.injected:
            injected[f.kind.value] = injected.get(f.kind.value, 0) + 1
            # Retried: the same action was called again after the faulty call.
            if proxy.count(f.service, f.action) > f.n:
                retried[f.kind.value] = retried.get(f.kind.value, 0) + 1
        self.rows.append(Row(scenario, injected, retried, outcome))

    def markdown(self) -> str:
        kinds = [k.value for k in Kind] + [KILLED, SOMEONE]
        lines = ["| kind | scenario | injected | retried | outcome |", "|---|---|---:|---:|---|"]
        for kind in kinds:
            for row in (r for r in self.rows if kind in r.injected):
                lines.append(f"| {kind} | {row.scenario} | {row.injected[kind]} | "
                             f"{row.retried.get(kind, 0)} | {row.outcome} |")  # fmt: skip
        lines += [
            "",
            "| kind | injected, all scenarios | retried | runs ok |",
            "|---|---:|---:|---|",
        ]
        for kind in kinds:
            rows = [r for r in self.rows if kind in r.injected]
            count = sum(r.injected[kind] for r in rows)
            again = sum(r.retried.get(kind, 0) for r in rows)
            fine = sum(r.outcome.startswith("exit 0") for r in rows)
            lines.append(f"| {kind} | {count} | {again} | {fine} of {len(rows)} end in exit 0 |")
        return "\n".join(lines) + "\n"


TABLE = Table()
RETRYABLE = [Kind.THROTTLE, Kind.SERVER_ERROR, Kind.DROP, Kind.DROP_AFTER]


@pytest.fixture(scope="module")
def proxy(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    with fault_proxy(moto_endpoint) as p:
        yield p
    text = TABLE.markdown()
    target = Path(
        os.environ.get("FAULT_TABLE") or tmp_path_factory.getbasetemp() / "fault-table.md"
    )
    target.write_text(text, encoding="utf-8")
    print(f"\n\nInjected faults (also in {target}):\n\n{text}")


@pytest.fixture
def repo(tmp_path: Path, moto_endpoint: str, proxy: Proxy) -> tuple[Path, str]:
    reset_moto(moto_endpoint)
    proxy.reset()
    return tmp_path, make_platform_repo(tmp_path, ["kms", "iam"])


def _env(proxy: Proxy, run_id: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.update({"AWS_ENDPOINT_URL": proxy.url, "GITHUB_RUN_ID": run_id})
    env.pop("INFRA_BOT_ENVIRONMENT", None)
    return env


def _command(proxy: Proxy, root: Path, args: tuple[str, ...]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        "--root",
        str(root),
        "--endpoint-url",
        proxy.url,
    ]


def cli(proxy: Proxy, root: Path, *args: str, run_id: str = "1") -> tuple[int, str]:
    """Exit code and stdout + unwrapped stderr of one `infra-bot` run; never a traceback."""
    done = subprocess.run(_command(proxy, root, args), capture_output=True, text=True,
                          env=_env(proxy, run_id), timeout=RUN_TIMEOUT, check=False)  # fmt: skip
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done.returncode, done.stdout + "\n" + " ".join(done.stderr.split())


def results(out: str) -> dict[str, str]:
    """stack -> its result in the summary table (`| `iam` | ✅ deployed | ... |`)."""
    return {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `([\w-]+)` \| \S+ ([a-z ]+?) \|", out, re.MULTILINE)
    }


def summary(code: int, out: str) -> str:
    shown = ", ".join(f"{s} {r}" for s, r in results(out).items()) or "no summary"
    return f"exit {code}: {shown}"


def account_client(endpoint: str, service: str, account: str = ACCOUNTS["dev"]) -> Any:
    """A boto3 client acting inside `account` (assumed role, as the bot does)."""
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/someone-else",
                            RoleSessionName="someone-else")["Credentials"]  # fmt: skip
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def deployed_commits(endpoint: str) -> dict[str, str]:
    cfn = account_client(endpoint, "cloudformation")
    return {
        s["StackName"]: {t["Key"]: t["Value"] for t in s.get("Tags", [])}.get(TAG_COMMIT, "")
        for s in cfn.describe_stacks()["Stacks"]
        if s["StackStatus"] in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
    }


def lock_value(endpoint: str) -> str | None:
    ssm = account_client(endpoint, "ssm")
    try:
        return str(ssm.get_parameter(Name=LOCK)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None


EVERY_ACTION = pytest.mark.parametrize("kind", RETRYABLE, ids=lambda k: k.name.lower())


@EVERY_ACTION
def test_each_action_fails_once_and_the_deploy_succeeds(
    repo: tuple[Path, str], proxy: Proxy, moto_endpoint: str, kind: Kind
) -> None:
    """The first call of every CloudFormation, STS and SSM action fails once."""
    root, commit = repo
    proxy.faults = [Fault(kind)]
    code, out = cli(proxy, root, "deploy", "--env", "dev", *STACKS, "--replan")
    TABLE.add("first call of every action, deploy --replan of a new env", proxy, summary(code, out))
    assert code == 0, out
    assert results(out) == {"kms": "deployed", "iam": "deployed"}
    services = {f.service for f in proxy.injected}
    assert services == {"cloudformation", "sts", "ssm"}, proxy.injected
    assert {f.action for f in proxy.injected} >= {
        "CreateChangeSet", "DescribeChangeSet", "ExecuteChangeSet", "GetTemplate",
        "PutParameter", "DeleteParameter", "AssumeRole",
    }  # fmt: skip
    assert deployed_commits(moto_endpoint) == {
        "platform-dev-kms": commit,
        "platform-dev-iam": commit,
    }
    assert lock_value(moto_endpoint) is None  # released, even though its calls failed once


@EVERY_ACTION
def test_second_call_of_each_action_fails_during_plan_and_update(
    repo: tuple[Path, str], proxy: Proxy, moto_endpoint: str, kind: Kind
) -> None:
    """An update: plan, then deploy the reviewed change sets, the 2nd call of each failing."""
    root, _first = repo
    assert cli(proxy, root, "deploy", "--env", "dev", *STACKS, "--replan")[0] == 0
    for stack in ("kms", "iam"):  # a new owner: both stacks change
        dep = root / "environments" / "dev" / f"{stack}.yaml"
        dep.write_text(dep.read_text().replace("Owner: platform-team", "Owner: night-shift"))
    second = commit_all(root, "second")
    proxy.reset()
    proxy.faults = [Fault(kind, nth=2)]
    code, out = cli(proxy, root, "plan", "--env", "dev", *STACKS)
    assert code == 0, out
    assert "2 of 2 stacks change." in out, out
    code, out = cli(proxy, root, "deploy", "--env", "dev", *STACKS)
    TABLE.add("2nd call of every action, plan + deploy of an update", proxy, summary(code, out))
    assert code == 0, out
    assert results(out) == {"kms": "deployed", "iam": "deployed"}
    assert len(proxy.injected) >= 10
    assert deployed_commits(moto_endpoint) == {
        "platform-dev-kms": second,
        "platform-dev-iam": second,
    }


def test_refusal_fails_one_stack_and_keeps_the_others(
    repo: tuple[Path, str], proxy: Proxy, moto_endpoint: str
) -> None:
    """A fault no retry cures (iam's ExecuteChangeSet refused): the summary still lists
    every stack, the failed one with its reason; exit 1; the lock is released."""
    root, commit = repo
    # kms executes first (its level comes first); the 2nd ExecuteChangeSet is iam's.
    proxy.faults = [Fault(Kind.DENIED, "cloudformation", "ExecuteChangeSet", nth=2, times=100)]
    code, out = cli(proxy, root, "deploy", "--env", "dev", *STACKS, "--replan")
    TABLE.add("iam's ExecuteChangeSet refused (AccessDenied)", proxy, summary(code, out))
    assert code == 1, out
    assert results(out) == {"kms": "deployed", "iam": "failed"}
    iam = next(line for line in out.splitlines() if line.startswith("| `iam` |"))
    assert "ExecuteChangeSet" in iam and "AccessDenied" in iam, iam
    assert proxy.count("cloudformation", "ExecuteChangeSet") == 2  # refused: not retried
    assert deployed_commits(moto_endpoint) == {"platform-dev-kms": commit}
    assert lock_value(moto_endpoint) is None


def test_job_killed_mid_deploy_then_recovered_by_the_lock_rules(
    repo: tuple[Path, str], proxy: Proxy, moto_endpoint: str
) -> None:
    root, commit = repo
    proxy.execute_seconds = 60.0  # iam stays CREATE_IN_PROGRESS until we say otherwise
    executing = threading.Event()

    def on_execute(call: Call) -> None:
        if call.params.get("StackName") == "platform-dev-iam":
            executing.set()

    proxy.hooks["ExecuteChangeSet"] = on_execute
    args = ("deploy", "--env", "dev", *STACKS, "--replan")
    job = subprocess.Popen(_command(proxy, root, args), env=_env(proxy, "1001"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert executing.wait(RUN_TIMEOUT), "the deploy never reached iam's ExecuteChangeSet"
        time.sleep(0.5)  # the answer is on its way; the job now polls the stack
        job.send_signal(signal.SIGKILL)
        job.communicate(timeout=30)
    finally:
        if job.poll() is None:
            job.kill()
    assert lock_value(moto_endpoint) is not None  # a killed job releases nothing

    code, out = cli(proxy, root, *args, run_id="1002")
    assert code == 2 and "dev is busy: iam CREATE_IN_PROGRESS" in out, out
    proxy.execute_seconds = 0.0
    proxy.finish_executions()  # CloudFormation carried on without the job, and finished

    code, out = cli(proxy, root, *args, run_id="1002")
    assert code == 2 and "locked by github-run-1001 since" in out and "stale" not in out, out
    code, out = cli(proxy, root, "unlock", "dev", run_id="1002")
    assert code == 2 and "not stale" in out, out

    # Two hours and more later (the lock rules' stale age): the record says so.
    old = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    account_client(moto_endpoint, "ssm").put_parameter(
        Name=LOCK, Value=f"github-run-1001|{old}", Type="String", Overwrite=True
    )
    code, out = cli(proxy, root, *args, run_id="1003")
    assert code == 2 and "locked by github-run-1001" in out, out
    assert "(stale: `infra-bot unlock` releases it)" in out, out
    code, out = cli(proxy, root, "unlock", "dev", run_id="1003")
    assert code == 0 and "released the lock held by github-run-1001" in out, out

    code, out = cli(proxy, root, *args, run_id="1003")
    TABLE.add("killed in iam's execute; busy, then stale lock; unlock; re-run", proxy,
              summary(code, out), KILLED)  # fmt: skip
    assert code == 0, out
    assert results(out) == {"kms": "unchanged", "iam": "unchanged"}
    assert f"already deployed at {commit[:12]}" in out
    assert deployed_commits(moto_endpoint) == {
        "platform-dev-kms": commit,
        "platform-dev-iam": commit,
    }
    assert lock_value(moto_endpoint) is None


def test_change_set_executed_by_someone_else_while_we_deploy(
    repo: tuple[Path, str], proxy: Proxy, moto_endpoint: str
) -> None:
    """Between our check of iam's change set and our ExecuteChangeSet, someone executes it."""
    root, commit = repo
    assert cli(proxy, root, "plan", "--env", "dev", "--stacks", "kms")[0] == 0
    assert cli(proxy, root, "deploy", "--env", "dev", "--stacks", "kms")[0] == 0
    assert cli(proxy, root, "plan", "--env", "dev", *STACKS)[0] == 0
    proxy.execute_seconds = 1.0
    other = account_client(proxy.url, "cloudformation")
    state = {"done": False}

    def someone_else(call: Call) -> None:
        if state["done"] or call.params.get("StackName") != "platform-dev-iam":
            return
        state["done"] = True  # their call comes through here too
        other.execute_change_set(StackName="platform-dev-iam",
                                 ChangeSetName=call.params["ChangeSetName"])  # fmt: skip

    proxy.hooks["ExecuteChangeSet"] = someone_else
    code, out = cli(proxy, root, "deploy", "--env", "dev", *STACKS)
    TABLE.add("just before our ExecuteChangeSet of iam", proxy, summary(code, out), SOMEONE)
    assert state["done"]
    assert code == 0, out
    assert results(out) == {"kms": "unchanged", "iam": "deployed"}
    assert deployed_commits(moto_endpoint)["platform-dev-iam"] == commit


def test_change_set_executed_by_someone_else_between_plan_and_deploy(
    repo: tuple[Path, str], proxy: Proxy, moto_endpoint: str
) -> None:
    root, commit = repo
    assert cli(proxy, root, "deploy", "--env", "dev", "--stacks", "kms", "--replan")[0] == 0
    assert cli(proxy, root, "plan", "--env", "dev", *STACKS)[0] == 0
    cfn = account_client(moto_endpoint, "cloudformation")
    mine = [s for s in cfn.list_change_sets(StackName="platform-dev-iam")["Summaries"]
            if s["StackName"] == "platform-dev-iam"]  # fmt: skip
    assert len(mine) == 1
    cfn.execute_change_set(StackName="platform-dev-iam", ChangeSetName=mine[0]["ChangeSetId"])
    code, out = cli(proxy, root, "deploy", "--env", "dev", *STACKS)
    TABLE.add("after the plan, before the deploy", proxy, summary(code, out), SOMEONE)
    assert code == 0, out
    assert results(out) == {"kms": "unchanged", "iam": "unchanged"}
    assert f"already deployed at {commit[:12]}" in out

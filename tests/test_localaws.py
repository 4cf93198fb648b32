"""`infra-bot local-aws`: the moto stand-in with the change-set fixes, on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def local_aws():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "local-aws", "--port", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    exports: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while "AWS_EC2_METADATA_DISABLED" not in exports and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").strip().partition("=")
            exports[key] = value
    yield proc, exports
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def cfn(exports: dict[str, str]):
    return boto3.client(
        "cloudformation", endpoint_url=exports["AWS_ENDPOINT_URL"], region_name="us-east-1",
        aws_access_key_id="demo", aws_secret_access_key="demo", aws_session_token="demo",
    )  # fmt: skip


EXPORTER = """{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}},
 "Outputs": {"Q": {"Value": {"Ref": "Q"}, "Export": {"Name": "%s"}}}}"""
IMPORTER = """{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}},
 "Outputs": {"I": {"Value": {"Fn::ImportValue": "%s"}, "Export": {"Name": "%s"}}}}"""


def deploy(client, name: str, body: str) -> None:
    client.create_change_set(StackName=name, ChangeSetName="c1", ChangeSetType="CREATE",
                             TemplateBody=body)  # fmt: skip
    client.execute_change_set(StackName=name, ChangeSetName="c1")


def test_prints_exports_and_fixes_chains_of_imports(local_aws) -> None:
    proc, exports = local_aws
    assert exports["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert exports["AWS_ACCESS_KEY_ID"] == "demo"
    client = cfn(exports)
    deploy(client, "a", EXPORTER % "first")
    deploy(client, "b", IMPORTER % ("first", "second"))  # stock moto: No export named first
    deploy(client, "c", IMPORTER % ("second", "third"))
    names = {e["Name"] for e in client.list_exports()["Exports"]}
    assert names == {"first", "second", "third"}
    # A re-plan of a stack left in REVIEW_IN_PROGRESS reuses it (no twin stack).
    client.create_change_set(StackName="d", ChangeSetName="p1", ChangeSetType="CREATE",
                             TemplateBody=EXPORTER % "d")  # fmt: skip
    client.create_change_set(StackName="d", ChangeSetName="p2", ChangeSetType="CREATE",
                             TemplateBody=EXPORTER % "d")  # fmt: skip
    stacks = [s for s in client.list_stacks()["StackSummaries"] if s["StackName"] == "d"]
    assert len(stacks) == 1
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "local-aws stopped" in err and "Traceback" not in err


def test_port_in_use_is_a_clear_error(local_aws) -> None:
    _, exports = local_aws
    port = exports["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "local-aws", "--port", port],
                          env=env, capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr

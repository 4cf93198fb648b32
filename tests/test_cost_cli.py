"""`infra-bot cost` end to end on a throwaway git repository."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app

STACK = """
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  InstanceType: {Type: String, Default: t3a.xlarge}
  DesiredSize: {Type: Number, Default: 3}
  WithNat: {Type: String, Default: "false", AllowedValues: ["true", "false"]}
Conditions:
  HasNat: !Equals [!Ref WithNat, "true"]
Resources:
  NodeGroup:
    Type: AWS::EKS::Nodegroup
    Properties:
      ClusterName: c
      NodeRole: r
      Subnets: [a]
      InstanceTypes: [!Ref InstanceType]
      DiskSize: 100
      ScalingConfig: {MinSize: 1, DesiredSize: !Ref DesiredSize, MaxSize: 5}
  Nat:
    Type: AWS::EC2::NatGateway
    Condition: HasNat
    Properties:
      SubnetId: s
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {}
"""
DEPLOYMENT = """
template-file-path: stacks/nodes.yaml
parameters:
  InstanceType: {itype}
"""
FILES = {
    "stacks/nodes.yaml": STACK,
    "environments/dev.yaml": """
        name: dev
        account_id: "111111111111"
        cost:
          max_monthly_increase_usd: 50
          max_monthly_increase_percent: 10
    """,
    "environments/dev/nodes.yaml": DEPLOYMENT.format(itype="t3a.xlarge"),
    "environments/usage.yaml": """
        environments:
          dev:
            nat_gateway_processed_gb: 100
    """,
}


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["cost", *args, "--date", "2026-11-23"])


@pytest.fixture
def repo(make_repo: Callable[[dict[str, str]], Path]) -> Path:
    root = make_repo(FILES)
    (root / "environments/dev/nodes.yaml").write_text(DEPLOYMENT.format(itype="m5.xlarge"))
    return root


def test_changed_since_json_reports_the_swap(repo: Path) -> None:
    result = run("--root", str(repo), "--changed-since", "HEAD", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    (env,) = doc["environments"]
    # 3 x 730 x (0.192 - 0.1504) = 91.104 on top of 3 x 0.1504 x 730 + 3 x 100 x 0.08 = 353.376
    assert (env["env"], env["monthly_before"], env["monthly_after"]) == ("dev", 353.38, 444.48)
    assert (env["delta"], env["percent"], env["exceeds_threshold"]) == (91.1, 25.78, True)
    (stack,) = env["stacks"]
    assert stack["skipped"] == [{"logical_id": "Nat", "type": "AWS::EC2::NatGateway",
                                 "condition": "HasNat"}]  # fmt: skip
    res = {r["logical_id"]: r for r in stack["resources"]}
    assert res["NodeGroup"]["change"] == "~"
    assert res["NodeGroup"]["components"][0]["unit_price"] == 0.192
    assert res["Role"]["status"] == "free" and res["Role"]["change"] == " "


def test_threshold_fails_until_approved(repo: Path) -> None:
    args = ("--root", str(repo), "--changed-since", "HEAD", "--format", "markdown")
    failed = run(*args, "--fail-over-threshold")
    assert failed.exit_code == 1
    assert "Monthly estimate for DEV increases by $91.10 (+25.8%)" in failed.stdout
    assert "`/infra approve-cost dev`" in failed.stdout
    approved = run(*args, "--fail-over-threshold", "--approved", "dev")
    assert approved.exit_code == 0
    assert "cost increase was approved" in approved.stdout


def test_text_output_explains_each_line(repo: Path) -> None:
    result = run("--root", str(repo), "--env", "dev")
    assert result.exit_code == 0, result.output
    assert "dev: $444.48/month" in result.stdout
    assert "Nodes (m5.xlarge, Linux on-demand x 3): 2,190 x $0.192" in result.stdout


def test_templates_with_parameters(repo: Path) -> None:
    result = run(str(repo / "stacks/nodes.yaml"), "--parameter", "InstanceType=m5.large",
                 "--parameter", "DesiredSize=2", "--parameter", "WithNat=true",
                 "--usage", str(repo / "environments/usage.yaml"), "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    (env,) = json.loads(result.stdout)["environments"]
    # 2 x 0.096 x 730 + 2 x 100 x 0.08 = 156.16; NAT 32.85, data "depends on usage" (no
    # defaults in the usage file: its figures are per environment)
    assert env["monthly_after"] == pytest.approx(156.16 + 32.85)
    nat = next(r for r in env["stacks"][0]["resources"] if r["logical_id"] == "Nat")
    assert nat["status"] == "depends on usage"
    assert env["delta"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--parameter", "nokey"], "expected KEY=VALUE"),
        (["--parameter", "A=1"], "applies to templates named on the command line"),
        (["no-such.yaml"], "no such template"),
        (["stacks/nodes.yaml", "--changed-since", "HEAD"], "apply to environments"),
        (["--env", "nope"], "unknown environment 'nope'"),
        (["--usage", "missing.yaml"], "no such file"),
        (["--date", "tomorrow"], "expected YYYY-MM-DD"),
        (["--changed-since", "--oops"], "looks like an option"),
    ],
)
def test_bad_input_gets_a_clear_error(repo: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["cost", "--root", str(repo), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_bad_usage_file(repo: Path) -> None:
    bad = repo / "bad-usage.yaml"
    bad.write_text("environments:\n  dev:\n    nat_gb: 3\n")
    result = run("--root", str(repo), "--usage", str(bad))
    assert result.exit_code == 2 and "unknown usage key 'nat_gb'" in result.output


def test_per_environment_usage_file(repo: Path) -> None:
    (repo / "environments/usage-dev.yaml").write_text("nat_gateway_processed_gb: 1000\n")
    (repo / "environments/dev/nodes.yaml").write_text(
        "template-file-path: stacks/nodes.yaml\nparameters:\n  WithNat: 'true'\n"
    )
    result = run("--root", str(repo), "--format", "json")
    assert result.exit_code == 0, result.output
    (env,) = json.loads(result.stdout)["environments"]
    assert env["usage_file"] == "environments/usage.yaml, environments/usage-dev.yaml"
    nat = next(r for r in env["stacks"][0]["resources"] if r["logical_id"] == "Nat")
    # 32.85 hours + 1,000 GB x 0.045 (usage-dev.yaml over usage.yaml's 100 GB)
    assert nat["monthly"] == pytest.approx(32.85 + 45.0)


def test_json_keys_are_the_documented_interface(repo: Path) -> None:
    """docs/cost.md documents these keys; changing them needs a new `version`."""
    result = run("--root", str(repo), "--changed-since", "HEAD", "--format", "json")
    doc = json.loads(result.stdout)
    assert set(doc) == {"version", "currency", "date", "hours_per_month", "price_table",
                        "environments"}  # fmt: skip
    assert doc["version"] == 1 and doc["date"] == "2026-11-23"
    (env,) = doc["environments"]
    assert set(env) == {"env", "monthly_before", "monthly_after", "delta", "percent",
                        "priced_change", "exceeds_threshold", "usage_file", "stacks"}  # fmt: skip
    stack = env["stacks"][0]
    assert set(stack) == {"stack", "template", "monthly_before", "monthly_after", "delta",
                          "error", "notes", "skipped", "resources"}  # fmt: skip
    resource = stack["resources"][0]
    assert set(resource) == {"logical_id", "type", "status", "status_before", "change", "monthly",
                             "hourly", "monthly_before", "monthly_after", "delta", "components",
                             "assumptions"}  # fmt: skip
    assert set(resource["components"][0]) == {"name", "unit", "unit_price", "monthly_quantity",
                                              "monthly", "usage_key", "source"}  # fmt: skip
    docs = (Path(__file__).resolve().parents[1] / "docs" / "cost.md").read_text()
    for key in (*env, *stack, *resource, *resource["components"][0]):
        assert f'"{key}"' in docs, key

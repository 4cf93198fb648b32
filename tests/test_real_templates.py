"""Regressions from real repositories: each fixture under tests/fixtures/real/ is a
small repository in the shape a public one had when infra-bot got it wrong.

Every test runs the production entry point (`python -m bot.cli ...`) in a fresh
interpreter, over a copy of the fixture with this project's guard rules.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.toolchain import Toolchain

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "real"


@pytest.fixture(autouse=True)
def _guard_installed(tools: Toolchain) -> None:
    """cfn-guard is installed (conftest) before the subprocess looks for it."""
    tools.require("cfn-guard")


def repo_from(fixture: str, tmp_path: Path) -> Path:
    root = tmp_path / fixture
    shutil.copytree(FIXTURES / fixture, root)
    shutil.copytree(ROOT / "guard" / "rules", root / "guard" / "rules")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1), proc.stderr
    return proc


def validate(root: Path, *args: str) -> dict[str, Any]:
    proc = cli(root, "validate", "--root", str(root), "--no-cache", "--format", "json", *args)
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def ids(report: dict[str, Any], prefix: str = "") -> set[str]:
    return {f["check_id"] for f in report["findings"] if f["check_id"].startswith(prefix)}


def coverage(report: dict[str, Any], check: str) -> dict[str, Any]:
    (found,) = [c for c in report["coverage"] if c["check"] == check]
    return found


def test_private_eks_endpoint_spelled_false_and_given_by_if(tmp_path: Path) -> None:
    """`EndpointPublicAccess: False` is a boolean to CloudFormation, a string to
    cfn-guard; `!If [...]` is decided at deploy time. Neither is a public endpoint."""
    report = validate(repo_from("eks-capital-booleans", tmp_path))
    assert "guard/SC7_EKS_ENDPOINT_PRIVATE" not in ids(report)
    assert coverage(report, "cfn-guard")["status"] == "ran"


def test_eks_log_group_order_only_when_logging_is_on(tmp_path: Path) -> None:
    report = validate(repo_from("eks-capital-booleans", tmp_path))
    assert "cross-stack/eks-log-group-order" not in ids(report)
    assert coverage(report, "cross-stack")["status"] == "ran"


def test_deployment_file_finding_points_into_the_deployment_file(tmp_path: Path) -> None:
    report = validate(repo_from("deployment-lines", tmp_path))
    (found,) = [f for f in report["findings"] if f["check_id"] == "cfn-lint/W1030"]
    assert found["path"] == "environments/dev/app.yaml"
    assert found["line"] == 1
    # The template line the parameter reaches is named, not used as this file's line.
    assert "stacks/app.yaml:11" in found["message"]


def test_missing_export_points_at_the_import_value_line(tmp_path: Path) -> None:
    root = repo_from("deployment-lines", tmp_path)
    report = validate(root)
    (found,) = [f for f in report["findings"] if f["check_id"] == "cross-stack/missing-export"]
    lines = (root / "stacks" / "app.yaml").read_text().splitlines()
    assert found["line"] > 0
    assert "!ImportValue shared-QueueArn" in lines[found["line"] - 1]


def test_cfn_lint_checks_each_environments_region(tmp_path: Path) -> None:
    """App Runner exists in eu-west-1 (and us-east-1) but not in ap-east-2, where
    the `aps` environment deploys it."""
    report = validate(repo_from("regions", tmp_path))
    messages = [f["message"] for f in report["findings"] if f["check_id"] == "cfn-lint/E3006"]
    assert messages
    assert all("ap-east-2" in m for m in messages)
    assert not any("eu-west-1" in m or "us-east-1" in m for m in messages)


def test_cfn_lint_region_of_one_environment(tmp_path: Path) -> None:
    """--env euw: only the eu-west-1 deployment is linted with its parameters; the
    template itself is still linted in every region that deploys it."""
    root = repo_from("regions", tmp_path)
    report = validate(root, "environments/euw/apprunner.yaml")
    assert "cfn-lint/E3006" not in ids(report)
    assert coverage(report, "cfn-lint")["counts"] == {"templates": 0, "deployment files": 1}


def test_kubernetes_manifests_in_a_raw_folder_are_skipped(tmp_path: Path) -> None:
    root = repo_from("k8s-folder", tmp_path)
    report = validate(root, "stacks", "k8s")
    assert not [f for f in report["findings"] if f["path"].startswith("k8s/")]
    for check in ("cfn-lint", "cfn-guard"):
        cov = coverage(report, check)
        assert cov["status"] == "ran"
        assert cov["counts"]["templates"] == 1
        skipped = {s["item"] for s in cov["skipped"]}
        assert skipped == {"k8s/config.yaml", "k8s/deployment.yaml", "k8s/service.yaml"}
    text = cli(root, "validate", "--root", str(root), "--no-cache", "stacks", "k8s").stdout
    assert "skipped: 3 Kubernetes manifests, not CloudFormation" in " ".join(text.split())


def test_unquoted_dates_do_not_crash_validate_or_cost(tmp_path: Path) -> None:
    """`AWSTemplateFormatVersion: 2010-09-09` and IAM `Version: 2012-10-17` load as
    dates in YAML; CloudFormation takes them. No tool may crash on them."""
    root = repo_from("unquoted-dates", tmp_path)
    report = validate(root)
    assert not [f for f in report["findings"] if f["check_id"].endswith("/crashed")]
    assert {c["status"] for c in report["coverage"] if c["check"] != "kube"} == {"ran"}
    assert "cfn-lint/E1001" not in ids(report)
    cost = cli(root, "cost", "--root", str(root), "--format", "json", "stacks/role.yaml")
    assert cost.returncode == 0, cost.stderr
    priced = json.dumps(json.loads(cost.stdout))
    assert "AWS::S3::Bucket" in priced

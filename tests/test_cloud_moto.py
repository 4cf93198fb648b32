"""plan / deploy / promote / rollback / destroy against a moto server on 127.0.0.1.

The platform's real iam, vpc and security-groups templates deploy through change
sets; kms is a stand-in (see moto_fixtures) because moto cannot create KMS keys.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import boto3
import pytest

from bot.cloud.deployer import Result
from bot.cloud.preview import Outcome
from bot.cloud.runs import EnvRun, deploy_env, open_env, plan_env, promote
from bot.cloud.spec import TAG_COMMIT
from bot.cloud.waiting import Clock
from bot.repo.model import Repository
from tests.moto_fixtures import (
    ACCOUNTS,
    FOUNDATION,
    commit_all,
    make_platform_repo,
    moto_endpoint,
    reset_moto,
)

__all__ = ["moto_endpoint"]

# moto warns for each resource type its CloudFormation skips (VPCCidrBlock, SG egress rules).
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")

FAST = Clock(sleep=lambda _s: None, poll_seconds=0)


@pytest.fixture
def platform(tmp_path: Path, moto_endpoint: str) -> tuple[Path, str]:
    """The foundation stacks in a fresh git repository; moto emptied."""
    reset_moto(moto_endpoint)
    return tmp_path, make_platform_repo(tmp_path)


@pytest.fixture
def small(tmp_path: Path, moto_endpoint: str) -> tuple[Path, str]:
    """Only kms (stand-in) and iam: the cheapest pair with a cross-stack import."""
    reset_moto(moto_endpoint)
    return tmp_path, make_platform_repo(tmp_path, ["kms", "iam"])


def run_for(root: Path, env: str, endpoint: str) -> EnvRun:
    run = open_env(Repository(root), env, endpoint_url=endpoint, owner="pytest")
    return dataclasses.replace(run, clock=FAST)


def stacks_in(account: str, endpoint: str) -> dict[str, dict[str, str]]:
    """Stack name -> tags, seen from inside `account` (assumed role, like the bot)."""
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/probe",
                            RoleSessionName="probe")["Credentials"]  # fmt: skip
    cfn = boto3.client(
        "cloudformation",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    return {
        s["StackName"]: {t["Key"]: t["Value"] for t in s.get("Tags", [])}
        for s in cfn.describe_stacks()["Stacks"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    }


def test_plan_deploy_promote(platform: tuple[Path, str], moto_endpoint: str) -> None:
    root, commit = platform
    dev = run_for(root, "dev", moto_endpoint)

    previews = plan_env(dev, commit, FOUNDATION)
    assert [p.stack for p in previews] == FOUNDATION  # graph order: kms before iam before vpc
    assert all(p.outcome is Outcome.CHANGES for p in previews), previews
    assert all(p.change_set_type == "CREATE" for p in previews)
    vpc = next(p for p in previews if p.stack == "vpc")
    assert {c.resource_type for c in vpc.changes} >= {"AWS::EC2::VPC", "AWS::EC2::Subnet"}
    assert all(c.action == "Add" for c in vpc.changes)

    recorded: list[str] = []  # the hook the GitHub deployment records hang on
    outcome = deploy_env(dev, commit, FOUNDATION, on_result=lambda r: recorded.append(r.stack))
    assert [r.result for r in outcome.results] == [Result.DEPLOYED] * 4, outcome.results
    assert recorded == FOUNDATION
    deployed = stacks_in(ACCOUNTS["dev"], moto_endpoint)
    assert set(deployed) == {f"platform-dev-{s}" for s in FOUNDATION}
    assert {tags[TAG_COMMIT] for tags in deployed.values()} == {commit}
    assert deployed["platform-dev-vpc"]["Environment"] == "dev"  # deployment file tags

    again = deploy_env(dev, commit, FOUNDATION)
    assert [r.result for r in again.results] == [Result.UNCHANGED] * 4
    assert all("already deployed" in r.message for r in again.results)

    tst = run_for(root, "tst", moto_endpoint)
    promoted = promote(dev, tst, stacks=FOUNDATION)
    assert promoted.commit == commit
    assert promoted.ok, (promoted.checks, promoted.results)
    drift = next(c for c in promoted.checks if c.name == "no drift")
    assert drift.ok is None and "not available" in drift.detail  # moto: no drift API
    in_tst = stacks_in(ACCOUNTS["tst"], moto_endpoint)
    assert set(in_tst) >= {f"platform-tst-{s}" for s in FOUNDATION}
    assert in_tst["platform-tst-vpc"]["Environment"] == "tst"
    assert stacks_in(ACCOUNTS["prd"], moto_endpoint) == {}


# The remaining tests drive the CLI on the two cheapest stacks (kms stand-in, iam).
SMALL = ["--stacks", "kms,iam"]


def cli(root: Path, endpoint: str, *args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from bot.cli import app

    result = CliRunner().invoke(app, [*args, "--root", str(root), "--endpoint-url", endpoint])
    # stderr goes through rich, which wraps lines: unwrap it for matching.
    return result.exit_code, result.stdout + "\n" + " ".join(result.stderr.split())


def test_empty_change_set_is_reported_and_removed(
    small: tuple[Path, str], moto_endpoint: str
) -> None:
    root, _commit = small
    assert cli(root, moto_endpoint, "plan", "--env", "dev", *SMALL)[0] == 0
    assert cli(root, moto_endpoint, "deploy", "--env", "dev", *SMALL)[0] == 0
    code, out = cli(root, moto_endpoint, "plan", "--env", "dev", *SMALL)
    assert code == 0, out
    assert "| `iam` | — | no changes (change set deleted) |" in out
    assert "0 of 2 stacks change." in out
    dev = run_for(root, "dev", moto_endpoint)
    assert dev.cfn.list_change_sets("platform-dev-iam") == []


def test_template_changed_after_planning_is_refused(
    small: tuple[Path, str], moto_endpoint: str
) -> None:
    root, _commit = small
    code, out = cli(root, moto_endpoint, "plan", "--env", "dev", *SMALL)
    assert code == 0, out
    assert "| `iam` | `infra-bot-" in out and "CREATE" in out
    iam = root / "stacks" / "iam.yaml"
    text = iam.read_text()
    assert text.startswith("AWSTemplateFormatVersion") and "\nMetadata:" not in text
    iam.write_text(text + "\nMetadata:\n  EditedAfterReview: true\n")  # not committed either
    code, out = cli(root, moto_endpoint, "deploy", "--env", "dev", *SMALL)
    assert code == 1, out
    assert "changed after planning" in out and "Refusing to deploy what was not reviewed" in out
    assert "| `kms` | ✅ deployed |" in out
    assert set(stacks_in(ACCOUNTS["dev"], moto_endpoint)) == {
        "platform-dev-kms",
        "platform-dev-iam",  # REVIEW_IN_PROGRESS only: created by the plan, never executed
    }
    dev = run_for(root, "dev", moto_endpoint)
    iam_stack = dev.cfn.describe_stack("platform-dev-iam")
    assert iam_stack is not None and iam_stack["StackStatus"] == "REVIEW_IN_PROGRESS"


def test_unplanned_deploy_needs_replan(small: tuple[Path, str], moto_endpoint: str) -> None:
    root, commit = small
    code, out = cli(root, moto_endpoint, "deploy", "--env", "dev", *SMALL)
    assert code == 1 and "no change set was planned" in out and "--replan" in out
    assert stacks_in(ACCOUNTS["dev"], moto_endpoint) == {}
    code, out = cli(root, moto_endpoint, "deploy", "--env", "dev", *SMALL, "--replan")
    assert code == 0, out
    assert "#### `platform-dev-kms` (CREATE)" in out  # the preview is shown before deploying
    # Not a terminal: stack events stream as plain lines.
    assert "[platform-dev-iam] " in out and " CREATE_COMPLETE AWS::CloudFormation::Stack " in out
    assert {t[TAG_COMMIT] for t in stacks_in(ACCOUNTS["dev"], moto_endpoint).values()} == {commit}


def test_prd_only_from_its_protected_job(
    small: tuple[Path, str], moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = small
    monkeypatch.delenv("INFRA_BOT_ENVIRONMENT", raising=False)
    code, out = cli(root, moto_endpoint, "deploy", "--env", "prd", *SMALL, "--replan")
    assert code == 2 and "only from a workflow job bound to the GitHub environment 'prd'" in out
    code, out = cli(root, moto_endpoint, "promote", "tst", "prd", *SMALL)
    assert code == 2 and "PRD is changed only" in out
    code, out = cli(root, moto_endpoint, "promote", "dev", "prd", *SMALL, "--override-protection")
    assert code == 2 and "dev promotes to tst, not to prd" in out
    assert stacks_in(ACCOUNTS["prd"], moto_endpoint) == {}
    monkeypatch.setenv("INFRA_BOT_ENVIRONMENT", "prd")
    code, out = cli(root, moto_endpoint, "deploy", "--env", "prd", *SMALL, "--replan")
    assert code == 0, out
    assert set(stacks_in(ACCOUNTS["prd"], moto_endpoint)) == {
        "platform-prd-kms",
        "platform-prd-iam",
    }


def test_promotion_refused_when_source_is_not_at_one_commit(
    small: tuple[Path, str], moto_endpoint: str
) -> None:
    root, _ = small
    assert cli(root, moto_endpoint, "deploy", "--env", "dev", "--stacks", "kms", "--replan")[0] == 0
    code, out = cli(root, moto_endpoint, "promote", "dev", "tst", *SMALL, "--checks-passed")
    assert code == 1, out
    assert "✗ iam deployed: not deployed" in out and "Promotion refused" in out
    assert stacks_in(ACCOUNTS["tst"], moto_endpoint) == {}


def test_rollback_redeploys_previous_commit(small: tuple[Path, str], moto_endpoint: str) -> None:
    root, first = small
    assert cli(root, moto_endpoint, "deploy", "--env", "dev", *SMALL, "--replan")[0] == 0
    dep = root / "environments" / "dev" / "iam.yaml"
    dep.write_text(dep.read_text().replace("Owner: platform-team", "Owner: night-shift"))
    second = commit_all(root, "new owner")
    assert cli(root, moto_endpoint, "deploy", "--env", "dev", *SMALL, "--replan")[0] == 0
    tags = stacks_in(ACCOUNTS["dev"], moto_endpoint)["platform-dev-iam"]
    assert (tags[TAG_COMMIT], tags["infra-bot:previous-commit"]) == (second, first)

    code, out = cli(root, moto_endpoint, "rollback", "dev", "iam")
    assert code == 0, out
    assert f"Current version: `{second[:12]}`" in out and f"Rolling back to: `{first[:12]}`" in out
    tags = stacks_in(ACCOUNTS["dev"], moto_endpoint)["platform-dev-iam"]
    assert tags[TAG_COMMIT] == first and tags["Owner"] == "platform-team"


def test_status_drift_destroy_and_locks(small: tuple[Path, str], moto_endpoint: str) -> None:
    root, commit = small
    assert cli(root, moto_endpoint, "deploy", "--env", "dev", *SMALL, "--replan")[0] == 0
    code, out = cli(root, moto_endpoint, "status", "dev")
    assert code == 0
    assert f"| `platform-dev-iam` | CREATE_COMPLETE | `{commit[:12]}` |" in out
    code, out = cli(root, moto_endpoint, "status", "tst")
    assert code == 0 and "| `platform-tst-kms` | NOT_DEPLOYED | — | - |" in out

    code, out = cli(root, moto_endpoint, "drift", "dev", *SMALL)
    assert code == 0 and "drift detection is not available here" in out

    code, out = cli(root, moto_endpoint, "destroy", "dev")
    assert code == 2 and 'needs --confirm "DELETE DEV"' in out
    code, out = cli(root, moto_endpoint, "destroy", "prd", "--confirm", "DELETE PRD")
    assert code == 2 and "refused for PRD" in out

    # Someone else's fresh lock record blocks; unlock refuses until --force.
    dev = run_for(root, "dev", moto_endpoint)
    assert dev.locks is not None
    assert dev.locks.create(
        "/infra-bot/platform/dev/lock", "github-run-42|2999-01-01T00:00:00+00:00"
    )
    code, out = cli(root, moto_endpoint, "destroy", "dev", "--confirm", "DELETE DEV")
    assert code == 2 and "locked by github-run-42" in out
    code, out = cli(root, moto_endpoint, "unlock", "dev")
    assert code == 2 and "not stale" in out
    code, out = cli(root, moto_endpoint, "unlock", "dev", "--force")
    assert code == 0 and "released the lock held by github-run-42" in out

    code, out = cli(root, moto_endpoint, "destroy", "dev", "--confirm", "DELETE DEV")
    assert code == 0, out
    deleted = [line for line in out.splitlines() if "DELETE_COMPLETE" in line]
    assert [line.split("`")[1] for line in deleted] == ["platform-dev-iam", "platform-dev-kms"]
    assert stacks_in(ACCOUNTS["dev"], moto_endpoint) == {}
    assert dev.locks.get("/infra-bot/platform/dev/lock") is None  # released after the run

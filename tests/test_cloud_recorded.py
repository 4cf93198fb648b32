"""What moto cannot produce, on recorded CloudFormation response shapes.

botocore's Stubber serves the files in tests/recorded/cloudformation/ to a real
boto3 client (validating each against the service model), so the adapter, the
planner, the deployer, drift and the renderer run exactly as against AWS.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from bot.cloud.adapter import Boto3CloudFormation
from bot.cloud.deployer import Result, deploy_stack
from bot.cloud.drift import DriftState, detect_stack_drift
from bot.cloud.events import failed_resources, new_events
from bot.cloud.planner import plan_stack
from bot.cloud.preview import Outcome, parse_changes
from bot.cloud.spec import StackSpec
from bot.cloud.waiting import Clock
from bot.render.changeset import deploy_markdown, drift_markdown, plan_markdown

RECORDED = Path(__file__).parent / "recorded" / "cloudformation"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
HASH = "ab" * 32
STACK = "platform-dev-velero-backup"
CHANGE_SET_ID = (
    "arn:aws:cloudformation:us-east-1:111111111111:changeSet/"
    "infra-bot-0123456789ab-abababab/5f2c3a1e-1b7c-4b7e-9a8e-6c0d8f1f1e11"
)
FAST = Clock(sleep=lambda _s: None, poll_seconds=0)
_TIMES = {"CreationTime", "LastUpdatedTime", "Timestamp"}


def _times(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: datetime.fromisoformat(v.replace("Z", "+00:00"))
            if k in _TIMES and isinstance(v, str)
            else _times(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_times(v) for v in node]
    return node


def recorded(name: str) -> dict[str, Any]:
    return _times(json.loads((RECORDED / f"{name}.json").read_text(encoding="utf-8")))


@pytest.fixture
def stubbed() -> tuple[Any, Stubber]:
    client = boto3.client(
        "cloudformation",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def spec() -> StackSpec:
    return StackSpec(
        env="dev",
        stack="velero-backup",
        stack_name=STACK,
        template_path="stacks/velero-backup.yaml",
        body='{"Parameters":{"Environment":{"Type":"String"},"IaCVersion":{"Type":"String"}},'
        '"Resources":{}}',
        parameters=(("Environment", "dev"), ("IaCVersion", COMMIT)),
        tags=(("Environment", "dev"),),
        capabilities=("CAPABILITY_NAMED_IAM",),
        commit=COMMIT,
        template_hash=HASH,
    )


def stub_until_executed(stub: Stubber, s: StackSpec) -> None:
    """What deploy_stack asks up to executing `s`'s planned change set (recorded replacements)
    on the existing stack STACK."""
    summary = {"ChangeSetName": s.change_set_name, "Status": "CREATE_COMPLETE",
               "ExecutionStatus": "AVAILABLE", "StackName": STACK,
               "ChangeSetId": CHANGE_SET_ID}  # fmt: skip
    stub.add_response("describe_stacks", recorded("describe_stacks_update_complete"),
                      {"StackName": STACK})  # fmt: skip
    stub.add_response("list_change_sets", {"Summaries": [summary]}, {"StackName": STACK})
    stub.add_response("describe_change_set", recorded("describe_change_set_replacements"),
                      {"StackName": STACK, "ChangeSetName": s.change_set_name,
                       "IncludePropertyValues": True})  # fmt: skip
    stub_template(stub, s)
    stub.add_response("describe_stack_events", recorded("describe_stack_events_before"),
                      {"StackName": STACK})  # fmt: skip
    # By id: the change set just verified.
    stub.add_response("execute_change_set", {},
                      {"StackName": STACK, "ChangeSetName": CHANGE_SET_ID})  # fmt: skip


def stub_template(stub: Stubber, s: StackSpec) -> None:
    """GetTemplate of the change set: what the content check compares with the spec."""
    stub.add_response("get_template", {"TemplateBody": s.body, "StagesAvailable": ["Original"]},
                      {"StackName": STACK, "ChangeSetName": CHANGE_SET_ID,
                       "TemplateStage": "Original"})  # fmt: skip


def test_replacements_and_property_diffs_are_parsed() -> None:
    changes = {c.logical_id: c for c in parse_changes(recorded("describe_change_set_replacements"))}
    bucket = changes["BackupBucket"]
    assert (bucket.replaces, bucket.stateful, bucket.data_loss) == (True, True, True)
    assert bucket.properties[0].before == "platform-dev-velero"
    assert bucket.properties[0].after == "platform-dev-velero-v2"
    assert bucket.properties[0].requires_recreation == "Always"
    sg = changes["VeleroSecurityGroup"]
    assert (sg.replaces, sg.stateful, sg.destructive) == (True, False, True)
    role = changes["VeleroRole"]
    assert not role.destructive
    assert [p.path for p in role.properties] == [
        "/Properties/MaxSessionDuration",
        "/Properties/Tags/2/Value",
    ]
    logs = changes["VeleroLogGroup"]
    assert (logs.action, logs.data_loss) == ("Remove", True)
    assert not changes["BackupAlarmTopic"].destructive


def test_plan_preview_from_recorded_change_set(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    s = spec()
    stub.add_response("describe_stacks", recorded("describe_stacks_update_complete"),
                      {"StackName": STACK})  # fmt: skip
    stub.add_response("list_change_sets", {"Summaries": []}, {"StackName": STACK})
    stub.add_response(
        "create_change_set",
        {"Id": CHANGE_SET_ID, "StackId": "s"},
        {
            "StackName": STACK,
            "ChangeSetName": s.change_set_name,
            "ChangeSetType": "UPDATE",
            "TemplateBody": s.body,
            "Parameters": ANY,
            "Capabilities": ["CAPABILITY_NAMED_IAM"],
            "Tags": ANY,
            "Description": s.description,
        },
    )
    stub.add_response(
        "describe_change_set",
        recorded("describe_change_set_replacements"),
        {"StackName": STACK, "ChangeSetName": s.change_set_name, "IncludePropertyValues": True},
    )
    stub_template(stub, s)
    preview = plan_stack(Boto3CloudFormation(client), s, FAST)
    assert preview.outcome is Outcome.CHANGES
    assert preview.change_set_id == CHANGE_SET_ID
    assert preview.change_set_type == "UPDATE"
    assert {c.logical_id for c in preview.data_loss} == {"BackupBucket", "VeleroLogGroup"}
    md = plan_markdown("dev", COMMIT, [preview])
    assert "🛑 2 stateful resource(s) deleted or replaced" in md
    assert "| Modify | `BackupBucket` | `AWS::S3::Bucket` | **replaced** | 🛑" in md
    assert (
        "| Modify | `VeleroSecurityGroup` | `AWS::EC2::SecurityGroup` | **may be replaced** |" in md
    )
    assert "| Remove | `VeleroLogGroup` | `AWS::Logs::LogGroup` | **deleted** |" in md
    assert "| `/Properties/BucketName` | Modify | **always** | `platform-dev-velero` | " \
        "`platform-dev-velero-v2` |" in md  # fmt: skip
    assert "| `/Properties/MaxSessionDuration` | Modify | never | `3600` | `7200` |" in md


def test_failed_update_reports_rollback_and_root_cause(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    s = spec()
    stub_until_executed(stub, s)
    stub.add_response("describe_stack_events", recorded("describe_stack_events_update_rollback"),
                      {"StackName": STACK})  # fmt: skip
    stub.add_response("describe_stacks", recorded("describe_stacks_update_rollback_complete"),
                      {"StackName": STACK})  # fmt: skip
    streamed: list[str] = []
    result = deploy_stack(
        Boto3CloudFormation(client), s, FAST, on_event=lambda _s, e: streamed.append(e.status)
    )
    assert result.result is Result.ROLLED_BACK
    assert result.final_status == "UPDATE_ROLLBACK_COMPLETE"
    # Only events after the execution are streamed, oldest first.
    assert streamed[0] == "UPDATE_IN_PROGRESS" and streamed[-1] == "UPDATE_ROLLBACK_COMPLETE"
    assert [(f.logical_id, f.status) for f in result.failures] == [
        ("BackupBucket", "CREATE_FAILED"),
        ("VeleroRole", "UPDATE_FAILED"),  # the cancellation comes after the root cause
    ]
    md = deploy_markdown("dev", COMMIT, [result])
    assert "FAILED" in md and "↩️ rolled back" in md
    assert "CloudFormation rolled the stack back to its previous state." in md
    assert "platform-dev-velero-v2 already exists" in md


def test_create_failure_root_cause_from_events() -> None:
    events = new_events(recorded("describe_stack_events_create_failed")["StackEvents"], set())
    failures = failed_resources(events)
    assert [(f.logical_id, f.resource_type) for f in failures] == [("Cluster", "AWS::EKS::Cluster")]
    assert "not authorized to perform: eks:CreateCluster" in failures[0].reason


def test_drift_expected_vs_actual(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    name = "platform-dev-security-groups"
    stub.add_response("describe_stacks", recorded("describe_stacks_security_groups"),
                      {"StackName": name})  # fmt: skip
    stub.add_response("detect_stack_drift", recorded("detect_stack_drift"), {"StackName": name})
    stub.add_response(
        "describe_stack_drift_detection_status",
        recorded("describe_stack_drift_detection_status"),
        {"StackDriftDetectionId": "b78ac9b0-dec1-11e7-a451-503a3e0a3d4e"},
    )
    stub.add_response(
        "describe_stack_resource_drifts",
        recorded("describe_stack_resource_drifts"),
        {"StackName": name, "StackResourceDriftStatusFilters": ["MODIFIED", "DELETED"]},
    )
    drift = detect_stack_drift(Boto3CloudFormation(client), "security-groups", name, FAST)
    assert drift.state is DriftState.DRIFTED
    assert [r.logical_id for r in drift.resources] == ["AlbSecurityGroup"]  # IN_SYNC dropped
    md = drift_markdown("dev", [drift])
    assert "⚠️ DRIFT DETECTED (1 resource(s))" in md
    assert "| `/SecurityGroupIngress/1` | ADD | `null` |" in md
    assert '"FromPort":80' in md


def test_deploy_gives_up_after_timeout_and_says_so(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    s = spec()
    in_progress = recorded("describe_stacks_update_complete")
    in_progress["Stacks"][0]["StackStatus"] = "UPDATE_IN_PROGRESS"
    stub_until_executed(stub, s)
    ticks = iter([0.0, 0.0, 30.0, 61.0])
    clock = Clock(sleep=lambda _s: None, monotonic=lambda: next(ticks), poll_seconds=30)
    for _ in range(3):  # polls at t=0 and t=30 see it running; t=61 is past the deadline
        stub.add_response("describe_stack_events", recorded("describe_stack_events_before"),
                          {"StackName": STACK})  # fmt: skip
        stub.add_response("describe_stacks", in_progress, {"StackName": STACK})
    result = deploy_stack(Boto3CloudFormation(client), s, clock, timeout=60)
    assert result.result is Result.TIMED_OUT
    assert "still UPDATE_IN_PROGRESS after 60 s" in result.message


def test_change_set_failed_on_missing_import_is_replannable(stubbed: tuple[Any, Stubber]) -> None:
    """A new environment planned all at once: a dependent's change set fails on the import."""
    client, stub = stubbed
    s = spec()
    name = "platform-tst-velero-backup"
    s = StackSpec("tst", s.stack, name, s.template_path, s.body, s.parameters, s.tags,
                  s.capabilities, s.commit, s.template_hash)  # fmt: skip
    summary = {"ChangeSetName": s.change_set_name, "Status": "FAILED",
               "ExecutionStatus": "UNAVAILABLE", "StackName": name}  # fmt: skip
    stub.add_response("describe_stacks", recorded("describe_stacks_review_in_progress"),
                      {"StackName": name})  # fmt: skip
    stub.add_response("list_change_sets", {"Summaries": [summary]}, {"StackName": name})
    stub.add_response("describe_change_set", recorded("describe_change_set_failed_import"),
                      {"StackName": name, "ChangeSetName": s.change_set_name,
                       "IncludePropertyValues": True})  # fmt: skip
    result = deploy_stack(Boto3CloudFormation(client), s, FAST)
    assert result.result is Result.NOT_PLANNED
    assert "No export named platform-tst-kms-S3KeyArn" in result.message
    assert "--replan" in result.message
    # The same change set seen by plan: reported with what to do about it.
    stub.add_response("describe_stacks", recorded("describe_stacks_review_in_progress"),
                      {"StackName": name})  # fmt: skip
    stub.add_response("list_change_sets", {"Summaries": [summary]}, {"StackName": name})
    stub.add_response("delete_change_set", {},
                      {"StackName": name, "ChangeSetName": s.change_set_name})  # fmt: skip
    stub.add_response("create_change_set", {"Id": "x", "StackId": "y"}, {
        "StackName": name, "ChangeSetName": s.change_set_name, "ChangeSetType": "CREATE",
        "TemplateBody": ANY, "Parameters": ANY, "Capabilities": ANY, "Tags": ANY,
        "Description": s.description})  # fmt: skip
    stub.add_response("describe_change_set", recorded("describe_change_set_failed_import"),
                      {"StackName": name, "ChangeSetName": s.change_set_name,
                       "IncludePropertyValues": True})  # fmt: skip
    preview = plan_stack(Boto3CloudFormation(client), s, FAST)
    assert preview.outcome is Outcome.FAILED and preview.change_set_type == "CREATE"
    md = plan_markdown("tst", COMMIT, [preview])
    assert "| `velero-backup` | — | change set failed |" in md
    assert "imports from a stack that is not deployed yet" in md


def test_busy_environment_refuses_a_second_deploy(
    stubbed: tuple[Any, Stubber], tmp_path: Path
) -> None:
    from bot.cloud.runs import EnvRun, RunRefused, env_lock
    from bot.repo.model import Repository

    client, stub = stubbed
    for rel, text in {
        "environments/dev.yaml": "name: dev\naccount_id: '111111111111'\nproject: platform\n",
        "environments/dev/velero-backup.yaml": "template-file-path: stacks/velero-backup.yaml\n",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    repo = Repository(tmp_path)
    busy = recorded("describe_stacks_update_complete")
    busy["Stacks"][0]["StackStatus"] = "UPDATE_ROLLBACK_IN_PROGRESS"
    stub.add_response("describe_stacks", busy, {"StackName": STACK})
    run = EnvRun(repo, repo.environment("dev"), Boto3CloudFormation(client), clock=FAST)
    refused = pytest.raises(
        RunRefused, match="dev is busy: velero-backup UPDATE_ROLLBACK_IN_PROGRESS"
    )
    with refused, env_lock(run):
        pytest.fail("entered the lock while a stack was in progress")


def _stack(status: str) -> dict[str, Any]:
    return {"Stacks": [{"StackName": STACK, "StackStatus": status,
                        "StackId": f"arn:aws:cloudformation:us-east-1:111111111111:stack/{STACK}/1",
                        "CreationTime": datetime(2026, 11, 20, 10, 0)}]}  # fmt: skip


def _gone(stub: Stubber) -> None:
    stub.add_client_error("describe_stacks", "ValidationError",
                          f"Stack with id {STACK} does not exist",
                          expected_params={"StackName": STACK})  # fmt: skip


# None: a DEV deploy; {}: PRD's approved job, whose published plan had nothing to run for
# the stack (a ROLLBACK_COMPLETE stack cannot be previewed) - the new change set is
# admitted because it was made here and verified by content against the approved commit.
@pytest.mark.parametrize("pins", [None, {}])
def test_rollback_complete_stack_is_deleted_recreated_and_deployed(
    stubbed: tuple[Any, Stubber], pins: dict[str, str] | None
) -> None:
    from bot.cloud.deployer import Recovery, deploy_stacks

    client, stub = stubbed
    s = spec()
    cs_id = CHANGE_SET_ID
    stub.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"), {"StackName": STACK})
    stub.add_response("delete_stack", {}, {"StackName": STACK})
    _gone(stub)  # the deletion is over
    # Planned again as a new stack (CREATE), its content verified like any other.
    _gone(stub)
    stub.add_response("create_change_set", {"Id": cs_id, "StackId": "x"},
                      {"StackName": STACK, "ChangeSetName": s.change_set_name,
                       "ChangeSetType": "CREATE", "TemplateBody": s.body, "Parameters": ANY,
                       "Capabilities": list(s.capabilities), "Tags": ANY,
                       "Description": s.description})  # fmt: skip
    desc = {"ChangeSetName": s.change_set_name, "ChangeSetId": cs_id, "StackName": STACK,
            "Description": s.description, "Status": "CREATE_COMPLETE",
            "ExecutionStatus": "AVAILABLE", "Capabilities": list(s.capabilities),
            "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in s.parameters],
            "Tags": [{"Key": k, "Value": v} for k, v in s.all_tags().items()],
            "Changes": [{"Type": "Resource", "ResourceChange": {
                "Action": "Add", "LogicalResourceId": "Vault",
                "ResourceType": "AWS::Backup::BackupVault"}}]}  # fmt: skip
    cs_params = {"StackName": STACK, "ChangeSetName": s.change_set_name,
                 "IncludePropertyValues": True}  # fmt: skip
    stub.add_response("describe_change_set", desc, cs_params)
    stub_template(stub, s)
    # Then deployed: the new change set, verified again, executed by id.
    summary = {"ChangeSetName": s.change_set_name, "ChangeSetId": cs_id, "StackName": STACK,
               "Status": "CREATE_COMPLETE", "ExecutionStatus": "AVAILABLE"}  # fmt: skip
    stub.add_response("describe_stacks", _stack("REVIEW_IN_PROGRESS"), {"StackName": STACK})
    stub.add_response("list_change_sets", {"Summaries": [summary]}, {"StackName": STACK})
    stub.add_response("describe_change_set", desc, cs_params)
    stub_template(stub, s)
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK})
    stub.add_response("execute_change_set", {}, {"StackName": STACK, "ChangeSetName": cs_id})
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK})
    stub.add_response("describe_stacks", _stack("CREATE_COMPLETE"), {"StackName": STACK})

    cfn = Boto3CloudFormation(client)
    [res] = deploy_stacks(lambda _s: cfn, [s], FAST, recovery=Recovery(), pins=pins)
    assert res.result is Result.DEPLOYED
    assert res.recovered and "left in ROLLBACK_COMPLETE" in res.recovered
    assert "created it again" in deploy_markdown("dev", COMMIT, [res])


def _rollback_events() -> dict[str, Any]:
    def event(n: int, logical: str, kind: str, status: str, reason: str = "") -> dict[str, Any]:
        return {"EventId": str(n), "StackId": "x", "StackName": STACK, "LogicalResourceId": logical,
                "ResourceType": kind, "ResourceStatus": status, "ResourceStatusReason": reason,
                "Timestamp": datetime(2026, 11, 20, 10, n)}  # fmt: skip

    # Newest first, as the API lists them.
    return {"StackEvents": [
        event(5, STACK, "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_FAILED"),
        event(4, "Vault", "AWS::Backup::BackupVault", "UPDATE_FAILED", "Vault is not empty"),
        event(3, STACK, "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_IN_PROGRESS"),
        event(2, "Plan", "AWS::Backup::BackupPlan", "UPDATE_FAILED", "before the rollback"),
    ]}  # fmt: skip


def test_update_rollback_failed_lists_what_to_skip_and_continues_once_confirmed(
    stubbed: tuple[Any, Stubber],
) -> None:
    from bot.cloud.deployer import Recovery, recover_stack

    client, stub = stubbed
    cfn = Boto3CloudFormation(client)
    for _ in range(2):  # without the flag, then skipping a resource that did not fail
        stub.add_response("describe_stacks", _stack("UPDATE_ROLLBACK_FAILED"), {"StackName": STACK})
        stub.add_response("describe_stack_events", _rollback_events(), {"StackName": STACK})
    blocked = recover_stack(cfn, spec(), FAST, Recovery())
    assert not isinstance(blocked, str) and blocked is not None
    assert blocked.result is Result.BLOCKED and [f.logical_id for f in blocked.failures] == [
        "Vault"
    ]
    assert "--continue-rollback --skip-resource Vault" in blocked.message
    wrong = recover_stack(cfn, spec(), FAST, Recovery(continue_rollback=True, skip=("Plan",)))
    assert not isinstance(wrong, str) and wrong is not None and wrong.result is Result.BLOCKED
    assert "--skip-resource Plan did not fail the rollback" in wrong.message

    stub.add_response("describe_stacks", _stack("UPDATE_ROLLBACK_FAILED"), {"StackName": STACK})
    stub.add_response("describe_stack_events", _rollback_events(), {"StackName": STACK})
    stub.add_response("continue_update_rollback", {},
                      {"StackName": STACK, "ResourcesToSkip": ["Vault"]})  # fmt: skip
    stub.add_response("describe_stacks", _stack("UPDATE_ROLLBACK_COMPLETE"), {"StackName": STACK})
    done = recover_stack(cfn, spec(), FAST, Recovery(continue_rollback=True, skip=("Vault",)))
    assert done == f"continued the rollback of {STACK}, skipping Vault"


def test_without_recovery_a_rollback_complete_stack_is_blocked_and_kept(
    stubbed: tuple[Any, Stubber],
) -> None:
    from bot.cloud.deployer import deploy_stacks

    client, stub = stubbed
    stub.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"), {"StackName": STACK})
    cfn = Boto3CloudFormation(client)
    [res] = deploy_stacks(lambda _s: cfn, [spec()], FAST)  # no DeleteStack stubbed: none made
    assert res.result is Result.BLOCKED and "deletes the empty stack" in res.message

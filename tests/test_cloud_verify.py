"""Change sets compared by content (bot.cloud.verify) and published plans read back
(bot.cloud.published): pure, table-tested."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.cloud.preview import Outcome, StackPreview
from bot.cloud.published import PlanFormatError, from_previews, parse_plan, plans_in
from bot.cloud.spec import StackSpec
from bot.cloud.verify import content_mismatches, describe_mismatches

COMMIT = "0123456789abcdef0123456789abcdef01234567"
ARN = "arn:aws:cloudformation:us-east-1:111111111111:changeSet/infra-bot-x/5f2c3a1e-1b7c"
BODY = {
    "Parameters": {
        "Environment": {"Type": "String"},
        "Owner": {"Type": "String", "Default": "platform-team"},
        "Secret": {"Type": "String", "NoEcho": True},
    },
    "Resources": {"Key": {"Type": "AWS::KMS::Key"}},
}
SPEC = StackSpec(
    env="dev", stack="kms", stack_name="platform-dev-kms", template_path="stacks/kms.yaml",
    body=json.dumps(BODY, separators=(",", ":")),
    parameters=(("Environment", "dev"), ("Secret", "s3cret")), tags=(("Owner", "team"),),
    capabilities=(), commit=COMMIT, template_hash="ab" * 32,
)  # fmt: skip
TAGS = {"Owner": "team", "infra-bot:commit": COMMIT}


def described(**changes: Any) -> dict[str, Any]:
    """DescribeChangeSet of exactly what SPEC creates, then `changes`."""
    desc: dict[str, Any] = {
        "StackName": "platform-dev-kms", "ChangeSetId": ARN,
        "Parameters": [{"ParameterKey": "Environment", "ParameterValue": "dev"},
                       {"ParameterKey": "Secret", "ParameterValue": "s3cret"}],
        "Tags": [{"Key": k, "Value": v} for k, v in TAGS.items()],
        "Capabilities": [], "NotificationARNs": [],
    }  # fmt: skip
    return {**desc, **changes}


@pytest.mark.parametrize(
    ("desc", "template", "parts"),
    [
        (described(), BODY, []),
        # botocore hands back a JSON template as a dict, other bodies as text
        (described(), json.dumps(BODY, indent=2), []),
        # CloudFormation lists defaulted parameters and masks NoEcho ones
        (described(Parameters=[
            {"ParameterKey": "Environment", "ParameterValue": "dev"},
            {"ParameterKey": "Owner", "ParameterValue": "platform-team"},
            {"ParameterKey": "Secret", "ParameterValue": "****"}]), BODY, []),
        (described(), {**BODY, "Resources": {}}, ["template"]),
        (described(), "Resources: {}", ["template"]),
        (described(Parameters=[{"ParameterKey": "Environment", "ParameterValue": "prd"}]),
         BODY, ["parameters"]),
        (described(Parameters=[
            {"ParameterKey": "Environment", "ParameterValue": "dev"},
            {"ParameterKey": "Owner", "ParameterValue": "mallory"},
            {"ParameterKey": "Secret", "ParameterValue": "s3cret"}]), BODY, ["parameters"]),
        (described(Tags=[]), BODY, ["tags"]),
        (described(Capabilities=["CAPABILITY_NAMED_IAM"]), BODY, ["capabilities"]),
        (described(RoleARN="arn:aws:iam::1:role/admin"), BODY, ["service role"]),
        (described(NotificationARNs=["arn:aws:sns:us-east-1:1:t"]), BODY, ["notifications"]),
        (described(StackName="platform-dev-iam"), BODY, ["stack"]),
        (described(Tags=[], Capabilities=["CAPABILITY_IAM"]), {}, ["template", "tags",
                                                                   "capabilities"]),
    ],
    ids=["same", "same-as-text", "defaults-and-noecho", "template", "yaml-template",
         "parameter-value", "default-overridden", "tags", "capabilities", "service-role",
         "notifications", "other-stack", "several"],
)  # fmt: skip
def test_content_mismatches(desc: dict[str, Any], template: Any, parts: list[str]) -> None:
    found = content_mismatches(SPEC, desc, template, TAGS)
    assert [m.part for m in found] == parts
    if parts:
        line = describe_mismatches(SPEC, "infra-bot-x", found)
        assert line.startswith("platform-dev-kms: change set infra-bot-x is not what was "
                               f"reviewed ({', '.join(parts)} differ")  # fmt: skip


def test_a_published_plan_round_trips_and_leaves_out_what_does_not_run() -> None:
    previews = [
        StackPreview("dev", "kms", "platform-dev-kms", Outcome.CHANGES, change_set_id=ARN),
        StackPreview("dev", "iam", "platform-dev-iam", Outcome.NO_CHANGES),
        StackPreview("dev", "vpc", "platform-dev-vpc", Outcome.FAILED, change_set_id=ARN),
    ]
    plan = from_previews("dev", COMMIT, previews)
    assert plan.change_sets == {"kms": ARN}
    assert parse_plan(plan.to_json()) == plan
    assert plans_in(f"text\n{plan.marker()}\n<!-- infra-bot:plan-ids {{}} -->") == [plan]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "exactly env, commit and change_sets"),
        ('{"env": "dev", "commit": "' + COMMIT + '", "change_sets": {}, "x": 1}', "exactly"),
        ('{"env": "../dev", "commit": "' + COMMIT + '", "change_sets": {}}', "env"),
        ('{"env": "dev", "commit": "abc", "change_sets": {}}', "40-digit"),
        ('{"env": "dev", "commit": "' + COMMIT + '", "change_sets": {"kms": 1}}', "ARNs"),
        ('{"env": "dev", "commit": "' + COMMIT + '", "change_sets": {"kms": "arn:aws:x"}}',
         "ARNs"),
        ("x" * 20_001, "over 20000"),
    ],
)  # fmt: skip
def test_a_bad_plan_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(PlanFormatError, match=message):
        parse_plan(text)

"""The cfn-guard rules in guard/ (NIST 800-53 Rev 5).

Two layers:
- every rule file passes its own `cfn-guard test` cases (guard/tests/<stem>_tests.yaml),
  and every rule there has at least one PASS and one FAIL case;
- mutation tests: a small compliant template passes every rule, and one
  breaking change at a time fails exactly the expected rule, with the expected
  NIST control id in the custom message (parsed the way the bot parses it).
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.toolchain import Toolchain

ROOT = Path(__file__).resolve().parents[1]
GUARD = ROOT / "guard"
CFN_RULES = GUARD / "rules"
K8S_RULES = GUARD / "kubernetes"
RULE_FILES = sorted(CFN_RULES.glob("*.guard")) + sorted(K8S_RULES.glob("*.guard"))

# The bot extracts the control id from custom messages with this expression.
CONTROL_RE = re.compile(r"\[NIST ([A-Z]{2}-\d+(?:\(\d+\))?)\]")
MESSAGE_RE = re.compile(r"^\[NIST [A-Z]{2}-\d+(?:\(\d+\))?\] [^<>]+\. Fix: [^<>]+$")
RULE_DECL_RE = re.compile(r"^rule\s+([A-Z][A-Z0-9_]+)\b", re.MULTILINE)


@pytest.fixture(scope="module")
def guard(tools: Toolchain) -> str:
    """The cfn-guard the bot runs: the conftest toolchain installs it if it is missing."""
    return str(tools.require("cfn-guard").path)


def _rule_names(rule_file: Path) -> list[str]:
    return RULE_DECL_RE.findall(rule_file.read_text())


def _tests_file(rule_file: Path) -> Path:
    return GUARD / "tests" / f"{rule_file.stem}_tests.yaml"


# --------------------------------------------------------------------------- rule unit tests


def test_rule_files_exist() -> None:
    assert RULE_FILES, "no guard rule files found"
    assert sorted(CFN_RULES.glob("*.guard")), "no CloudFormation rules"
    assert sorted(K8S_RULES.glob("*.guard")), "no Kubernetes rules"


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_cfn_guard_unit_tests_pass(guard: str, rule_file: Path) -> None:
    tests = _tests_file(rule_file)
    assert tests.is_file(), f"missing {tests.relative_to(ROOT)}"
    proc = subprocess.run(
        [guard, "test", "-r", str(rule_file), "-t", str(tests)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "FAIL Rules" not in proc.stdout


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_rule_has_pass_and_fail_cases(rule_file: Path) -> None:
    cases = yaml.safe_load(_tests_file(rule_file).read_text())
    seen: dict[str, set[str]] = {}
    for case in cases:
        for rule, outcome in case["expectations"]["rules"].items():
            seen.setdefault(rule, set()).add(outcome)
    for rule in _rule_names(rule_file):
        assert {"PASS", "FAIL"} <= seen.get(rule, set()), f"{rule}: needs PASS and FAIL cases"


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_custom_messages_follow_the_bot_format(rule_file: Path) -> None:
    text = rule_file.read_text()
    messages = re.findall(r"<<(.*?)>>", text, re.DOTALL)
    assert messages
    for message in messages:
        assert MESSAGE_RE.match(message.strip()), f"bad custom message: {message!r}"
    # every rule honours suppression
    for rule in _rule_names(rule_file):
        if rule_file.parent == CFN_RULES:
            assert f'SuppressedRules.* != "{rule}"' in text, f"{rule}: no suppression filter"
        else:
            assert f"\\s*{rule}\\s*" in text, f"{rule}: no suppression annotation check"


# --------------------------------------------------------------------------- validate helpers


def _collect_messages(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        messages = node.get("messages")
        if isinstance(messages, dict) and messages.get("custom_message"):
            found.append(messages["custom_message"].strip())
        for value in node.values():
            found.extend(_collect_messages(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_collect_messages(item))
    return found


def _validate(
    guard: str, rules: Path, document: dict[str, Any], tmp_path: Path
) -> dict[str, list[str]]:
    """Run cfn-guard validate as the bot does; return {failing rule: [custom messages]}."""
    data = tmp_path / "template.json"
    data.write_text(json.dumps(document, indent=1))
    proc = subprocess.run(
        [
            guard,
            "validate",
            "-r",
            str(rules),
            "-d",
            str(data),
            "--output-format",
            "json",
            "--structured",
            "--show-summary",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode in (0, 19), proc.stderr
    failures: dict[str, list[str]] = {}
    for report in json.loads(proc.stdout):
        for item in report.get("not_compliant", []):
            rule = item["Rule"]
            failures.setdefault(rule["name"], []).extend(_collect_messages(rule))
    return failures


# ------------------------------------------------------------ CloudFormation mutations


def _tags(nist: str) -> list[dict[str, Any]]:
    return [
        {"Key": "Environment", "Value": {"Ref": "Environment"}},
        {"Key": "Owner", "Value": "platform-team"},
        {"Key": "SecurityLevel", "Value": "high"},
        {"Key": "IaC_Version", "Value": "1.4.0"},
        {"Key": "NIST_Control", "Value": nist},
    ]


def _baseline() -> dict[str, Any]:
    kms_arn = {"Fn::GetAtt": ["Key", "Arn"]}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"Environment": {"Type": "String", "Default": "dev"}},
        "Resources": {
            "Key": {
                "Type": "AWS::KMS::Key",
                "Properties": {
                    "EnableKeyRotation": True,
                    "KeyPolicy": {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {
                                    "AWS": {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:root"}
                                },
                                "Action": "kms:*",
                                "Resource": "*",
                            }
                        ]
                    },
                    "Tags": _tags("SC-12_SC-28"),
                },
            },
            "Vpc": {
                "Type": "AWS::EC2::VPC",
                "Properties": {"CidrBlock": "10.0.0.0/16", "Tags": _tags("SC-7")},
            },
            "FlowLogGroup": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {
                    "RetentionInDays": 365,
                    "KmsKeyId": kms_arn,
                    "Tags": _tags("AU-2_AU-9"),
                },
            },
            "FlowLog": {
                "Type": "AWS::EC2::FlowLog",
                "Properties": {
                    "ResourceId": {"Ref": "Vpc"},
                    "ResourceType": "VPC",
                    "TrafficType": "ALL",
                    "LogGroupName": {"Ref": "FlowLogGroup"},
                },
            },
            "AlbSecurityGroup": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {
                    "GroupDescription": "ALB",
                    "VpcId": {"Ref": "Vpc"},
                    "SecurityGroupIngress": [
                        {
                            "IpProtocol": "tcp",
                            "FromPort": 443,
                            "ToPort": 443,
                            "CidrIp": "0.0.0.0/0",
                        },
                        {
                            "IpProtocol": "tcp",
                            "FromPort": 22,
                            "ToPort": 22,
                            "CidrIp": "10.0.0.0/16",
                        },
                    ],
                    "Tags": _tags("SC-7"),
                },
            },
            "BackupBucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {
                                "ServerSideEncryptionByDefault": {
                                    "SSEAlgorithm": "aws:kms",
                                    "KMSMasterKeyID": kms_arn,
                                },
                            }
                        ]
                    },
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "Tags": _tags("SC-28_CP-9"),
                },
            },
            "BackupBucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "BackupBucket"},
                    "PolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Resource": [
                                    {"Fn::GetAtt": ["BackupBucket", "Arn"]},
                                    {"Fn::Sub": "${BackupBucket.Arn}/*"},
                                ],
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ]
                    },
                },
            },
            "BackupRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "ec2.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ]
                    },
                    "Policies": [
                        {
                            "PolicyName": "backup",
                            "PolicyDocument": {
                                "Statement": [
                                    {
                                        "Effect": "Allow",
                                        "Action": ["s3:GetObject", "s3:PutObject"],
                                        "Resource": {"Fn::Sub": "${BackupBucket.Arn}/*"},
                                    }
                                ]
                            },
                        }
                    ],
                    "Tags": _tags("AC-6"),
                },
            },
            "Cluster": {
                "Type": "AWS::EKS::Cluster",
                "Properties": {
                    "Version": "1.34",
                    "RoleArn": {"Fn::GetAtt": ["BackupRole", "Arn"]},
                    "ResourcesVpcConfig": {
                        "SubnetIds": ["subnet-1", "subnet-2"],
                        "EndpointPublicAccess": False,
                        "EndpointPrivateAccess": True,
                    },
                    "EncryptionConfig": [
                        {"Resources": ["secrets"], "Provider": {"KeyArn": kms_arn}}
                    ],
                    "Logging": {
                        "ClusterLogging": {
                            "EnabledTypes": [
                                {"Type": t}
                                for t in (
                                    "api",
                                    "audit",
                                    "authenticator",
                                    "controllerManager",
                                    "scheduler",
                                )
                            ]
                        }
                    },
                    "Tags": _tags("AC-6_AU-2_SC-7_SC-28"),
                },
            },
        },
    }


Mutation = Callable[[dict[str, Any]], None]


def _drop_owner_tag(t: dict[str, Any]) -> None:
    tags = t["Resources"]["BackupBucket"]["Properties"]["Tags"]
    tags[:] = [tag for tag in tags if tag["Key"] != "Owner"]


def _open_ssh(t: dict[str, Any]) -> None:
    t["Resources"]["AlbSecurityGroup"]["Properties"]["SecurityGroupIngress"].append(
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"}
    )


def _unencrypted_bucket(t: dict[str, Any]) -> None:
    del t["Resources"]["BackupBucket"]["Properties"]["BucketEncryption"]


def _action_star(t: dict[str, Any]) -> None:
    policy = t["Resources"]["BackupRole"]["Properties"]["Policies"][0]
    policy["PolicyDocument"]["Statement"][0]["Action"] = "*"


def _public_endpoint(t: dict[str, Any]) -> None:
    t["Resources"]["Cluster"]["Properties"]["ResourcesVpcConfig"]["EndpointPublicAccess"] = True


def _no_flow_logs(t: dict[str, Any]) -> None:
    del t["Resources"]["FlowLog"]


MUTATIONS: list[tuple[str, Mutation, str, str]] = [
    ("drop a mandatory tag", _drop_owner_tag, "CM8_MANDATORY_TAGS", "CM-8"),
    ("0.0.0.0/0 on port 22", _open_ssh, "SC7_NO_OPEN_INGRESS", "SC-7"),
    ("unencrypted bucket", _unencrypted_bucket, "SC28_S3_ENCRYPTED", "SC-28"),
    ('Action "*"', _action_star, "AC6_IAM_NO_WILDCARD_ACTION", "AC-6"),
    ("public EKS endpoint", _public_endpoint, "SC7_EKS_ENDPOINT_PRIVATE", "SC-7"),
    ("VPC without flow logs", _no_flow_logs, "AU2_VPC_FLOW_LOGS_ALL", "AU-2"),
]


def test_baseline_template_is_compliant(guard: str, tmp_path: Path) -> None:
    assert _validate(guard, CFN_RULES, _baseline(), tmp_path) == {}


@pytest.mark.parametrize(
    ("mutate", "rule", "control"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS]
)
def test_mutation_fails_the_right_rule(
    guard: str, tmp_path: Path, mutate: Mutation, rule: str, control: str
) -> None:
    template = copy.deepcopy(_baseline())
    mutate(template)
    failures = _validate(guard, CFN_RULES, template, tmp_path)
    assert set(failures) == {rule}, failures
    assert failures[rule], f"{rule} failed without a custom message"
    for message in failures[rule]:
        found = CONTROL_RE.search(message)
        assert found and found.group(1) == control, message
        assert "Fix:" in message


@pytest.mark.parametrize(
    ("mutate", "rule"), [(m[1], m[2]) for m in MUTATIONS], ids=[m[0] for m in MUTATIONS]
)
def test_suppression_silences_the_mutation(
    guard: str, tmp_path: Path, mutate: Mutation, rule: str
) -> None:
    template = copy.deepcopy(_baseline())
    mutate(template)
    for resource in template["Resources"].values():
        resource.setdefault("Metadata", {})["guard"] = {"SuppressedRules": ["SOMETHING_ELSE", rule]}
    assert rule not in _validate(guard, CFN_RULES, template, tmp_path)


# --------------------------------------------------------------------------- Kubernetes


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {
            "template": {
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000},
                    "containers": [
                        {
                            "name": "web",
                            "image": "public.ecr.aws/nginx/nginx:1.27",
                            "resources": {
                                "limits": {"cpu": "500m", "memory": "256Mi"},
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                            },
                            "securityContext": {"allowPrivilegeEscalation": False},
                        }
                    ],
                }
            }
        },
    }


def test_kubernetes_baseline_is_compliant(guard: str, tmp_path: Path) -> None:
    assert _validate(guard, K8S_RULES, _deployment(), tmp_path) == {}


@pytest.mark.parametrize(
    ("path", "value", "rule", "control"),
    [
        (("securityContext", "privileged"), True, "K8S_NO_PRIVILEGED", "AC-6"),
        (("image",), "docker.io/library/nginx:1.27", "K8S_ALLOWED_REGISTRIES", "CM-7"),
        (("resources", "limits"), {"cpu": "500m"}, "K8S_RESOURCE_LIMITS", "SC-6"),
        (
            ("securityContext", "allowPrivilegeEscalation"),
            True,
            "K8S_NO_PRIVILEGE_ESCALATION",
            "AC-6",
        ),
        (("securityContext", "runAsNonRoot"), False, "K8S_RUN_AS_NON_ROOT", "AC-6"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_kubernetes_mutation_fails_the_right_rule(
    guard: str, tmp_path: Path, path: tuple[str, ...], value: Any, rule: str, control: str
) -> None:
    doc = _deployment()
    target = doc["spec"]["template"]["spec"]["containers"][0]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    failures = _validate(guard, K8S_RULES, doc, tmp_path)
    assert set(failures) == {rule}, failures
    for message in failures[rule]:
        found = CONTROL_RE.search(message)
        assert found and found.group(1) == control, message

    doc["metadata"]["annotations"] = {"infra-bot.io/suppress": f"OTHER_RULE, {rule}"}
    assert _validate(guard, K8S_RULES, doc, tmp_path) == {}

"""YAML-aware edits: comments, key order and CloudFormation tags survive."""

from __future__ import annotations

from typing import Any

import pytest

from bot.llm.schema import YamlOp
from bot.llm.yamledit import YamlEditError, apply_ops

TEMPLATE = """\
# A comment at the top that must survive.
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Environment:
    Type: String
    AllowedValues: [dev, prd]  # flow style stays flow style

Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub "${Environment}-topic"  # the name
      KmsMasterKeyId: !ImportValue
        Fn::Sub: "${Environment}-kms-Key"
      Tags:
        - Key: Environment
          Value: !Ref Environment

Outputs:
  TopicArn:
    Value: !Ref Topic
"""


def op(kind: str, path: list[Any], value: Any = None) -> YamlOp:
    return YamlOp(op=kind, key_path=path, value=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ops", "present", "absent"),
    [
        ([op("set", ["Parameters", "Environment", "Default"], "dev")], ["    Default: dev\n"], []),
        (
            [
                op(
                    "set",
                    ["Resources", "Topic", "Properties", "DisplayName"],
                    {"Ref": "Environment"},
                )
            ],
            ["      DisplayName: !Ref Environment\n"],
            [],
        ),
        (
            [
                op(
                    "set",
                    ["Resources", "Topic", "Properties", "Tags", 0, "Value"],
                    {"Fn::Sub": "${Environment}-x"},
                )
            ],
            ["          Value: !Sub ${Environment}-x\n"],
            ["Value: !Ref Environment"],
        ),
        (
            [op("delete", ["Resources", "Topic", "Properties", "KmsMasterKeyId"])],
            [],
            ["KmsMasterKeyId"],
        ),
        (
            [
                op(
                    "append",
                    ["Resources", "Topic", "Properties", "Tags"],
                    {"Key": "Owner", "Value": {"Ref": "Owner"}},
                )
            ],
            ["        - Key: Owner\n          Value: !Ref Owner\n"],
            [],
        ),
        (
            [
                op(
                    "add_resource",
                    ["Queue"],
                    {
                        "Type": "AWS::SQS::Queue",
                        "Properties": {"QueueName": {"Fn::GetAtt": "Topic.TopicName"}},
                    },
                )
            ],
            [
                "  Queue:\n    Type: AWS::SQS::Queue\n",
                "QueueName: !GetAtt Topic.TopicName",
                "\n\nOutputs:\n",
            ],
            [],
        ),
        (
            [op("set", ["Outputs", "New", "Value"], {"Fn::Join": ["-", ["a", {"Ref": "Topic"}]]})],
            ["Fn::Join:"],
            [],
        ),
    ],
)
def test_ops_apply_and_keep_the_rest(
    ops: list[YamlOp], present: list[str], absent: list[str]
) -> None:
    out = apply_ops(TEMPLATE, ops)
    for text in present:
        assert text in out
    for text in absent:
        assert text not in out
    # What the ops did not touch is byte-for-byte the same.
    for kept in (
        "# A comment at the top that must survive.",
        "AllowedValues: [dev, prd]  # flow style",
        'TopicName: !Sub "${Environment}-topic"  # the name',
        "Value: !Ref Topic",
    ):
        assert kept in out


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ([op("delete", ["Resources", "Nope"])], "no such key"),
        ([op("append", ["Parameters", "Environment"], 1)], "not a list"),
        ([op("add_resource", ["Topic"], {"Type": "AWS::SNS::Topic"})], "exists already"),
        ([op("add_resource", ["Q"], {"Properties": {}})], "with a Type"),
        ([op("add_resource", ["A", "B"], {"Type": "X"})], "one key"),
        ([op("set", ["Resources", "Topic", "Properties", "Tags", 7, "Value"], 1)], "out of range"),
        ([op("set", ["AWSTemplateFormatVersion", "x"], 1)], "parent is not a mapping"),
        ([op("set", ["AWSTemplateFormatVersion", "x", "y"], 1)], "cannot descend"),
    ],
)
def test_bad_ops_are_refused_with_the_reason(ops: list[YamlOp], message: str) -> None:
    with pytest.raises(YamlEditError, match=message):
        apply_ops(TEMPLATE, ops)


def test_non_yaml_and_non_mapping_documents_are_refused() -> None:
    with pytest.raises(YamlEditError, match="not YAML"):
        apply_ops("a: [", [op("set", ["a"], 1)])
    with pytest.raises(YamlEditError, match="not a mapping"):
        apply_ops("- a\n- b\n", [op("set", ["a"], 1)])

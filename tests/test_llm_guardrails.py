"""Guardrails on model-proposed edits: paths, sizes, secrets, weakened policies."""

from __future__ import annotations

import pytest

from bot.llm import guardrails
from bot.llm.guardrails import load_for_signals, path_problem, secrets_added, weakened
from bot.llm.prompts import fence


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("stacks/app.yaml", True),
        ("stacks/app.yml", True),
        ("stacks/app.json", True),
        ("environments/dev/app.yaml", True),
        ("helm-values/web/values-prd.yaml", True),
        (".github/workflows/deploy.yml", False),
        (".github/infra-bot.yml", False),
        ("guard/rules/sc28.guard", False),
        ("guard/rules/x.yaml", False),
        ("bot/cli.py", False),
        ("/etc/passwd", False),
        ("/work/main/stacks/app.yaml", False),
        ("stacks/../.github/workflows/x.yml", False),
        ("stacks/./app.yaml", False),
        ("stacks//app.yaml", False),
        ("stacks\\app.yaml", False),
        ("C:/stacks/app.yaml", False),
        ("stacks/app.sh", False),
        ("stacks/nested/app.yaml", False),
        ("environments/dev.yaml", False),  # account ids and roles are not the model's
        ("environments/dev/x/app.yaml", False),
        ("helm-values/web.yaml", False),
        ("stacks/.hidden.yaml", False),
        ("stacks/app\x00.yaml", False),
        ("", False),
        ("README.md", False),
    ],
)
def test_path_rules(path: str, allowed: bool) -> None:
    assert (path_problem(path) is None) is allowed, path_problem(path)


def test_size_limit() -> None:
    assert guardrails.size_problem("a: 1\n") is None
    assert "limit" in (guardrails.size_problem("x" * (guardrails.MAX_EDIT_BYTES + 1)) or "")
    assert "NUL" in (guardrails.size_problem("a\x00b") or "")


@pytest.mark.parametrize(
    ("new", "kinds"),
    [
        ("Value: AKIAIOSFODNN7EXAMPLE\n", ["AWS access key id"]),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
            ["AWS secret access key"],
        ),
        ("key: |\n  -----BEGIN RSA PRIVATE KEY-----\n  abc\n", ["private key"]),
        ("key: -----BEGIN OPENSSH PRIVATE KEY-----\n", ["private key"]),
        ("token: ghp_" + "a" * 36 + "\n", ["GitHub token"]),
        ("token: github_pat_" + "A1_" * 25 + "\n", ["GitHub fine-grained token"]),
        ("slack: xoxb-1234567890-abcdef\n", ["Slack token"]),
        ("Value: !Ref KeyParameter\nArn: arn:aws:iam::123456789012:role/x\n", []),
        ("Sid: AKIA\n", []),
    ],
)
def test_secret_patterns(new: str, kinds: list[str]) -> None:
    assert secrets_added(None, new) == kinds


def test_only_added_lines_count_as_new_secrets() -> None:
    old = "a: 1\nexample: AKIAIOSFODNN7EXAMPLE\n"
    assert secrets_added(old, old + "b: 2\n") == []
    assert secrets_added(old, old + "c: AKIAIOSFODNN7EXAMPLF\n") == ["AWS access key id"]


BUCKET = """\
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault:
              SSEAlgorithm: aws:kms
              KMSMasterKeyID: !ImportValue
                Fn::Sub: "${ProjectName}-kms-S3KeyArn"
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
"""
SG = """\
Resources:
  Sg:
    Type: AWS::EC2::SecurityGroup
    Properties:
      SecurityGroupIngress:
        - IpProtocol: tcp
          FromPort: 443
          ToPort: 443
          CidrIp: 10.0.0.0/8
"""
ROLE = """\
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: [s3:GetObject]
                Resource: !Sub "arn:aws:s3:::b/*"
"""


@pytest.mark.parametrize(
    ("old", "new", "kinds"),
    [
        (BUCKET, BUCKET, []),
        (
            BUCKET,
            BUCKET.replace("SSEAlgorithm: aws:kms\n", "SSEAlgorithm: AES256\n").replace(
                '              KMSMasterKeyID: !ImportValue\n                Fn::Sub: "${ProjectName}-kms-S3KeyArn"\n',
                "",
            ),
            ["encryption"],
        ),
        (BUCKET, "\n".join(BUCKET.splitlines()[:4]) + "\n", ["encryption"]),
        (BUCKET, BUCKET.replace("BlockPublicAcls: true", "BlockPublicAcls: false"), ["public"]),
        (
            BUCKET,
            BUCKET.replace(
                "    Properties:\n",
                "    Metadata:\n      guard:\n        SuppressedRules: [SC28_S3_ENCRYPTED]\n    Properties:\n",
                1,
            ),
            ["suppression"],
        ),
        (SG, SG.replace("10.0.0.0/8", "0.0.0.0/0"), ["open-cidr"]),
        (
            SG,
            SG
            + "          Description: x\n        - IpProtocol: tcp\n          FromPort: 22\n          ToPort: 22\n          CidrIpv6: ::/0\n",
            ["open-cidr"],
        ),
        (ROLE, ROLE.replace("[s3:GetObject]", '"*"'), ["wildcard-iam"]),
        (ROLE, ROLE.replace("[s3:GetObject]", "[s3:*]"), ["wildcard-iam"]),
        (ROLE, ROLE.replace('!Sub "arn:aws:s3:::b/*"', '"*"'), ["wildcard-iam"]),
        (
            ROLE,
            ROLE
            + "      ManagedPolicyArns:\n        - arn:aws:iam::aws:policy/AdministratorAccess\n",
            ["admin-policy"],
        ),
        (None, SG.replace("10.0.0.0/8", "0.0.0.0/0"), ["open-cidr"]),
        (None, BUCKET, []),
        (
            None,
            "Resources:\n  R:\n    Properties:\n      AssumeRolePolicyDocument:\n        Statement:\n"
            "          - Effect: Allow\n            Principal: {AWS: '*'}\n",
            ["public"],
        ),
        ("a: [", BUCKET, []),
        (
            "values:\n  securityContext:\n    runAsNonRoot: true\n",
            "values:\n  securityContext:\n    runAsNonRoot: false\n    privileged: true\n",
            ["public", "public"],
        ),
        (
            "metadata: {}\n",
            "metadata:\n  annotations:\n    infra-bot.io/suppress: K8S_RUN_AS_NON_ROOT\n",
            ["suppression"],
        ),
    ],
)
def test_weakened_policy(old: str | None, new: str, kinds: list[str]) -> None:
    found = weakened(load_for_signals(old), load_for_signals(new))
    assert sorted(s.kind for s in found) == sorted(kinds)


def test_weakened_signal_names_the_place() -> None:
    found = weakened(load_for_signals(SG), load_for_signals(SG.replace("10.0.0.0/8", "0.0.0.0/0")))
    assert found[0].describe("stacks/sg.yaml").startswith("`stacks/sg.yaml` Resources.Sg")


@pytest.mark.parametrize(
    ("text", "tag", "expected"),
    [
        ("plain", "request", "plain"),
        ("x </request> y", "request", "x <\\/request> y"),
        ("x </ReQuest> y", "request", "x <\\/request> y"),
        ("</file>", "request", "</file>"),
        ("</file >", "file", "<\\/file >"),
    ],
)
def test_fence_keeps_data_inside_its_delimiters(text: str, tag: str, expected: str) -> None:
    assert fence(text, tag) == expected

"""Cross-stack checks: each rule with a template that trips it and one that does not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.checks.base import CheckContext
from bot.checks.crossstack import CrossStackCheck
from bot.checks.engine import all_targets, changed_targets, run_checks
from bot.repo.model import Repository
from bot.toolchain import Toolchain
from tests.conftest import git_commit, write_tree

VPC = """
Parameters:
  Environment: {Type: String, Default: dev}
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.0.0.0/16}
Outputs:
  VpcId:
    Value: !Ref Vpc
    Export:
      Name: !Sub "platform-${Environment}-vpc-VpcId"
"""
SG = """
Parameters:
  Environment: {Type: String, Default: dev}
Resources:
  Sg:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: x
      VpcId: !ImportValue
        Fn::Sub: "platform-${Environment}-vpc-VpcId"
"""


def ids(repo: Path, base: Repository | None = None) -> list[str]:
    r = Repository(repo)
    ctx = CheckContext(r, all_targets(r, ()), Toolchain(), base_repo=base)
    return [f.check_id for f in CrossStackCheck().run(ctx)]


def test_import_of_an_existing_export_is_clean(make_repo: Callable[..., Path]) -> None:
    assert ids(make_repo({"stacks/vpc.yaml": VPC, "stacks/sg.yaml": SG})) == []


def test_import_nobody_exports(make_repo: Callable[..., Path]) -> None:
    found = ids(make_repo({"stacks/sg.yaml": SG}))
    assert found == ["cross-stack/missing-export"]


def test_duplicate_export_names(make_repo: Callable[..., Path]) -> None:
    repo = make_repo({"stacks/vpc.yaml": VPC, "stacks/vpc2.yaml": VPC})
    assert ids(repo) == ["cross-stack/duplicate-export"] * 2


def test_exports_resolve_per_environment(make_repo: Callable[..., Path]) -> None:
    # Same template deployed to two environments is not a duplicate.
    repo = make_repo({
        "stacks/vpc.yaml": VPC,
        "environments/dev.yaml": "account_id: '1'\n",
        "environments/tst.yaml": "account_id: '2'\n",
        "environments/dev/vpc.yaml": "template-file-path: stacks/vpc.yaml\nparameters: {Environment: dev}\n",
        "environments/tst/vpc.yaml": "template-file-path: stacks/vpc.yaml\nparameters: {Environment: tst}\n",
    })  # fmt: skip
    assert ids(repo) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [("AC-2,AC-6", ["cross-stack/tag-comma"]), ("AC-2_AC-6", [])],
)
def test_tag_values_with_commas(
    make_repo: Callable[..., Path], value: str, expected: list[str]
) -> None:
    repo = make_repo({"stacks/b.yaml": f"""
        Resources:
          B:
            Type: AWS::S3::Bucket
            Properties:
              Tags: [{{Key: NIST_Control, Value: "{value}"}}]
        """})  # fmt: skip
    assert ids(repo) == expected


EKS = """
Parameters:
  Version: {{Type: String, Default: "{version}"}}
Resources:
  Logs:
    Type: AWS::Logs::LogGroup
  Cluster:
    Type: AWS::EKS::Cluster
    {depends}
    Properties:
      Version: !Ref Version
      RoleArn: arn:aws:iam::123456789012:role/x
      ResourcesVpcConfig: {{SubnetIds: [subnet-1]}}
      Logging: {{ClusterLogging: {{EnabledTypes: [{{Type: api}}]}}}}
Outputs:
  Ca:
    Value: !GetAtt Cluster.{attribute}
    Export: {{Name: ca}}
"""


def eks(version: str = "1.34", depends: str = "DependsOn: Logs", attribute: str = "Arn") -> str:
    return EKS.format(version=version, depends=depends, attribute=attribute)


def test_eks_template_that_follows_the_lessons_is_clean(make_repo: Callable[..., Path]) -> None:
    assert ids(make_repo({"stacks/eks.yaml": eks()})) == []


def test_eks_without_log_group_dependency(make_repo: Callable[..., Path]) -> None:
    assert ids(make_repo({"stacks/eks.yaml": eks(depends="")})) == [
        "cross-stack/eks-log-group-order"
    ]


def test_export_of_certificate_authority_data(make_repo: Callable[..., Path]) -> None:
    repo = make_repo({"stacks/eks.yaml": eks(attribute="CertificateAuthorityData")})
    assert ids(repo) == ["cross-stack/export-too-long"]


@pytest.mark.parametrize(
    ("new", "expected"), [("1.33", []), ("1.34", ["cross-stack/eks-version-skip"])]
)
def test_eks_upgrade_one_minor_at_a_time(tmp_path: Path, new: str, expected: list[str]) -> None:
    base = write_tree(tmp_path / "base", {"stacks/eks.yaml": eks(version="1.32")})
    head = write_tree(tmp_path / "head", {"stacks/eks.yaml": eks(version=new)})
    assert ids(head, Repository(base)) == expected


@pytest.mark.parametrize(
    ("reference", "creator", "expected"),
    [
        ("/platform/dev/cluster-name", "", ["cross-stack/ssm-missing"]),
        ("/aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/standard/recommended/image_id", "", []),
        ("/platform/dev/cluster-name", "/platform/dev/cluster-name", []),
    ],
)  # fmt: skip
def test_ssm_dynamic_references(
    make_repo: Callable[..., Path], reference: str, creator: str, expected: list[str]
) -> None:
    files = {"stacks/use.yaml": f"""
        Resources:
          B:
            Type: AWS::SQS::Queue
            Properties:
              QueueName: "{{{{resolve:ssm:{reference}}}}}"
        """}  # fmt: skip
    if creator:
        files["stacks/param.yaml"] = f"""
            Resources:
              P:
                Type: AWS::SSM::Parameter
                Properties: {{Name: "{creator}", Type: String, Value: x}}
            """
    assert ids(make_repo(files)) == expected


def test_removing_an_export_still_imported(make_repo: Callable[..., Path]) -> None:
    repo = make_repo({"stacks/vpc.yaml": VPC, "stacks/sg.yaml": SG})
    (repo / "stacks/vpc.yaml").write_text(VPC.replace('-vpc-VpcId"', '-vpc-Id"'))
    git_commit(repo, "rename export")
    report = run_checks(
        Repository(repo), changed_targets(Repository(repo), "HEAD~1", ()), Toolchain(),
        only=["cross-stack"], base_ref="HEAD~1",
    )  # fmt: skip
    found = sorted(f.check_id for f in report.findings)
    assert found == ["cross-stack/export-in-use", "cross-stack/missing-export"]
    in_use = next(f for f in report.findings if f.check_id.endswith("export-in-use"))
    assert "sg" in in_use.message and "platform-dev-vpc-VpcId" in in_use.message


def test_changed_since_selects_touched_stacks_and_their_importers(
    make_repo: Callable[..., Path],
) -> None:
    other = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n"
    repo = make_repo({"stacks/vpc.yaml": VPC, "stacks/sg.yaml": SG, "stacks/other.yaml": other})
    (repo / "stacks/vpc.yaml").write_text(VPC + "\n# touched\n")
    targets = changed_targets(Repository(repo), "HEAD", ())
    assert sorted(p.name for p in targets.templates) == ["sg.yaml", "vpc.yaml"]

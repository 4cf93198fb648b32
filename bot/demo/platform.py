"""The repository the demo works in: a temporary copy, shaped to what moto can run.

The copy takes the repository's own foundation stacks (KMS, IAM, VPC, security
groups), every environment's deployment files for them, the guard rules and the
bot's settings. Two moto gaps need a change, and the demo says so when it starts:
moto's CloudFormation cannot create AWS::KMS::Key (it reads Key/Value tags as
TagKey/TagValue and fails), so kms.yaml is replaced by a stand-in exporting the
same names; and moto has no AWS::EC2::VPCCidrBlock, so the 100.64.0.0/16 pod
subnets move inside the primary CIDR. EKS, the ALB and the rest are left out:
moto cannot create them, and a demo that fakes them would show nothing true.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ruamel.yaml import YAML

FOUNDATION = ("kms", "iam", "vpc", "security-groups")
ENVIRONMENTS = ("dev", "tst", "prd")
ADAPTATIONS = (
    "stacks/kms.yaml is a stand-in (moto cannot create AWS::KMS::Key from a template)",
    "pod subnets use 10.0.96.0/20-10.0.128.0/20 (moto has no AWS::EC2::VPCCidrBlock)",
    "one NAT gateway, not three (moto's stack update breaks on the three-NAT condition)",
    "only the foundation stacks are copied (moto cannot create EKS, ALB or Cognito)",
)

KMS_STAND_IN = """\
AWSTemplateFormatVersion: "2010-09-09"
Description: >-
  Demo stand-in for stacks/kms.yaml: moto cannot create KMS keys from templates.
  It exports the same names, so the stacks importing the keys deploy unchanged.
Parameters:
  ProjectName: {Type: String, Default: platform}
  Environment: {Type: String}
  Owner: {Type: String, Default: platform-team}
  SecurityLevel: {Type: String, Default: internal}
  IaCVersion: {Type: String, Default: unset}
  PendingWindowInDays: {Type: Number, Default: 30}
Resources:
  Marker:
    Type: AWS::SSM::Parameter
    Properties:
      Name: !Sub "/${ProjectName}/${Environment}/kms-stand-in"
      Type: String
      Value: !Ref IaCVersion
      Description: !Sub >-
        KMS stand-in of ${Owner} (${SecurityLevel}), deletion window ${PendingWindowInDays} days
Outputs:
"""
KMS_EXPORTS = ("EksSecretsKeyArn", "EbsKeyArn", "S3KeyArn", "LogsKeyArn")
VPC_OVERRIDES = {
    "PodSubnet1Cidr": "10.0.96.0/20",
    "PodSubnet2Cidr": "10.0.112.0/20",
    "PodSubnet3Cidr": "10.0.128.0/20",
    "NatGatewayCount": 1,
}
# Copied as they are: what the checks and the settings read.
KEEP = ("guard", ".github/infra-bot.yml", "environments/usage.yaml")


def kms_stand_in() -> str:
    outputs = "".join(
        f"  {name}:\n"
        f'    Value: !Sub "arn:aws:kms:${{AWS::Region}}:${{AWS::AccountId}}:key/{name}"\n'
        f"    Export:\n"
        f'      Name: !Sub "${{ProjectName}}-${{Environment}}-kms-{name}"\n'
        for name in KMS_EXPORTS
    )
    return KMS_STAND_IN + outputs


def copy_platform(
    src: Path, dest: Path, stacks: tuple[str, ...] = FOUNDATION, *, keep: tuple[str, ...] = KEEP
) -> None:
    """Copy `stacks` (templates and every environment's deployment files) into `dest`,
    then adapt them to moto. `dest` must not hold a platform yet."""
    (dest / "stacks").mkdir(parents=True)
    for stack in stacks:
        shutil.copy(src / "stacks" / f"{stack}.yaml", dest / "stacks")
    for env in ENVIRONMENTS:
        (dest / "environments" / env).mkdir(parents=True)
        shutil.copy(src / "environments" / f"{env}.yaml", dest / "environments")
        for stack in stacks:
            shutil.copy(src / "environments" / env / f"{stack}.yaml", dest / "environments" / env)
    for rel in keep:
        path = src / rel
        if path.is_dir():
            shutil.copytree(path, dest / rel)
        elif path.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, dest / rel)
    adapt_for_moto(dest, stacks)


def adapt_for_moto(root: Path, stacks: tuple[str, ...]) -> None:
    if "kms" in stacks:
        (root / "stacks" / "kms.yaml").write_text(kms_stand_in(), encoding="utf-8")
    if "vpc" not in stacks:
        return
    yaml = YAML()  # round-trip: the deployment files keep their comments
    for env in ENVIRONMENTS:
        path = root / "environments" / env / "vpc.yaml"
        data = yaml.load(path.read_text(encoding="utf-8"))
        data["parameters"].update(VPC_OVERRIDES)
        with path.open("w", encoding="utf-8") as fh:
            yaml.dump(data, fh)

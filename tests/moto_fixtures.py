"""A moto server on 127.0.0.1 for the CloudFormation tests (real HTTP, never real AWS).

Import the fixtures into a test module: `from tests.moto_fixtures import moto_endpoint`.

moto 5 executes change sets but skips two things CloudFormation does on
execution: it neither publishes the stack's outputs as exports (so a later
stack's Fn::ImportValue fails) nor applies the change set's tags and parameters
to an existing stack (so the next change set compares against stale values). Both matter to what we test (cross-stack order, deploy records in stack
tags), so `_patch_moto_change_sets` adds them to moto's backend, the fake, and
nothing in bot/ knows about it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

ACCOUNTS = {"dev": "111111111111", "tst": "222222222222", "prd": "333333333333"}
_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _patch_moto_change_sets() -> None:
    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend.execute_change_set
    if getattr(original, "_infra_bot_patched", False):
        return

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.change_sets.get(change_set_name) or next(
            (cs for cs in self.change_sets.values() if cs.change_set_name == change_set_name),
            None,
        )
        if change_set is not None:
            # A stack born from a change set resolves Fn::ImportValue against nothing.
            stack = self.stacks[change_set.stack_id]
            stack.cross_stack_resources = self.exports
            stack.resource_map.cross_stack_resources = self.exports
        original(self, change_set_name, stack_name)
        if change_set is None:
            return
        if change_set.tags:
            stack.tags = dict(change_set.tags)
        # moto compares later change sets with these to decide "no changes".
        stack.parameters = change_set.parameters
        stack._parse_template()
        stack.output_map = stack._create_output_map()
        for export in stack.exports:
            self.exports[export.name] = export

    execute_change_set._infra_bot_patched = True  # type: ignore[attr-defined]
    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """URL of a moto server on 127.0.0.1 (a free port), with dummy credentials set."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in (*_AWS_ENV, "AWS_ENDPOINT_URL")}
    os.environ.update(_AWS_ENV)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    _patch_moto_change_sets()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# moto's CloudFormation cannot create AWS::KMS::Key (it reads tags as TagKey/TagValue
# and fails with KeyError on the Key/Value form CloudFormation uses). The stand-in
# exports the same names, so the stacks that import KMS keys deploy unchanged.
KMS_STAND_IN = """\
AWSTemplateFormatVersion: "2010-09-09"
Description: Test stand-in for stacks/kms.yaml (moto cannot create KMS keys from templates).
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
Outputs:
"""
KMS_EXPORTS = ("EksSecretsKeyArn", "EbsKeyArn", "S3KeyArn", "LogsKeyArn")
# moto has no AWS::EC2::VPCCidrBlock, so the 100.64.0.0/16 pod subnets cannot exist;
# the tests put them inside the primary CIDR instead.
VPC_OVERRIDES = {
    "PodSubnet1Cidr": "10.0.96.0/20",
    "PodSubnet2Cidr": "10.0.112.0/20",
    "PodSubnet3Cidr": "10.0.128.0/20",
}
FOUNDATION = ["kms", "iam", "vpc", "security-groups"]


def git(root: Any, *args: str) -> str:
    import subprocess

    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def commit_all(root: Any, message: str) -> str:
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")


def make_platform_repo(dest: Any, stacks: list[str] = FOUNDATION) -> str:
    """Copy the platform's `stacks` (templates and deployment files of every environment)
    into `dest`, adapt them to moto, commit, and return the commit.

    Only these stacks are copied: every command builds the whole stack graph, and parsing
    all twelve platform templates per CLI call would dominate the test time."""
    import shutil
    from pathlib import Path

    from ruamel.yaml import YAML

    src = Path(__file__).resolve().parent.parent
    dest = Path(dest)
    (dest / "stacks").mkdir(parents=True)
    for stack in stacks:
        shutil.copy(src / "stacks" / f"{stack}.yaml", dest / "stacks")
    for env in ACCOUNTS:
        (dest / "environments" / env).mkdir(parents=True)
        shutil.copy(src / "environments" / f"{env}.yaml", dest / "environments")
        for stack in stacks:
            shutil.copy(src / "environments" / env / f"{stack}.yaml", dest / "environments" / env)
    outputs = "".join(
        f"  {name}:\n"
        f'    Value: !Sub "arn:aws:kms:${{AWS::Region}}:${{AWS::AccountId}}:key/{name}"\n'
        f"    Export:\n"
        f'      Name: !Sub "${{ProjectName}}-${{Environment}}-kms-{name}"\n'
        for name in KMS_EXPORTS
    )
    (dest / "stacks" / "kms.yaml").write_text(KMS_STAND_IN + outputs, encoding="utf-8")
    yaml = YAML()
    for env in ACCOUNTS if "vpc" in stacks else ():
        path = dest / "environments" / env / "vpc.yaml"
        data = yaml.load(path.read_text(encoding="utf-8"))
        data["parameters"].update(VPC_OVERRIDES)
        with path.open("w", encoding="utf-8") as fh:
            yaml.dump(data, fh)
    git(dest, "init", "-q", "-b", "main")
    return commit_all(dest, "platform")


def reset_moto(endpoint: str) -> None:
    import requests

    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()

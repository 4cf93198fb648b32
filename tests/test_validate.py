"""`infra-bot validate` end to end: checks, bad input, output formats, exit codes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from bot.checks.base import Check, CheckContext
from bot.checks.discovery import registry
from bot.checks.engine import all_targets, run_checks
from bot.cli import app
from bot.findings import Severity
from bot.repo.model import Repository
from bot.toolchain import Toolchain
from tests.conftest import ROOT

runner = CliRunner()

GOOD_BUCKET = """
Parameters:
  IaCVersion: {Type: String, Default: abc123}
Resources:
  Logs:
    Type: AWS::S3::Bucket
    Properties:
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault: {SSEAlgorithm: aws:kms, KMSMasterKeyID: alias/s3}
      VersioningConfiguration: {Status: Enabled}
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        BlockPublicPolicy: true
        IgnorePublicAcls: true
        RestrictPublicBuckets: true
      Tags:
        - {Key: Environment, Value: dev}
        - {Key: Owner, Value: platform}
        - {Key: SecurityLevel, Value: internal}
        - {Key: IaC_Version, Value: !Ref IaCVersion}
        - {Key: NIST_Control, Value: SC-28_CP-9}
  LogsPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Logs
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Sid: DenyInsecureTransport
            Effect: Deny
            Principal: "*"
            Action: "s3:*"
            Resource: [!GetAtt Logs.Arn, !Sub "${Logs.Arn}/*"]
            Condition: {Bool: {"aws:SecureTransport": "false"}}
"""


@pytest.fixture
def repo_with(make_repo: Callable[..., Path]) -> Callable[[dict[str, str]], Path]:
    def make(files: dict[str, str]) -> Path:
        root = make_repo(files)
        shutil.copytree(ROOT / "guard", root / "guard")
        return root

    return make


def validate(root: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", "--root", str(root), *args])
    return result.exit_code, result.stdout


def test_compliant_template_is_clean(repo_with: Callable[..., Path], tools: Toolchain) -> None:
    code, out = validate(repo_with({"stacks/logs.yaml": GOOD_BUCKET}), "--format", "json")
    assert json.loads(out)["findings"] == []
    assert code == 0


def test_cfn_lint_finding_has_rule_and_line(
    repo_with: Callable[..., Path], tools: Toolchain
) -> None:
    bad = GOOD_BUCKET.replace("VersioningConfiguration:", "VersioningConfig:")
    code, out = validate(repo_with({"stacks/logs.yaml": bad}), "--format", "json")
    findings = json.loads(out)["findings"]
    lint = [f for f in findings if f["tool"] == "cfn-lint"]
    assert [(f["check_id"], f["line"]) for f in lint] == [("cfn-lint/E3002", 10)]
    assert code == 1


def test_guard_finding_maps_to_resource_line_and_control(
    repo_with: Callable[..., Path], tools: Toolchain
) -> None:
    bad = GOOD_BUCKET.replace(
        "{SSEAlgorithm: aws:kms, KMSMasterKeyID: alias/s3}", "{SSEAlgorithm: AES256}"
    )
    code, out = validate(repo_with({"stacks/logs.yaml": bad}), "--format", "json")
    guard = [f for f in json.loads(out)["findings"] if f["tool"] == "cfn-guard"]
    assert [(f["check_id"], f["nist_control"], f["resource"]) for f in guard] == [
        ("guard/SC28_S3_ENCRYPTED", "SC-28", "Logs")
    ]
    assert guard[0]["line"] == 8  # where cfn-guard found the encryption settings
    assert code == 1


def test_deployment_file_parameters_are_linted(
    repo_with: Callable[..., Path], tools: Toolchain
) -> None:
    template = "Parameters:\n  Size:\n    Type: String\n    AllowedValues: [small, large]\n" \
               "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n" \
               "    Properties: {QueueName: !Ref Size}\n"  # fmt: skip
    root = repo_with({
        "stacks/q.yaml": template,
        "environments/dev.yaml": "account_id: '111111111111'\n",
        "environments/dev/q.yaml": "template-file-path: stacks/q.yaml\nparameters: {Size: huge}\n",
    })  # fmt: skip
    code, out = validate(root, "--format", "json", "--check", "cfn-lint")
    findings = json.loads(out)["findings"]
    # cfn-lint attributes a bad parameter value to the deployment file itself.
    assert [(f["path"], f["check_id"]) for f in findings] == [
        ("environments/dev/q.yaml", "cfn-lint/E2900")
    ]
    assert "huge" in findings[0]["message"]
    assert code == 1


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        (b"Resources: [\n", "cfn-lint/E0000"),
        (b"Resources:\n  A: !Bogus x\n", "cfn-lint/E3001"),
        (b"", "load/refused"),
        (b"\x00\x01binary", "load/refused"),
        (
            b"a: &a [1,1,1,1,1,1,1,1,1,1]\n"
            + b"".join(
                f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n".encode()
                for p, c in zip("abcdefg", "bcdefgh", strict=True)
            ),
            "cfn-lint/E0000",
        ),
        (b"# padding\n" * 1_100_000, "load/refused"),
    ],
    ids=["not-yaml", "unknown-tag", "empty", "binary", "alias-bomb", "10MB"],
)
def test_bad_template_is_one_clear_finding_and_others_still_run(
    repo_with: Callable[..., Path], tools: Toolchain, content: bytes, expect: str
) -> None:
    root = repo_with({"stacks/good.yaml": GOOD_BUCKET})
    (root / "stacks" / "bad.yaml").write_bytes(content)
    bad_guard = GOOD_BUCKET.replace("VersioningConfiguration: {Status: Enabled}", "")
    (root / "stacks" / "other.yaml").write_text(bad_guard)
    code, out = validate(root, "--format", "json")
    findings = json.loads(out)["findings"]
    on_bad = {f["check_id"] for f in findings if f["path"] == "stacks/bad.yaml"}
    assert on_bad == {expect}
    # The other files were still validated: the broken guard template is caught.
    assert any(f["check_id"] == "guard/CP9_BACKUP_BUCKET_VERSIONING" for f in findings)
    assert not any(f["check_id"].endswith("/crashed") for f in findings)
    assert code == 1


def test_crashing_check_becomes_a_finding_and_others_run(repo_with: Callable[..., Path]) -> None:
    class Boom(Check):
        id = "boom"
        description = "always fails"

        def run(self, ctx: CheckContext) -> list:  # type: ignore[type-arg]
            raise RuntimeError("kaput")

    checks = {**registry(), "boom": Boom}
    root = repo_with(
        {
            "stacks/q.yaml": "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: {Nope: 1}\n"
        }
    )
    repo = Repository(root)
    report = run_checks(
        repo, all_targets(repo, ()), Toolchain(), only=["boom", "cfn-lint"], checks=checks
    )
    ids = {f.check_id for f in report.findings}
    assert "boom/crashed" in ids and "cfn-lint/E3002" in ids
    crashed = next(f for f in report.findings if f.check_id == "boom/crashed")
    assert "kaput" in crashed.message and crashed.severity is Severity.ERROR
    status = {c.check: c.status.value for c in report.coverage}
    assert status == {"boom": "crashed", "cfn-lint": "ran"}


def test_missing_tool_names_the_install_command(
    repo_with: Callable[..., Path], tmp_path: Path
) -> None:
    root = repo_with({"stacks/logs.yaml": GOOD_BUCKET})
    repo = Repository(root)
    no_tools = Toolchain(cache_dir=tmp_path / "empty-cache", use_path=False)
    report = run_checks(repo, all_targets(repo, ()), no_tools, only=["cfn-guard"])
    (finding,) = report.findings
    assert finding.check_id == "cfn-guard/crashed"
    assert "infra-bot tools --install" in finding.message


SARIF_REQUIRED = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "runs": {"type": "array", "items": {
            "type": "object", "required": ["tool", "results"],
            "properties": {
                "tool": {"type": "object", "required": ["driver"],
                         "properties": {"driver": {"type": "object", "required": ["name"]}}},
                "results": {"type": "array", "items": {
                    "type": "object", "required": ["message", "ruleId", "level", "locations"],
                    "properties": {
                        "level": {"enum": ["none", "note", "warning", "error"]},
                        "message": {"type": "object", "required": ["text"]},
                        "locations": {"type": "array", "items": {
                            "type": "object", "required": ["physicalLocation"],
                            "properties": {"physicalLocation": {
                                "type": "object", "required": ["artifactLocation"],
                                "properties": {"region": {
                                    "type": "object", "required": ["startLine"],
                                    "properties": {"startLine": {"minimum": 1}}}}}}}},
                    }}},
            }}},
    },
}  # fmt: skip


@pytest.fixture
def mixed_repo(repo_with: Callable[..., Path]) -> Path:
    bad = GOOD_BUCKET.replace("VersioningConfiguration:", "VersioningConfig:")
    bad = bad.replace("{SSEAlgorithm: aws:kms, KMSMasterKeyID: alias/s3}", "{SSEAlgorithm: AES256}")
    return repo_with({"stacks/logs.yaml": bad})


def test_sarif_has_one_run_per_tool_and_required_fields(mixed_repo: Path, tools: Toolchain) -> None:
    code, out = validate(mixed_repo, "--format", "sarif")
    sarif = json.loads(out)
    jsonschema.validate(sarif, SARIF_REQUIRED)
    names = sorted(run["tool"]["driver"]["name"] for run in sarif["runs"])
    assert names == ["cfn-guard", "cfn-lint", "infra-bot"]
    guard_run = next(r for r in sarif["runs"] if r["tool"]["driver"]["name"] == "cfn-guard")
    assert {r["ruleId"] for r in guard_run["results"]} >= {"guard/SC28_S3_ENCRYPTED"}
    assert code == 1


def test_markdown_groups_by_file_with_controls(mixed_repo: Path, tools: Toolchain) -> None:
    _code, out = validate(mixed_repo, "--format", "markdown")
    assert "<code>stacks/logs.yaml</code>" in out
    assert "NIST SC-28" in out and "`cfn-lint/E3002`" in out


def test_github_annotations_escape_message_text(mixed_repo: Path, tools: Toolchain) -> None:
    _code, out = validate(mixed_repo, "--format", "github")
    lines = out.strip().splitlines()
    assert lines and all(line.startswith(("::error ", "::warning ", "::notice ")) for line in lines)
    assert any("file=stacks/logs.yaml,line=10,title=cfn-lint/E3002::" in line for line in lines)


def test_text_output_and_fail_on(repo_with: Callable[..., Path], tools: Toolchain) -> None:
    root = repo_with({"stacks/logs.yaml": GOOD_BUCKET})
    code, out = validate(root)
    assert code == 0 and "0 errors" in out
    # An unused parameter is a cfn-lint warning: it fails only with --fail-on warning.
    unused = GOOD_BUCKET.replace("Parameters:\n", "Parameters:\n  Extra: {Type: String}\n", 1)
    (root / "stacks" / "logs.yaml").write_text(unused.lstrip())
    code_default, _ = validate(root, "--check", "cfn-lint")
    code_strict, out = validate(root, "--check", "cfn-lint", "--fail-on", "warning")
    assert (code_default, code_strict) == (0, 1)
    assert "W2001" in out


@pytest.mark.parametrize(
    "args",
    [["--fail-on", "fatal"], ["--env", "nowhere"], ["--format", "xml"], ["--check", "nosuch"],
     ["stacks/nope.yaml"]],
)  # fmt: skip
def test_usage_errors_exit_2(repo_with: Callable[..., Path], args: list[str]) -> None:
    code, _ = validate(repo_with({"stacks/logs.yaml": GOOD_BUCKET}), *args)
    assert code == 2

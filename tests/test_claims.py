"""What README.md and docs/checks.md say a check or command does, run in a fresh process.

Each test names the heading whose claim it backs. Claims already backed elsewhere
through the CLI or `handle` are listed in the README's security section and in the
claims table of the change that added this file; this file holds the ones that had
no fresh-process test.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, git_commit, write_tree
from tests.fakegithub import FakeGitHub
from tests.test_check_discovery import (  # noqa: F401
    bot_cli,
    closed_port_url,
    offline,
    served_github,
)
from tests.test_handle_events import BASE_TEMPLATE, make_workspace
from tests.test_validate import GOOD_BUCKET

# One cfn-lint warning (W2001, unused parameter) and nothing else cfn-lint objects to.
UNUSED_PARAMETER = """
Parameters:
  Unused: {Type: String, Default: x}
Resources:
  Q:
    Type: AWS::SQS::Queue
"""
# One cfn-lint error (E3002, a property the resource type does not have).
BAD_PROPERTY = """
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties:
      NoSuchProperty: 1
"""
# An S3 bucket without encryption: the guard rules report SC-28.
PLAIN_BUCKET = """
Resources:
  Logs:
    Type: AWS::S3::Bucket
"""


def run_json(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = bot_cli("validate", "--root", str(root), "--format", "json", *args)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def check_ids(doc: dict[str, Any]) -> list[str]:
    return sorted(f["check_id"] for f in doc["findings"])


@pytest.fixture
def with_guard(make_repo: Callable[..., Path]) -> Callable[[dict[str, str]], Path]:
    def make(files: dict[str, str]) -> Path:
        root = make_repo(files)
        shutil.copytree(ROOT / "guard", root / "guard")
        return root

    return make


# --- README "## CLI commands": the validate row -----------------------------------


@pytest.mark.parametrize(
    ("template", "fail_on", "code"),
    [
        (UNUSED_PARAMETER, "error", 0),
        (UNUSED_PARAMETER, "warning", 1),
        (BAD_PROPERTY, "error", 1),
    ],
)
def test_validate_exits_1_only_for_findings_at_or_above_fail_on(
    make_repo: Callable[..., Path], template: str, fail_on: str, code: int
) -> None:
    """README "## CLI commands": exit 0 clean, 1 findings at or above `--fail-on`."""
    root = make_repo({"stacks/q.yaml": template})
    rc, doc = run_json(root, "--check", "cfn-lint", "--fail-on", fail_on)
    assert doc["findings"], "the template was chosen to produce a finding"
    assert rc == code


@pytest.mark.parametrize("args", [["--format", "yaml"], ["--fail-on", "fatal"], ["--env", "qa"]])
def test_validate_usage_errors_exit_2(make_repo: Callable[..., Path], args: list[str]) -> None:
    """README "## CLI commands": exit 2 usage or internal error."""
    root = make_repo({"stacks/q.yaml": UNUSED_PARAMETER})
    proc = bot_cli("validate", "--root", str(root), *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("fmt", "ran", "skipped"),
    [
        ("text", "checked cfn-lint: 1 template,", "skipped kube — no releases"),
        ("markdown", "**Checks run:**", "**Skipped:**"),
        ("github", "::notice title=infra-bot checked::cfn-lint",
         "::notice title=infra-bot skipped::kube"),
    ],
)  # fmt: skip
def test_every_text_format_says_what_ran_and_what_was_skipped(
    make_repo: Callable[..., Path], fmt: str, ran: str, skipped: str
) -> None:
    """docs/checks.md "## What ran: coverage": `checked` / `skipped` lines in text,
    "Checks run" / "Skipped" in Markdown, `::notice` lines in `--format github`."""
    root = make_repo({"stacks/q.yaml": BAD_PROPERTY})
    proc = bot_cli("validate", "--root", str(root), "--check", "cfn-lint", "--check", "kube",
                   "--format", fmt)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert ran in proc.stdout and skipped in proc.stdout
    assert "cfn-lint/E3002" in proc.stdout or "E3002" in proc.stdout


def test_sarif_carries_coverage_and_a_notification_for_a_skipped_check(
    make_repo: Callable[..., Path],
) -> None:
    """docs/checks.md "## What ran: coverage": each SARIF run's `properties.coverage`;
    a skipped check is also a `toolExecutionNotifications` entry."""
    root = make_repo({"stacks/q.yaml": BAD_PROPERTY})
    proc = bot_cli("validate", "--root", str(root), "--check", "cfn-lint", "--check", "kube",
                   "--format", "sarif")  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    runs = json.loads(proc.stdout)["runs"]
    coverage = {c["check"]: c for r in runs for c in r.get("properties", {}).get("coverage", [])}
    assert coverage["cfn-lint"]["status"] == "ran"
    assert coverage["kube"]["status"] == "skipped"
    notes = [n["message"]["text"] for r in runs for i in r.get("invocations", [])
             for n in i["toolExecutionNotifications"]]  # fmt: skip
    assert any(n.startswith("kube") for n in notes), notes
    assert any(res["ruleId"].endswith("E3002") for r in runs for res in r["results"])


def test_guard_findings_carry_their_nist_control(with_guard: Callable[..., Path]) -> None:
    """README intro / docs/checks.md: the cfn-guard NIST 800-53 Rev 5 rules; SARIF tags
    each rule with its control."""
    root = with_guard({"stacks/logs.yaml": PLAIN_BUCKET})
    rc, doc = run_json(root, "--check", "cfn-guard")
    assert rc == 1
    controls = {f["nist_control"] for f in doc["findings"] if f["check_id"].startswith("guard/")}
    assert "SC-28" in controls
    proc = bot_cli("validate", "--root", str(root), "--check", "cfn-guard", "--format", "sarif")
    tags = {t for r in json.loads(proc.stdout)["runs"] for rule in r["tool"]["driver"]["rules"]
            for t in rule.get("properties", {}).get("tags", [])}  # fmt: skip
    assert "NIST-800-53-SC-28" in tags


# --- README "### `infra-bot validate`" ------------------------------------------


def test_validate_text_output_is_a_count_then_checked_and_skipped(
    with_guard: Callable[..., Path],
) -> None:
    """README "### `infra-bot validate`": the count line, then `checked` / `skipped`."""
    root = with_guard({"stacks/logs.yaml": GOOD_BUCKET})
    proc = bot_cli("validate", "--root", str(root))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "1 template, 0 releases: 0 errors, 0 warnings, 0 infos"
    checked = [line for line in lines if line.startswith("checked ")]
    assert [line.split(":")[0] for line in checked] == [
        "checked cfn-guard", "checked cfn-lint", "checked cross-stack", "checked load"
    ]  # fmt: skip
    assert "checked cfn-guard: 1 template against" in checked[0]
    assert lines[-2] == "skipped kube — no releases"


def test_a_crashing_check_becomes_a_finding_and_the_others_still_run(
    with_guard: Callable[..., Path], tmp_path: Path
) -> None:
    """README "### `infra-bot validate`": a check that crashes becomes a finding and the
    others still run. The crash is planted through `sitecustomize` in the child only."""
    root = with_guard({"stacks/logs.yaml": PLAIN_BUCKET})
    plant = tmp_path / "plant"
    write_tree(plant, {"sitecustomize.py": """
        import bot.checks.crossstack as cs

        def boom(self, ctx):
            raise RuntimeError("planted crash")

        cs.CrossStackCheck.run = boom
    """})  # fmt: skip
    env = {"PYTHONPATH": f"{plant}:{ROOT}"}
    proc = bot_cli("validate", "--root", str(root), "--format", "json", env=env)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1
    crash = [f for f in doc["findings"] if f["check_id"].startswith("cross-stack")]
    assert crash and "planted crash" in crash[0]["message"]
    status = {c["check"]: c["status"] for c in doc["coverage"]}
    assert status["cross-stack"] == "crashed"
    assert status["cfn-guard"] == "ran" and status["cfn-lint"] == "ran"
    assert any(f["check_id"].startswith("guard/") for f in doc["findings"])


# --- docs/checks.md "## Adding a check" -----------------------------------------


def test_two_checks_with_one_id_stop_every_run_naming_both(tmp_path: Path) -> None:
    """docs/checks.md "## Adding a check": two checks with one id stop every run with an
    error naming both. The second module is added to bot.checks in the child only."""
    extra = tmp_path / "extra"
    write_tree(extra, {"twin.py": """
        from bot.checks.base import Check

        class Twin(Check):
            id = "load"
            description = "a second check with the id load"
            inputs = ()

            def run(self, ctx):
                return []
    """})  # fmt: skip
    plant = tmp_path / "plant"
    write_tree(plant, {"sitecustomize.py": f"""
        import bot.checks
        bot.checks.__path__.append({str(extra)!r})
    """})  # fmt: skip
    proc = bot_cli("validate", "--format", "json", env={"PYTHONPATH": f"{plant}:{ROOT}"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = " ".join(proc.stderr.split())
    assert "check id 'load' is defined twice" in err
    assert "bot.checks.load.RefusedFileCheck and bot.checks.twin.Twin" in err
    assert "Traceback" not in proc.stderr


# --- docs/checks.md "## load" ---------------------------------------------------


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "empty"),
        (b"Resources:\n  Q:\x00\n", "NUL"),
        (b"Resources: {}\n" + b"#" * 1_100_000 + b"\n", "1,048,576-byte limit"),
    ],
)
def test_refused_files_are_load_findings(tmp_path: Path, content: bytes, why: str) -> None:
    """docs/checks.md "### refused": larger than 1 MB, binary or empty is refused."""
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "bad.yaml").write_bytes(content)
    git_commit(tmp_path)
    rc, doc = run_json(tmp_path, "--check", "load")
    assert rc == 1
    assert check_ids(doc) == ["load/refused"]
    assert why.lower() in doc["findings"][0]["message"].lower()


# --- docs/checks.md "## cross-stack" --------------------------------------------

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
    Resources:
      Sg:
        Type: AWS::EC2::SecurityGroup
        Properties:
          GroupDescription: x
          VpcId: !ImportValue platform-dev-vpc-VpcId
"""
TAGGED = """
    Resources:
      Q:
        Type: AWS::SQS::Queue
        Properties:
          Tags: [{Key: NIST_Control, Value: "AC-2,AC-6"}]
"""
CA_EXPORT = """
    Resources:
      Cluster:
        Type: AWS::EKS::Cluster
        DependsOn: Logs
        Properties: {RoleArn: arn:aws:iam::1:role/r, ResourcesVpcConfig: {SubnetIds: [s]}}
      Logs:
        Type: AWS::Logs::LogGroup
    Outputs:
      Ca:
        Value: !GetAtt Cluster.CertificateAuthorityData
        Export: {Name: platform-dev-eks-ca}
"""
SSM = """
    Resources:
      Q:
        Type: AWS::SQS::Queue
        Properties:
          QueueName: "{{resolve:ssm:/platform/dev/queue-name}}"
"""


def eks(version: str, depends: bool = True) -> str:
    lines = ["Resources:", "  Cluster:", "    Type: AWS::EKS::Cluster"]
    if depends:
        lines.append("    DependsOn: Logs")
    lines += [
        "    Properties:",
        f"      Version: '{version}'",
        "      RoleArn: arn:aws:iam::1:role/r",
        "      ResourcesVpcConfig: {SubnetIds: [s]}",
        # Logging on: with it off EKS creates no log group (docs/checks.md).
        "      Logging: {ClusterLogging: {EnabledTypes: [{Type: api}]}}",
        "  Logs:",
        "    Type: AWS::Logs::LogGroup",
    ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"stacks/vpc.yaml": VPC, "stacks/vpc2.yaml": VPC}, ["cross-stack/duplicate-export"] * 2),
        ({"stacks/sg.yaml": SG}, ["cross-stack/missing-export"]),
        ({"stacks/vpc.yaml": VPC, "stacks/sg.yaml": SG}, []),
        ({"stacks/q.yaml": TAGGED}, ["cross-stack/tag-comma"]),
        ({"stacks/eks.yaml": CA_EXPORT}, ["cross-stack/export-too-long"]),
        ({"stacks/q.yaml": SSM}, ["cross-stack/ssm-missing"]),
        ({"stacks/eks.yaml": eks("1.34", depends=False)}, ["cross-stack/eks-log-group-order"]),
        ({"stacks/eks.yaml": eks("1.34")}, []),
    ],
    ids=["duplicate-export", "missing-export", "import-ok", "tag-comma", "export-too-long",
         "ssm-missing", "eks-log-group-order", "eks-ok"],
)  # fmt: skip
def test_each_cross_stack_rule_through_the_cli(
    make_repo: Callable[..., Path], files: dict[str, str], expected: list[str]
) -> None:
    """docs/checks.md "## cross-stack": one repository per rule, and one that is clean."""
    rc, doc = run_json(make_repo(files), "--check", "cross-stack")
    assert check_ids(doc) == sorted(expected)
    assert rc == (1 if any(f["severity"] == "error" for f in doc["findings"]) else 0)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ({"stacks/vpc.yaml": VPC, "stacks/sg.yaml": SG},
         {"stacks/vpc.yaml": VPC.replace("VpcId:\n        Value", "Id:\n        Value")
                                .replace("vpc-VpcId", "vpc-Id")},
         ["cross-stack/export-in-use", "cross-stack/missing-export"]),
        ({"stacks/eks.yaml": eks("1.32")}, {"stacks/eks.yaml": eks("1.34")},
         ["cross-stack/eks-version-skip"]),
        ({"stacks/eks.yaml": eks("1.33")}, {"stacks/eks.yaml": eks("1.34")}, []),
    ],
    ids=["export-in-use", "eks-version-skip", "eks-one-minor"],
)  # fmt: skip
def test_cross_stack_rules_against_the_base(
    tmp_path: Path, before: dict[str, str], after: dict[str, str], expected: list[str]
) -> None:
    """docs/checks.md "### export-in-use" and "### eks-version-skip": with `--changed-since`."""
    write_tree(tmp_path, before)
    base = git_commit(tmp_path, "base")
    write_tree(tmp_path, after)
    git_commit(tmp_path, "head")
    _, doc = run_json(tmp_path, "--check", "cross-stack", "--changed-since", base)
    found = check_ids(doc)
    for rule in expected:
        assert rule in found
    if not expected:
        assert not [f for f in found if f.startswith("cross-stack/eks")]


# --- docs/checks.md "## kube" ---------------------------------------------------


def test_a_chart_that_cannot_be_pulled_is_an_error_and_never_a_pass(tmp_path: Path) -> None:
    """docs/checks.md "## kube" and "### chart-pull-failed": an unreachable repository is
    an error starting `release <name> was NOT checked`; the coverage lists the release
    as not checked. README "### `infra-bot validate`": the sample's kube line and exit 1."""
    proc = bot_cli("validate", "--check", "kube", "--format", "json", env=offline(tmp_path))
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    releases = sorted(p.name for p in (ROOT / "helm-values").iterdir() if p.is_dir())
    assert {f["check_id"] for f in doc["findings"]} == {"kube/chart-pull-failed"}
    assert all(f["severity"] == "error" for f in doc["findings"])
    named = sorted(f["message"].split()[1] for f in doc["findings"])
    assert named == releases
    assert all(" was NOT checked: " in f["message"] for f in doc["findings"])
    (kube,) = doc["coverage"]
    assert kube["status"] == "skipped"
    assert sorted(s["item"] for s in kube["skipped"]) == releases


# --- README "## `/infra` commands": the review ------------------------------------


def test_a_clean_review_names_the_checks_that_ran_and_those_skipped(
    served_github: FakeGitHub,  # noqa: F811
    tmp_path: Path,
) -> None:
    """README "## `/infra` commands" (`/infra validate`, the review): the all-clear names
    only the checks that ran, then the "Checks run" and "Skipped" blocks."""
    gh = served_github
    gh.add_user("alice", permission="write")
    gh.commit_files({"stacks/logs.yaml": BASE_TEMPLATE})
    pr = gh.add_pull_request({"stacks/logs.yaml": GOOD_BUCKET})
    workspace = make_workspace(tmp_path / "ws", GOOD_BUCKET)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(gh.pull_request_event(pr["number"])))
    env = gh.environ("pull_request", str(event), GITHUB_STEP_SUMMARY=str(tmp_path / "s.md"),
                     GITHUB_WORKSPACE=str(workspace), **offline(tmp_path))  # fmt: skip
    proc = bot_cli("handle", "--workspace", str(workspace), env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (review,) = gh.reviews_on(pr["number"])
    body = review["body"]
    assert f"### infra-bot validate · `{pr['head']['sha'][:7]}`" in body
    assert "**0 errors, 0 warnings, 0 infos**" in body
    assert (
        ":white_check_mark: cfn-guard, cfn-lint, cross-stack, load found nothing on this commit."
        in body
    )
    assert "**Checks run:**" in body and "**Skipped:**" in body
    for line in ("- cfn-guard: 1 template against", "- cfn-lint: 1 template, 3 deployment files",
                 "- cross-stack: 1 stack x 3 environments", "- load: 1 template",
                 "- kube — no releases"):  # fmt: skip
        assert line in body, body


# --- README "### `infra-bot status`, `unlock`, `destroy`" ---------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["destroy", "prd"], "error: destroy is refused for PRD: delete its stacks by hand"),
        (["destroy", "prd", "--confirm", "DELETE PRD"], "error: destroy is refused for PRD"),
        (["destroy", "dev"], 'error: destroy needs --confirm "DELETE DEV" (typed exactly)'),
        (["destroy", "dev", "--confirm", "delete dev"], 'needs --confirm "DELETE DEV"'),
    ],
)
def test_destroy_refuses_prd_and_an_unconfirmed_run_before_touching_aws(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """README "### `infra-bot status`, `unlock`, `destroy`" and "## Security model":
    `destroy` always refuses PRD, and needs `--confirm "DELETE ENV"` typed exactly. The
    endpoint is a closed port: the refusal comes before any AWS call."""
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
    proc = bot_cli(*args, "--endpoint-url", closed_port_url(), env=env)
    assert proc.returncode == 2
    assert message in " ".join(proc.stderr.split())
    assert "Could not connect" not in proc.stderr

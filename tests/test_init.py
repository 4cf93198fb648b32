"""`infra-bot init` through the console script, and the pieces it is made of."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.commands.init import owner_repo_from_remote
from bot.init.discover import is_cloudformation, stack_name
from bot.repo.rulepack import merge, rule_blocks, without_rules
from tests.test_workflows import tool, trust_problems

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "adopt"
CORPUS = ROOT / ".infra-bot" / "corpus"
BOT = [sys.executable, "-m", "bot.cli"]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([*BOT, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300, check=False)  # fmt: skip
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return proc


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "infra"
    shutil.copytree(FIXTURES, root)
    (root / "db").mkdir()
    shutil.copy2(CORPUS / "public__rds-cluster.yaml", root / "db" / "rds-cluster.yaml")
    (root / "node_modules" / "pkg").mkdir(parents=True)
    shutil.copy2(FIXTURES / "network" / "vpc.yaml", root / "node_modules" / "pkg" / "vpc.yaml")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "remote", "add", "origin",
                    "git@github.com:acme/platform-infra.git"], check=True)  # fmt: skip
    return root


def test_init_writes_environments_deployments_settings_workflows(repo: Path) -> None:
    proc = cli("init", "--yes", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    for env in ("dev", "tst", "prd"):
        assert (repo / "environments" / f"{env}.yaml").is_file()
        names = {p.stem for p in (repo / "environments" / env).glob("*.yaml")}
        assert names == {"vpc", "cluster", "rds-cluster"}, names  # no k8s, no node_modules
    dev = yaml.safe_load((repo / "environments" / "dev.yaml").read_text())
    assert dev["next"] == "tst" and "REPLACE-ME" in (repo / "environments" / "dev.yaml").read_text()
    vpc = yaml.safe_load((repo / "environments" / "tst" / "vpc.yaml").read_text())
    assert vpc == {"template-file-path": "network/vpc.yaml",
                   "parameters": {"EnvironmentName": "tst", "VpcCidr": "10.20.0.0/16"},
                   "tags": {"Environment": "tst"}}  # fmt: skip
    rds = (repo / "environments" / "dev" / "rds-cluster.yaml").read_text()
    assert '# DatabaseName: ""   # REQUIRED (String)' in rds
    assert (repo / ".github" / "infra-bot.yml").is_file()
    # The checklist: this repository's names in the trust policies, what to create.
    out = proc.stdout
    assert "repos/acme/platform-infra/actions/oidc/customization/sub" in out
    assert ("repo:acme/platform-infra:environment:prd:job_workflow_ref:acme/platform-infra/"
            ".github/workflows/infra-bot-deploy.yml@refs/heads/main") in out  # fmt: skip
    assert "rds-cluster: DatabaseMasterPassword (String)" in out
    assert "infra-bot (no reviewers" in out and "infra-bot/validate" in out


def test_init_is_safe_to_run_twice_and_force_rewrites(repo: Path) -> None:
    assert cli("init", "--yes", cwd=repo).returncode == 0
    settings = repo / ".github" / "infra-bot.yml"
    settings.write_text("# mine\n")
    again = cli("init", "--yes", cwd=repo)
    assert again.returncode == 0 and "Files written: 0" in again.stdout
    assert settings.read_text() == "# mine\n"
    forced = cli("init", "--yes", "--force", cwd=repo)
    assert forced.returncode == 0 and settings.read_text() != "# mine\n"


def test_init_without_a_terminal_asks_for_yes(repo: Path) -> None:
    proc = cli("init", cwd=repo)
    assert proc.returncode == 2 and "--yes" in proc.stderr
    assert not (repo / "environments").exists()


def test_init_bad_input_is_a_clear_error(repo: Path) -> None:
    assert "is not OWNER/REPO" in cli("init", "--yes", "--repo", "nope", cwd=repo).stderr
    assert "--envs" in cli("init", "--yes", "--envs", "DEV!", cwd=repo).stderr


def test_validate_finds_templates_outside_stacks_with_the_pack(repo: Path) -> None:
    assert cli("init", "--yes", "--repo", "acme/x", cwd=repo).returncode == 0
    proc = cli("validate", "--format", "json", "--check", "cfn-guard", cwd=repo)
    import json

    findings = json.loads(proc.stdout)["findings"]
    assert {f["path"] for f in findings} >= {"platform/eks/cluster.yaml", "network/vpc.yaml"}
    assert "SC-7" in {f["nist_control"] for f in findings}


def test_generated_workflows_keep_the_pr_as_data_and_lint_clean(repo: Path) -> None:
    assert cli("init", "--yes", cwd=repo).returncode == 0
    flows = sorted((repo / ".github" / "workflows").glob("*.yml"))
    assert len(flows) == 4
    for path in flows:
        data = yaml.load(path.read_text(), Loader=yaml.BaseLoader)
        assert trust_problems(data) == [], path.name
        assert len(path.read_text().splitlines()) < 220, path.name
    lint = subprocess.run([tool("actionlint"), *map(str, flows)], capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.parametrize("url,expected", [
    ("git@github.com:acme/platform-infra.git", "acme/platform-infra"),
    ("https://github.com/acme/platform-infra.git", "acme/platform-infra"),
    ("https://github.com/acme/platform-infra", "acme/platform-infra"),
    ("ssh://git@github.com/acme/x.y.git", "acme/x.y"),
    ("https://gitlab.com/acme/x.git", None),
    ("", None),
])  # fmt: skip
def test_owner_repo_from_remote(url: str, expected: str | None) -> None:
    assert owner_repo_from_remote(url) == expected


@pytest.mark.parametrize("body,expected", [
    ({"AWSTemplateFormatVersion": "2010-09-09"}, True),
    ({"Resources": {"B": {"Type": "AWS::S3::Bucket"}}}, True),
    ({"Resources": {"B": {"Type": "Custom::Thing"}}}, True),
    ({"apiVersion": "v1", "kind": "ConfigMap", "Resources": {}}, False),
    ({"Resources": {"x": {"Type": "kubernetes"}}}, False),
    ([1, 2], False),
])  # fmt: skip
def test_is_cloudformation(body: object, expected: bool) -> None:
    assert is_cloudformation(body) is expected


def test_stack_names_are_unique() -> None:
    taken: set[str] = set()
    names = []
    for path in ("a/vpc.yaml", "b/vpc.yaml", "b/vpc.json", "My_Stack.yaml"):
        names.append(stack_name(path, taken))
        taken.add(names[-1])
    assert names == ["vpc", "b-vpc", "vpc-2", "my-stack"]


PACK = """\
let buckets = Resources.*[ Type == 'AWS::S3::Bucket' ]
rule KEEP when %buckets !empty {
    %buckets.Properties.X exists  # a } in a comment
    <<
    [NIST SC-28] "quoted } brace". Fix: x
    >>
}

rule REPLACED when %buckets !empty {
    %buckets.Properties.Y exists
}
"""


def test_repository_rules_override_pack_rules_by_name() -> None:
    assert set(rule_blocks(PACK)) == {"KEEP", "REPLACED"}
    assert "REPLACED" not in rule_blocks(without_rules(PACK, {"REPLACED"}))
    own = "rule REPLACED { Resources exists }\nrule EXTRA { Resources exists }\n"
    merged = merge({"sc.guard": PACK}, {"mine.guard": own})
    assert set(merged) == {"pack-sc.guard", "repo-mine.guard"}
    assert set(rule_blocks(merged["pack-sc.guard"])) == {"KEEP"}
    # The repository holding the pack itself (this project): no duplicate run.
    assert merge({"sc.guard": PACK}, {"sc.guard": PACK}) == {"repo-sc.guard": PACK}

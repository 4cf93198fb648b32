"""Rules as configuration (`rules:` in .github/infra-bot.yml): through the command
line, read from the trusted checkout, and the matching table."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.findings import Finding, Severity
from bot.rule_config import Override, RuleConfigError, apply, parse
from bot.toolchain import Toolchain

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "real" / "unquoted-dates"
RULES = """
rules:
  - rule: guard/CM8_MANDATORY_TAGS
    action: disable
    stacks: [role]
    justification: "tagged by the account's tag policy (PLAT-7)"
  - rule: guard/SC28_S3_ENCRYPTED
    action: warning
    paths: ["stacks/*.yaml"]
    justification: "SSE-S3 default encryption is enough for this bucket"
"""


@pytest.fixture(autouse=True)
def _guard_installed(tools: Toolchain) -> None:
    tools.require("cfn-guard")


def make(tmp_path: Path, name: str, settings: str | None) -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURE, root)
    shutil.copytree(ROOT / "guard" / "rules", root / "guard" / "rules")
    if settings is not None:
        (root / ".github").mkdir()
        (root / ".github" / "infra-bot.yml").write_text(settings)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "validate", "--root", str(root), "--no-cache", *args],
        cwd=root, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def report(root: Path, *args: str) -> dict[str, Any]:
    proc = cli(root, "--format", "json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def test_disable_and_downgrade_with_justification_shown(tmp_path: Path) -> None:
    root = make(tmp_path, "repo", RULES)
    data = report(root)
    ids = {(f["check_id"], f["severity"]) for f in data["findings"]}
    assert not any(rule == "guard/CM8_MANDATORY_TAGS" for rule, _ in ids)
    assert ("guard/SC28_S3_ENCRYPTED", "warning") in ids
    assert ("guard/CM3_IAC_VERSION_TAG", "error") in ids  # not configured: unchanged
    assert data["rules"] == [
        "guard/CM8_MANDATORY_TAGS disabled for stacks role: tagged by the account's tag "
        "policy (PLAT-7) (2 in this run)",
        "guard/SC28_S3_ENCRYPTED downgraded to warning for paths stacks/*.yaml: SSE-S3 "
        "default encryption is enough for this bucket (1 in this run)",
    ]
    text = " ".join(cli(root).stdout.split())
    assert "rule configured in .github/infra-bot.yml: guard/CM8_MANDATORY_TAGS disabled" in text


def test_the_prs_own_settings_do_not_count(tmp_path: Path) -> None:
    trusted = make(tmp_path, "trusted", "apply_before_merge: [dev]\n")
    head = make(tmp_path, "head", RULES)
    data = report(head, "--policy-root", str(trusted))
    assert "guard/CM8_MANDATORY_TAGS" in {f["check_id"] for f in data["findings"]}
    assert "rules" not in data


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("{rule: guard/X, action: disable}", "justification: Field required"),
        ("{rule: guard/X, action: disable, justification: '  '}", "a justification is required"),
        ("{rule: kube/X, action: disable, justification: y}", "only guard/<RULE> and cfn-lint"),
        ("{rule: guard/X, action: error, justification: y}", "action"),
    ],
)
def test_a_wrong_entry_is_a_usage_error(tmp_path: Path, entry: str, problem: str) -> None:
    root = make(tmp_path, "repo", f"rules:\n  - {entry}\n")
    proc = cli(root)
    assert proc.returncode == 2
    assert problem in " ".join(proc.stderr.split())


def f(path: str, rule: str = "cfn-lint/W3010") -> Finding:
    return Finding(path, 3, 1, rule, Severity.WARNING, "m")


@pytest.mark.parametrize(
    ("scope", "path", "matched"),
    [
        ({}, "stacks/a.yaml", True),
        ({"stacks": ["a"]}, "stacks/a.yaml", True),
        ({"stacks": ["a"]}, "environments/dev/a.yaml", True),
        ({"stacks": ["b"]}, "stacks/a.yaml", False),
        # A template is deployed to every environment: an environment scope is
        # that environment's deployment files only.
        ({"environments": ["dev"]}, "stacks/a.yaml", False),
        ({"environments": ["dev"]}, "environments/dev/a.yaml", True),
        ({"environments": ["dev"]}, "environments/prd/a.yaml", False),
        ({"paths": ["stacks/legacy-*"]}, "stacks/legacy-vpc.yaml", True),
        ({"paths": ["stacks/legacy-*"]}, "stacks/vpc.yaml", False),
    ],
)
def test_scopes(scope: dict[str, list[str]], path: str, matched: bool) -> None:
    override = Override.model_validate(
        {"rule": "cfn-lint/W3010", "action": "info", "justification": "why", **scope}
    )
    out, applied = apply([f(path), f(path, "cfn-lint/W1000")], (override,))
    assert applied[0].findings == (1 if matched else 0)
    severities = {x.check_id: x.severity for x in out}
    assert severities["cfn-lint/W3010"] is (Severity.INFO if matched else Severity.WARNING)
    assert severities["cfn-lint/W1000"] is Severity.WARNING


def test_rules_must_be_a_list() -> None:
    assert parse({"llm": "offline"}, "s.yml") == ()
    with pytest.raises(RuleConfigError, match="rules must be a list"):
        parse({"rules": {"rule": "guard/X"}}, "s.yml")


def test_overrides_apply_to_a_cached_run_too(tmp_path: Path) -> None:
    root = make(tmp_path, "repo", RULES)
    runs = []
    for _ in range(2):  # the second run is answered from the findings cache
        proc = subprocess.run(
            [sys.executable, "-m", "bot.cli", "validate", "--root", str(root), "--format",
             "json", "--cache-dir", str(tmp_path / "cache")],
            cwd=root, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert "Traceback" not in proc.stderr, proc.stderr
        runs.append(json.loads(proc.stdout))
    assert runs[0] == runs[1]
    assert len(runs[1]["rules"]) == 2

"""Gradual adoption: `infra-bot baseline` and `validate --baseline` through the
command line, the PR review's use of the trusted baseline, and the key semantics."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.baseline import DEFAULT_PATH, Baseline, BaselineError, loads
from bot.findings import Finding, Severity
from bot.github.api import ChangedFile
from bot.github.validate_pr import apply_baseline
from bot.repo.policy import Policy, rules_files
from bot.toolchain import Toolchain

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "real" / "unquoted-dates"
NEW_BUCKET = """
  LogsBucket:
    Type: AWS::S3::Bucket
"""


@pytest.fixture(autouse=True)
def _guard_installed(tools: Toolchain) -> None:
    tools.require("cfn-guard")


def make(tmp_path: Path, name: str = "repo") -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURE, root)
    shutil.copytree(ROOT / "guard" / "rules", root / "guard" / "rules")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=root, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def validate(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = cli(root, "validate", "--root", str(root), "--no-cache", "--format", "json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, data


def test_baseline_then_validate_reports_nothing_old(tmp_path: Path) -> None:
    root = make(tmp_path)
    code, before = validate(root)
    assert code == 1 and before["findings"]
    wrote = cli(root, "baseline", "--root", str(root))
    assert wrote.returncode == 0, wrote.stderr
    saved = json.loads((root / DEFAULT_PATH).read_text())
    assert len(saved["findings"]) == len(before["findings"])
    code, after = validate(root, "--baseline", DEFAULT_PATH)
    assert code == 0
    assert after["findings"] == []
    n = len(before["findings"])
    assert (
        after["baseline"] == f"{n} pre-existing findings suppressed by the baseline {DEFAULT_PATH}"
    )


def test_moved_lines_are_not_new_and_a_new_resource_is(tmp_path: Path) -> None:
    root = make(tmp_path)
    assert cli(root, "baseline", "--root", str(root), "-o", "base.json").returncode == 0
    template = root / "stacks" / "role.yaml"
    text = template.read_text()
    # Lines above every finding shift them all; a new bucket is a new finding.
    text = text.replace(
        "Resources:\n", "# owned by the platform team\n\nResources:\n" + NEW_BUCKET, 1
    )
    template.write_text(text)
    code, report = validate(root, "--baseline", str(root / "base.json"))
    assert code == 1
    assert {f["resource"] for f in report["findings"]} == {"LogsBucket"}
    assert "pre-existing findings suppressed" in report["baseline"]
    text_out = cli(root, "validate", "--root", str(root), "--no-cache", "--baseline", "base.json")
    assert "pre-existing findings suppressed by the baseline base.json" in " ".join(
        text_out.stdout.split()
    )


def test_relative_baseline_is_read_from_the_trusted_checkout(tmp_path: Path) -> None:
    """The PR's copy of the baseline (which swallows its new bucket) is not used."""
    trusted = make(tmp_path, "trusted")
    assert cli(trusted, "baseline", "--root", str(trusted)).returncode == 0
    head = make(tmp_path, "head")
    template = head / "stacks" / "role.yaml"
    template.write_text(template.read_text().replace("Resources:\n", "Resources:\n" + NEW_BUCKET))
    assert cli(head, "baseline", "--root", str(head)).returncode == 0  # the PR's own
    code, report = validate(head, "--policy-root", str(trusted), "--baseline", DEFAULT_PATH)
    assert code == 1
    assert {f["resource"] for f in report["findings"]} == {"LogsBucket"}


def test_an_unreadable_baseline_is_a_usage_error(tmp_path: Path) -> None:
    root = make(tmp_path)
    (root / "bad.json").write_text("{not json")
    proc = cli(root, "validate", "--root", str(root), "--no-cache", "--baseline", "bad.json")
    assert proc.returncode == 2
    assert "bad.json: not JSON" in proc.stderr
    assert cli(root, "validate", "--root", str(root), "--baseline", "nope.json").returncode == 2


def finding(rule: str, resource: str, line: int, path: str = "stacks/a.yaml") -> Finding:
    return Finding(path, line, 1, rule, Severity.ERROR, "m", resource=resource)


@pytest.mark.parametrize(
    ("baseline", "now", "new"),
    [
        ([("r", "A", 3)], [("r", "A", 9)], []),  # moved: not new
        ([("r", "A", 3)], [("r", "B", 3)], [("r", "B", 3)]),  # other resource at that line
        ([("r", "A", 3)], [("r", "A", 3), ("r", "A", 5)], [("r", "A", 5)]),  # one more
        ([], [("r", "A", 3)], [("r", "A", 3)]),
        ([("r", "A", 3)], [], []),  # fixed since: nothing to report
    ],
)
def test_keys_are_rule_resource_file_and_they_count(
    baseline: list[tuple[str, str, int]], now: list[tuple[str, str, int]],
    new: list[tuple[str, str, int]],
) -> None:  # fmt: skip
    base = Baseline.of([finding(*b) for b in baseline])
    got, old = base.split([finding(*n) for n in now])
    assert [(f.check_id, f.resource, f.line) for f in got] == new
    assert len(old) == len(now) - len(new)


@pytest.mark.parametrize(
    "text", ["[]", '{"version": 2, "findings": []}', '{"version": 1, "findings": [{"path": 1}]}']
)
def test_a_file_that_is_no_baseline_is_refused(text: str) -> None:
    with pytest.raises(BaselineError):
        loads(text, "f.json")


def test_baseline_is_a_rules_file() -> None:
    (found,) = rules_files([".github/infra-bot-baseline.json", "stacks/a.yaml"])
    assert found.path == DEFAULT_PATH
    assert Policy(Path("/trusted")).baseline == Path("/trusted") / DEFAULT_PATH


def test_pr_review_shows_new_findings_and_old_ones_on_changed_lines(tmp_path: Path) -> None:
    old_on_diff = finding("guard/X", "A", 2)
    old_elsewhere = finding("guard/X", "B", 40)
    new = finding("guard/X", "C", 50)
    policy = Policy(tmp_path)
    (tmp_path / ".github").mkdir()
    (tmp_path / DEFAULT_PATH).write_text(
        json.dumps({"version": 1, "findings": [
            {"check_id": "guard/X", "resource": r, "path": "stacks/a.yaml"} for r in "AB"
        ]})
    )  # fmt: skip
    files = [ChangedFile("stacks/a.yaml", "modified", "@@ -1,2 +1,3 @@\n a\n+b\n c\n")]
    shown, note = apply_baseline([old_on_diff, old_elsewhere, new], files, policy)
    assert shown == [old_on_diff, new]
    assert note == f"1 pre-existing finding suppressed by the baseline `{DEFAULT_PATH}`"


def test_pr_review_reports_a_broken_baseline(tmp_path: Path) -> None:
    (tmp_path / ".github").mkdir()
    (tmp_path / DEFAULT_PATH).write_text("nope")
    shown, note = apply_baseline([], [], Policy(tmp_path))
    assert [f.check_id for f in shown] == ["baseline/invalid"]
    assert note == ""


def test_pr_review_counts_baselined_findings_and_lists_configured_rules(
    tmp_path: Path,
) -> None:
    """The real flow: a PR adds a bucket to a template whose old findings are in the
    trusted baseline, and the trusted settings downgrade one rule."""
    from bot.github.validate_pr import validate_pull_request
    from bot.settings import Settings
    from tests.fakegithub import FakeGitHub

    trusted = make(tmp_path, "trusted")
    assert cli(trusted, "baseline", "--root", str(trusted)).returncode == 0
    (trusted / ".github" / "infra-bot.yml").write_text(
        "rules:\n  - rule: guard/SC28_S3_ENCRYPTED\n    action: warning\n"
        "    justification: default SSE-S3 is enough here\n"
    )
    head = make(tmp_path, "head")
    # Not a git checkout: the check that it is at the PR head (which the fake's
    # commits are not) does not apply.
    shutil.rmtree(head / ".git")
    template = head / "stacks" / "role.yaml"
    before = template.read_text()
    template.write_text(before + NEW_BUCKET)
    with FakeGitHub() as gh:
        gh.commit_files({"stacks/role.yaml": before}, branch=gh.repo.default_branch)
        pr = gh.add_pull_request({"stacks/role.yaml": template.read_text()})
        api = gh.client()
        settings = Settings.from_env(gh.environ("pull_request", str(tmp_path / "event.json")))
        outcome = validate_pull_request(
            api, settings, api.pull_request(pr["number"]), workspace=head, policy=Policy(trusted)
        )
        (review,) = gh.reviews_on(pr["number"])
    assert {f.resource for f in outcome.findings} == {"LogsBucket"}, outcome.findings
    body = " ".join(review["body"].split())
    assert f"pre-existing findings suppressed by the baseline `{DEFAULT_PATH}`" in body
    assert "Rules configured in `.github/infra-bot.yml`:" in body
    assert "default SSE-S3 is enough here" in body

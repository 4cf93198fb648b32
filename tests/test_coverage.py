"""No silent pass: every output says which checks ran on what, and what was skipped.

Fresh-process runs of `infra-bot validate` for the cases that used to print
"0 errors" and exit 0 (no policy, nothing to validate, a deployment file whose
template is gone), then the pure renderers table by table.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.checks.base import Check, CheckContext, Count, Coverage, Skip, Status, skipped_by
from bot.checks.engine import all_targets, run_checks
from bot.findings import Finding, Severity
from bot.github.review import plan_review, review_body
from bot.llm.checking import engine_checker
from bot.llm.loop import generate
from bot.llm.offline import OfflineProposer
from bot.llm.render import pr_body
from bot.render.findings import (
    clean_md,
    coverage_line,
    coverage_summary,
    to_github,
    to_markdown,
    to_sarif,
)
from bot.repo.model import Repository
from bot.toolchain import Toolchain
from tests.conftest import ROOT, git_commit
from tests.test_check_discovery import ALL_CHECKS, bot_cli
from tests.test_llm_offline import copy_platform

QUEUE = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n"
DEV = "account_id: '111111111111'\nregion: us-east-1\n"


def validate_json(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = bot_cli("validate", "--root", str(root), "--format", "json", *args)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def coverage_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["check"]: c for c in doc["coverage"]}


# --- what used to pass silently ----------------------------------------------------


def test_templates_without_guard_rules_are_checked_with_the_packaged_pack(
    make_repo: Callable[..., Path],
) -> None:
    """A repository without guard/ once passed silently (then: a no-rules error); now
    the default policy pack shipped in the package checks it (bot/repo/rulepack.py)."""
    root = make_repo({"stacks/logs.yaml": "Resources:\n  B:\n    Type: AWS::S3::Bucket\n"})
    code, doc = validate_json(root)
    assert code == 1
    assert not [f for f in doc["findings"] if f["check_id"] == "cfn-guard/no-rules"]
    guard = [f for f in doc["findings"] if f["check_id"].startswith("guard/")]
    assert guard and all(f["nist_control"] for f in guard), guard
    coverage = coverage_of(doc)["cfn-guard"]
    assert coverage["status"] == "ran", coverage


def test_an_empty_repository_is_an_error_not_zero_errors(make_repo: Callable[..., Path]) -> None:
    root = make_repo({"README.md": "nothing here\n"})
    code, doc = validate_json(root)
    assert code == 1
    assert [f["check_id"] for f in doc["findings"]] == ["validate/nothing-to-check"]
    assert "the repository holds no templates" in doc["findings"][0]["message"]
    assert {c["check"]: c["status"] for c in doc["coverage"]} == dict.fromkeys(
        ALL_CHECKS, "skipped"
    )
    text = " ".join(bot_cli("validate", "--root", str(root)).stdout.split())
    assert "1 error," in text and "skipped kube — no releases" in text


def test_a_path_with_nothing_to_check_is_an_error(make_repo: Callable[..., Path]) -> None:
    root = make_repo({"stacks/q.yaml": QUEUE, "docs/notes.md": "hi\n"})
    code, doc = validate_json(root, "docs")
    assert code == 1
    assert "nothing to validate: docs holds no" in doc["findings"][0]["message"]


def test_a_diff_that_touches_nothing_checkable_is_a_note(make_repo: Callable[..., Path]) -> None:
    root = make_repo({"stacks/q.yaml": QUEUE, "environments/dev.yaml": DEV})
    (root / "docs").mkdir()
    (root / "docs" / "notes.md").write_text("changed\n")
    git_commit(root, "docs only")
    code, doc = validate_json(root, "--changed-since", "HEAD~1")
    assert code == 0
    (note,) = doc["findings"]
    assert (note["check_id"], note["severity"]) == ("validate/nothing-to-check", "info")
    assert "the diff since HEAD~1" in note["message"]
    assert all(c["status"] == "skipped" for c in doc["coverage"])


def test_a_deployment_file_whose_template_is_missing_is_an_error(
    make_repo: Callable[..., Path],
) -> None:
    root = make_repo({
        "stacks/q.yaml": QUEUE,
        "environments/dev.yaml": DEV,
        "environments/dev/q.yaml": "template-file-path: stacks/q.yaml\n",
        "environments/dev/gone.yaml": "template-file-path: stacks/gone.yaml\n",
    })  # fmt: skip
    code, doc = validate_json(root, "--check", "cfn-lint")
    assert code == 1
    (missing,) = doc["findings"]
    assert (missing["path"], missing["check_id"]) == (
        "environments/dev/gone.yaml", "cfn-lint/template-missing"
    )  # fmt: skip
    assert "'stacks/gone.yaml' does not exist" in missing["message"]
    lint = coverage_of(doc)["cfn-lint"]
    assert lint["counts"] == {"templates": 1, "deployment files": 2}
    assert lint["skipped"] == [
        {"item": "environments/dev/gone.yaml", "reason": "cfn-lint/template-missing"}
    ]


def test_refused_template_is_counted_as_skipped_by_cfn_lint(
    make_repo: Callable[..., Path],
) -> None:
    root = make_repo({"stacks/q.yaml": QUEUE})
    (root / "stacks" / "blob.yaml").write_bytes(b"\x00\x01binary")
    code, doc = validate_json(root, "--check", "cfn-lint", "--check", "load")
    assert code == 1
    cov = coverage_of(doc)
    assert cov["cfn-lint"]["skipped"] == [{"item": "stacks/blob.yaml", "reason": "load/refused"}]
    assert cov["load"]["counts"] == {"templates": 2}


# --- what each check reports it covered --------------------------------------------


def test_the_reference_platform_coverage_counts_what_is_there(tmp_path: Path) -> None:
    root = copy_platform(tmp_path / "platform")
    repo = Repository(root)
    report = run_checks(repo, all_targets(repo, ()), Toolchain(), only=["cfn-guard", "cross-stack"])
    by_id = {c.check: c for c in report.coverage}
    stacks = len(list((root / "stacks").glob("*.yaml")))
    rules = sum(
        1
        for f in (root / "guard" / "rules").glob("*.guard")
        for line in f.read_text().splitlines()
        if line.startswith("rule ")
    )
    assert by_id["cfn-guard"].counts == (Count("templates", stacks), Count("rules", rules))
    assert by_id["cross-stack"].counts == (Count("stacks", stacks), Count("environments", 3))


def _note(message: str, resource: str | None, severity: Severity = Severity.INFO) -> Finding:
    return Finding("helm-values/web/release.yaml", 0, 0, "kube/chart-x", severity, message,
                   resource=resource)  # fmt: skip


RELEASE = """\
chart: web-app
repository: https://charts.example.com
version: 0.3.1
namespace: web
cluster_stack: eks-cluster
"""


def kube_context(make_repo: Callable[..., Path], *, envs: bool = True) -> CheckContext:
    files = {"helm-values/web/release.yaml": RELEASE, "helm-values/api/release.yaml": RELEASE}
    if envs:
        files |= {"environments/dev.yaml": DEV, "environments/prd.yaml": DEV}
    repo = Repository(make_repo(files))
    return CheckContext(repo, all_targets(repo, ()), Toolchain())


@pytest.mark.parametrize(
    ("findings", "status", "line"),
    [
        ([], Status.RAN, "kube: 2 releases x 2 environments"),
        ([_note("skipped: chart web-app 0.3.1 is not available locally", "web")], Status.RAN,
         "kube: 2 releases x 2 environments (1 skipped, see kube/chart-x: web)"),
        ([_note("skipped: chart web-app 0.3.1 is not available locally", "web"),
          _note("release api was NOT checked: pull failed", "api", Severity.ERROR)],
         Status.SKIPPED,
         "kube: 2 releases x 2 environments (2 skipped, see kube/chart-x: api, web)"),
        ([_note("the chart cache is unwritable. Not checked: api, web.", None, Severity.ERROR)],
         Status.SKIPPED, "kube — not checked, see kube/chart-x"),
    ],
)  # fmt: skip
def test_kube_coverage_counts_releases_per_environment_minus_those_not_checked(
    make_repo: Callable[..., Path], findings: list[Finding], status: Status, line: str
) -> None:
    from bot.checks.kube import KubeCheck

    cov = KubeCheck().coverage(kube_context(make_repo), findings)
    assert (cov.status, coverage_line(cov)) == (status, line)


def test_kube_without_an_environment_rendered_nothing(make_repo: Callable[..., Path]) -> None:
    from bot.checks.kube import KubeCheck

    cov = KubeCheck().coverage(kube_context(make_repo, envs=False), [])
    assert coverage_line(cov) == "kube — no environments"


# --- the renderers -----------------------------------------------------------------

GUARD = Coverage("cfn-guard", Status.RAN, (Count("templates", 14), Count("rules", 31)))
KUBE_NONE = Coverage("kube", Status.SKIPPED, reason="no releases")
KUBE_SOME = Coverage(
    "kube", Status.RAN, (Count("releases", 9), Count("environments", 3)),
    skipped=(Skip("velero", "kube/chart-unavailable"), Skip("signoz", "kube/chart-unavailable")),
)  # fmt: skip
CRASHED = Coverage("cfn-lint", Status.CRASHED, reason="RuntimeError: kaput")


@pytest.mark.parametrize(
    ("coverage", "line"),
    [
        (GUARD, "cfn-guard: 14 templates against 31 rules"),
        (KUBE_NONE, "kube — no releases"),
        (KUBE_SOME, "kube: 9 releases x 3 environments "
                    "(2 skipped, see kube/chart-unavailable: velero, signoz)"),
        (CRASHED, "cfn-lint — could not run (RuntimeError: kaput)"),
        (Coverage("load", Status.RAN, (Count("templates", 1),)), "load: 1 template"),
        (Coverage("kube", Status.RAN, (Count("releases", 9),),
                  skipped=tuple(Skip(f"r{i}", "x") for i in range(7))),
         "kube: 9 releases (7 skipped, see x: r0, r1, r2, r3, r4 …)"),
    ],
)  # fmt: skip
def test_coverage_line(coverage: Coverage, line: str) -> None:
    assert coverage_line(coverage) == line


def test_summary_separates_what_ran_from_what_did_not() -> None:
    assert coverage_summary([GUARD, KUBE_NONE, CRASHED]) == (
        "checked: cfn-guard: 14 templates against 31 rules · skipped: kube — no releases; "
        "cfn-lint — could not run (RuntimeError: kaput)"
    )
    assert coverage_summary([KUBE_NONE]) == "no check ran · skipped: kube — no releases"


@pytest.mark.parametrize(
    ("coverage", "expected", "absent"),
    [
        ([GUARD, KUBE_NONE], [":white_check_mark: cfn-guard found nothing on this commit",
                              "- cfn-guard: 14 templates against 31 rules", "**Skipped:**",
                              "- kube — no releases"], []),
        ([KUBE_NONE], [":warning: No check ran on this commit"], [":white_check_mark:"]),
        ([], [":warning: No check ran on this commit"], [":white_check_mark:"]),
    ],
)  # fmt: skip
def test_a_clean_claim_names_only_the_checks_that_ran(
    coverage: list[Coverage], expected: list[str], absent: list[str]
) -> None:
    text = clean_md(coverage, "this commit")
    assert all(e in text for e in expected), text
    assert not any(a in text for a in absent), text


def test_review_and_pr_body_without_coverage_claim_no_pass() -> None:
    at = datetime(2026, 1, 5, tzinfo=UTC)
    body = review_body(plan_review([], []), [], "abc1234", at)
    assert "No check ran on this commit" in body and "found nothing" not in body
    assert "kube — no releases" in review_body(plan_review([], []), [], "abc1234", at,
                                               coverage=[GUARD, KUBE_NONE])  # fmt: skip


def test_a_check_whose_coverage_crashes_keeps_its_findings(
    make_repo: Callable[..., Path],
) -> None:
    class Flaky(Check):
        id = "flaky"
        description = "finds one thing, then cannot say what it covered"

        def run(self, ctx: CheckContext) -> list[Finding]:
            return [Finding("stacks/q.yaml", 1, 1, "flaky/one", Severity.WARNING, "found")]

        def coverage(self, ctx: CheckContext, findings: list[Finding]) -> Coverage:
            raise OSError("rules unreadable")

    repo = Repository(make_repo({"stacks/q.yaml": QUEUE}))
    report = run_checks(repo, all_targets(repo, ()), Toolchain(), checks={"flaky": Flaky})
    assert [f.check_id for f in report.findings] == ["flaky/crashed", "flaky/one"]
    (cov,) = report.coverage
    assert (cov.status, cov.reason) == (Status.CRASHED, "OSError: rules unreadable")


def test_skipped_names_from_a_pull_request_are_quoted_in_markdown() -> None:
    cov = Coverage(
        "cfn-lint",
        Status.RAN,
        (Count("deployment files", 1),),
        skipped=(Skip("environments/dev/@team-<b>.yaml", "cfn-lint/template-missing"),),
    )
    md = to_markdown([], coverage=[cov])
    assert "@\u200bteam-&lt;b&gt;.yaml" in md and "<b>" not in md


def test_every_format_carries_the_coverage() -> None:
    cov = [GUARD, KUBE_NONE]
    md = to_markdown([], coverage=cov)
    assert "- cfn-guard: 14 templates against 31 rules" in md and "- kube — no releases" in md
    annotations = to_github([], cov).splitlines()
    assert annotations == [
        "::notice title=infra-bot checked::cfn-guard: 14 templates against 31 rules",
        "::notice title=infra-bot skipped::kube — no releases",
    ]
    runs = {r["tool"]["driver"]["name"]: r for r in to_sarif([], [], cov)["runs"]}
    assert runs["cfn-guard"]["properties"]["coverage"][0]["counts"] == {"templates": 14,
                                                                        "rules": 31}  # fmt: skip
    (note,) = runs["infra-bot"]["invocations"][0]["toolExecutionNotifications"]
    assert note["message"]["text"] == "kube — no releases"


def test_generated_pull_request_body_lists_the_checks_that_ran(tmp_path: Path) -> None:
    root = copy_platform(tmp_path / "platform")
    shutil.rmtree(root / "helm-values")  # keeps the run short; kube then says it skipped
    request = "add an SQS queue for order events"
    proposal, ws = generate(request, root, OfflineProposer.for_repo(root), engine_checker(root))
    ws.remove()
    assert not proposal.findings, proposal.findings
    assert {c.check for c in proposal.coverage} == ALL_CHECKS
    body = pr_body(proposal, 7)
    assert "found nothing on the changed files" in body
    assert "- kube — no releases" in body
    assert any(line.startswith("- cfn-guard: 1 template against ") for line in body.splitlines())


def test_github_annotations_carry_the_coverage_of_the_reference_repo() -> None:
    proc = bot_cli("validate", "--root", str(ROOT), "--check", "cross-stack", "--format", "github")
    assert proc.returncode == 0, proc.stderr
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("::notice title=infra-bot")]
    stacks = len(list((ROOT / "stacks").glob("*.yaml")))
    expected = f"cross-stack: {stacks} stacks x 3 environments"
    assert line == f"::notice title=infra-bot checked::{expected}"


def test_generate_cli_says_which_checks_ran(tmp_path: Path) -> None:
    root = copy_platform(tmp_path / "platform")
    shutil.rmtree(root / "helm-values")
    git_commit(root, "initial")
    proc = bot_cli(
        "generate", "add an SQS queue for order events", "--offline", "--root", str(root)
    )
    assert proc.returncode == 0, proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("checked: ")]
    assert line.startswith("checked: cfn-guard: 1 template against ")
    assert line.endswith(" · skipped: kube — no releases")


@pytest.mark.parametrize(
    ("finding", "skipped"),
    [
        (_note("skipped: chart web 1.0 is not available locally", "web"), True),
        (_note("release web was NOT checked: chart web 1.0: 404", "web", Severity.ERROR), True),
        (_note("[dev] Deployment/web: runs as root", "Deployment/web", Severity.ERROR), False),
        (_note("no schema for Foo; those documents were not schema-checked", "web"), False),
        (_note("skipped: chart web 1.0 is not available locally", None), False),
    ],
)  # fmt: skip
def test_a_finding_that_says_an_item_was_not_checked_is_a_skip(
    finding: Finding, skipped: bool
) -> None:
    assert skipped_by([finding]) == ((Skip("web", "kube/chart-x"),) if skipped else ())

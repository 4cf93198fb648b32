"""The findings cache: a hit is indistinguishable from a miss, and nothing else.

Through the command line (`infra-bot validate --cache-dir`), on a repository with
cfn-lint, cfn-guard and cross-stack findings.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import findings_cache
from bot.checks import cfnlint_check, engine, guard
from bot.checks.base import CheckContext
from bot.checks.discovery import registry
from bot.checks.engine import all_targets, run_checks
from bot.cli import app
from bot.findings import Finding, Severity
from bot.repo.model import Repository
from bot.toolchain import Toolchain
from tests.conftest import ROOT

QUEUE = """
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties: {Nope: 1}
Outputs:
  QueueArn:
    Value: !GetAtt Queue.Arn
    Export: {Name: shared-queue-arn}
"""
BUCKET = """
Resources:
  Logs:
    Type: AWS::S3::Bucket
Outputs:
  Arn:
    Value: !GetAtt Logs.Arn
    Export: {Name: shared-queue-arn}
"""


@pytest.fixture
def repo(make_repo: Callable[[dict[str, str]], Path], tools: Toolchain) -> Path:
    root = make_repo({"stacks/queue.yaml": QUEUE, "stacks/logs.yaml": BUCKET})
    shutil.copytree(ROOT / "guard", root / "guard")
    return root


def validate(root: Path, cache: Path, *flags: str) -> tuple[int, list[dict[str, object]]]:
    args = ["validate", "--root", str(root), "--format", "json", "--cache-dir", str(cache)]
    result = CliRunner().invoke(app, [*args, *flags])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)["findings"]


@pytest.fixture
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Outside the repository (as the default is): the Kubernetes key covers every repo file."""
    return tmp_path_factory.mktemp("findings") / "cache"


def entries(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.json"))


def test_hit_is_identical_to_miss(repo: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    miss = validate(repo, cache)
    checks = {f["check_id"].split("/")[0] for f in miss[1]}  # type: ignore[union-attr]
    assert {"cfn-lint", "guard", "cross-stack"} <= checks
    assert len(entries(cache)) == len(set(registry()) & findings_cache.CACHED_CHECKS) >= 4
    # A hit must not run the checks at all: make running them fail loudly.
    for check in (cfnlint_check.CfnLintCheck, guard.GuardCheck):
        monkeypatch.setattr(check, "run", lambda self, ctx: pytest.fail("ran on a hit"))
    assert validate(repo, cache) == miss
    monkeypatch.undo()
    assert validate(repo, cache, "--no-cache") == miss


def test_changed_content_is_a_miss(repo: Path, cache: Path) -> None:
    validate(repo, cache)
    (repo / "stacks" / "queue.yaml").write_text(QUEUE.replace("{Nope: 1}", "{}"))
    _, after = validate(repo, cache)
    assert validate(repo, cache, "--no-cache")[1] == after
    assert not any(f["check_id"] == "cfn-lint/E3002" for f in after)
    # A guard rule is an input too: without the repository's rules the result is
    # recomputed, and the packaged policy pack still checks (bot/repo/rulepack.py).
    shutil.rmtree(repo / "guard" / "rules")
    (repo / "guard" / "rules").mkdir()
    _, no_rules = validate(repo, cache)
    assert no_rules == validate(repo, cache, "--no-cache")[1]
    assert any(str(f["check_id"]).startswith("guard/") for f in no_rules)


@pytest.mark.parametrize("junk", [b"", b"{not json", b'{"format": 1}', b"[]", b"\xff\xfe"])
def test_corrupt_entry_is_ignored_and_rewritten(repo: Path, cache: Path, junk: bytes) -> None:
    miss = validate(repo, cache)
    for entry in entries(cache):
        entry.write_bytes(junk)
    assert validate(repo, cache) == miss
    assert all(json.loads(e.read_text())["format"] == findings_cache.FORMAT for e in entries(cache))


def test_entry_with_wrong_field_types_is_ignored(repo: Path, cache: Path) -> None:
    miss = validate(repo, cache)
    for entry in entries(cache):
        data = json.loads(entry.read_text())
        for f in data["findings"]:
            f["line"] = str(f["line"])
        entry.write_text(json.dumps(data))
    assert validate(repo, cache) == miss


def test_no_cache_neither_reads_nor_writes(repo: Path, cache: Path) -> None:
    validate(repo, cache, "--no-cache")
    assert not cache.exists()
    miss = validate(repo, cache)
    for entry in entries(cache):  # entries that claim a clean repository
        data = json.loads(entry.read_text())
        data["findings"] = []
        entry.write_text(json.dumps(data))
    assert validate(repo, cache) == (0, [])  # the cache is trusted input...
    assert validate(repo, cache, "--no-cache") == miss  # ...and --no-cache ignores it


def test_a_crash_is_not_cached(repo: Path, tmp_path: Path) -> None:
    cache = findings_cache.FindingsCache(tmp_path / "cache")
    repository = Repository(repo)
    no_tools = Toolchain(cache_dir=tmp_path / "no-tools", use_path=False)
    with findings_cache.using(cache):
        report = run_checks(repository, all_targets(repository, ()), no_tools, only=["cfn-guard"])
    assert [f.check_id for f in report.findings] == ["cfn-guard/crashed"]
    assert not entries(cache.root)


def test_engine_without_a_cache_does_not_touch_one(repo: Path, tmp_path: Path) -> None:
    repository = Repository(repo)
    ctx = CheckContext(repository, all_targets(repository, ()), Toolchain())
    assert findings_cache.wrap(engine._run_one) is engine._run_one
    assert findings_cache.cache_key("cfn-lint", ctx) != findings_cache.cache_key("cfn-guard", ctx)


def test_encode_decode_round_trip() -> None:
    finding = Finding(
        "stacks/a.yaml", 3, 5, "guard/X", Severity.WARNING, "m", "cfn-guard", "AC-6", None,
        "Res", (("k", "v"),),
    )  # fmt: skip
    (back,) = findings_cache.decode(json.loads(json.dumps(findings_cache.encode([finding]))))
    assert back == finding and back.extra == finding.extra


def test_kube_hit_and_changed_values_are_a_miss(
    tmp_path: Path, cache: Path, tools: Toolchain, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.chartrepo import release_repo, serve_charts

    monkeypatch.setenv("INFRA_BOT_CHART_DIR", str(tmp_path / "chart-cache"))
    with serve_charts(tools.require("helm").path, tmp_path / "served") as charts:
        root = release_repo(tmp_path / "repo", charts.url)
        clean = validate(root, cache, "--check", "kube")
        assert clean == (0, [])
        pulls = len(charts.fetched())
        assert pulls >= 1  # the miss pulled the chart from the chart repository
        assert validate(root, cache, "--check", "kube") == clean
        # The release's values change: a miss, and the new value is judged.
        values = root / "helm-values" / "web" / "values.yaml"
        values.write_text(
            values.read_text()
            + "securityContext:\n  allowPrivilegeEscalation: true\n  privileged: true\n",
            encoding="utf-8",
        )
        code, changed = validate(root, cache, "--check", "kube")
        assert code == 1
        assert any(str(f["check_id"]).startswith("guard/K8S_") for f in changed)
        assert validate(root, cache, "--check", "kube", "--no-cache") == (code, changed)


def test_the_trusted_policy_checkout_is_part_of_the_key(
    repo: Path, cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    policy = tmp_path_factory.mktemp("policy")
    (policy / "guard" / "rules").mkdir(parents=True)  # trusted: no own rules, the pack's
    (policy / "guard" / "rules" / "x.guard").write_text("rule SC28_S3_ENCRYPTED {\n    Resources exists\n}\n")
    own = validate(repo, cache)
    trusted = validate(repo, cache, "--policy-root", str(policy))
    assert any(f["check_id"] == "guard/SC28_S3_ENCRYPTED" for f in own[1])
    assert not any(f["check_id"] == "guard/SC28_S3_ENCRYPTED" for f in trusted[1])
    assert validate(repo, cache, "--policy-root", str(policy), "--no-cache") == trusted
    (policy / "guard" / "rules" / "x.guard").unlink()
    shutil.copytree(ROOT / "guard" / "rules", policy / "guard" / "rules", dirs_exist_ok=True)
    assert validate(repo, cache, "--policy-root", str(policy))[1] == own[1]

"""On templates it has never seen, validate reports what the tools themselves report.

The corpus is real-world templates from cfn-lint's source distribution (see
bench/corpus.py; `make test` fetches it once, pinned by sha256). We compare
with the cfn-lint command line (one process, JSON) and with cfn-guard run
once per file, which is what a team would otherwise wire up by hand.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.corpus import DEFAULT_DEST, sample
from bot.cli import app
from bot.toolchain import Toolchain
from tests.conftest import ROOT

SAMPLE = 40


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not DEFAULT_DEST.is_dir():
        pytest.fail("template corpus missing: run `make test` (it runs `python -m bench.corpus`)")
    root = tmp_path_factory.mktemp("corpus")
    (root / "stacks").mkdir()
    for f in sample(DEFAULT_DEST, SAMPLE):  # every corpus folder
        shutil.copy(f, root / "stacks" / f.name)
    shutil.copytree(ROOT / "guard", root / "guard")
    return root


@pytest.fixture(scope="module")
def ours(corpus: Path, tools: Toolchain) -> list[dict[str, object]]:
    result = CliRunner().invoke(app, ["validate", "--root", str(corpus), "--format", "json"])
    assert result.exit_code in (0, 1), result.stdout
    findings: list[dict[str, object]] = json.loads(result.stdout)["findings"]
    return findings


def test_never_crashes(ours: list[dict[str, object]]) -> None:
    assert not [f for f in ours if str(f["check_id"]).endswith("/crashed")]


def test_same_matches_as_cfn_lint(corpus: Path, ours: list[dict[str, object]]) -> None:
    files = sorted(p.name for p in (corpus / "stacks").iterdir())
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "json", "--", *files],
        cwd=corpus / "stacks", capture_output=True, text=True, check=False,
    )  # fmt: skip
    theirs = {
        (f"stacks/{m['Filename']}", m["Rule"]["Id"], m["Location"]["Start"]["LineNumber"])
        for m in json.loads(proc.stdout)
    }
    mine = {
        (str(f["path"]), str(f["check_id"]).removeprefix("cfn-lint/"), f["line"])
        for f in ours
        if f["tool"] == "cfn-lint"
    }
    assert len(theirs) > 50  # the corpus really exercises the linter
    assert mine == theirs


def test_same_failures_as_cfn_guard_per_file(
    corpus: Path, tools: Toolchain, ours: list[dict[str, object]]
) -> None:
    guard = tools.require("cfn-guard").path
    rules = sorted((corpus / "guard" / "rules").glob("*.guard"))
    theirs: set[tuple[str, str]] = set()
    for template in sorted((corpus / "stacks").iterdir()):
        cmd = [str(guard), "validate", "--output-format", "json", "--structured",
               "--show-summary", "none", "--data", str(template)]  # fmt: skip
        for rule in rules:
            cmd += ["--rules", str(rule)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode not in (0, 19):
            continue  # cfn-guard could not read the file; it reports no rule failures
        for entry in json.loads(proc.stdout):
            for item in entry.get("not_compliant") or []:
                theirs.add((f"stacks/{template.name}", f"guard/{item['Rule']['name']}"))
    mine = {(str(f["path"]), str(f["check_id"])) for f in ours if f["tool"] == "cfn-guard"}
    assert len(theirs) > 20
    assert mine == theirs

"""`infra-bot --help` lists every command without importing a heavy SDK.

Each probe is a fresh interpreter, so what it finds in sys.modules is exactly
what the command line's import path pulls in. This is a correctness test of the
import structure; how fast start-up is gets measured in bench/bench_validate.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer.main

from bot.cli import app
from tests.conftest import ROOT

HEAVY = ("boto3", "botocore", "cfnlint", "github", "langchain_aws", "langchain_core")

PROBE = """
import json, sys
args, watched = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
sys.argv = ["infra-bot", *args]
from bot.cli import main
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & watched)
print("\\nPROBE " + json.dumps({"code": code, "heavy": heavy}))
"""

COMMANDS = typer.main.get_command(app).commands  # type: ignore[attr-defined]


def probe(*args: str) -> tuple[str, dict[str, object]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    out, _, result = proc.stdout.rpartition("\nPROBE ")
    assert result, proc.stderr
    return out, json.loads(result)


def test_help_lists_every_command_with_its_help_and_no_heavy_sdk() -> None:
    out, result = probe("--help")
    assert result == {"code": 0, "heavy": []}
    assert len(COMMANDS) >= 10
    for name, command in COMMANDS.items():
        words = " ".join(command.get_short_help_str(limit=200).split()[:3])
        assert any(line.split()[:1] == [name] and words in line for line in out.splitlines()), (
            f"{name}: {words!r} not listed"
        )


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_help_imports_no_heavy_sdk(name: str) -> None:
    out, result = probe(name, "--help")
    assert result == {"code": 0, "heavy": []}
    assert f"infra-bot {name}" in out

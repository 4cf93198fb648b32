"""Validation speed on 40 unseen templates, as ratios to baselines run here.

Baselines, each measured in this same process run:
  per-file  `cfn-lint FILE` and `cfn-guard validate -d FILE` once per template,
            which is what a hand-written workflow does;
  cfn-lint  one `cfn-lint` process over all 40 files (the floor: we run it too);
  python    `python -c pass`, the floor for start-up.

Run: python -m bench.bench_validate [--repeat N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.corpus import corpus_files, ensure_corpus
from bot.toolchain import Toolchain

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def timed(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def run(cmd: list[str], cwd: Path | None = None) -> None:
    subprocess.run(cmd, cwd=cwd, capture_output=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--files", type=int, default=40)
    args = parser.parse_args()

    guard = str(Toolchain().install("cfn-guard").path)
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        (repo / "stacks").mkdir()
        shutil.copytree(ROOT / "guard", repo / "guard")
        files = corpus_files(ensure_corpus(), args.files)
        for f in files:
            shutil.copy(f, repo / "stacks" / f.name)
        names = sorted(p.name for p in (repo / "stacks").iterdir())
        rules = [x for r in sorted((repo / "guard" / "rules").glob("*.guard"))
                 for x in ("--rules", str(r))]  # fmt: skip

        def per_file() -> None:
            for name in names:
                run([str(BIN / "cfn-lint"), name], cwd=repo / "stacks")
                run([guard, "validate", *rules, "--data", str(repo / "stacks" / name)])

        def one_cfn_lint() -> None:
            run([str(BIN / "cfn-lint"), "--", *names], cwd=repo / "stacks")

        def infra_bot() -> None:
            run([str(BIN / "infra-bot"), "validate", "--root", str(repo), "--format", "json"])

        def help_() -> None:
            run([str(BIN / "infra-bot"), "--help"])

        def python_pass() -> None:
            run([sys.executable, "-c", "pass"])

        ours = timed(infra_bot, args.repeat)
        floor = timed(one_cfn_lint, args.repeat)
        slow = timed(per_file, 1)
        start_ours = timed(help_, 5)
        start_floor = timed(python_pass, 5)

    print(
        f"| validate {len(names)} templates | infra-bot {ours:.1f} s | "
        f"per-file cfn-lint+cfn-guard {slow:.1f} s ({slow / ours:.1f}x slower) | "
        f"one cfn-lint process {floor:.1f} s (infra-bot = {ours / floor:.2f}x of it) |"
    )
    print(
        f"| `infra-bot --help` start-up | {start_ours * 1000:.0f} ms | "
        f"`python -c pass` {start_floor * 1000:.0f} ms | ratio {start_ours / start_floor:.1f}x |"
    )


if __name__ == "__main__":
    main()

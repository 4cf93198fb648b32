"""Validation speed on 40 unseen templates, as ratios to baselines run in this process.

The sample spans every folder of the pinned corpus (public, integration,
good/resources, bad/resources; see bench.corpus.sample) and is printed first.
Every timed run is checked, inside this run, before a number is reported:

- exit codes: cfn-lint's must be the bit mask of the levels it reported
  (2 error, 4 warning, 8 informational); cfn-guard's 0 (pass) or 19 (fail), or
  255 with its own "Parser Error" (it refuses the file, which is a verdict);
  infra-bot's 1 exactly when it reported an error, else 0; `--help` 0;
- parity: infra-bot's cfn-lint findings == one cfn-lint process's == the
  per-file loop's, as (file, line, column, rule, message); a cache hit's
  findings == a miss's, all fields; every repeat == the first.

Anything else stops the benchmark with the difference. Measured, each side
with the same number of runs, in interleaved rounds (so load drift hits both):

  per-file   `cfn-lint F` + `cfn-guard validate --data F` once per template
             (a hand-written workflow);
  cfn-lint   one `cfn-lint` process over all the files;
  infra-bot  `infra-bot validate --format json --no-cache` (all checks);
  cached     the same with a findings cache that already holds this content;
  miss       the same with an empty findings cache (what a miss costs, writes included);
  --help     `infra-bot --help` against `python -c pass`.

Run: python -m bench.bench_validate [--repeat N] [--files N] [--startup-repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.corpus import ensure_corpus, folder_of, sample
from bot.toolchain import Toolchain

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LEVEL_BITS = {"Error": 2, "Warning": 4, "Informational": 8}
GUARD_OK = (0, 19)

# (file name, line, column, rule id, message)
Match = tuple[str, int, int, str, str]


class BenchFailed(SystemExit):
    def __init__(self, what: str) -> None:
        super().__init__(f"BENCHMARK FAILED: {what}")


@dataclass
class Timing:
    runs: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def best(self) -> float:
        return min(self.runs)


def run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def cfn_lint_matches(stdout: str, rc: int, what: str) -> set[Match]:
    try:
        items = json.loads(stdout)
    except json.JSONDecodeError:
        raise BenchFailed(f"{what}: cfn-lint printed no JSON (exit {rc})") from None
    mask = 0
    for m in items:
        mask |= LEVEL_BITS[m["Level"]]
    if rc != mask:
        raise BenchFailed(f"{what}: cfn-lint exit {rc}, but its findings mean {mask}")
    return {
        (
            Path(m["Filename"]).name,
            m["Location"]["Start"]["LineNumber"],
            m["Location"]["Start"]["ColumnNumber"],
            m["Rule"]["Id"],
            m["Message"],
        )
        for m in items
    }


def guard_verdict(proc: Any, name: str) -> str:
    if proc.returncode in GUARD_OK:
        return "pass" if proc.returncode == 0 else "fail"
    if proc.returncode == 255 and "Parser Error" in proc.stderr:
        return "refused"
    raise BenchFailed(f"cfn-guard on {name}: exit {proc.returncode}: {proc.stderr[-300:]}")


def infra_bot_findings(proc: Any, what: str) -> list[dict[str, Any]]:
    if proc.returncode not in (0, 1):
        raise BenchFailed(f"{what}: infra-bot exit {proc.returncode}: {proc.stderr[-500:]}")
    findings: list[dict[str, Any]] = json.loads(proc.stdout)["findings"]
    crashed = [f for f in findings if str(f["check_id"]).endswith("/crashed")]
    if crashed:
        raise BenchFailed(f"{what}: a check crashed: {crashed[0]['message']}")
    errors = any(f["severity"] == "error" for f in findings)
    if proc.returncode != int(errors):
        raise BenchFailed(f"{what}: exit {proc.returncode} with errors={errors}")
    return findings


def lint_part(findings: list[dict[str, Any]]) -> set[Match]:
    return {
        (
            Path(f["path"]).name,
            f["line"],
            f["column"],
            f["check_id"][len("cfn-lint/") :],
            f["message"],
        )
        for f in findings
        if f["check_id"].startswith("cfn-lint/")
    }


def same(what: str, ours: set[Match], theirs: set[Match]) -> None:
    if ours != theirs:
        only_ours, only_theirs = sorted(ours - theirs)[:5], sorted(theirs - ours)[:5]
        raise BenchFailed(f"{what}: only ours {only_ours}; only theirs {only_theirs}")


class Bench:
    def __init__(self, repo: Path, guard: str, cache: Path) -> None:
        self.repo = repo
        self.stacks = repo / "stacks"
        self.names = sorted(p.name for p in self.stacks.iterdir())
        self.guard = guard
        self.rules = [
            x
            for r in sorted((repo / "guard" / "rules").glob("*.guard"))
            for x in ("--rules", str(r))
        ]
        self.env = dict(os.environ, INFRA_BOT_FINDINGS_CACHE=str(cache))
        self.verdicts: Counter[str] = Counter()
        self.fresh = 0

    def per_file(self) -> set[Match]:
        found: set[Match] = set()
        verdicts: Counter[str] = Counter()
        for name in self.names:
            proc = run([str(BIN / "cfn-lint"), "--format", "json", name], cwd=self.stacks)
            found |= cfn_lint_matches(proc.stdout, proc.returncode, f"cfn-lint {name}")
            proc = run([self.guard, "validate", *self.rules, "--data", str(self.stacks / name)])
            verdicts[guard_verdict(proc, name)] += 1
        self.verdicts = verdicts
        return found

    def one_cfn_lint(self) -> set[Match]:
        proc = run([str(BIN / "cfn-lint"), "--format", "json", "--", *self.names], cwd=self.stacks)
        return cfn_lint_matches(proc.stdout, proc.returncode, "one cfn-lint process")

    def infra_bot(self, *flags: str) -> list[dict[str, Any]]:
        cmd = [str(BIN / "infra-bot"), "validate", "--root", str(self.repo), "--format", "json"]
        proc = run([*cmd, *flags], env=self.env)
        return infra_bot_findings(proc, f"infra-bot validate {' '.join(flags)}".strip())

    def infra_bot_empty_cache(self) -> list[dict[str, Any]]:
        """A miss that also writes the entries: a new, empty cache folder each time."""
        self.fresh += 1
        cache = Path(self.env["INFRA_BOT_FINDINGS_CACHE"]).with_name(f"fresh-{self.fresh}")
        cmd = [str(BIN / "infra-bot"), "validate", "--root", str(self.repo), "--format", "json"]
        proc = run([*cmd, "--cache-dir", str(cache)], env=self.env)
        return infra_bot_findings(proc, "infra-bot validate (empty cache)")

    def help(self) -> str:
        proc = run([str(BIN / "infra-bot"), "--help"], env=self.env)
        if proc.returncode != 0 or "validate" not in proc.stdout:
            raise BenchFailed(f"infra-bot --help: exit {proc.returncode}: {proc.stderr[-300:]}")
        return str(proc.stdout)

    def python_pass(self) -> int:
        proc = run([sys.executable, "-c", "pass"])
        if proc.returncode != 0:
            raise BenchFailed("python -c pass failed")
        return int(proc.returncode)


def rounds(sides: dict[str, Callable[[], object]], repeat: int) -> dict[str, Timing]:
    """Each side `repeat` times, interleaved; every result must equal the side's first."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    first: dict[str, object] = {}
    for n in range(repeat):
        for name, fn in sides.items():
            start = time.perf_counter()
            result = fn()
            times[name].append(time.perf_counter() - start)
            print(f"  round {n + 1}/{repeat} {name}: {times[name][-1]:.2f} s", file=sys.stderr)
            if first.setdefault(name, result) != result:
                raise BenchFailed(f"{name}: a repeat found something else than the first run")
    return {name: Timing(t) for name, t in times.items()}


def build_repo(files: list[Path], repo: Path) -> None:
    (repo / "stacks").mkdir(parents=True)
    shutil.copytree(ROOT / "guard", repo / "guard")
    for f in files:
        shutil.copy(f, repo / "stacks" / f.name)


def row(
    measure: str,
    ours: Timing,
    base_name: str,
    base: Timing,
    goal: str,
    ok: bool,
    unit: float = 1.0,
    fmt: str = "{:.2f} s",
) -> str:
    def t(x: Timing) -> str:
        return f"{fmt.format(x.median * unit)} (min {fmt.format(x.best * unit)})"

    ratio = ours.median / base.median
    return (
        f"| {measure} | {t(ours)} | {base_name}: {t(base)} | {ratio:.2f}x | {goal} "
        f"| {'met' if ok else 'NOT met'} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--startup-repeat", type=int, default=20)
    args = parser.parse_args()

    files = sample(ensure_corpus(), args.files)
    print(
        f"Sample: {len(files)} templates; per folder:",
        ", ".join(f"{k} {v}" for k, v in Counter(folder_of(f) for f in files).items()),
    )
    for f in files:
        print(f"  {f.name}")
    guard = str(Toolchain().install("cfn-guard").path)
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        build_repo(files, repo)
        bench = Bench(repo, guard, Path(tmp) / "findings-cache")

        # Parity, checked on the first round of every side below as well.
        cold = bench.infra_bot("--no-cache")
        reference = bench.one_cfn_lint()
        same("infra-bot vs one cfn-lint process", lint_part(cold), reference)
        same("per-file loop vs one cfn-lint process", bench.per_file(), reference)
        primed = bench.infra_bot()  # fills the cache (a miss)
        hit = bench.infra_bot()
        if not (cold == primed == hit):
            raise BenchFailed("a cache hit found something else than a miss")

        main_t = rounds(
            {
                "per-file": bench.per_file,
                "cfn-lint": bench.one_cfn_lint,
                "infra-bot": lambda: bench.infra_bot("--no-cache"),
                "cached": bench.infra_bot,
                "miss": bench.infra_bot_empty_cache,
            },
            args.repeat,
        )
        start_t = rounds({"help": bench.help, "python": bench.python_pass}, args.startup_repeat)
        if bench.infra_bot() != cold:
            raise BenchFailed("findings changed during the benchmark")

    print(
        f"\nChecked: exit codes of every run; {len(reference)} cfn-lint matches identical in "
        f"infra-bot, one cfn-lint process and the per-file loop; cache hit == miss "
        f"({len(cold)} findings); cfn-guard per file: {dict(bench.verdicts)}.\n"
    )
    m = main_t
    lint, floor = m["infra-bot"], m["cfn-lint"]
    print(
        "| measure | infra-bot: median (min) | baseline: median (min) | ratio of medians | goal | |"
    )
    print("|---|---|---|---:|---|---|")
    n = len(files)
    print(
        row(
            f"validate {n} templates",
            lint,
            "one `cfn-lint` process",
            floor,
            "at most 0.8x",
            lint.median / floor.median <= 0.8,
        )
    )
    slower = m["per-file"].median / lint.median
    print(
        row(
            f"validate {n} templates",
            lint,
            "per-file `cfn-lint` + `cfn-guard`",
            m["per-file"],
            f"at most 0.1x (10x faster; now {slower:.1f}x)",
            slower >= 10,
        )
    )
    print(
        row(
            f"re-validate {n} unchanged templates (cache hit)",
            m["cached"],
            "one `cfn-lint` process",
            floor,
            "at most 0.1x",
            m["cached"].median / floor.median <= 0.1,
        )
    )
    miss = row(
        f"validate {n} templates with an empty cache (a miss that writes)",
        m["miss"], "one `cfn-lint` process", floor, "none (what a miss costs)", True,
    )  # fmt: skip
    print(miss.replace("| met |", "| - |"))
    help_t, py = start_t["help"], start_t["python"]
    print(
        row(
            "`infra-bot --help`",
            help_t,
            "`python -c pass`",
            py,
            "at most 7x and 0.3 s",
            help_t.median / py.median <= 7 and help_t.median <= 0.3,
            unit=1000,
            fmt="{:.0f} ms",
        )
    )
    print(
        f"\nRuns per side: {args.repeat} (validation), {args.startup_repeat} (start-up); "
        f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}."
    )


if __name__ == "__main__":
    main()

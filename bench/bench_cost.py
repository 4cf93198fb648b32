"""Benchmark: price the reference platform for three environments.

Baseline, measured in the same process: decoding the same templates (what any
command that reads the stacks pays). Reported: a cold run (a fresh repository:
decode templates, parse deployment files, price), the pricing core alone
(templates and deployment files already read), and their ratios to the baseline.

Run: .venv/bin/python -m bench.bench_cost [N]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from bot.cost.estimate import environment_inputs, estimate_environment, price_environment
from bot.cost.prices import load_embedded
from bot.cost.usage import EMPTY, UsageFile, load_usage
from bot.repo.model import Repository
from bot.repo.templates import load_template

ROOT = Path(__file__).resolve().parents[1]
ENVS = ("dev", "tst", "prd")
DAY = date(2026, 11, 23)


def _best(fn: Callable[[], object], n: int) -> float:
    """Median seconds per call over n calls (after one warm-up)."""
    fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def main(n: int = 20) -> None:
    table = load_embedded()
    usage_path = ROOT / "environments" / "usage.yaml"
    usage: UsageFile = load_usage(usage_path) if usage_path.is_file() else EMPTY
    paths = sorted({
        ROOT / d.spec.template_file_path
        for env in ENVS for d in Repository(ROOT).deployments(env).values()
    })  # fmt: skip

    def decode() -> None:
        for p in paths:
            load_template(p)

    def cold() -> float:
        repo = Repository(ROOT)
        return sum(estimate_environment(repo, e, usage, table, DAY).monthly for e in ENVS)

    warm_repo = Repository(ROOT)
    inputs = {e: environment_inputs(warm_repo, e) for e in ENVS}

    def core() -> float:
        return sum(price_environment(e, inputs[e], usage, table, DAY).monthly for e in ENVS)

    base, t_cold, t_core = _best(decode, n), _best(cold, n), _best(core, n)
    resources = sum(len(load_template(p).resources) for p in paths)
    print("| benchmark | runs | templates | resources | baseline: decode templates (ms) "
          "| cold: read repo + price 3 envs (ms) | core: price 3 envs (ms) | cold/baseline "
          "| core/baseline |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| cost, platform x {len(ENVS)} envs | {n} | {len(paths)} | {resources} "
          f"| {base * 1e3:.1f} | {t_cold * 1e3:.1f} | {t_core * 1e3:.1f} "
          f"| {t_cold / base:.2f} | {t_core / base:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)

"""Plan and deploy wall time by dependency level, against the serial schedule.

moto on 127.0.0.1 behind the fault proxy (tests/faultproxy.py), here without faults
but with CloudFormation's latency scaled down: a change set is CREATE_IN_PROGRESS for
--step seconds after CreateChangeSet, a stack *_IN_PROGRESS for --step seconds after
ExecuteChangeSet; the bot polls every step/10 s (CloudFormation takes minutes, the
bot polls every 5 s). Each platform and environment runs three operations, first
with the serial schedule (parallel=1: one stack at a time in graph order, as before
bot.cloud.levels) and then by level (parallel=4), in this one process:

  create   deploy --replan of an empty environment (plan + execute per stack: 2 steps)
  plan     plan a change to every stack (1 step per stack)
  deploy   execute those reviewed change sets (1 step per stack)

Goal: by level, each operation takes at most 1.5 x depth x (per-stack latency), where
the per-stack latency is what one stack of that operation costs today: the serial time
divided by the number of stacks, bot and moto included. The time against the injected
steps alone (depth x steps x --step) is shown beside it: at this scale the bot's own
calls per stack cost about as much as a step, so it is well above 1.5; against the
minutes a real change set takes they are noise.
Platforms: the reference foundation (kms > iam > vpc > security-groups, all moto
can create; a chain, so depth = size and levels cannot help: the check is that they
cost nothing), in dev, tst and prd; and a wide platform of SSM-parameter stacks
(--width stacks per level, --depth levels), in dev. Every timed operation is checked
to have succeeded: every stack deployed or changed.

Run: python -m bench.bench_deploy [--step 0.5] [--width 4] [--depth 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot.cloud.deployer import Result
from bot.cloud.preview import Outcome
from bot.cloud.runs import deploy_env, open_env, plan_env
from bot.cloud.waiting import Clock
from bot.demo.moto import environ, patch_change_sets, quiet_moto
from bot.demo.platform import FOUNDATION, copy_platform
from bot.repo.model import Repository
from tests.faultproxy import Proxy, fault_proxy

ROOT = Path(__file__).resolve().parent.parent
ENVS = ("dev", "tst", "prd")
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ENDPOINT_URL": None,
}
STEPS = {"create": 2, "plan": 1, "deploy": 1}
GOAL = 1.5


class BenchFailedError(RuntimeError):
    """What was timed did not succeed: the figure would mean nothing."""


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-qm",
        message)  # fmt: skip
    return git(root, "rev-parse", "HEAD")


def wide_stack(level: int, index: int, width: int) -> str:
    """One SSM parameter, exported; from level 1 on it imports two of the level before."""
    parents = sorted({index, (index + 1) % width}) if level > 0 else []
    imports = "".join(
        f"            - Fn::ImportValue: !Sub {name!r}\n"
        for name in (f"${{ProjectName}}-${{Environment}}-s{level - 1}x{p}" for p in parents)
    )
    return (
        'AWSTemplateFormatVersion: "2010-09-09"\n'
        f"Description: level {level}, stack {index} of a wide bench platform\n"
        "Parameters:\n"
        "  ProjectName: {Type: String, Default: platform}\n"
        "  Environment: {Type: String}\n"
        "  Owner: {Type: String, Default: platform-team}\n"
        "Resources:\n"
        "  Marker:\n"
        "    Type: AWS::SSM::Parameter\n"
        "    Properties:\n"
        f'      Name: !Sub "/${{ProjectName}}/${{Environment}}/s{level}x{index}"\n'
        "      Type: String\n"
        "      Value:\n"
        "        Fn::Join:\n"
        '          - ","\n'
        "          - - !Ref Owner\n"
        f"{imports}"
        "Outputs:\n"
        "  Marker:\n"
        "    Value: !Ref Marker\n"
        "    Export:\n"
        f'      Name: !Sub "${{ProjectName}}-${{Environment}}-s{level}x{index}"\n'
    )


def make_wide(root: Path, width: int, depth: int) -> None:
    (root / "stacks").mkdir(parents=True)
    for env in ENVS:
        (root / "environments" / env).mkdir(parents=True)
        shutil.copy(ROOT / "environments" / f"{env}.yaml", root / "environments")
    for level in range(depth):
        for index in range(width):
            name = f"s{level}x{index}"
            (root / "stacks" / f"{name}.yaml").write_text(wide_stack(level, index, width))
            for env in ENVS:
                (root / "environments" / env / f"{name}.yaml").write_text(
                    f"template-file-path: stacks/{name}.yaml\n"
                    f"parameters:\n  Environment: {env}\n  Owner: platform-team\n"
                    f"tags:\n  Owner: platform-team\n"
                )


def make_reference(root: Path) -> None:
    copy_platform(ROOT, root, FOUNDATION, keep=())


def change_owner(root: Path, env: str) -> None:
    for dep in sorted((root / "environments" / env).glob("*.yaml")):
        text = dep.read_text()
        dep.write_text(text.replace("Owner: platform-team", "Owner: night-shift"))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _check_deploy(what: str, results: list[Any], n: int) -> None:
    got = [r.result for r in results]
    if len(got) != n or any(r is not Result.DEPLOYED for r in got):
        raise BenchFailedError(f"{what}: {[(r.stack, r.result.value, r.message) for r in results]}")


def _check_plan(what: str, previews: list[Any], n: int) -> None:
    if len(previews) != n or any(p.outcome is not Outcome.CHANGES for p in previews):
        raise BenchFailedError(f"{what}: {[(p.stack, p.outcome, p.reason) for p in previews]}")


def measure(
    proxy: Proxy, make: Callable[[Path], None], env: str, parallel: int, poll: float
) -> dict[str, float]:
    """create, plan, deploy of `env` on a fresh moto and a fresh repository."""
    import requests

    requests.post(f"{proxy.upstream}/moto-api/reset", timeout=10).raise_for_status()
    proxy.reset()
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        root = Path(tmp)
        make(root)
        git(root, "init", "-q", "-b", "main")
        first = commit_all(root, "platform")
        repo = Repository(root)
        n = len(repo.deployments(env))
        run = dataclasses.replace(
            open_env(repo, env, endpoint_url=proxy.url, owner="bench"),
            clock=Clock(poll_seconds=poll),
            parallel=parallel,
        )
        what = f"{env} parallel={parallel}"
        t_create, out = timed(lambda: deploy_env(run, first, replan=True, bound_env=env))
        _check_deploy(f"{what} create", out.results, n)
        change_owner(root, env)
        second = commit_all(root, "new owner")
        t_plan, previews = timed(lambda: plan_env(run, second))
        _check_plan(f"{what} plan", previews, n)
        t_deploy, out = timed(lambda: deploy_env(run, second, bound_env=env))
        _check_deploy(f"{what} deploy", out.results, n)
    return {"create": t_create, "plan": t_plan, "deploy": t_deploy}


@contextmanager
def cloud(step: float) -> Iterator[Proxy]:
    from moto.server import ThreadedMotoServer

    with environ(CREDENTIALS), quiet_moto():
        patch_change_sets()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            with fault_proxy(f"http://{host}:{port}", change_set_seconds=step,
                             execute_seconds=step) as proxy:  # fmt: skip
                yield proxy
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--step", type=float, default=0.5, help="seconds per change set step")
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--depth", type=int, default=3)
    args = parser.parse_args()
    poll = args.step / 10
    cases: list[tuple[str, Callable[[Path], None], str, int, int]] = [
        ("reference foundation", make_reference, env, len(FOUNDATION), len(FOUNDATION))
        for env in ENVS
    ]
    cases.append(
        (f"wide {args.width}x{args.depth}", lambda r: make_wide(r, args.width, args.depth),
         "dev", args.width * args.depth, args.depth)
    )  # fmt: skip
    rows: list[str] = []
    met = True
    started = time.perf_counter()
    with cloud(args.step) as proxy:
        for name, make, env, size, depth in cases:
            serial = measure(proxy, make, env, 1, poll)
            levels = measure(proxy, make, env, 4, poll)
            for op in ("create", "plan", "deploy"):
                per_stack = serial[op] / size  # what one stack costs today, bot included
                goal = levels[op] / (depth * per_stack)
                injected = levels[op] / (depth * STEPS[op] * args.step)
                met = met and goal <= GOAL
                rows.append(
                    f"| {name} | {env} | {size} / {depth} | {op} | {levels[op]:.2f} s | "
                    f"{serial[op]:.2f} s | {serial[op] / levels[op]:.2f}x | {per_stack:.2f} s | "
                    f"**{goal:.2f}** {'met' if goal <= GOAL else 'NOT met'} | {injected:.2f} |"
                )
    print(f"step {args.step} s, poll {poll:.2f} s, all runs {time.perf_counter() - started:.0f} s")
    print(
        "| platform | env | stacks / depth | operation | by level (4) | serial (today) | "
        "serial / level | per stack (serial / stacks) | level / (depth x per stack), goal "
        f"<= {GOAL} | level / (depth x injected steps) |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(f"goal {'met for every row' if met else 'NOT met for some row'}")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    main()

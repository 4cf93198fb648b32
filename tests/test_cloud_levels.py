"""bot.cloud.levels: grouping by dependency level, bounded workers, order, failure rules.

No timing: concurrency is shown with barriers and events (a worker that could only
finish if another ran at the same time), order by what the hooks saw.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bot.cloud.levels import Levels, ancestors, group_levels, levels_for
from bot.repo.graph import build_graph
from bot.repo.model import Repository

ROOT = Path(__file__).resolve().parent.parent
WAIT = 10.0  # seconds a test waits for another worker before it counts as not concurrent


def test_reference_platform_levels() -> None:
    repo = Repository(ROOT)
    graph = build_graph(repo, "dev")
    order = [s for s in graph.order() if s in repo.deployments("dev")]
    # 12 stacks, 7 levels: a deploy takes 7 stack-times, not 12.
    assert group_levels(order, graph.dependencies()) == [
        ["cognito", "kms"],
        ["iam", "velero-backup"],
        ["vpc"],
        ["security-groups"],
        ["alb", "bastion", "eks-cluster"],
        ["eks-nodegroup", "irsa"],
        ["eks-addons"],
    ]
    levels = group_levels(order, graph.dependencies())
    depth = {s: n for n, level in enumerate(levels) for s in level}
    for stack, deps in graph.dependencies().items():
        assert all(depth[d] < depth[stack] for d in deps), stack


@pytest.mark.parametrize(
    ("order", "deps", "expected"),
    [
        (["a", "b", "c"], {"b": {"a"}, "c": {"b"}}, [["a"], ["b"], ["c"]]),
        (["a", "b", "c"], {}, [["a", "b", "c"]]),
        (["a", "c"], {"b": {"a"}, "c": {"b"}}, [["a"], ["c"]]),  # through b, not in the run
        (["x", "a", "b", "c"], {"c": {"a", "b"}, "b": {"a"}}, [["x", "a"], ["b"], ["c"]]),
        ([], {"b": {"a"}}, []),
    ],
)  # fmt: skip
def test_group_levels(
    order: list[str], deps: dict[str, set[str]], expected: list[list[str]]
) -> None:
    assert group_levels(order, deps) == expected


def test_a_stack_before_its_dependency_is_refused() -> None:
    with pytest.raises(ValueError, match="b is ordered before a"):
        group_levels(["b", "a"], {"b": {"a"}})


def test_ancestors_are_transitive_and_survive_a_cycle() -> None:
    found = ancestors({"c": {"b"}, "b": {"a"}, "x": {"y"}, "y": {"x"}})
    assert found["c"] == {"a", "b"}
    assert found["x"] == {"y"}


def _ok(r: str) -> bool:
    return not r.endswith("!")


def _skip(rest: list[str], failed: str) -> list[str]:
    return [f"{s} skipped after {failed}" for s in rest]


def test_one_level_runs_at_once_and_reports_in_order() -> None:
    """a can only finish once b finished: run one at a time, this would never end."""
    b_done = threading.Event()
    seen: list[str] = []

    def work(item: str) -> str:
        if item == "a":
            assert b_done.wait(WAIT), "b did not run while a was running"
        if item == "b":
            b_done.set()
        return item

    got = Levels({}, parallel=4).run(["a", "b", "c"], str, work, ok=_ok, skip=_skip,
                                     on_done=seen.append)  # fmt: skip
    assert got == ["a", "b", "c"]
    assert seen == ["a", "b", "c"]  # b finished first; the hook still sees a first


def test_parallelism_is_bounded() -> None:
    active = 0
    peak = 0
    lock = threading.Lock()
    pair = threading.Barrier(2, timeout=WAIT)

    def work(item: str) -> str:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        pair.wait()  # two at a time must meet: proves 2 ran at once
        with lock:
            active -= 1
        return item

    items = ["a", "b", "c", "d", "e", "f"]
    assert Levels({}, parallel=2).run(items, str, work, ok=_ok, skip=_skip) == items
    assert peak == 2


def test_a_stack_starts_only_after_everything_it_imports_from_finished() -> None:
    log: list[str] = []
    lock = threading.Lock()

    def work(item: str) -> str:
        with lock:
            log.append(f"start {item}")
        with lock:
            log.append(f"end {item}")
        return item

    deps = {"c": frozenset({"a", "b"}), "d": frozenset({"c"})}
    Levels(deps, parallel=4).run(["a", "b", "c", "d"], str, work, ok=_ok, skip=_skip)
    assert log.index("start c") > max(log.index("end a"), log.index("end b"))
    assert log.index("start d") > log.index("end c")


def test_a_failure_lets_its_level_finish_and_skips_later_levels() -> None:
    ran: list[str] = []

    def work(item: str) -> str:
        ran.append(item)
        return item + "!" if item == "a" else item

    deps = {"c": frozenset({"a"}), "d": frozenset({"b"})}
    got = Levels(deps, parallel=4).run(["a", "b", "c", "d"], str, work, ok=_ok, skip=_skip)
    assert sorted(ran) == ["a", "b"]
    assert got == ["a!", "b", "c skipped after a", "d skipped after a"]


def test_serial_schedule_stops_at_the_first_failure() -> None:
    ran: list[str] = []

    def work(item: str) -> str:
        ran.append(item)
        return item + "!" if item == "b" else item

    got = Levels(None).run(["a", "b", "c"], str, work, ok=_ok, skip=_skip)
    assert ran == ["a", "b"]
    assert got == ["a", "b!", "c skipped after b"]


def test_an_error_becomes_that_stacks_result() -> None:
    def work(item: str) -> str:
        if item == "a":
            raise ConnectionError("dropped")
        return item

    got = Levels({}, parallel=4).run(
        ["a", "b"], str, work, ok=_ok, skip=_skip, on_error=lambda i, e: f"{i}: {e}!"
    )
    assert got == ["a: dropped!", "b"]


def test_an_unhandled_error_surfaces_once_the_level_finished() -> None:
    ran: list[str] = []

    def work(item: str) -> str:
        ran.append(item)
        if item == "a":
            raise KeyError("bug")
        return item

    def reraise(_item: str, exc: Exception) -> str:
        raise exc

    with pytest.raises(KeyError):
        Levels({"c": frozenset({"a"})}, parallel=4).run(
            ["a", "b", "c"], str, work, ok=_ok, skip=_skip, on_error=reraise
        )
    assert sorted(ran) == ["a", "b"]  # b finished; c never started


def test_levels_for_the_repository() -> None:
    repo = Repository(ROOT)
    assert levels_for(repo, "dev", 1).deps is None  # serial
    parallel = levels_for(repo, "dev", 4)
    assert parallel.parallel == 4 and parallel.deps is not None
    assert parallel.deps["vpc"] == {"iam", "kms"}

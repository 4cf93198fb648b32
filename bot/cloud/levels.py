"""Per-stack work by dependency level: the stacks of one level at once, bounded.

A stack's level is one more than the deepest stack it imports from (directly, or
through stacks outside this run), so every stack of a level only needs stacks of
earlier levels. A run takes about (number of levels) x (per-stack time), not
(number of stacks) x (per-stack time), as long as a level is no wider than the
bound. The rules that matter for a deploy:

- a stack never starts before every stack it imports from finished ok;
- a stack that is not ok stops the later levels; the rest of its level finishes
  (they were already running, and stopping them half-way helps nobody);
- results and the `on_done` hook come in a fixed order (level by level, each level
  in the order given), whatever order the workers finish in;
- an AWS error in one stack's work becomes that stack's result (`on_error`), so the
  other stacks' results are not lost with it.

Throttling: the workers share the environment's one boto3 client, whose adaptive
retry mode keeps a client-side rate limit that every worker obeys once any of them
was throttled, and tenacity retries what outlives it (bot.cloud.adapter). The bound
keeps the burst small to begin with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from bot.repo.graph import build_graph
from bot.repo.model import Repository

T = TypeVar("T")
R = TypeVar("R")

MAX_PARALLEL = 4
"""Stacks of one level in flight at once: CloudFormation's per-account API rate limits
are shared by everyone in the account, and a deploy mostly waits."""


def ancestors(deps: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """stack -> every stack it imports from, directly or not. Pure; ignores cycles
    (the graph refuses them before a run starts)."""
    out: dict[str, set[str]] = {}

    def visit(stack: str, path: frozenset[str]) -> set[str]:
        if stack in out:
            return out[stack]
        found: set[str] = set()
        for dep in deps.get(stack, ()):
            if dep in path:
                continue
            found |= {dep} | visit(dep, path | {dep})
        out[stack] = found
        return found

    for stack in deps:
        visit(stack, frozenset({stack}))
    return out


def group_levels(order: Sequence[str], deps: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """`order` (dependencies first) grouped into levels, each in the order given. Pure.

    Dependencies outside `order` are followed through: with a -> b -> c and only a and
    c in the run, c still waits for a. ValueError when `order` puts a stack before one
    it imports from.
    """
    wanted = set(order)
    above = ancestors(deps)
    depth: dict[str, int] = {}
    for stack in order:
        needs = above.get(stack, set()) & wanted
        late = sorted(needs - set(depth))
        if late:
            raise ValueError(f"{stack} is ordered before {', '.join(late)}, which it imports from")
        depth[stack] = 1 + max((depth[d] for d in needs), default=-1)
    groups: list[list[str]] = [[] for _ in range(1 + max(depth.values(), default=-1))]
    for stack in order:
        groups[depth[stack]].append(stack)
    return groups


@dataclass(frozen=True)
class _Raised:
    error: Exception


@dataclass(frozen=True)
class Levels:
    """How a run schedules its per-stack work.

    `deps` (stack -> stacks it imports from) groups the stacks into levels; None runs
    each stack alone, in the order given (the serial schedule). `parallel` bounds the
    stacks in flight; 1 runs everything in the calling thread.
    """

    deps: Mapping[str, frozenset[str]] | None = None
    parallel: int = MAX_PARALLEL

    def groups(self, keys: Sequence[str]) -> list[list[str]]:
        if self.deps is None:
            return [[k] for k in keys]
        return group_levels(keys, self.deps)

    def run(
        self,
        items: Sequence[T],
        key: Callable[[T], str],
        work: Callable[[T], R],
        *,
        ok: Callable[[R], bool],
        skip: Callable[[list[T], str], list[R]],
        on_done: Callable[[R], None] | None = None,
        on_error: Callable[[T, Exception], R] | None = None,
    ) -> list[R]:
        """`work` on every item, level by level; after a level with an item that is not
        `ok`, `skip(the items of later levels, that item's key)` stands for them.

        `on_error` turns an exception of one item's work into its result (re-raise to
        let it through: it is raised once the rest of the level finished)."""
        by_key = {key(i): i for i in items}
        groups = self.groups(list(by_key))
        results: list[R] = []
        with ThreadPoolExecutor(
            max_workers=max(1, self.parallel), thread_name_prefix="infra-bot-stack"
        ) as pool:
            for n, group in enumerate(groups):
                level = [by_key[k] for k in group]
                done = self._level(pool, level, work, on_error, on_done)
                results += done
                failed = next((key(i) for i, r in zip(level, done, strict=True) if not ok(r)), None)
                if failed is not None:
                    rest = [by_key[k] for later in groups[n + 1 :] for k in later]
                    return results + (skip(rest, failed) if rest else [])
        return results

    def _level(
        self,
        pool: ThreadPoolExecutor,
        level: list[T],
        work: Callable[[T], R],
        on_error: Callable[[T, Exception], R] | None,
        on_done: Callable[[R], None] | None,
    ) -> list[R]:
        def attempt(item: T) -> R | _Raised:
            try:
                return work(item)
            except Exception as exc:
                if on_error is None:
                    return _Raised(exc)
                try:
                    return on_error(item, exc)
                except Exception as again:
                    return _Raised(again)

        if self.parallel <= 1 or len(level) == 1:
            outcomes: list[Future[R | _Raised]] = []
            for item in level:
                fut: Future[R | _Raised] = Future()
                fut.set_result(attempt(item))
                outcomes.append(fut)
                self._emit(fut, on_done)
        else:
            outcomes = [pool.submit(attempt, item) for item in level]
            for fut in outcomes:  # in order: a later stack waits for an earlier one's hook
                self._emit(fut, on_done)
        done: list[R] = []
        for fut in outcomes:
            value = fut.result()
            if isinstance(value, _Raised):
                raise value.error
            done.append(value)
        return done

    @staticmethod
    def _emit(fut: Future[R | _Raised], on_done: Callable[[R], None] | None) -> None:
        value = fut.result()
        if on_done is not None and not isinstance(value, _Raised):
            on_done(value)


def stack_levels(deps: Mapping[str, Iterable[str]], parallel: int = MAX_PARALLEL) -> Levels:
    """Levels over a stack graph's dependencies (bot.repo.graph.StackGraph.dependencies)."""
    return Levels({s: frozenset(d) for s, d in deps.items()}, parallel)


def levels_for(repo: Repository, env: str, parallel: int = MAX_PARALLEL) -> Levels:
    """The levels of `env`'s stack graph; `parallel` 1 keeps today's one-at-a-time
    schedule (each stack alone, in the order given)."""
    if parallel <= 1:
        return Levels(None, 1)
    return stack_levels(build_graph(repo, env).dependencies(), parallel)

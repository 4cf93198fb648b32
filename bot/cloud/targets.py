"""Which stacks of an environment a run covers, in dependency order, as StackSpecs."""

from __future__ import annotations

from pathlib import Path

from bot.cloud.spec import StackSpec, build_spec, check_commit
from bot.repo.changes import changed_files, checkout_at, git, touched
from bot.repo.graph import GraphError, StackGraph, build_graph
from bot.repo.model import RepoError, Repository


def unresolved_imports(graph: StackGraph) -> list[str]:
    """Imports of export names no stack exports. Pure."""
    exported = set(graph.exporters())
    return sorted(
        f"{imp.stack} imports {imp.name!r}, which no stack exports"
        for imps in graph.imports.values()
        for imp in imps
        if imp.name is not None and imp.name not in exported
    )


def ordered_stacks(
    repo: Repository, env: str, only: list[str] | None = None, changed_since: str | None = None
) -> list[str]:
    """Deployed stacks of `env` in dependency order; a cycle or a dangling import is an error."""
    repo.environment(env)
    deployments = repo.deployments(env)
    graph = build_graph(repo, env)
    problems = unresolved_imports(graph)
    if problems:
        raise GraphError("; ".join(problems))
    order = [s for s in graph.order() if s in deployments]
    unknown = sorted(set(only or []) - set(deployments))
    if unknown:
        raise RepoError(f"no deployment file for {', '.join(unknown)} in environments/{env}/")
    wanted = set(only) if only else set(order)
    if changed_since:
        hit = touched(repo, changed_files(repo.root, changed_since))
        env_wide = hit.rules or (env in hit.environments and not hit.stacks)
        affected = set(order) if env_wide else {s for s in order if s in hit.stacks}
        affected |= graph.dependents(affected)
        wanted &= affected
    return [s for s in order if s in wanted]


def head_commit(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def specs_for(repo: Repository, env: str, stacks: list[str], commit: str) -> list[StackSpec]:
    check_commit(commit)
    environment = repo.environment(env)
    deployments = repo.deployments(env)
    return [build_spec(repo, environment, deployments[s], commit) for s in stacks]


def spec_at_commit(repo: Repository, env: str, stack: str, commit: str) -> StackSpec:
    """The stack as it was at `commit` (template and deployment file from git)."""
    check_commit(commit)
    full = git(repo.root, "rev-parse", "--verify", f"{commit}^{{commit}}").strip()
    old = repo.sibling(checkout_at(repo.root, full))
    deployments = old.deployments(env)
    if stack not in deployments:
        raise RepoError(f"{stack} had no deployment file in environments/{env}/ at {commit[:12]}")
    return build_spec(old, repo.environment(env), deployments[stack], full)

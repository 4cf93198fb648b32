"""Which stacks of an environment a run covers, in dependency order, as StackSpecs."""

from __future__ import annotations

from pathlib import Path

from bot.cloud.spec import StackSpec, build_spec, check_commit
from bot.repo.changes import GitError, changed_files, checkout_at, git, touched
from bot.repo.graph import GraphError, StackGraph, build_graph
from bot.repo.model import Deployment, RepoError, Repository


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


def _history(repo: Repository, history: Path | None) -> Path | None:
    """The git checkout whose log says when a stack's files changed: `history`, else the
    repository itself when it is one (a tree from checkout_at has no history)."""
    if history is not None:
        return history
    return repo.root if (repo.root / ".git").exists() else None


def stack_version(history: Path | None, commit: str, paths: list[str]) -> str:
    """The last commit up to `commit` that changed `paths` (a stack's template and its
    deployment file): the version that stack deploys. `commit` itself when history cannot
    tell: no checkout, an unknown commit, or a shallow clone whose boundary hides it
    (every stack then deploys as of `commit`, as before versions; fetch the history)."""
    if history is None:
        return commit
    try:
        found = git(history, "log", "-1", "--format=%H", commit, "--", *paths).strip()
        if not found:
            return commit
        if git(history, "rev-parse", "--is-shallow-repository").strip() == "true":
            shallow = Path(git(history, "rev-parse", "--git-path", "shallow").strip())
            boundary = history / shallow if not shallow.is_absolute() else shallow
            if boundary.is_file() and found in boundary.read_text().split():
                return commit
    except GitError:
        return commit
    return found


def _inputs(repo: Repository, deployment: Deployment) -> list[str]:
    """A stack's inputs as paths in the repository: its template and deployment file."""
    deployment_file = deployment.path.resolve().relative_to(repo.root.resolve())
    return [deployment.spec.template_file_path, deployment_file.as_posix()]


def specs_for(
    repo: Repository, env: str, stacks: list[str], commit: str, history: Path | None = None
) -> list[StackSpec]:
    """The stacks as `commit` deploys them, each at its own version (stack_version from
    `history`, default the repository's own git history)."""
    check_commit(commit)
    environment = repo.environment(env)
    deployments = repo.deployments(env)
    log = _history(repo, history)
    return [
        build_spec(
            repo,
            environment,
            deployments[s],
            commit,
            stack_version(log, commit, _inputs(repo, deployments[s])),
        )
        for s in stacks
    ]


def spec_at_commit(repo: Repository, env: str, stack: str, commit: str) -> StackSpec:
    """The stack as it was at `commit` (template and deployment file from git)."""
    check_commit(commit)
    full = git(repo.root, "rev-parse", "--verify", f"{commit}^{{commit}}").strip()
    old = repo.sibling(checkout_at(repo.root, full))
    deployments = old.deployments(env)
    if stack not in deployments:
        raise RepoError(f"{stack} had no deployment file in environments/{env}/ at {commit[:12]}")
    version = stack_version(_history(repo, None), full, _inputs(old, deployments[stack]))
    return build_spec(old, repo.environment(env), deployments[stack], full, version)

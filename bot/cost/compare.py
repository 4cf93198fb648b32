"""Cost deltas of a repository's environments against another tree of it.

Shared by `infra-bot cost --changed-since` and the PR cost check (`/infra cost`).
"""

from __future__ import annotations

from datetime import date

from bot.cost.delta import EnvDelta, diff_env
from bot.cost.estimate import estimate_environment
from bot.cost.model import EnvEstimate
from bot.cost.prices import PriceTable
from bot.cost.usage import EMPTY, UsageFile, load_env_usage, load_usage
from bot.repo.model import Repository


def repository_usage(repo: Repository) -> UsageFile:
    """environments/usage.yaml, then environments/usage-<env>.yaml over it per environment,
    from the trusted checkout (`repo.policy`): a PR cannot price itself with its own usage."""
    folder = repo.policy.environments_dir
    default = folder / "usage.yaml"
    usage = load_usage(default, "environments/usage.yaml") if default.is_file() else EMPTY
    for env_file in sorted(folder.glob("usage-*.yaml")) if folder.is_dir() else []:
        env = env_file.stem.removeprefix("usage-")
        usage = load_env_usage(usage, env, env_file, f"environments/{env_file.name}")
    return usage


def environment_deltas(
    repo: Repository,
    envs: list[str],
    base: Repository | None,
    usage: UsageFile,
    table: PriceTable,
    day: date,
) -> list[EnvDelta]:
    """`envs` (all of `repo`'s when empty) priced in `repo` and, when given, in `base`;
    an environment `base` does not have is new. Unknown names raise RepoError."""
    names = envs or list(repo.environments)
    for name in names:
        repo.environment(name)
    after = {n: estimate_environment(repo, n, usage, table, day) for n in names}
    before: dict[str, EnvEstimate | None] = {
        n: estimate_environment(base, n, usage, table, day)
        if base is not None and n in base.environments
        else None
        for n in names
    }
    return [diff_env(n, before[n], after[n]) for n in names]

"""The one engine: choose targets, run every discovered check, collect findings
and what each check covered."""

from __future__ import annotations

import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot import findings_cache, rule_config
from bot.checks.base import Check, CheckContext, Coverage, Input, Skip, Status, Targets
from bot.checks.discovery import Registry, registry, select
from bot.findings import Finding, Severity
from bot.repo.changes import changed_files, checkout_at, touched
from bot.repo.graph import build_graph
from bot.repo.model import (
    ENVIRONMENTS_DIR,
    HELM_DIR,
    STACKS_DIR,
    TEMPLATE_SUFFIXES,
    RepoError,
    Repository,
)
from bot.repo.safeyaml import UnsafeYamlError, load_data
from bot.repo.templates import is_kubernetes_manifest
from bot.toolchain import Toolchain


@dataclass
class Report:
    findings: list[Finding]
    targets: Targets
    checks: list[str]
    coverage: list[Coverage] = field(default_factory=list)
    # The rule overrides of .github/infra-bot.yml in force, with their justification.
    rule_notes: list[str] = field(default_factory=list)

    def failed(self, fail_on: Severity) -> bool:
        return any(f.severity >= fail_on for f in self.findings)


def targets_for_paths(repo: Repository, paths: list[Path], envs: tuple[str, ...]) -> Targets:
    """Explicit paths: templates, deployment files, release folders, or folders of them."""
    templates: set[Path] = set()
    deployments: set[Path] = set()
    releases = set()
    manifests: set[Path] = set()
    for given in paths:
        path = given if given.is_absolute() else (repo.root / given)
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in files:
            rel = Path(repo.rel(f))
            top = rel.parts[0] if rel.parts else ""
            if f.suffix not in TEMPLATE_SUFFIXES or f.is_symlink():
                continue
            if top == ENVIRONMENTS_DIR and len(rel.parts) == 3:
                if not envs or rel.parts[1] in envs:
                    deployments.add(f.resolve())
            elif top == HELM_DIR and len(rel.parts) >= 2 and rel.parts[1] in repo.releases:
                releases.add(repo.releases[rel.parts[1]])
            elif top not in (ENVIRONMENTS_DIR, HELM_DIR):
                (manifests if is_kubernetes_manifest(f) else templates).add(f.resolve())
    return Targets(
        tuple(sorted(templates)),
        tuple(sorted(deployments)),
        tuple(sorted(releases, key=lambda r: r.name)),
        envs or tuple(repo.environments),
        tuple(sorted(manifests)),
    )


def all_targets(repo: Repository, envs: tuple[str, ...]) -> Targets:
    folders = [repo.root / d for d in (STACKS_DIR, ENVIRONMENTS_DIR, HELM_DIR)
               if (repo.root / d).is_dir()]  # fmt: skip
    # Templates kept outside stacks/, named by a deployment file's template-file-path.
    elsewhere = [p for p in repo.stack_paths.values() if p.parent != repo.root / STACKS_DIR]
    return targets_for_paths(repo, folders + elsewhere, envs)


def changed_targets(repo: Repository, ref: str, envs: tuple[str, ...]) -> Targets:
    """What the diff touches, plus every stack that imports from a touched stack."""
    diff = touched(repo, changed_files(repo.root, ref))
    if diff.rules:
        return all_targets(repo, envs)
    stacks = set(diff.stacks)
    # Importers are looked up before and after the change: a stack that imported
    # an export the change removed no longer shows up in the new graph.
    base = repo.sibling(checkout_at(repo.root, ref))
    for env in envs or tuple(repo.environments) or (None,):
        importers = build_graph(repo, env).dependents(stacks)
        importers |= build_graph(base, env).dependents(stacks)
        stacks |= importers
    paths = [repo.stack_paths[s] for s in sorted(stacks) if s in repo.stack_paths]
    for env in envs or tuple(repo.environments):
        paths += [d.path for s, d in repo.deployments(env).items() if s in stacks]
    paths += [repo.releases[r].folder for r in sorted(diff.releases) if r in repo.releases]
    return targets_for_paths(repo, paths, envs)


def run_checks(
    repo: Repository,
    targets: Targets,
    tools: Toolchain,
    *,
    only: list[str] | None = None,
    base_ref: str | None = None,
    checks: Registry | None = None,
) -> Report:
    """Run the chosen checks (default: every check in bot.checks) over `targets`.

    Raises UnknownCheckError if `only` names something that is not a check.
    """
    checks = registry() if checks is None else checks
    ids = select(checks, only)
    base_repo = repo.sibling(checkout_at(repo.root, base_ref)) if base_ref else None
    ctx = CheckContext(repo, targets, tools, base_repo=base_repo)
    cache = findings_cache.active()
    if cache is not None and (hit := findings_cache.cached_report(ctx, checks, ids, cache)):
        # Every check a hit: no template decoded, no check started.
        return _finish(repo, targets, ids, checks, hit.findings, hit.coverage)
    for i in ids:  # e.g. start a process pool, while the templates are read below
        checks[i].prepare(ctx)
    # Touch every template once up front, so the threads below share a warm cache.
    for path in targets.templates:
        repo.template(path)
    # cfn-lint is pure Python and holds the GIL; guard and helm are subprocesses,
    # so running checks in threads lets those use the second core meanwhile.
    with ThreadPoolExecutor(max_workers=max(1, len(ids))) as pool:
        futures = {i: pool.submit(findings_cache.wrap(_run_one), checks[i], ctx) for i in ids}
        results = [futures[i].result() for i in ids]
    findings = [f for found, _ in results for f in found]
    return _finish(repo, targets, ids, checks, findings, [cov for _, cov in results])


def _finish(
    repo: Repository,
    targets: Targets,
    ids: list[str],
    checks: Registry,
    findings: list[Finding],
    coverage: list[Coverage],
) -> Report:
    """What every run does with its results, cached or not: list the Kubernetes
    manifests left out, apply the configured rule overrides (bot.rule_config)."""
    coverage = [
        _with_manifests(checks[i], cov, repo, targets) for i, cov in zip(ids, coverage, strict=True)
    ]
    configured, applied = rule_config.apply(sorted(set(findings)), _overrides(repo))
    return Report(configured, targets, ids, coverage, rule_config.notes(applied))


def _overrides(repo: Repository) -> tuple[rule_config.Override, ...]:
    """The trusted `rules:` section (bot.rule_config); RepoError when it is wrong."""
    path = repo.policy.bot_config
    if not path.is_file():
        return ()
    try:
        return rule_config.parse(load_data(path), ".github/infra-bot.yml")
    except (UnsafeYamlError, OSError, rule_config.RuleConfigError) as exc:
        raise RepoError(str(exc)) from None


MANIFEST_SKIP = "Kubernetes manifests, not CloudFormation"


def _with_manifests(
    check: type[Check], cov: Coverage, repo: Repository, targets: Targets
) -> Coverage:
    """A template check that ran lists the Kubernetes manifests it left out."""
    if not targets.manifests or Input.TEMPLATES not in check.inputs or cov.status is not Status.RAN:
        return cov
    skips = [*cov.skipped, *(Skip(repo.rel(p), MANIFEST_SKIP) for p in targets.manifests)]
    return replace(cov, skipped=tuple(sorted(skips, key=lambda s: (s.reason, s.item))))


def _run_one(check: type[Check], ctx: CheckContext) -> tuple[list[Finding], Coverage]:
    """A crashing or misconfigured check becomes a finding; the others still run."""
    try:
        instance = check()
        found = instance.run(ctx)
    except Exception as exc:
        return _crashed(check.id, exc, [])
    try:
        return found, instance.coverage(ctx, found)
    except Exception as exc:
        # The findings stand; only the record of what was covered is lost, and says so.
        return _crashed(check.id, exc, found)


def _crashed(check_id: str, exc: Exception, found: list[Finding]) -> tuple[list[Finding], Coverage]:
    where = traceback.extract_tb(exc.__traceback__)[-1]
    crashed = Finding(
        "",
        0,
        0,
        f"{check_id}/crashed",
        Severity.ERROR,
        f"the {check_id} check could not run: {type(exc).__name__}: {exc} "
        f"(at {Path(where.filename).name}:{where.lineno})",
    )
    reason = f"{type(exc).__name__}: {exc}"
    return [*found, crashed], Coverage(check_id, Status.CRASHED, reason=reason)


def skipped_report(reason: str, checks: Registry | None = None) -> Report:
    """The report of a run that had nothing to look at: every check skipped, with why."""
    ids = list(registry() if checks is None else checks)
    return Report([], Targets(), ids, [Coverage(i, Status.SKIPPED, reason=reason) for i in ids])


def nothing_to_check(targets: Targets, what: str, *, expected: bool) -> Finding | None:
    """A run with no targets says so: an error when the user asked for files
    (or the whole repository) and found none, a note when a diff touched none."""
    if not targets.empty:
        return None
    return Finding(
        "",
        0,
        0,
        "validate/nothing-to-check",
        Severity.ERROR if expected else Severity.INFO,
        f"nothing to validate: {what} holds no templates, deployment files or Helm releases",
    )

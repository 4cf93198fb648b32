"""cfn-lint, in-process, once for every template and Git sync deployment file.

Loading cfn-lint's rules and schemas is most of its start-up cost, so one
rule set is built per process and shared by every template. Deployment files
are linted as cfn-lint's `--deployment-files` does: the template they point
to, with their parameters. With enough templates the work is spread over a
small process pool (cfn-lint is pure Python, so threads would not help).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from bot.checks.base import Check, CheckContext, Count, Coverage, Input, Skip, Status
from bot.findings import Finding, Severity
from bot.repo.model import DeploymentFile, RepoError, Repository, parse_model

_SEVERITY = {"error": Severity.ERROR, "warning": Severity.WARNING}
# Below this many lint jobs, starting workers (about a second each) costs more
# than it saves.
POOL_MIN_JOBS = 8
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Job:
    root: str
    template: str
    parameters: dict[str, str] | None = None
    source: str | None = None  # the deployment file the parameters come from
    # The trusted .cfnlintrc (bot.repo.policy); cfn-lint would otherwise read the one
    # in the working directory, which a PR head may be.
    config_file: str = ""
    # The regions of the environments that deploy the template (environments/<env>.yaml).
    regions: tuple[str, ...] = (DEFAULT_REGION,)


def _rel(root: str, filename: str) -> str:
    try:
        return Path(filename).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return Path(filename).as_posix()


def _finding(root: str, match: Any) -> Finding:
    rule = match.rule
    return Finding(
        path=_rel(root, str(match.filename)) if match.filename else "",
        line=int(match.linenumber or 0),
        column=int(match.columnnumber or 0),
        check_id=f"cfn-lint/{rule.id}",
        severity=_SEVERITY.get(str(rule.severity).lower(), Severity.INFO),
        message=str(match.message),
        tool="cfn-lint",
        help_url=str(getattr(rule, "source_url", "") or "") or None,
    )


# Per configuration file: (cfn-lint's config, its rules).
_STATE: dict[str, tuple[Any, Any]] = {}
# cfn-lint's rule objects depend only on where rules are loaded from (its
# append_rules and custom_rules options); loading them (a few hundred modules,
# their JSON schemas) is most of its start-up.
_RULES: dict[tuple[tuple[str, ...], str], Any] = {}


def _config(config_file: str) -> Any:
    from cfnlint.config import ConfigMixIn

    # Always an explicit file (a missing one reads as empty): never the
    # .cfnlintrc of the working directory or of $HOME.
    args = ["--config-file", config_file] if config_file else []
    return ConfigMixIn(args, regions=["us-east-1"])


def _rules(config: Any) -> Any:
    """cfn-lint's rules for `config`, built as its Runner builds them, once per source."""
    from cfnlint.runner import Runner

    if config.registry_schemas or config.override_spec:
        return Runner(config).rules  # patches cfn-lint's schemas too: never shared
    key = (tuple(config.append_rules), str(config.custom_rules or ""))
    if key not in _RULES:
        _RULES[key] = Runner(config).rules
    return _RULES[key]


def load_default_rules() -> None:
    """Load the rules an empty configuration uses (the fork server does, for every worker).

    An empty file, not "": the server must not read a .cfnlintrc of its working
    directory, which may patch cfn-lint's schemas for every worker.
    """
    logging.getLogger("cfnlint").setLevel(logging.CRITICAL)
    _rules(_config(os.devnull))


def _init(config_file: str = "") -> tuple[Any, Any]:
    """cfn-lint's configuration and rules, once per process and configuration file."""
    if config_file not in _STATE:
        # cfn-lint logs (rather than reports) nested templates it cannot open;
        # those are already matches, so the log lines would only be noise.
        logging.getLogger("cfnlint").setLevel(logging.CRITICAL)
        config = _config(config_file)
        _STATE[config_file] = (config, _rules(config))
    return _STATE[config_file]


def lint(job: Job) -> list[Finding]:
    from cfnlint.config import ParameterSet
    from cfnlint.runner import run_template_by_file_path

    config, rules = _init(job.config_file)
    regions = list(job.regions)
    if job.parameters is None:
        cfg = config.evolve(templates=[job.template], regions=regions)
    else:
        cfg = config.evolve(
            templates=[job.template],
            parameters=[ParameterSet(job.source, job.parameters)],
            regions=regions,
        )
    matches = run_template_by_file_path(job.template, cfg, rules, False)
    return [_finding(job.root, m) for m in matches]


def deployment_jobs(repo: Repository, files: tuple[Path, ...]) -> list[Job]:
    jobs = []
    root = repo.root.resolve()
    config = str(repo.policy.cfnlint_config)
    for f in files:
        template = deployment_template(repo, f)
        if template.is_file() and not repo.template(template).refused:
            parameters = dict(parse_model(DeploymentFile, f).parameters)
            env = repo.environments.get(f.parent.name)
            regions = (env.region,) if env else (DEFAULT_REGION,)
            jobs.append(Job(str(root), str(template), parameters, repo.rel(f), config, regions))
    return jobs


def deployment_template(repo: Repository, deployment: Path) -> Path:
    spec = parse_model(DeploymentFile, deployment)
    template = (repo.root / spec.template_file_path).resolve()
    if repo.root.resolve() not in template.parents:
        raise RepoError(f"{repo.rel(deployment)}: template-file-path leaves the repository")
    return template


def missing_template(repo: Repository, deployment: Path) -> Finding | None:
    """A deployment file whose template is not there cannot deploy: say so, never skip it."""
    template = deployment_template(repo, deployment)
    if template.is_file():
        return None
    spec = parse_model(DeploymentFile, deployment)
    return Finding(
        repo.rel(deployment), 1, 1, "cfn-lint/template-missing", Severity.ERROR,
        f"template-file-path {spec.template_file_path!r} does not exist; this deployment "
        "file was not linted and Git sync cannot deploy it",
        tool="cfn-lint",
    )  # fmt: skip


def _server() -> multiprocessing.context.ForkServerContext:
    """The process the pool's workers fork from, with cfn-lint's default rules loaded once.

    forkserver, not fork: the engine runs checks in threads, and forking a
    process with live threads can leave the child holding a dead lock. A worker
    builds the run's configuration from its trusted .cfnlintrc (_init) and only
    loads rules again if that file says to load them from elsewhere.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["bot.lint_server"])
    return context


def uses_pool(jobs: int, workers: int) -> bool:
    return workers > 1 and jobs >= POOL_MIN_JOBS


def warm_up() -> None:
    """Start the fork server now, so cfn-lint imports while the caller reads templates."""
    from multiprocessing import forkserver

    _server()
    forkserver.ensure_running()


def run_jobs(jobs: list[Job], workers: int) -> list[list[Finding]]:
    if not uses_pool(len(jobs), workers):
        return [lint(job) for job in jobs]
    # Every job of a run shares the trusted configuration: load it once per worker.
    warm = (jobs[0].config_file,)
    context = _server()
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init, initargs=warm) as pool:
        # One template per task: lint times differ by 100x and do not follow size.
        return list(pool.map(lint, jobs))


def pool_size() -> int:
    """cfn-lint is pure Python: at most one worker per core, and two are enough."""
    return min(2, os.cpu_count() or 1)


class CfnLintCheck(Check):
    id: ClassVar[str] = "cfn-lint"
    description: ClassVar[str] = "cfn-lint on templates and deployment files"
    inputs: ClassVar[frozenset[Input]] = frozenset({Input.TEMPLATES, Input.DEPLOYMENT_FILES})

    @classmethod
    def prepare(cls, ctx: CheckContext) -> None:
        """Start the pool's fork server: cfn-lint imports while the engine reads templates."""
        jobs = len(ctx.targets.templates) + len(ctx.targets.deployment_files)
        if uses_pool(jobs, pool_size()):
            warm_up()

    def run(self, ctx: CheckContext) -> list[Finding]:
        repo = ctx.repo
        root = str(repo.root.resolve())
        config = str(repo.policy.cfnlint_config)
        regions = _regions(repo)
        plain = [
            Job(root, str(p), config_file=config, regions=regions.get(p.resolve(), _all(repo)))
            for p in _lintable(ctx)
        ]
        with_params = deployment_jobs(repo, ctx.targets.deployment_files)
        results = run_jobs(plain + with_params, pool_size())
        findings = {f for batch in results[: len(plain)] for f in batch}
        seen = {(f.path, f.line, f.check_id) for f in findings}
        for job, batch in zip(with_params, results[len(plain) :], strict=True):
            # Only what the parameters change is news; the rest was reported above.
            news = [f for f in batch if (f.path, f.line, f.check_id) not in seen]
            findings.update(_in_deployment_file(job, f) for f in news)
        findings.update(
            f for d in ctx.targets.deployment_files if (f := missing_template(repo, d)) is not None
        )
        return sorted(findings)

    def coverage(self, ctx: CheckContext, findings: list[Finding]) -> Coverage:
        repo, deployments = ctx.repo, ctx.targets.deployment_files
        linted = {repo.rel(p) for p in _lintable(ctx)}
        skips = [Skip(repo.rel(p), "load/refused") for p in ctx.targets.templates
                 if repo.rel(p) not in linted]  # fmt: skip
        skips += [Skip(f.path, f.check_id) for f in findings if f.check_id.endswith("-missing")]
        counts = (Count("templates", len(ctx.targets.templates)),
                  Count("deployment files", len(deployments)))  # fmt: skip
        if not ctx.targets.templates and not deployments:
            return Coverage(self.id, Status.SKIPPED, reason="no templates or deployment files")
        skips.sort(key=lambda s: (s.reason, s.item))
        return Coverage(self.id, Status.RAN, counts, skipped=tuple(skips))


def _in_deployment_file(job: Job, found: Finding) -> Finding:
    """A finding the deployment file's parameters caused belongs to that file: its
    template line would point into the template, which the PR may not even touch."""
    if job.source is None or found.path == job.source:
        return found
    where = f"{found.path}:{found.line}" if found.line else found.path
    return replace(found, path=job.source, line=1, column=1,
                   message=f"with these parameters, {where}: {found.message}")  # fmt: skip


def _regions(repo: Repository) -> dict[Path, tuple[str, ...]]:
    """Per template: the distinct regions of the environments whose deployment files use it."""
    out: dict[Path, set[str]] = {}
    for name, env in repo.environments.items():
        try:
            deployments = repo.deployments(name).values()
        except RepoError:
            continue  # a broken deployment file is reported where it is linted
        for dep in deployments:
            template = (repo.root / dep.spec.template_file_path).resolve()
            out.setdefault(template, set()).add(env.region)
    return {path: tuple(sorted(regions)) for path, regions in out.items()}


def _all(repo: Repository) -> tuple[str, ...]:
    """A template no environment deploys: every environment's region (us-east-1 if none)."""
    return tuple(sorted({e.region for e in repo.environments.values()})) or (DEFAULT_REGION,)


def _lintable(ctx: CheckContext) -> list[Path]:
    """Templates cfn-lint reads; the rest were refused before parsing (the load check)."""
    repo = ctx.repo
    return [
        p
        for p in ctx.targets.templates
        if not repo.template(p).refused or repo.template(p).lint_reports_refusal
    ]

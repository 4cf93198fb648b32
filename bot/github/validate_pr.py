"""Validate a pull request: the real check engine on the checked-out head, then
one review, one commit status, a job summary and a SARIF file.

Request budget, whatever the number of findings: PR files (1 page per 100
files), the head commit's time, the bot's previous reviews, the new review
(+1 on a 422 fallback, +1 per outdated review edited), the commit status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.checks.base import Coverage
from bot.findings import Finding, Severity
from bot.github.actions import append_summary, log, write_sarif
from bot.github.api import ChangedFile, GitHubAPI, PullRequestInfo, StatusState
from bot.github.review import ReviewOutcome, post_review
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.checks.engine import Report

STATUS_CONTEXT = "infra-bot/validate"


@dataclass(frozen=True)
class ValidateOutcome:
    findings: tuple[Finding, ...]
    review: ReviewOutcome
    state: StatusState
    coverage: tuple[Coverage, ...] = ()


def changed_paths(files: list[ChangedFile]) -> list[str]:
    paths = {f.path for f in files}
    paths |= {f.previous_path for f in files if f.previous_path}
    return sorted(paths)


def run_engine(workspace: Path, paths: list[str], base_ref: str | None) -> Report:
    """The checks over what the changed paths touch (plus dependent stacks)."""
    from bot.checks.engine import all_targets, run_checks, skipped_report, targets_for_paths
    from bot.repo.changes import touched
    from bot.repo.graph import build_graph
    from bot.repo.model import Repository
    from bot.toolchain import Toolchain

    repo = Repository(workspace)
    diff = touched(repo, paths)
    if diff.rules:
        targets = all_targets(repo, ())
    else:
        stacks = set(diff.stacks)
        for changed_env in sorted(diff.environments & set(repo.environments)):
            stacks |= set(repo.deployments(changed_env))  # an environment file moves all its stacks
        for env in tuple(repo.environments) or (None,):
            stacks |= build_graph(repo, env).dependents(stacks)
        # Deleted files are gone from the workspace; what depends on them is enough.
        chosen = [repo.stack_paths[s] for s in sorted(stacks) if s in repo.stack_paths]
        for env in repo.environments:
            chosen += [d.path for s, d in repo.deployments(env).items() if s in stacks]
        chosen += [repo.releases[r].folder for r in sorted(diff.releases) if r in repo.releases]
        if not chosen:
            return skipped_report("no stack, deployment file or release changed")
        targets = targets_for_paths(repo, chosen, ())
    return run_checks(repo, targets, Toolchain(), base_ref=base_ref)


def status_for(
    findings: list[Finding], coverage: Sequence[Coverage] = ()
) -> tuple[StatusState, str]:
    from bot.render.findings import checks_named, summary_counts

    failed = any(f.severity >= Severity.ERROR for f in findings)
    state = StatusState.FAILURE if failed else StatusState.SUCCESS
    counts = summary_counts(findings) if findings else "no findings"
    # GitHub cuts a status description at 140 characters.
    return state, f"{counts}; {checks_named(coverage)}"[:140]


def validate_pull_request(
    api: GitHubAPI,
    settings: Settings,
    pr: PullRequestInfo,
    *,
    workspace: Path,
    sarif_path: Path | None = None,
    base_ref: str | None = None,
) -> ValidateOutcome:
    from bot.checks.engine import skipped_report
    from bot.render.findings import coverage_summary, to_markdown, to_sarif
    from bot.repo.changes import GitError
    from bot.repo.model import RepoError

    files = api.pull_request_files(pr.number)
    try:
        report = run_engine(workspace, changed_paths(files), base_ref)
    except (RepoError, GitError) as exc:
        # The repository's own files are inconsistent: that is the finding.
        report = skipped_report("the repository's files are inconsistent (repo/invalid)")
        report.findings = [Finding("", 0, 0, "repo/invalid", Severity.ERROR, str(exc))]
    findings, coverage = report.findings, report.coverage
    valid_at = api.commit_time(pr.head_sha)
    review = post_review(
        api, pr.number, head_sha=pr.head_sha, valid_at=valid_at, findings=findings, files=files,
        coverage=coverage,
    )  # fmt: skip
    state, description = status_for(findings, coverage)
    api.set_commit_status(pr.head_sha, state, STATUS_CONTEXT, description, settings.run_url)
    summary = to_markdown(findings, f"infra-bot validate #{pr.number}", coverage)
    append_summary(settings.step_summary, summary)
    write_sarif(sarif_path, to_sarif(findings, ["cfn-lint", "cfn-guard"], coverage))
    log(f"validate #{pr.number} {pr.head_sha[:7]}: {description}; {coverage_summary(coverage)}; "
        f"review: {'posted' if review.posted else review.reason}")  # fmt: skip
    return ValidateOutcome(tuple(findings), review, state, tuple(coverage))

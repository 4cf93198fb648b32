"""Validate a pull request: the real check engine on the checked-out head, then
one review, one commit status, a job summary and a SARIF file.

The head is data: the rules it is checked with (environments, guard rules,
.cfnlintrc, the chart cache) come from `policy`, the trusted checkout. A PR that
changes any of them gets a review that opens with "This PR changes the rules"
(bot.github.rules_changes), whatever the findings.

Request budget, whatever the number of findings: PR files (1 page per 100
files), the head commit's time, the bot's previous reviews, the new review
(+1 on a 422 fallback, +1 per outdated review edited), the commit status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.checks.base import Coverage
from bot.findings import Finding, Severity
from bot.github.actions import append_summary, log, write_sarif
from bot.github.api import (
    ChangedFile,
    GitHubAPI,
    PullRequestInfo,
    StatusState,
    TooManyFilesError,
)
from bot.github.review import ReviewOutcome, post_review
from bot.render.text import escape_md
from bot.repo.policy import Policy, RulesFile, rules_files
from bot.settings import Settings

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


@dataclass(frozen=True)
class EngineRun:
    findings: list[Finding]
    templates: tuple[Path, ...] = ()  # what the guard rules ran on
    rel: dict[str, str] = field(default_factory=dict)  # template path -> repo-relative
    coverage: tuple[Coverage, ...] = ()  # what each check looked at
    rule_notes: tuple[str, ...] = ()  # rule overrides in force (bot.rule_config)


def run_engine(
    workspace: Path, paths: list[str], base_ref: str | None, policy: Policy | None = None
) -> EngineRun:
    """The checks over what the changed paths touch (plus dependent stacks), with the
    rules of `policy` (default: the workspace's own)."""
    from bot.checks.engine import all_targets, run_checks, skipped_report, targets_for_paths
    from bot.repo.changes import touched
    from bot.repo.graph import build_graph
    from bot.repo.model import Repository
    from bot.toolchain import Toolchain

    repo = Repository(workspace, trusted=policy)
    diff = touched(repo, paths)
    if diff.rules:
        # The PR changes guard rules (the trusted copy is what runs): check everything,
        # so the review can show what the PR's version of them would change.
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
            reason = "no stack, deployment file or release changed"
            return EngineRun([], coverage=tuple(skipped_report(reason).coverage))
        targets = targets_for_paths(repo, chosen, ())
    report = run_checks(repo, targets, Toolchain(), base_ref=base_ref)
    data = tuple(p for p in targets.templates if repo.template(p).body is not None)
    return EngineRun(
        report.findings, data, {str(p): repo.rel(p) for p in data}, tuple(report.coverage),
        tuple(report.rule_notes),
    )  # fmt: skip


def apply_baseline(
    findings: list[Finding], files: list[ChangedFile], policy: Policy
) -> tuple[list[Finding], str]:
    """With a committed baseline (the trusted checkout's, never the PR's): the new
    findings and the pre-existing ones on changed lines; the rest are counted."""
    from bot.baseline import BaselineError, loads, suppressed_note
    from bot.github.review import diff_lines

    path = policy.baseline
    if not path.is_file():
        return findings, ""
    where = path.relative_to(policy.root).as_posix()
    try:
        new, old = loads(path.read_text(encoding="utf-8"), where).split(findings)
    except (OSError, UnicodeDecodeError, BaselineError) as exc:
        problem = Finding(where, 0, 0, "baseline/invalid", Severity.ERROR, str(exc))
        return [*findings, problem], ""
    changed = {f.path: diff_lines(f.patch, added_only=True) for f in files if f.status != "removed"}
    touched = [f for f in old if f.line > 0 and f.line in changed.get(f.path, frozenset())]
    hidden = len(old) - len(touched)
    return sorted([*new, *touched]), suppressed_note(hidden, f"`{where}`") if hidden else ""


def rules_preface(workspace: Path, changed: list[RulesFile], run: EngineRun) -> str:
    """The "This PR changes the rules" section (empty when it changes none); for guard
    rules with what the PR's own rules report."""
    from bot.github.rules_changes import (
        GuardComparison,
        compare_guard,
        guard_changed,
        rules_section,
    )
    from bot.toolchain import Toolchain

    comparison: GuardComparison | None = None
    if guard_changed(changed):
        guard = Toolchain().find("cfn-guard")
        comparison = (
            compare_guard(guard.path, workspace, run.findings, run.templates, run.rel)
            if guard is not None
            else GuardComparison(error="cfn-guard is not installed in this job")
        )
    return rules_section(changed, comparison)


def status_for(
    findings: list[Finding], coverage: Sequence[Coverage] = ()
) -> tuple[StatusState, str]:
    from bot.render.findings import checks_named, summary_counts

    failed = any(f.severity >= Severity.ERROR for f in findings)
    state = StatusState.FAILURE if failed else StatusState.SUCCESS
    counts = summary_counts(findings) if findings else "no findings"
    # GitHub cuts a status description at 140 characters.
    return state, f"{counts}; {checks_named(coverage)}"[:140]


def stale_checkout(workspace: Path, head_sha: str, policy: Policy | None) -> str | None:
    """Why the PR checkout is not the head the status goes on, or None. A push between
    the job's checkout and its look-up of the PR would otherwise get the verdict on
    the older commit: a green status on code nobody checked."""
    from bot.cloud.targets import head_commit
    from bot.repo.changes import GitError

    root = workspace.resolve()
    if policy is None or root == policy.root.resolve() or not (root / ".git").exists():
        return None  # the checks read the trusted checkout itself (local runs, tests)
    try:
        at = head_commit(root)
    except GitError as exc:
        return f"cannot tell which commit the checkout is at: {exc}"
    if at == head_sha:
        return None
    return (f"the checkout is at `{at[:12]}`, the pull request head is `{head_sha[:12]}` "
            "(pushed while this ran?): nothing at the head was checked. Comment "
            "`/infra validate` again.")  # fmt: skip


def validate_pull_request(
    api: GitHubAPI,
    settings: Settings,
    pr: PullRequestInfo,
    *,
    workspace: Path,
    sarif_path: Path | None = None,
    base_ref: str | None = None,
    policy: Policy | None = None,
) -> ValidateOutcome:
    from bot.checks.engine import skipped_report
    from bot.render.findings import coverage_summary, to_markdown, to_sarif
    from bot.repo.changes import GitError, reviewed_paths
    from bot.repo.model import RepoError

    try:
        files = api.pull_request_files(pr.number)
    except TooManyFilesError as exc:
        files = list(exc.files)  # cut at GitHub's cap: reviewed_paths refuses it, by name
    paths = changed_paths(files)
    statuses = {f.path: f.status for f in files}
    statuses |= {f.previous_path: "renamed" for f in files if f.previous_path}
    changed = rules_files(paths, statuses)
    run = EngineRun([])
    try:
        reviewed = reviewed_paths(workspace, base_ref, paths)
        run = run_engine(workspace, reviewed, base_ref, policy)
        findings, coverage = run.findings, run.coverage
    except (RepoError, GitError) as exc:
        # The repository's own files are inconsistent: that is the finding.
        findings = [Finding("", 0, 0, "repo/invalid", Severity.ERROR, str(exc))]
        reason = "the repository's files are inconsistent (repo/invalid)"
        coverage = tuple(skipped_report(reason).coverage)
    findings, note = apply_baseline(findings, files, policy or Policy(workspace))
    if stale := stale_checkout(workspace, pr.head_sha, policy):
        findings = [Finding("", 0, 0, "repo/stale-checkout", Severity.ERROR, stale)]
        coverage = tuple(skipped_report("the checkout is not the pull request head").coverage)
        note = ""
    preface = rules_preface(workspace, changed, run)
    configured = "\n".join(f"- {escape_md(n)}" for n in run.rule_notes)
    if configured:
        note = f"{note}\n\nRules configured in `.github/infra-bot.yml`:\n{configured}".strip()
    preface = f"{preface}\n\n{note}".strip() if note else preface
    valid_at = api.commit_time(pr.head_sha)
    review = post_review(
        api, pr.number, head_sha=pr.head_sha, valid_at=valid_at, findings=findings, files=files,
        coverage=coverage, preface=preface,
    )  # fmt: skip
    state, description = status_for(findings, coverage)
    api.set_commit_status(pr.head_sha, state, STATUS_CONTEXT, description, settings.run_url)
    markdown = to_markdown(findings, f"infra-bot validate #{pr.number}", coverage)
    title, _, report = markdown.partition("\n")
    append_summary(settings.step_summary, f"{title}\n\n{preface}{report}")
    write_sarif(sarif_path, to_sarif(findings, ["cfn-lint", "cfn-guard"], coverage))
    log(f"validate #{pr.number} {pr.head_sha[:7]}: {description}; {coverage_summary(coverage)}; "
        f"review: {'posted' if review.posted else review.reason}")  # fmt: skip
    return ValidateOutcome(tuple(findings), review, state, coverage)

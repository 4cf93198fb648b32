"""The GitHub side of generation: a branch, a PR (draft if findings remain), a reply.

`generate_pull_request` is the whole flow with every dependency passed in; the
`/infra <text>` runner in bot.commands.generate builds those from the workflow.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.github.api import GitHubAPI, OpenedPullRequest
from bot.llm.bedrock import Proposer
from bot.llm.loop import BUDGET_TOKENS, MAX_ROUNDS, Checker, Proposal, generate
from bot.llm.render import pr_body, pr_title, refusal
from bot.llm.workspace import Workspace
from bot.render.comments import cap_body

PR_CUT_NOTE = "\n\n_… cut to fit GitHub's 65,536-character limit; the diff has every change._"

BRANCH_PREFIX = "infra-bot/"
# (original repository root, workspace root with the edits) -> markdown
CostEstimator = Callable[[Path, Path], str]


def slug(text: str, limit: int = 40) -> str:
    out = ""
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > limit:
            break  # whole words only: a cut word reads like a typo in a branch name
        out = candidate
    return out or "change"


def branch_name(issue: int | None, title: str) -> str:
    return f"{BRANCH_PREFIX}{issue if issue is not None else 'local'}-{slug(title)}"


@dataclass(frozen=True)
class Outcome:
    proposal: Proposal
    pull_request: OpenedPullRequest | None
    branch: str | None
    reply: str  # what was (or would be) said on the issue


def cost_markdown(origin: Path, edited: Path) -> str:
    """Monthly cost delta per environment, from bot.cost; a plain note if it cannot run."""
    try:
        from datetime import UTC, datetime

        from bot.cost.delta import diff_env
        from bot.cost.estimate import estimate_environment
        from bot.cost.prices import load_embedded
        from bot.cost.usage import load_usage
        from bot.render.cost import headline
        from bot.repo.model import Repository
    except ImportError as exc:  # the cost part is optional in a build
        return f"Not estimated ({exc.name} is not available)."
    try:
        table = load_embedded()
        today = datetime.now(UTC).date()
        before_repo, after_repo = Repository(origin), Repository(edited)
        usage_path = edited / "environments" / "usage.yaml"
        usage = load_usage(usage_path)
        lines = []
        for env in after_repo.environments:
            before = estimate_environment(before_repo, env, usage, table, today)
            after = estimate_environment(after_repo, env, usage, table, today)
            lines.append(f"- {headline(diff_env(env, before, after))}")
        return "\n".join(lines) or "No environments to estimate."
    except Exception as exc:  # a cost problem must not block the PR
        return f"Not estimated: {type(exc).__name__}: {exc}"


def generate_pull_request(
    request_text: str,
    issue_number: int,
    repo_root: Path,
    github: GitHubAPI,
    proposer: Proposer,
    checker: Checker,
    *,
    max_rounds: int = MAX_ROUNDS,
    budget_tokens: int = BUDGET_TOKENS,
    requested_by: str = "",
    estimate_cost: CostEstimator | None = cost_markdown,
    reply: bool = True,
    reviewer_comments: Iterable[str] = (),
) -> Outcome:
    """Generate, then open the PR and (if `reply`) answer on the issue with its link."""
    proposal, ws = generate(
        request_text, repo_root, proposer, checker, max_rounds=max_rounds,
        budget_tokens=budget_tokens, reviewer_comments=reviewer_comments,
    )  # fmt: skip
    try:
        if not proposal.changes:
            text = refusal(proposal)
            if reply:
                github.create_issue_comment(issue_number, text)
            return Outcome(proposal, None, None, text)
        cost = estimate_cost(repo_root, ws.root) if estimate_cost else ""
        return _open(proposal, ws, issue_number, github, requested_by, cost, reply)
    finally:
        ws.remove()


def _open(
    proposal: Proposal,
    ws: Workspace,
    issue: int,
    github: GitHubAPI,
    requested_by: str,
    cost: str,
    reply: bool,
) -> Outcome:
    base = github.default_branch()
    branch = branch_name(issue, proposal.title)
    # Capped before the push: a body GitHub refuses (422) must not leave a branch
    # without its pull request.
    body = cap_body(pr_body(proposal, issue, requested_by, cost), note=PR_CUT_NOTE)
    github.create_branch_with_files(
        base, branch, dict(proposal.files), f"{pr_title(proposal)}\n\nRequested in #{issue}."
    )
    pr = github.open_pull_request(
        pr_title(proposal), body, head=branch, base=base, draft=not proposal.clean
    )
    state = "a draft pull request (findings remain)" if not proposal.clean else "a pull request"
    warn = (
        " It weakens a control or was partly refused: see the top of the PR."
        if (proposal.warnings)
        else ""
    )
    text = f"I opened {state}: {pr.url}{warn}"
    if reply:
        github.create_issue_comment(issue, text)
    return Outcome(proposal, pr, branch, text)

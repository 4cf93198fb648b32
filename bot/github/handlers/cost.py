"""`/infra cost [env]` and the PR workflow's cost step: the monthly cost delta of a PR.

Before is the base branch's tree (`origin/<base>`), after the PR head checkout. The
thresholds and the usage assumptions come from the trusted checkout (the one the bot
was installed from, request.policy): a PR cannot raise its own cost limit or price
itself with lower usage. An environment above its threshold fails the check until
`/infra approve-cost <env>` is given for the head commit.
"""

from __future__ import annotations

import shutil
from datetime import date
from typing import TYPE_CHECKING

from bot.github.commands import CommandRequest, CommandResult

if TYPE_CHECKING:
    from bot.cost.delta import EnvDelta
    from bot.repo.model import CostThresholds

KIND = "cost"


def run_cost(request: CommandRequest) -> CommandResult:
    from bot.cost.prices import PriceError
    from bot.cost.usage import UsageError
    from bot.github.approvals import valid_approvals
    from bot.github.sticky import ours
    from bot.render.cost import evaluate_thresholds, exceeding, render_comment, should_post
    from bot.render.text import escape_md, quote_untrusted
    from bot.repo.changes import GitError
    from bot.repo.model import RepoError

    pr = request.pr
    if pr is None or request.number is None:
        return CommandResult(False, "`cost` needs a pull request.")
    try:
        deltas, limits, price_date, compared = _deltas(request, pr.head_sha)
    except (RepoError, GitError, UsageError, PriceError) as exc:
        reason = quote_untrusted(escape_md(str(exc)))[:1000]
        return CommandResult(False, f"Cannot estimate the cost of `{pr.head_sha[:12]}`: {reason}")
    results = evaluate_thresholds(deltas, limits) if compared else {}
    comments = request.api.list_issue_comments(request.number)
    approved_by = valid_approvals(request.api, comments, pr.head_sha)
    approved = set(approved_by)
    body = render_comment(deltas, results, approved, approved_by, price_date=price_date,
                          compared=compared)  # fmt: skip
    ok = not exceeding(results, approved)
    # A workflow step speaks only when something priced changed, or to update what it
    # said about an earlier push; a person asking always gets the answer.
    asked = not request.from_workflow or bool(ours(comments, KIND))
    if not should_post(deltas, asked):
        return CommandResult(ok, summary=body)
    return CommandResult(ok, body, kind=KIND)


def _deltas(
    request: CommandRequest, head_sha: str
) -> tuple[list[EnvDelta], dict[str, CostThresholds], str, bool]:
    """(deltas, thresholds per env, price table date, compared with the base branch)."""
    from bot.cost.compare import environment_deltas, repository_usage
    from bot.cost.prices import load_embedded
    from bot.github.handlers.builtin import base_ref_for
    from bot.github.handlers.envruns import repo_at
    from bot.repo.changes import checkout_at

    head = repo_at(request.workspace, head_sha, request.policy)
    base_ref = base_ref_for(request)
    base_root = checkout_at(head.root, base_ref) if base_ref else None
    try:
        # Both trees are priced with the trusted environments and usage (head.policy):
        # the PR changes what is priced, never how.
        base = head.sibling(base_root) if base_root else None
        table = load_embedded()
        envs = list(request.command.args)
        deltas = environment_deltas(head, envs, base, repository_usage(head), table, date.today())
        limits = {n: e.cost for n, e in head.environments.items()}
    finally:
        if base_root:
            shutil.rmtree(base_root, ignore_errors=True)
    return deltas, limits, table.as_of, base is not None

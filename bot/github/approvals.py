"""`/infra approve-cost <env>`: recorded in one sticky comment the cost step reads.

Each approval is a line with a hidden, machine-readable marker:
`<!-- approve-cost env=prd user=alice sha=<head sha> -->`. Only the comment written
by this bot's own account (the API's `bot_login`) counts: not a person pasting the
marker, not another bot or App that can comment on the repository. And an approval
counts only while its approver still has write access.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.github.api import Comment, GitHubAPI, Permission
from bot.github.commands import CommandRequest, CommandResult
from bot.github.sticky import ours
from bot.render.text import quote_untrusted

KIND = "cost-approval"
_LINE = re.compile(
    r"<!-- approve-cost env=(?P<env>[a-z0-9-]+) user=(?P<user>[A-Za-z0-9-]+(?:\[bot\])?) "
    r"sha=(?P<sha>[0-9a-f]{0,40}) -->"
)


@dataclass(frozen=True)
class CostApproval:
    env: str
    user: str
    sha: str


def by_bot(comments: list[Comment], bot_login: str) -> list[Comment]:
    """The comments written by this bot's own account (any Bot may write a marker)."""
    return [c for c in comments if c.author_is_bot and c.author == bot_login]


def parse_approvals(comments: list[Comment], bot_login: str) -> list[CostApproval]:
    """Approvals recorded in the bot's cost-approval comment, latest per environment."""
    mine = ours(by_bot(comments, bot_login), KIND).get(1)
    if mine is None:
        return []
    found: dict[str, CostApproval] = {}
    for match in _LINE.finditer(mine.body):
        found[match["env"]] = CostApproval(match["env"], match["user"], match["sha"])
    return [found[env] for env in sorted(found)]


def render_approvals(approvals: list[CostApproval]) -> str:
    lines = ["### infra-bot cost approvals", ""]
    for a in approvals:
        # @ defused: the approval is recorded, not announced to the approver again.
        who = quote_untrusted(f"@{a.user}")
        lines.append(
            f"- `{a.env}`: cost increase accepted by {who} at `{a.sha[:7]}`"
            f" <!-- approve-cost env={a.env} user={a.user} sha={a.sha} -->"
        )
    return "\n".join(lines)


def valid_approvals(
    api: GitHubAPI, comments: list[Comment], head_sha: str | None = None
) -> dict[str, str]:
    """env -> approving user: recorded by this bot, by someone who can still write, and
    with `head_sha`, given for that commit."""
    found = {
        a.env: a.user
        for a in parse_approvals(comments, api.bot_login)
        if head_sha is None or a.sha == head_sha
    }
    writers = {u for u in set(found.values()) if api.permission(u) >= Permission.WRITE}
    return {env: user for env, user in found.items() if user in writers}


def approved_cost_envs(api: GitHubAPI, number: int, head_sha: str | None = None) -> dict[str, str]:
    """env -> approving user; with `head_sha`, only approvals given for that commit."""
    return valid_approvals(api, api.list_issue_comments(number), head_sha)


def run_approve_cost(request: CommandRequest) -> CommandResult:
    if request.number is None or request.pr is None:
        return CommandResult(False, "`approve-cost` needs a pull request.")
    env = request.command.args[0]
    if not re.fullmatch(r"[A-Za-z0-9-]+(?:\[bot\])?", request.actor):
        return CommandResult(False, "cannot record an approval for this account name.")
    comments = request.api.list_issue_comments(request.number)
    approvals = {a.env: a for a in parse_approvals(comments, request.api.bot_login)}
    approvals[env] = CostApproval(env, request.actor, request.pr.head_sha)
    body = render_approvals([approvals[e] for e in sorted(approvals)])
    from bot.github.sticky import post_sticky

    # Only our own comment is ours to edit: another bot's marker must not stop the record.
    post_sticky(
        request.api, request.number, kind=KIND, valid_at=datetime.now(UTC), body=body,
        existing=by_bot(comments, request.api.bot_login),
    )  # fmt: skip
    return CommandResult(True)

"""`/infra <follow-up>` on an infra-bot pull request: revise it in place.

The PR's files (as they are on its head) are laid over a copy of the default
branch, the reviewers' comments go into the prompt as extra (delimited) data,
and the result is one more commit on the same branch plus a comment saying
what changed. Only branches the bot opened, never forks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.github.api import GitHubAPI, Permission, PullRequestInfo, TooManyFilesError
from bot.llm.bedrock import Proposer
from bot.llm.loop import BUDGET_TOKENS, MAX_ROUNDS, Checker, Proposal, generate
from bot.llm.pr import BRANCH_PREFIX
from bot.llm.render import changes_section, checks_section, refusal, usage_line, warning_block
from bot.llm.workspace import Workspace
from bot.repo.changes import ChangeListError

MAX_COMMENTS = 20
MAX_COMMENT_CHARS = 2000
ASK = "To ask for a new change instead, describe it with `/infra <what you want>` in an issue."


@dataclass(frozen=True)
class Revision:
    proposal: Proposal | None
    commit: str | None
    reply: str


def refusal_reason(pr: PullRequestInfo) -> str | None:
    """Why this PR cannot be revised by the bot (pure)."""
    if not pr.head_ref.startswith(BRANCH_PREFIX):
        return f"only pull requests the bot opened (branches {BRANCH_PREFIX}...) can be revised"
    if pr.from_fork:
        return "pull requests from forks are never revised"
    if pr.state != "open":
        return "the pull request is closed"
    return None


def reviewer_comments(github: GitHubAPI, number: int) -> list[str]:
    """What people with write permission (not bots) said on the PR, newest last, bounded.

    Anyone can comment on a public repository's PR; what goes into the prompt is
    an instruction to the model, so only those who could push the change
    themselves are heard. Permission is asked once per author.
    """
    texts: list[tuple[str, str]] = [
        (c.author, f"{c.author} on {c.path}:{c.line or ''}: {c.body}")
        for c in github.list_review_comments(number)
    ]
    texts += [(c.author, f"{c.author}: {c.body}") for c in github.list_issue_comments(number)
              if not c.author_is_bot and not c.body.lstrip().startswith("/infra")]  # fmt: skip
    texts += [(r.author, f"{r.author} (review): {r.body}")
              for r in github.list_reviews(number) if r.body]  # fmt: skip
    writers: dict[str, bool] = {}
    kept = []
    for author, text in texts:
        if author not in writers:
            writers[author] = github.permission(author) >= Permission.WRITE
        if writers[author]:
            kept.append(text[:MAX_COMMENT_CHARS])
    return kept[-MAX_COMMENTS:]


def _overlay(ws: Workspace, github: GitHubAPI, pr: PullRequestInfo) -> list[str]:
    from bot.repo.changes import API_FILE_CAP

    paths = []
    try:
        listed = github.pull_request_files(pr.number)
    except TooManyFilesError as exc:  # the adapter's error for GitHub's cap
        raise ChangeListError(
            f"the pull request has {API_FILE_CAP:,} or more changed files"
        ) from exc
    if len(listed) >= API_FILE_CAP:
        # GitHub stops listing here: the model would revise a change it cannot see whole.
        raise ChangeListError(f"the pull request has {API_FILE_CAP:,} or more changed files")
    for changed in listed:
        text = github.read_file(changed.path, pr.head_sha)
        target = ws.root / changed.path
        if text is None or changed.path.split("/")[0] not in ("stacks", "environments",
                                                               "helm-values"):  # fmt: skip
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        paths.append(changed.path)
    return paths


def revise_pull_request(
    request_text: str,
    pr: PullRequestInfo,
    repo_root: Path,
    github: GitHubAPI,
    proposer: Proposer,
    checker: Checker,
    *,
    max_rounds: int = MAX_ROUNDS,
    budget_tokens: int = BUDGET_TOKENS,
    extra_comments: Iterable[str] = (),
) -> Revision:
    reason = refusal_reason(pr)
    if reason:
        return Revision(None, None, f"Sorry, I can't revise this pull request: {reason}. {ASK}")
    ws = Workspace.copy_of(repo_root)
    try:
        try:
            _overlay(ws, github, pr)
        except ChangeListError as exc:
            return Revision(None, None, f"Sorry, I can't revise this pull request: {exc}. {ASK}")
        # The workspace (main + the PR's files) is what the model sees and edits.
        base = Workspace(origin=repo_root, root=ws.root)
        comments = [*reviewer_comments(github, pr.number), *extra_comments]
        proposal, _ = generate(
            request_text, ws.root, proposer, checker, max_rounds=max_rounds,
            budget_tokens=budget_tokens, reviewer_comments=comments, workspace=base,
        )  # fmt: skip
    finally:
        ws.remove()
    if not proposal.changes:
        return Revision(proposal, None, refusal(proposal))
    sha = github.update_branch_with_files(
        pr.head_ref, dict(proposal.files), f"infra-bot: {request_text[:60]}"
    )
    parts = [warning_block(proposal.warnings)] if proposal.warnings else []
    parts += [f"Revised in {sha[:12]}.\n", changes_section(proposal), checks_section(proposal),
              usage_line(proposal)]  # fmt: skip
    return Revision(proposal, sha, "\n".join(parts))

"""Propose, apply, check, feed the findings back: up to N rounds, then a Proposal.

The proposer (Bedrock or the offline blueprints) and the checker (the real
validation engine) are parameters, so this loop is the same in the CLI, in the
GitHub flow and in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.checks.base import Coverage
from bot.findings import Finding
from bot.llm import guardrails
from bot.llm.bedrock import Answer, Proposer
from bot.llm.context import Context, build_context
from bot.llm.prompts import render
from bot.llm.schema import TOOL_NAME
from bot.llm.usage import Usage, cost_usd, estimate_tokens
from bot.llm.workspace import Rejected, Workspace
from bot.repo.model import RepoError, Repository

# The defaults of generate() and of the PR flows that call it; a repository's `llm:`
# settings (max_rounds, context_tokens) override them.
MAX_ROUNDS = 3
BUDGET_TOKENS = 24000


@dataclass(frozen=True)
class Checked:
    """A checker's answer: the findings, and what the checks covered to find them."""

    findings: list[Finding]
    coverage: tuple[Coverage, ...]


# (workspace root, repository-relative paths that changed) -> findings; a checker
# that returns bare findings reports no coverage, and the PR body says so.
Checker = Callable[[Path, list[str]], "list[Finding] | Checked"]


@dataclass(frozen=True)
class FileChange:
    path: str
    old: str | None
    new: str
    rationale: str


@dataclass(frozen=True)
class Proposal:
    request: str
    title: str
    summary: str
    changes: tuple[FileChange, ...]
    findings: tuple[Finding, ...]
    rejected: tuple[Rejected, ...]
    warnings: tuple[str, ...]
    rounds: int
    usage: Usage
    model_id: str
    prompt_tokens: int
    error: str | None = None
    coverage: tuple[Coverage, ...] = ()  # of the last check round; () if none ran

    @property
    def files(self) -> dict[str, str | None]:
        return {c.path: c.new for c in self.changes}

    @property
    def cost_usd(self) -> float | None:
        return cost_usd(self.model_id, self.usage) if self.usage.calls else 0.0

    @property
    def clean(self) -> bool:
        return bool(self.changes) and not self.findings and not self.error


@dataclass
class _State:
    rationale: dict[str, str] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    title: str = ""
    summary: str = ""
    error: str | None = None


def _apply(ws: Workspace, answer: Answer, state: _State) -> list[Rejected]:
    state.usage += answer.usage
    state.error = answer.error
    if answer.proposal is None:
        return []
    state.title, state.summary = answer.proposal.title, answer.proposal.summary
    rejected: list[Rejected] = []
    for edit in answer.proposal.edits:
        refused = ws.apply(edit)
        if refused is not None:
            rejected.append(refused)
        else:
            state.rationale[edit.path] = edit.rationale
    state.rejected += rejected
    return rejected


def system_prompt(repo: Repository) -> str:
    try:
        envs = list(repo.environments) or ["dev", "tst", "prd"]
    except RepoError:
        envs = ["dev", "tst", "prd"]
    return render("system.j2", tool_name=TOOL_NAME, environments=envs)


def request_prompt(context: Context, request: str, reviewer_comments: Iterable[str] = ()) -> str:
    return render(
        "request.j2",
        repo_map=context.repo_map,
        files=context.files,
        omitted=context.omitted,
        request=request,
        reviewer_comments=list(reviewer_comments),
        tool_name=TOOL_NAME,
    )


def generate(
    request: str,
    repo_root: Path,
    proposer: Proposer,
    checker: Checker,
    *,
    max_rounds: int = MAX_ROUNDS,
    budget_tokens: int = BUDGET_TOKENS,
    reviewer_comments: Iterable[str] = (),
    workspace: Workspace | None = None,
    repo: Repository | None = None,
) -> tuple[Proposal, Workspace]:
    """Run the rounds; the caller owns (and removes) the returned workspace."""
    repo = repo or Repository(repo_root)
    context = build_context(repo, request, budget_tokens)
    ws = workspace or Workspace.copy_of(repo_root)
    state = _State()
    system = system_prompt(repo)
    first = request_prompt(context, request, reviewer_comments)
    prompt_tokens = estimate_tokens(system) + estimate_tokens(first)
    try:
        rounds, last = _rounds(proposer, checker, ws, state, system, first, max_rounds)
    except BaseException:
        if workspace is None:
            ws.remove()  # a Bedrock error must not leave scratch copies behind
        raise
    changes = tuple(
        FileChange(path, old, new, state.rationale.get(path, ""))
        for path, (old, new) in ws.changes().items()
    )
    warnings = [
        f"the model proposed an edit that was refused: `{r.path}`: {r.reason}"
        for r in state.rejected
    ]
    warnings += guardrails.change_warnings(changes, ws.root)
    proposal = Proposal(
        request=request,
        title=state.title or "infra-bot change",
        summary=state.summary,
        changes=changes,
        findings=tuple(last.findings),
        rejected=tuple(state.rejected),
        warnings=tuple(dict.fromkeys(warnings)),
        rounds=rounds,
        usage=state.usage,
        model_id=proposer.model_id,
        prompt_tokens=prompt_tokens,
        error=state.error if not changes else None,
        coverage=last.coverage,
    )
    return proposal, ws


def _rounds(
    proposer: Proposer,
    checker: Checker,
    ws: Workspace,
    state: _State,
    system: str,
    first: str,
    max_rounds: int,
) -> tuple[int, Checked]:
    """Ask, apply, check, until clean, out of rounds, or the proposer has nothing more."""
    answer: Answer | None = proposer.first(system, first)
    last = Checked([], ())
    rounds = 0
    while answer is not None:
        rounds += 1
        rejected = _apply(ws, answer, state)
        changed = sorted(ws.changes())
        last = _checked(checker(ws.root, changed)) if changed else Checked([], ())
        findings = last.findings
        if (not findings and not rejected and state.error is None and changed) or (
            rounds >= max_rounds
        ):
            break
        feedback = render(
            "repair.j2",
            round=rounds + 1,
            max_rounds=max_rounds,
            tool_name=TOOL_NAME,
            error=state.error or "",
            rejected=[(r.path, r.reason) for r in rejected],
            findings=findings,
            files=[(p, ws.read(p) or "") for p in changed],
        )
        answer = proposer.follow_up(feedback)
    return rounds, last


def _checked(result: list[Finding] | Checked) -> Checked:
    return result if isinstance(result, Checked) else Checked(list(result), ())

"""Markdown for what generation produced: the PR body, the issue reply, the CLI summary.

Pure functions of a Proposal. Everything the model wrote (title, summary,
rationales) is as untrusted as a comment: HTML-escaped and defused of
@mentions and #refs before it reaches GitHub.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.llm.loop import Proposal
from bot.render.findings import clean_md, coverage_md, finding_line_md, summary_counts
from bot.render.text import blockquote, escape_md, quote_untrusted, strip_controls

MARKER = "<!-- infra-bot:generate -->"
MAX_TITLE = 100


def safe(text: str) -> str:
    return quote_untrusted(escape_md(text))


def pr_title(proposal: Proposal) -> str:
    title = " ".join(strip_controls(proposal.title).split())[:MAX_TITLE] or "infra-bot change"
    return f"infra-bot: {title}"


def warning_block(warnings: Iterable[str]) -> str:
    items = [f"> - {safe(w)}" for w in warnings]
    if not items:
        return ""
    head = (
        "> [!CAUTION]\n> **Review with care: this change weakens a control or was partly refused.**"
    )
    return "\n".join([head, *items]) + "\n"


def usage_line(proposal: Proposal) -> str:
    if proposal.usage.calls == 0:
        return f"Generated offline from blueprints (`{proposal.model_id}`), no model call."
    cost = proposal.cost_usd
    price = "unknown cost (model not in the price table)" if cost is None else f"${cost:.4f}"
    u = proposal.usage
    return (
        f"Model `{proposal.model_id}`: {proposal.rounds} round(s), {u.calls} call(s), "
        f"{u.input_tokens:,} input + {u.output_tokens:,} output tokens, {price}."
    )


def checks_section(proposal: Proposal) -> str:
    if not proposal.findings:
        return f"### Checks\n\n{clean_md(proposal.coverage, 'the changed files')}\n"
    lines = [
        "### Checks\n",
        f":warning: **{summary_counts(list(proposal.findings))} remain after "
        f"{proposal.rounds} round(s)**; this PR is a draft until they are fixed.\n",
        coverage_md(proposal.coverage) + "\n",
    ]
    lines += [f"- `{escape_md(f.path)}` {finding_line_md(f)}" for f in proposal.findings[:50]]
    if len(proposal.findings) > 50:
        lines.append(f"- … and {len(proposal.findings) - 50} more")
    return "\n".join(lines) + "\n"


def changes_section(proposal: Proposal) -> str:
    rows = ["### Changes\n", "| File | Why |", "|---|---|"]
    for c in proposal.changes:
        state = " (new)" if c.old is None else ""
        why = safe(c.rationale).replace("|", "\\|").replace("\n", " ") or "-"
        rows.append(f"| `{escape_md(c.path)}`{state} | {why} |")
    return "\n".join(rows) + "\n"


def pr_body(
    proposal: Proposal,
    issue: int | None,
    requested_by: str = "",
    cost_markdown: str = "",
) -> str:
    parts = [MARKER]
    if proposal.warnings:
        parts.append(warning_block(proposal.warnings))
    who = f" by {quote_untrusted(requested_by)}" if requested_by else ""
    where = f" in #{issue}" if issue else ""
    parts.append(f"**Requested{who}{where}:**\n\n{blockquote(proposal.request)}\n")
    if proposal.summary:
        parts.append(f"{safe(proposal.summary)}\n")
    parts.append(changes_section(proposal))
    parts.append(checks_section(proposal))
    parts.append(f"### Cost\n\n{cost_markdown or 'Not estimated.'}\n")
    parts.append(f"### Generation\n\n{usage_line(proposal)}\n")
    if issue:
        parts.append(f"Closes #{issue}")
    return "\n".join(parts).rstrip() + "\n"


def refusal(proposal: Proposal) -> str:
    """The issue reply when nothing could be proposed."""
    reason = proposal.error or "the proposal had no acceptable edits"
    lines = [f"I could not make this change: {safe(reason)}"]
    if proposal.rejected:
        lines.append("")
        lines += [f"- `{escape_md(r.path)}`: {safe(r.reason)}" for r in proposal.rejected]
    if proposal.usage.calls:
        lines += ["", usage_line(proposal)]
    return "\n".join(lines)

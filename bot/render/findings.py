"""Findings as JSON, SARIF 2.1.0, Markdown, and GitHub workflow annotations.

Every format also says what the checks covered (bot.checks.base.Coverage):
which checks ran on how many files and releases, and what was skipped and
why. A clean result is only ever claimed next to that record.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from bot import __version__
from bot.checks.base import Count, Coverage, Status
from bot.findings import Finding, Severity
from bot.render.text import escape_md, quote_untrusted

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
# Code scanning groups alerts by tool; checks without their own tool share ours.
SARIF_TOOL = {"cfn-lint": "cfn-lint", "cfn-guard": "cfn-guard"}
MAX_SKIPPED_NAMES = 5
_ICON = {
    Severity.ERROR: ":x:",
    Severity.WARNING: ":warning:",
    Severity.INFO: ":information_source:",
}


def by_file(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    grouped: dict[str, list[Finding]] = defaultdict(list)
    for f in sorted(findings):
        grouped[f.path or "(repository)"].append(f)
    return dict(grouped)


# How a count reads after the one before it: every release is rendered for each
# environment, every template is checked against every rule.
_JOINERS = {"environments": " x ", "rules": " against "}


def counts_text(counts: Iterable[Count]) -> str:
    text = ""
    for i, count in enumerate(counts):
        text += (_JOINERS.get(count.noun, ", ") if i else "") + str(count)
    return text


def coverage_line(c: Coverage) -> str:
    """One check's record: `cfn-guard: 14 templates, 31 rules` or `kube — no releases`."""
    if c.status is Status.SKIPPED and not c.skipped:
        return f"{c.check} — {c.reason}"
    if c.status is Status.CRASHED:
        return f"{c.check} — could not run ({c.reason})"
    text = f"{c.check}: {counts_text(c.counts)}"
    groups: dict[str, list[str]] = defaultdict(list)
    for skip in c.skipped:
        groups[skip.reason].append(skip.item)
    notes = []
    for reason, items in sorted(groups.items()):
        more = " …" if len(items) > MAX_SKIPPED_NAMES else ""
        names = ", ".join(items[:MAX_SKIPPED_NAMES]) + more
        if " " in reason:  # a reason in words, not the id of the finding that says why
            notes.append(f"skipped: {len(items)} {reason}: {names}")
        else:
            notes.append(f"{len(items)} skipped, see {reason}: {names}")
    return text + (f" ({'; '.join(notes)})" if notes else "")


def ran(coverage: Iterable[Coverage]) -> list[Coverage]:
    return [c for c in coverage if c.status is Status.RAN]


def not_run(coverage: Iterable[Coverage]) -> list[Coverage]:
    return [c for c in coverage if c.status is not Status.RAN]


def checks_named(coverage: Iterable[Coverage]) -> str:
    """The shortest honest form, for a commit status: `ran a, b; skipped c`."""
    items = list(coverage)
    done = ", ".join(c.check for c in ran(items)) or "none"
    rest = ", ".join(c.check for c in not_run(items))
    return f"ran {done}" + (f"; skipped {rest}" if rest else "")


def coverage_summary(coverage: Iterable[Coverage]) -> str:
    """One line for logs and the command line."""
    items = list(coverage)
    parts = []
    if ran(items):
        parts.append("checked: " + "; ".join(coverage_line(c) for c in ran(items)))
    else:
        parts.append("no check ran")
    if not_run(items):
        parts.append("skipped: " + "; ".join(coverage_line(c) for c in not_run(items)))
    return " · ".join(parts)


def _block(title: str, items: list[Coverage]) -> str:
    # Skipped items are file and folder names from the PR: quoted like any user text.
    lines = [f"- {quote_untrusted(escape_md(coverage_line(c)))}" for c in items]
    return f"**{title}:**\n\n" + "\n".join(lines)


def coverage_md(coverage: Iterable[Coverage]) -> str:
    """The "what was checked" block of every Markdown body."""
    items = list(coverage)
    blocks = [_block("Checks run", ran(items)) if ran(items) else ":warning: **No check ran.**"]
    if not_run(items):
        blocks.append(_block("Skipped", not_run(items)))
    return "\n\n".join(blocks)


def clean_md(coverage: Iterable[Coverage], subject: str) -> str:
    """The all-clear, claimed only for what actually ran."""
    items = list(coverage)
    if not ran(items):
        blocks = [f":warning: No check ran on {subject}, so nothing was checked."]
        if items:
            blocks.append(_block("Skipped", items))
        return "\n\n".join(blocks)
    names = ", ".join(c.check for c in ran(items))
    return f":white_check_mark: {names} found nothing on {subject}.\n\n" + coverage_md(items)


def to_json(findings: list[Finding], coverage: Iterable[Coverage] = ()) -> str:
    return json.dumps(
        {
            "version": 1,
            "findings": [f.to_dict() for f in sorted(findings)],
            "coverage": [c.to_dict() for c in coverage],
        },
        indent=2,
    )


def to_sarif(
    findings: list[Finding], tools: Iterable[str] = (), coverage: Iterable[Coverage] = ()
) -> dict[str, Any]:
    """One run per tool, as code scanning groups alerts by tool; each run records
    the coverage of the checks behind it, and a skipped check as a notification."""
    per_tool: dict[str, list[Finding]] = defaultdict(list)
    per_tool_coverage: dict[str, list[Coverage]] = defaultdict(list)
    for name in tools:
        per_tool[name]
    for c in coverage:
        tool = SARIF_TOOL.get(c.check, "infra-bot")
        per_tool[tool]
        per_tool_coverage[tool].append(c)
    for f in findings:
        per_tool[f.tool].append(f)
    runs = []
    for tool, items in sorted(per_tool.items()):
        rules: dict[str, dict[str, Any]] = {}
        results = []
        for f in sorted(items):
            rule = rules.setdefault(f.check_id, {"id": f.check_id, "name": f.check_id})
            if f.help_url:
                rule["helpUri"] = f.help_url
            if f.nist_control:
                rule["properties"] = {"tags": [f"NIST-800-53-{f.nist_control}"]}
            location: dict[str, Any] = {"artifactLocation": {"uri": f.path or "."}}
            if f.line > 0:
                location["region"] = {"startLine": f.line, "startColumn": max(f.column, 1)}
            results.append({
                "ruleId": f.check_id,
                "level": _SARIF_LEVEL[f.severity],
                "message": {"text": f.message},
                "locations": [{"physicalLocation": location}],
            })  # fmt: skip
        run: dict[str, Any] = {
            "tool": {"driver": {"name": tool, "informationUri": "https://github.com/infra-bot",
                                "version": __version__, "rules": list(rules.values())}},
            "results": results,
        }  # fmt: skip
        if covered := per_tool_coverage.get(tool):
            run["properties"] = {"coverage": [c.to_dict() for c in covered]}
            run["invocations"] = [_invocation(covered)]
        runs.append(run)
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": runs}


def _invocation(coverage: list[Coverage]) -> dict[str, Any]:
    notes = [
        {"level": "error" if c.status is Status.CRASHED else "warning",
         "message": {"text": coverage_line(c)}}
        for c in not_run(coverage)
    ]  # fmt: skip
    return {
        "executionSuccessful": all(c.status is not Status.CRASHED for c in coverage),
        "toolExecutionNotifications": notes,
    }


def _annotation_escape(text: str, *, prop: bool = False) -> str:
    # Workflow commands are parsed line by line; these escapes keep user text
    # from ending the command early or starting a new one.
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def to_github(findings: list[Finding], coverage: Iterable[Coverage] = ()) -> str:
    kinds = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
    lines = [
        f"::notice title=infra-bot {'checked' if c.status is Status.RAN else 'skipped'}::"
        f"{_annotation_escape(coverage_line(c))}"
        for c in coverage
    ]
    for f in sorted(findings):
        props = [f"title={_annotation_escape(f.check_id, prop=True)}"]
        if f.path:
            props.insert(0, f"file={_annotation_escape(f.path, prop=True)}")
        if f.line:
            props.insert(1, f"line={f.line}")
        lines.append(f"::{kinds[f.severity]} {','.join(props)}::{_annotation_escape(f.message)}")
    return "\n".join(lines)


def finding_line_md(f: Finding, *, with_location: bool = True) -> str:
    where = f"L{f.line} " if with_location and f.line else ""
    control = f" · NIST {f.nist_control}" if f.nist_control else ""
    link = f" ([docs]({f.help_url}))" if f.help_url else ""
    return (
        f"{_ICON[f.severity]} {where}`{f.check_id}`{control}: "
        f"{quote_untrusted(escape_md(f.message))}{link}"
    )


def summary_counts(findings: list[Finding]) -> str:
    counts = {s: sum(1 for f in findings if f.severity == s) for s in Severity}
    return ", ".join(f"{counts[s]} {s.label}{'s' if counts[s] != 1 else ''}"
                     for s in reversed(Severity))  # fmt: skip


def to_markdown(
    findings: list[Finding], title: str = "infra-bot validate", coverage: Iterable[Coverage] = ()
) -> str:
    covered = list(coverage)
    if not findings:
        return f"### {title}\n\n{clean_md(covered, 'these files')}\n"
    parts = [f"### {title}\n", f"**{summary_counts(findings)}**\n", coverage_md(covered) + "\n"]
    for path, items in by_file(findings).items():
        parts.append(f"<details open><summary><code>{escape_md(path)}</code> "
                     f"({len(items)})</summary>\n")  # fmt: skip
        parts.extend(f"- {finding_line_md(f)}" for f in items)
        parts.append("\n</details>\n")
    return "\n".join(parts)

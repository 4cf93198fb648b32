"""Findings as JSON, SARIF 2.1.0, Markdown, and GitHub workflow annotations."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from bot import __version__
from bot.findings import Finding, Severity
from bot.render.text import escape_md, quote_untrusted

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
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


def to_json(findings: list[Finding]) -> str:
    return json.dumps({"version": 1, "findings": [f.to_dict() for f in sorted(findings)]}, indent=2)


def to_sarif(findings: list[Finding], tools: Iterable[str] = ()) -> dict[str, Any]:
    """One run per tool, as code scanning groups alerts by tool."""
    per_tool: dict[str, list[Finding]] = defaultdict(list)
    for name in tools:
        per_tool[name]
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
        runs.append({
            "tool": {"driver": {"name": tool, "informationUri": "https://github.com/infra-bot",
                                "version": __version__, "rules": list(rules.values())}},
            "results": results,
        })  # fmt: skip
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": runs}


def _annotation_escape(text: str, *, prop: bool = False) -> str:
    # Workflow commands are parsed line by line; these escapes keep user text
    # from ending the command early or starting a new one.
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def to_github(findings: list[Finding]) -> str:
    kinds = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
    lines = []
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


def to_markdown(findings: list[Finding], title: str = "infra-bot validate") -> str:
    if not findings:
        return f"### {title}\n\n:white_check_mark: No findings.\n"
    parts = [f"### {title}\n", f"**{summary_counts(findings)}**\n"]
    for path, items in by_file(findings).items():
        parts.append(f"<details open><summary><code>{escape_md(path)}</code> "
                     f"({len(items)})</summary>\n")  # fmt: skip
        parts.extend(f"- {finding_line_md(f)}" for f in items)
        parts.append("\n</details>\n")
    return "\n".join(parts)

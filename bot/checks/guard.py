"""cfn-guard: the real binary, every rule file under guard/rules, one run.

cfn-guard's structured JSON nests clauses inside rules (and rules inside
rules). We walk it and keep each leaf clause that failed: its custom message
(which carries our `[NIST XX-N]` tag and fix hint) and the `[L:n,C:m]` position
cfn-guard prints for the value it traversed to.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from bot.checks.base import Check, CheckContext, Count, Coverage, Status
from bot.findings import Finding, Severity, nist_control_from
from bot.subproc import tool_env

RULES_DIR = Path("guard") / "rules"
HELP_URL = "https://docs.aws.amazon.com/cfn-guard/latest/ug/what-is-guard.html"
_POS = re.compile(r"\[L:(\d+),C:(\d+)\]")
_RESOURCE = re.compile(r"^/Resources/([^/\[]+)")
_RULE = re.compile(r"^\s*rule\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)


def _clauses(node: Any, rule: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(rule name, clause) for every leaf clause in a not_compliant entry."""
    if isinstance(node, dict):
        if "Rule" in node and isinstance(node["Rule"], dict):
            inner = node["Rule"]
            for check in inner.get("checks") or []:
                yield from _clauses(check, str(inner.get("name") or rule))
            return
        for kind in ("Unary", "Binary", "Block"):
            if kind in node and isinstance(node[kind], dict):
                yield rule, node[kind]
                return
        for value in node.values():
            yield from _clauses(value, rule)
    elif isinstance(node, list):
        for item in node:
            yield from _clauses(item, rule)


def _first_path(node: Any) -> str | None:
    if isinstance(node, dict):
        path = node.get("path")
        if isinstance(path, str):
            return path
        for value in node.values():
            if (found := _first_path(value)) is not None:
                return found
    elif isinstance(node, list):
        for item in node:
            if (found := _first_path(item)) is not None:
                return found
    return None


def parse_report(report: Any, rel: dict[str, str]) -> list[Finding]:
    """Map cfn-guard's structured JSON onto Findings; `rel` maps data names to paths."""
    findings: set[Finding] = set()
    for entry in report if isinstance(report, list) else [report]:
        if not isinstance(entry, dict):
            continue
        path = rel.get(str(entry.get("name")), str(entry.get("name")))
        for item in entry.get("not_compliant") or []:
            clauses = list(_clauses(item, "unknown"))
            for rule, clause in clauses:
                findings.add(_finding(path, rule, clause))
            rule_node = item.get("Rule") if isinstance(item, dict) else None
            if not clauses and isinstance(rule_node, dict):
                # A shape we do not know: still report the rule, at file level.
                findings.add(_finding(path, str(rule_node.get("name")), {}))
    return sorted(findings)


def _finding(path: str, rule: str, clause: dict[str, Any]) -> Finding:
    messages = clause.get("messages") or {}
    custom = " ".join(str(messages.get("custom_message") or "").split())
    error = " ".join(str(messages.get("error_message") or "").split())
    where = _first_path(clause.get("check")) or ""
    pos = _POS.search(error) or _POS.search(where)
    resource = _RESOURCE.match(where)
    return Finding(
        path=path,
        line=int(pos.group(1)) if pos else 0,
        column=int(pos.group(2)) + 1 if pos else 0,
        check_id=f"guard/{rule}",
        severity=Severity.ERROR,
        message=custom or error or f"rule {rule} failed",
        tool="cfn-guard",
        nist_control=nist_control_from(custom),
        help_url=HELP_URL,
        resource=resource.group(1) if resource else None,
    )


def run_guard(binary: Path, rules: list[Path], data: list[Path], timeout: float = 300) -> Any:
    cmd = [str(binary), "validate", "--output-format", "json", "--structured"]
    cmd += ["--show-summary", "none"]
    for r in rules:
        cmd += ["--rules", str(r)]
    for d in data:
        cmd += ["--data", str(d)]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, check=False, env=tool_env()
    )
    # Exit 19 means "some rule failed", which is the normal case for findings.
    if proc.returncode not in (0, 19):
        raise RuntimeError(f"cfn-guard exited {proc.returncode}: {proc.stderr.strip()[:500]}")
    return json.loads(proc.stdout or "[]")


def rule_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.guard")) if folder.is_dir() else []


def rule_names(files: list[Path]) -> set[str]:
    """The named rules the files declare: what "checked against N rules" counts."""
    texts = [f.read_text(encoding="utf-8", errors="replace") for f in files]
    return {m.group(1) for text in texts for m in _RULE.finditer(text)}


def no_rules_finding() -> Finding:
    # The user asked for a policy check; an empty policy must not read as a pass.
    return Finding(
        RULES_DIR.as_posix(), 0, 0, "cfn-guard/no-rules", Severity.ERROR,
        f"no *.guard rule files under {RULES_DIR.as_posix()}/: the templates were not "
        "checked against any policy", tool="cfn-guard", help_url=HELP_URL,
    )  # fmt: skip


class GuardCheck(Check):
    id: ClassVar[str] = "cfn-guard"
    description: ClassVar[str] = "cfn-guard NIST 800-53 rules: the packaged pack and guard/rules"

    def run(self, ctx: CheckContext) -> list[Finding]:
        # The trusted rules (the packaged pack with the trusted guard/rules over it): a
        # PR that deletes or loosens one is still checked with it.
        rules = ctx.repo.policy.guard_rule_files()
        data = _guardable(ctx)
        if not data:
            return []
        if not rules:
            return [no_rules_finding()]
        binary = ctx.tools.require("cfn-guard").path
        report = run_guard(binary, rules, data)
        rel = {str(p): ctx.repo.rel(p) for p in data}
        return parse_report(report, rel)

    def coverage(self, ctx: CheckContext, findings: list[Finding]) -> Coverage:
        data = _guardable(ctx)
        if not data:
            return Coverage(self.id, Status.SKIPPED, reason="no templates")
        files = ctx.repo.policy.guard_rule_files()
        if not files:
            reason = f"no rules under {RULES_DIR.as_posix()}"
            return Coverage(self.id, Status.SKIPPED, reason=reason)
        counts = (Count("templates", len(data)), Count("rules", len(rule_names(files))))
        return Coverage(self.id, Status.RAN, counts)


def _guardable(ctx: CheckContext) -> list[Path]:
    # Templates that failed to decode are reported by the load check; guard
    # would only abort on them and hide the findings for the others.
    return [p for p in ctx.targets.templates if ctx.repo.template(p).body is not None]

"""Templates refused before parsing (too large, binary, empty, alias bombs).

cfn-lint reports the ones its own loader rejects; this check reports the rest,
so a file nobody could read is an error and never a silent pass.
"""

from __future__ import annotations

from typing import ClassVar

from bot.checks.base import Check, CheckContext
from bot.findings import Finding, Severity


class RefusedFileCheck(Check):
    id: ClassVar[str] = "load"
    description: ClassVar[str] = "files refused before parsing (size, binary, alias bombs)"

    def run(self, ctx: CheckContext) -> list[Finding]:
        out = []
        for path in ctx.targets.templates:
            template = ctx.repo.template(path)
            if template.refused and not template.lint_reports_refusal:
                rel = ctx.repo.rel(path)
                for err in template.errors:
                    at = (err.line, err.column)
                    out.append(Finding(rel, *at, "load/refused", Severity.ERROR, err.message))
        return out

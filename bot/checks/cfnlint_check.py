"""cfn-lint, in-process, once for every template and Git sync deployment file.

Loading cfn-lint's rules and schemas is most of its start-up cost, so one
rule set is built per run and shared by every template, and deployment files
are linted as cfn-lint's `--deployment-files` does: the template they point to,
with their parameters.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar

from bot.checks.base import CheckContext, register
from bot.findings import Finding, Severity
from bot.repo.model import DeploymentFile, Repository, RepoError, parse_model

_SEVERITY = {"error": Severity.ERROR, "warning": Severity.WARNING}


def _finding(repo: Repository, match: Any, via: str | None = None) -> Finding:
    rule = match.rule
    message = str(match.message)
    if via:
        message = f"{message} (with parameters from {via})"
    return Finding(
        path=repo.rel(Path(match.filename)) if match.filename else "",
        line=int(match.linenumber or 0),
        column=int(match.columnnumber or 0),
        check_id=f"cfn-lint/{rule.id}",
        severity=_SEVERITY.get(str(rule.severity).lower(), Severity.INFO),
        message=message,
        tool="cfn-lint",
        help_url=str(getattr(rule, "source_url", "") or "") or None,
    )


def _parameter_sets(repo: Repository, files: tuple[Path, ...]) -> dict[Path, list[Any]]:
    from cfnlint.config import ParameterSet

    by_template: dict[Path, list[Any]] = defaultdict(list)
    for f in files:
        spec = parse_model(DeploymentFile, f)
        template = (repo.root / spec.template_file_path).resolve()
        if repo.root.resolve() not in template.parents:
            raise RepoError(f"{repo.rel(f)}: template-file-path leaves the repository")
        by_template[template].append(ParameterSet(repo.rel(f), dict(spec.parameters)))
    return by_template


@register
class CfnLintCheck:
    id: ClassVar[str] = "cfn-lint"
    description: ClassVar[str] = "cfn-lint on templates and deployment files"

    def run(self, ctx: CheckContext) -> list[Finding]:
        from cfnlint.config import ConfigMixIn
        from cfnlint.runner import Runner, run_template_by_file_path

        # cfn-lint logs (rather than reports) nested templates it cannot open;
        # those are already matches, so the log lines would only be noise.
        logging.getLogger("cfnlint").setLevel(logging.CRITICAL)
        repo = ctx.repo
        templates = [p for p in ctx.targets.templates if not repo.template(p).refused]
        config = ConfigMixIn([], regions=["us-east-1"])
        # Building a Runner loads the rules; keep it and reuse its rule set.
        runner = Runner(config)
        findings: set[Finding] = set()
        seen: set[tuple[str, int, str]] = set()
        for path in templates:
            for match in run_template_by_file_path(
                str(path), config.evolve(templates=[str(path)]), runner.rules, False
            ):
                finding = _finding(repo, match)
                findings.add(finding)
                seen.add((finding.path, finding.line, finding.check_id))
        for template, sets in _parameter_sets(repo, ctx.targets.deployment_files).items():
            if not template.is_file() or repo.template(template).refused:
                continue
            for pset in sets:
                cfg = config.evolve(templates=[str(template)], parameters=[pset])
                for match in run_template_by_file_path(str(template), cfg, runner.rules, False):
                    # Only what the parameters change is news; the rest was reported above.
                    finding = _finding(repo, match, via=pset.source)
                    if (finding.path, finding.line, finding.check_id) not in seen:
                        findings.add(finding)
        return sorted(findings)

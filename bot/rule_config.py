"""Rules as configuration: the `rules:` section of `.github/infra-bot.yml`.

A team may disable or downgrade a guard or cfn-lint rule for some paths, stacks
or environments, and must say why:

    rules:
      - rule: guard/SC7_EKS_ENDPOINT_PRIVATE
        action: warning            # disable | warning | info
        stacks: [legacy-eks]       # any of paths (globs), stacks, environments; none: everywhere
        justification: "public endpoint until the VPN lands (PLAT-142)"

The section is read from the trusted checkout (bot.repo.policy), like the rest of
the file, and every override in force is listed, with its justification, in the
output and the PR review. An environment scope matches the findings of that
environment's deployment files only: a template is deployed everywhere. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.findings import Finding, Severity

_TOOLS = ("guard/", "cfn-lint/")


class RuleConfigError(ValueError):
    """The `rules:` section cannot be used as written."""


class Override(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rule: str
    action: Literal["disable", "warning", "info"]
    justification: str = Field(min_length=1)
    paths: tuple[str, ...] = ()
    stacks: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()

    @field_validator("rule")
    @classmethod
    def _tool_rule(cls, rule: str) -> str:
        if not rule.startswith(_TOOLS) or rule.endswith("/"):
            raise ValueError(f"{rule!r}: only guard/<RULE> and cfn-lint/<ID> can be configured")
        return rule

    @field_validator("justification")
    @classmethod
    def _said(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("a justification is required")
        return " ".join(text.split())

    def matches(self, f: Finding) -> bool:
        if f.check_id != self.rule:
            return False
        stack, env = _place(f.path)
        if self.paths and not any(fnmatchcase(f.path, p) for p in self.paths):
            return False
        if self.stacks and stack not in self.stacks:
            return False
        return not self.environments or env in self.environments

    def describe(self) -> str:
        scope = [f"{k} {', '.join(v)}" for k, v in
                 (("paths", self.paths), ("stacks", self.stacks),
                  ("environments", self.environments)) if v]  # fmt: skip
        what = "disabled" if self.action == "disable" else f"downgraded to {self.action}"
        where = f" for {'; '.join(scope)}" if scope else " everywhere"
        return f"{self.rule} {what}{where}: {self.justification}"


def _place(path: str) -> tuple[str | None, str | None]:
    """(stack, environment) of a repository path, where it has them."""
    parts = PurePosixPath(path).parts
    if len(parts) == 2 and parts[0] == "stacks":
        return PurePosixPath(parts[1]).stem, None
    if len(parts) == 3 and parts[0] == "environments":
        return PurePosixPath(parts[2]).stem, parts[1]
    return None, None


def parse(settings: Any, where: str) -> tuple[Override, ...]:
    """The `rules:` list of the decoded settings file (absent: none)."""
    section = settings.get("rules") if isinstance(settings, dict) else None
    if section is None:
        return ()
    if not isinstance(section, list):
        raise RuleConfigError(f"{where}: rules must be a list")
    out = []
    for i, item in enumerate(section):
        try:
            out.append(Override.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}" for e in exc.errors()
            )
            raise RuleConfigError(f"{where}: rules[{i}]: {problems}") from None
    return tuple(out)


@dataclass(frozen=True)
class Applied:
    override: Override
    findings: int  # how many findings it disabled or downgraded in this run


def apply(
    findings: list[Finding], overrides: tuple[Override, ...]
) -> tuple[list[Finding], list[Applied]]:
    """The first override that matches a finding decides it."""
    counts = [0] * len(overrides)
    out: list[Finding] = []
    for f in findings:
        i = next((n for n, o in enumerate(overrides) if o.matches(f)), None)
        if i is None:
            out.append(f)
            continue
        counts[i] += 1
        action = overrides[i].action
        if action != "disable":
            note = f" (downgraded by .github/infra-bot.yml: {overrides[i].justification})"
            out.append(replace(f, severity=Severity.parse(action), message=f.message + note))
    return sorted(out), [Applied(o, n) for o, n in zip(overrides, counts, strict=True)]


def notes(applied: list[Applied]) -> list[str]:
    return [f"{a.override.describe()} ({a.findings} in this run)" for a in applied]

"""The one result type every check produces, and the severity scale it uses."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import Any

_NIST_RE = re.compile(r"\[NIST ([A-Z]{2}-\d+(?:\(\d+\))?)\]")


class Severity(IntEnum):
    """Ordered so that `severity >= fail_on` decides the exit code."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r}; expected one of {names}") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, order=True)
class Finding:
    """A problem at a place in the repository.

    `line` and `column` are 1-based; 0 means "the file as a whole". `path` is
    relative to the repository root with forward slashes, so the same finding
    compares equal wherever the repository is checked out.
    """

    path: str
    line: int
    column: int
    check_id: str
    severity: Severity
    message: str
    tool: str = "infra-bot"
    nist_control: str | None = None
    help_url: str | None = None
    resource: str | None = None
    extra: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.label
        data["extra"] = dict(self.extra)
        return data


def nist_control_from(message: str) -> str | None:
    """Our guard rules tag every message with `[NIST XX-N]`; pull that id out."""
    match = _NIST_RE.search(message)
    return match.group(1) if match else None


def worst(findings: list[Finding]) -> Severity | None:
    return max((f.severity for f in findings), default=None)

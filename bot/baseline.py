"""Gradual adoption: today's findings, written down once, are not news tomorrow.

`infra-bot baseline` writes what the checks find now; `validate --baseline F`
then reports only what is not in it. A finding is keyed by its check id, its
resource and its file, never its line: an edit above a known problem moves it
without making it new. Keys count: a baseline that holds a key twice suppresses
two findings with that key, and a third one is new.

The baseline decides what is reported, so it is a rules file (bot.repo.policy):
a pull request is judged by the trusted checkout's copy, never by its own. Pure.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bot.findings import Finding

FORMAT = 1
# Committed next to .github/infra-bot.yml: both are read from the default branch,
# both decide how strictly a PR is judged, and .github/ is where CODEOWNERS
# usually guards such files. (.infra-bot/ is the chart cache, not committed.)
DEFAULT_PATH = ".github/infra-bot-baseline.json"

Key = tuple[str, str, str]  # (check id, resource or "", repository-relative path)


class BaselineError(ValueError):
    """The baseline file is not one this version of infra-bot wrote."""


def key(f: Finding) -> Key:
    return (f.check_id, f.resource or "", f.path)


@dataclass(frozen=True)
class Baseline:
    counts: tuple[tuple[Key, int], ...] = ()

    @classmethod
    def of(cls, findings: list[Finding]) -> Baseline:
        return cls(tuple(sorted(Counter(key(f) for f in findings).items())))

    def split(self, findings: list[Finding]) -> tuple[list[Finding], list[Finding]]:
        """(new, pre-existing): each baseline entry accounts for one finding with its key."""
        left = dict(self.counts)
        new: list[Finding] = []
        old: list[Finding] = []
        for f in sorted(findings):
            k = key(f)
            if left.get(k, 0) > 0:
                left[k] -= 1
                old.append(f)
            else:
                new.append(f)
        return new, old


def dumps(findings: list[Finding]) -> str:
    """The file `infra-bot baseline` writes: sorted, so that a re-run diffs cleanly.
    Line and message are kept for the reader; they are not part of the key."""
    entries = [
        {"check_id": f.check_id, "resource": f.resource or "", "path": f.path,
         "severity": f.severity.label, "line": f.line, "message": f.message}
        for f in sorted(findings, key=lambda f: (key(f), f.line, f.message))
    ]  # fmt: skip
    return json.dumps({"version": FORMAT, "findings": entries}, indent=2) + "\n"


def loads(text: str, where: str) -> Baseline:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{where}: not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("version") != FORMAT:
        raise BaselineError(f"{where}: not an infra-bot baseline (version {FORMAT})")
    entries = data.get("findings")
    if not isinstance(entries, list):
        raise BaselineError(f"{where}: 'findings' must be a list")
    counts: Counter[Key] = Counter()
    for i, entry in enumerate(entries):
        fields = [entry.get(k) if isinstance(entry, dict) else None
                  for k in ("check_id", "resource", "path")]  # fmt: skip
        if not all(isinstance(v, str) for v in fields) or not fields[0]:
            raise BaselineError(f"{where}: findings[{i}] needs check_id, resource and path")
        counts[(str(fields[0]), str(fields[1]), str(fields[2]))] += 1
    return Baseline(tuple(sorted(counts.items())))


def suppressed_note(n: int, where: str) -> str:
    if not n:
        return f"no pre-existing findings suppressed by the baseline {where}"
    noun = "finding" if n == 1 else "findings"
    return f"{n} pre-existing {noun} suppressed by the baseline {where}"

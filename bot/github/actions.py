"""The GitHub Actions side channels: job summary, SARIF file, log lines.

Paths come from `Settings`; nothing here reads the environment. Everything
written passes the run's redactor (bot.redact) first.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bot.redact import active
from bot.render.text import strip_controls

# GitHub refuses a job summary over 1 MiB per step.
MAX_SUMMARY_BYTES = 1024 * 1024 - 1024


def append_summary(path: Path | None, markdown: str) -> None:
    """Add to $GITHUB_STEP_SUMMARY (a no-op outside Actions)."""
    if path is None or not markdown:
        return
    data = active().text(markdown).encode("utf-8")
    existing = path.stat().st_size if path.exists() else 0
    room = MAX_SUMMARY_BYTES - existing
    if room <= 0:
        return
    if len(data) > room:
        data = data[: max(0, room - 80)] + b"\n\n_... cut: the job summary limit is 1 MiB._\n"
    with path.open("ab") as fh:
        fh.write(data + b"\n")


def set_output(path: Path | None, name: str, value: str) -> None:
    """A step output ($GITHUB_OUTPUT; a no-op outside Actions). One line: `value` has none."""
    if path is None:
        return
    if "\n" in value or "\r" in value or not name.replace("-", "").isalnum():
        raise ValueError(f"step output {name!r} must be one line with a plain name")
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"{name}={value}\n")


def write_sarif(path: Path | None, sarif: dict[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(active().data(sarif), indent=2), encoding="utf-8")


def log(message: str) -> None:
    """One line to the job log; user text in it cannot start a workflow command."""
    clean = strip_controls(active().text(message)).replace("\r", " ").replace("\n", " ")
    if clean.startswith("::"):
        clean = " " + clean
    sys.stderr.write(f"infra-bot: {clean}\n")

"""Comment bodies the bot owns: hidden markers, folding, and splitting.

Pure functions. Every body the bot posts starts with a marker
`<!-- infra-bot:<kind> valid-at=<ISO time> -->` so a later run finds it,
edits it, and never lets an older run overwrite a newer one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

# GitHub rejects bodies over 65,536 characters; keep room for the marker and
# the "part i of n" header added after splitting.
GITHUB_LIMIT = 65_536
SPLIT_LIMIT = 65_000
FOLD_LINES = 40

_MARKER = re.compile(
    r"<!-- infra-bot:(?P<kind>[a-z0-9][a-z0-9._-]*) valid-at=(?P<at>\S+)"
    r"(?: part=(?P<part>\d+))? -->"
)
_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_DETAILS_OPEN = re.compile(r"<details\b[^>]*>", re.IGNORECASE)
_DETAILS_CLOSE = re.compile(r"</details\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class Marker:
    kind: str
    valid_at: datetime
    part: int = 1


def marker(kind: str, valid_at: datetime, part: int = 1) -> str:
    suffix = f" part={part}" if part > 1 else ""
    return f"<!-- infra-bot:{kind} valid-at={valid_at.isoformat()}{suffix} -->"


def parse_marker(body: str) -> Marker | None:
    """The marker on the first line of a body, if the bot wrote one there."""
    match = _MARKER.match(body.lstrip()[:300])
    if not match:
        return None
    try:
        at = datetime.fromisoformat(match["at"])
    except ValueError:
        return None
    return Marker(match["kind"], at, int(match["part"] or 1))


def fold(text: str, summary: str, *, max_lines: int = FOLD_LINES, open_: bool = False) -> str:
    """Short text stays as is; long text goes into a <details> block."""
    if text.count("\n") < max_lines:
        return text
    attr = " open" if open_ else ""
    return f"<details{attr}><summary>{summary}</summary>\n\n{text}\n\n</details>"


@dataclass
class _State:
    fence: str = ""  # the opening fence line, if inside a code block
    details: int = 0  # open <details> depth (outside code)

    def closers(self) -> list[str]:
        out = []
        if self.fence:
            out.append(self._fence_chars())
        out.extend(["</details>"] * self.details)
        return out

    def reopeners(self) -> list[str]:
        out = ["<details open><summary>(continued)</summary>\n"] * self.details
        if self.fence:
            out.append(self.fence)
        return out

    def _fence_chars(self) -> str:
        match = _FENCE.match(self.fence)
        return match["fence"] if match else "```"

    def feed(self, line: str) -> None:
        match = _FENCE.match(line)
        if self.fence:
            opener = self._fence_chars()
            if (
                match
                and not match["info"].strip()
                and match["fence"][0] == opener[0]
                and len(match["fence"]) >= len(opener)
            ):
                self.fence = ""
            return
        if match:
            self.fence = line
            return
        self.details += len(_DETAILS_OPEN.findall(line))
        self.details = max(0, self.details - len(_DETAILS_CLOSE.findall(line)))


def split_body(body: str, limit: int = SPLIT_LIMIT) -> list[str]:
    """Cut a long body at line ends into parts of at most `limit` characters.

    A cut inside a code fence or a <details> block closes them at the end of
    the part and reopens them at the start of the next, so every part renders
    on its own. A single line longer than the limit is hard-wrapped.
    """
    if len(body) <= limit:
        return [body]
    reserve = 200  # room for closers and reopeners
    parts: list[str] = []
    state = _State()
    current: list[str] = []
    size = 0
    for line in _lines(body, limit - reserve):
        if current and size + len(line) + 1 > limit - reserve:
            parts.append("\n".join([*current, *state.closers()]))
            current = list(state.reopeners())
            size = sum(len(x) + 1 for x in current)
        current.append(line)
        size += len(line) + 1
        state.feed(line)
    if current:
        parts.append("\n".join(current))
    return parts


CUT_NOTE = "\n\n_… cut to fit GitHub's 65,536-character limit; the job summary has the rest._"


def cap_body(body: str, limit: int = GITHUB_LIMIT, note: str = CUT_NOTE) -> str:
    """`body` if GitHub accepts its length, else its first part (fences and
    <details> closed) and `note`: what every body the bot writes goes through."""
    if len(body) <= limit:
        return body
    first = split_body(body, limit - len(note))[0]
    return (first + note)[:limit]


def _lines(body: str, width: int) -> list[str]:
    out: list[str] = []
    for whole in body.split("\n"):
        line = whole
        while len(line) > width:
            out.append(line[:width])
            line = line[width:]
        out.append(line)
    return out


def with_markers(kind: str, valid_at: datetime, body: str, limit: int = SPLIT_LIMIT) -> list[str]:
    """The body split into parts, each starting with its marker and a part header."""
    chunks = split_body(body, limit)
    if len(chunks) == 1:
        return [f"{marker(kind, valid_at)}\n{body}"]
    total = len(chunks)
    return [
        f"{marker(kind, valid_at, i)}\n<sub>part {i} of {total}</sub>\n\n{chunk}"
        for i, chunk in enumerate(chunks, start=1)
    ]

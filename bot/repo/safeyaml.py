"""Reading YAML that may come from a stranger's pull request.

Everything under stacks/, environments/ and helm-values/ is untrusted when it
arrives in a PR, so every read is bounded: a byte limit before parsing and an
alias limit during parsing (an alias bomb is tiny on disk and explodes only when
something walks the tree, so the byte limit alone does not stop it), and a
nesting-depth limit checked on the raw text before any parser sees it (libyaml
crashes the process on a 100,000-deep `[[[[`, and the Python loader would hit
RecursionError long before).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

# CloudFormation refuses template bodies over 1 MB (via S3); nothing we read
# legitimately comes near this, so anything larger is refused before parsing.
MAX_BYTES = 1_048_576
# A bomb is tiny on disk and explodes when aliases are expanded. We count the
# nodes the document would have once expanded, from parse events alone, and
# refuse past this many (1 MB of real YAML stays far below it).
MAX_EXPANDED_NODES = 250_000
# Real templates nest 10-20 levels (Resources.X.Properties.Policies[].PolicyDocument
# .Statement[].Condition...); charts' values a little more. Python's loaders
# recurse per level, so this stays far below where they would fail.
MAX_DEPTH = 100
_BLOCK_SCALAR = re.compile(r"(?:^|[\s:-])[|>][0-9+-]{0,2}$")
_COMMENT = re.compile(r"(?:^|\s)#.*$")
_SEQ_ENTRY = re.compile(r"(?:[-?:](?:\s+|$))")


# libyaml's C loader when PyYAML was built with it: same results, several times faster.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UnsafeYamlError(ValueError):
    """The document was refused before or while it was parsed."""


def read_bounded(path: Path, limit: int = MAX_BYTES) -> str:
    size = path.stat().st_size
    if size > limit:
        raise UnsafeYamlError(
            f"{size:,} bytes is over the {limit:,}-byte limit for a template or settings file"
        )
    data = path.read_bytes()
    if b"\x00" in data:
        raise UnsafeYamlError("file contains NUL bytes; it is not a text template")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeYamlError(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    check_depth(text)
    return text


def _too_deep(limit: int) -> UnsafeYamlError:
    return UnsafeYamlError(f"YAML nests more than {limit} levels deep; refusing it before parsing")


class _FlowScanner:
    """Bracket depth of flow collections across lines, outside quotes and comments."""

    def __init__(self) -> None:
        self.depth = 0
        self.quote = ""  # the open quote character, "" outside a quoted scalar

    def line(self, line: str, limit: int, base: int) -> None:
        prev = " "
        i = 0
        while i < len(line):
            ch = line[i]
            if self.quote == '"':
                if ch == "\\":
                    i += 1
                elif ch == '"':
                    self.quote = ""
            elif self.quote == "'":
                if ch == "'":
                    self.quote = ""
            elif ch == "#" and prev in " \t":
                return
            elif ch in "\"'" and prev in " \t[{,:-?":
                self.quote = ch
            elif ch in "[{":
                self.depth += 1
                if base + self.depth > limit:
                    raise _too_deep(limit)
            elif ch in "]}":
                self.depth = max(0, self.depth - 1)
            prev = ch
            i += 1


def check_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """Refuse text that nests deeper than `limit`, judged from the text alone.

    Flow collections count their open brackets; block collections count the
    open indentation levels plus compact entries (`- - - x`, `? `). Block
    scalars (`|`, `>`) and quoted text are skipped: their content is not
    structure. An overestimate only matters past `limit`, where real files are not.
    """
    flow = _FlowScanner()
    indents: list[int] = []
    literal_at: int | None = None  # indentation of the line that opened a block scalar
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if literal_at is not None:
            if not stripped or indent > literal_at:
                continue
            literal_at = None
        if flow.depth == 0 and not flow.quote and stripped and not stripped.startswith("#"):
            while indents and indents[-1] >= indent:
                indents.pop()
            indents.append(indent)
            compact = 0
            rest = stripped
            while (m := _SEQ_ENTRY.match(rest)) is not None:
                compact += 1
                rest = rest[m.end() :]
            if len(indents) + compact > limit:
                raise _too_deep(limit)
            if _BLOCK_SCALAR.search(_COMMENT.sub("", stripped).rstrip()):
                literal_at = indent
                continue
        flow.line(line, limit, len(indents))


def check_aliases(text: str, limit: int = MAX_EXPANDED_NODES) -> None:
    """Refuse documents nested too deep or whose alias expansion would exceed
    `limit` nodes. The depth is checked first, on the text: the event parser
    used for aliases is the one a deep document crashes."""
    check_depth(text)
    sizes: dict[str, int] = {}
    stack: list[tuple[str | None, int]] = [(None, 0)]
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append((event.anchor, 1))
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                anchor, size = stack.pop()
                if anchor:
                    sizes[anchor] = size
            elif isinstance(event, yaml.ScalarEvent):
                size = 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                size = sizes.get(str(event.anchor), 1)
            else:
                continue
            anchor, total = stack[-1]
            stack[-1] = (anchor, total + size)
            if stack[-1][1] > limit or sum(t for _a, t in stack) > limit:
                raise UnsafeYamlError(
                    f"YAML aliases expand to more than {limit:,} nodes; "
                    "refusing a possible alias bomb"
                )
    except yaml.YAMLError:
        # Syntax errors are reported by the real parser with a better message.
        return


def load_data(path: Path) -> Any:
    """Plain YAML (settings, deployment files, values): bounded and safe-loaded."""
    text = read_bounded(path)
    check_aliases(text)
    try:
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise UnsafeYamlError(f"invalid YAML: {exc}") from None


def load_all_data(text: str) -> list[Any]:
    """Multi-document YAML from `helm template`; the same alias limit applies."""
    check_aliases(text)
    return [doc for doc in yaml.load_all(text, Loader=_LOADER) if doc is not None]

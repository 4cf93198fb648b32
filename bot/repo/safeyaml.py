"""Reading YAML that may come from a stranger's pull request.

Everything under stacks/, environments/ and helm-values/ is untrusted when it
arrives in a PR, so every read is bounded: a byte limit before parsing and an
alias limit during parsing (an alias bomb is tiny on disk and explodes only when
something walks the tree, so the byte limit alone does not stop it), and a
nesting-depth limit checked on the parser's event stream before any node is
built (composing a 100,000-deep `[[[[` crashes the process in libyaml's loader,
and the Python loader would hit RecursionError long before).
"""

from __future__ import annotations

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
    # Depth is refused here, before any reader (cfn-lint's decoder included) sees
    # the text; aliases are judged by check_aliases, whose refusal cfn-lint reports.
    check_depth(text)
    return text


def _too_deep(limit: int) -> UnsafeYamlError:
    return UnsafeYamlError(f"YAML nests more than {limit} levels deep; refusing it before parsing")


def check_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """Refuse text nested deeper than `limit` (see check_aliases for how)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > limit:
                    raise _too_deep(limit)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        _check_brackets(text, limit)


def _check_brackets(text: str, limit: int) -> None:
    """JSON-style nesting of `text` (brackets outside double-quoted strings)."""
    depth = 0
    quoted = escaped = False
    for ch in text:
        if quoted:
            quoted = escaped or ch != '"'
            escaped = not escaped and ch == "\\"
        elif ch == '"':
            quoted = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                raise _too_deep(limit)
        elif ch in "]}":
            depth = max(0, depth - 1)


def check_aliases(text: str, limit: int = MAX_EXPANDED_NODES, depth_limit: int = MAX_DEPTH) -> None:
    """Refuse documents nested deeper than `depth_limit` or whose alias expansion
    would exceed `limit` nodes, before any node is built.

    Both are counted on the parser's event stream: libyaml's scanner and parser
    keep their state on the heap, and it is composing nodes (and constructing
    objects) that recurses once per level, so the stream stops at the first level
    too many. Text the YAML parser rejects may still reach a JSON decoder
    (cfn-lint reads JSON templates itself), so its brackets are counted instead.
    """
    sizes: dict[str, int] = {}
    stack: list[tuple[str | None, int]] = [(None, 0)]
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append((event.anchor, 1))
                if len(stack) - 1 > depth_limit:
                    raise _too_deep(depth_limit)
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
        _check_brackets(text, depth_limit)


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

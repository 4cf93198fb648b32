"""Reading YAML that may come from a stranger's pull request.

Everything under stacks/, environments/ and helm-values/ is untrusted when it
arrives in a PR, so every read is bounded: a byte limit before parsing and an
alias limit during parsing (an alias bomb is tiny on disk and explodes only when
something walks the tree, so the byte limit alone does not stop it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# CloudFormation refuses template bodies over 1 MB (via S3); nothing we read
# legitimately comes near this, so anything larger is refused before parsing.
MAX_BYTES = 1_048_576
# Hand-written infrastructure YAML has few anchors; a bomb needs many aliases.
MAX_ALIASES = 100


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
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeYamlError(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None


def check_aliases(text: str, limit: int = MAX_ALIASES) -> None:
    """Count alias events without building the tree, so a bomb costs nothing."""
    count = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                count += 1
                if count > limit:
                    raise UnsafeYamlError(
                        f"more than {limit} YAML aliases; refusing a possible alias bomb"
                    )
    except yaml.YAMLError:
        # Syntax errors are reported by the real parser with a better message.
        return


def load_data(path: Path) -> Any:
    """Plain YAML (settings, deployment files, values): bounded and safe-loaded."""
    text = read_bounded(path)
    check_aliases(text)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UnsafeYamlError(f"invalid YAML: {exc}") from None


def load_all_data(text: str) -> list[Any]:
    """Multi-document YAML from `helm template`; the same alias limit applies."""
    check_aliases(text)
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]

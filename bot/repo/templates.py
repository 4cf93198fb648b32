"""Loading CloudFormation templates with the line of every node kept.

cfn-lint's decoder is used for this (rather than our own YAML loader) so that
the line numbers we attach to cfn-guard and cross-stack findings are the same
ones cfn-lint reports for its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.repo.safeyaml import UnsafeYamlError, check_aliases, load_all_data, read_bounded


@dataclass(frozen=True)
class LoadError:
    line: int
    column: int
    message: str


@dataclass
class Template:
    """A decoded template; `body` is None when it could not be read."""

    path: Path
    body: dict[str, Any] | None
    errors: list[LoadError] = field(default_factory=list)
    # Refused before parsing (too large, binary, alias bomb): no tool may read it...
    refused: bool = False
    # ...except cfn-lint for alias bombs: its decoder has its own expansion
    # limit, and its E0000 is then the one finding for the file.
    lint_reports_refusal: bool = False

    @property
    def resources(self) -> dict[str, Any]:
        res = (self.body or {}).get("Resources")
        return res if isinstance(res, dict) else {}

    @property
    def parameters(self) -> dict[str, Any]:
        params = (self.body or {}).get("Parameters")
        return params if isinstance(params, dict) else {}

    @property
    def outputs(self) -> dict[str, Any]:
        outs = (self.body or {}).get("Outputs")
        return outs if isinstance(outs, dict) else {}

    def line_of(self, *keys: str) -> int:
        """1-based line of the node at `keys` (e.g. "Resources", "Bucket"), else 1."""
        node: Any = self.body
        best = 1
        for key in keys:
            if not isinstance(node, dict):
                break
            for k in node:
                if k == key:
                    mark = getattr(k, "start_mark", None)
                    if mark is not None:
                        best = int(mark.line) + 1
                    node = node[k]
                    break
            else:
                break
        return best


def load_template(path: Path) -> Template:
    from cfnlint.decode import decode_str

    try:
        text = read_bounded(path)
    except (UnsafeYamlError, OSError) as exc:
        return Template(path, None, [LoadError(1, 1, str(exc))], refused=True)
    try:
        check_aliases(text)
    except UnsafeYamlError as exc:
        return Template(
            path, None, [LoadError(1, 1, str(exc))], refused=True, lint_reports_refusal=True
        )
    if not text.strip():
        return Template(path, None, [LoadError(1, 1, "template is empty")], refused=True)
    body, matches = decode_str(text)
    if matches or not isinstance(body, dict):
        errors = [
            LoadError(int(m.linenumber), int(m.columnnumber), str(m.message)) for m in matches
        ] or [LoadError(1, 1, "template is not a mapping")]
        return Template(path, None, errors)
    return Template(path, body)


def is_kubernetes_manifest(path: Path) -> bool:
    """A Kubernetes manifest (every document has apiVersion and kind, none has
    Resources): raw k8s/*.yaml folders sit next to templates in real repositories,
    and cfn-lint would report each of them as a broken template."""
    try:
        docs = load_all_data(read_bounded(path))
    except (UnsafeYamlError, OSError, yaml.YAMLError, UnicodeDecodeError):
        return False  # unreadable: the load check and cfn-lint say why
    return bool(docs) and all(
        isinstance(d, dict) and "apiVersion" in d and "kind" in d and "Resources" not in d
        for d in docs
    )

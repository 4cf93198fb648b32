"""Apply YAML-aware edits with ruamel.yaml's round-trip mode.

A model that rewrites a 400-line template to change one number tends to drop
comments or reorder keys; an edit at a key path does not. Round-trip loading
keeps comments, key order and CloudFormation short-form tags (!Ref, !Sub ...).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from bot.llm.schema import YamlOp

# Long-form intrinsics with a scalar argument are written back in the short form
# the repository uses, so a new `{"Ref": "X"}` reads like its neighbours.
_SHORT_TAGS = {
    "Ref": "!Ref",
    "Fn::Sub": "!Sub",
    "Fn::GetAtt": "!GetAtt",
    "Fn::ImportValue": "!ImportValue",
    "Fn::Base64": "!Base64",
    "Fn::GetAZs": "!GetAZs",
}


class YamlEditError(ValueError):
    """An edit does not fit the document (missing key, wrong type, exists already)."""


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long !Sub strings
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def to_node(value: Any) -> Any:
    """JSON value -> ruamel nodes, with scalar intrinsics as tagged scalars."""
    from ruamel.yaml.comments import CommentedBase, CommentedMap, CommentedSeq, TaggedScalar

    if isinstance(value, CommentedBase | TaggedScalar):
        return value  # already a round-trip node (a blueprint snippet): keep its tags as-is
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key in _SHORT_TAGS and isinstance(arg, str):
                return TaggedScalar(value=arg, tag=_SHORT_TAGS[key])
        node = CommentedMap()
        for k, v in value.items():
            node[str(k)] = to_node(v)
        return node
    if isinstance(value, list):
        return CommentedSeq(to_node(v) for v in value)
    return value


def _walk(doc: Any, keys: Sequence[str | int], create: bool) -> Any:
    from ruamel.yaml.comments import CommentedMap

    node = doc
    for i, key in enumerate(keys):
        where = ".".join(str(k) for k in keys[: i + 1])
        if isinstance(node, dict):
            if key not in node:
                if not create:
                    raise YamlEditError(f"no key {where}")
                node[key] = CommentedMap()
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int):
            if not -len(node) <= key < len(node):
                raise YamlEditError(f"index {where} is out of range ({len(node)} items)")
            node = node[key]
        else:
            raise YamlEditError(f"cannot descend into {where}: not a mapping or list index")
    return node


def apply_op(doc: Any, op: YamlOp) -> None:
    *parents, last = op.key_path
    if op.op == "add_resource":
        if len(op.key_path) != 1 or not isinstance(last, str):
            raise YamlEditError("add_resource takes one key: the logical id")
        if not isinstance(op.value, dict) or "Type" not in op.value:
            raise YamlEditError(f"add_resource {last}: value must be a mapping with a Type")
        resources = _walk(doc, ["Resources"], create=False)
        if last in resources:
            raise YamlEditError(f"add_resource {last}: Resources.{last} exists already")
        resources[last] = to_node(op.value)
        return
    parent = _walk(doc, parents, create=op.op == "set")
    if op.op == "set":
        in_list = isinstance(parent, list) and isinstance(last, int)
        if isinstance(parent, dict) or (in_list and -len(parent) <= int(last) < len(parent)):
            parent[last] = to_node(op.value)
        else:
            raise YamlEditError(f"set {'.'.join(map(str, op.key_path))}: parent is not a mapping")
    elif op.op == "delete":
        try:
            del parent[last]
        except (KeyError, IndexError, TypeError):
            raise YamlEditError(f"delete {'.'.join(map(str, op.key_path))}: no such key") from None
    else:  # append
        target = _walk(parent, [last], create=False)
        if not isinstance(target, list):
            raise YamlEditError(f"append {'.'.join(map(str, op.key_path))}: not a list")
        target.append(to_node(op.value))


def apply_ops(text: str, ops: Sequence[YamlOp]) -> str:
    """The document with every op applied, or YamlEditError naming the first that failed."""
    from ruamel.yaml.error import YAMLError

    from bot.repo.safeyaml import UnsafeYamlError, check_aliases

    yaml = _yaml()
    try:
        check_aliases(text)  # depth and alias bounds before ruamel recurses into it
        doc = yaml.load(text)
    except UnsafeYamlError as exc:
        raise YamlEditError(f"the file cannot be edited safely: {exc}") from None
    except YAMLError as exc:
        raise YamlEditError(f"the file is not YAML ruamel can edit: {exc}") from None
    if not isinstance(doc, dict):
        raise YamlEditError("the document is not a mapping")
    for op in ops:
        apply_op(doc, op)
    out = io.StringIO()
    yaml.dump(doc, out)
    return keep_section_breaks(text, out.getvalue())


def keep_section_breaks(before: str, after: str) -> str:
    """Top-level keys that had a blank line above them keep it.

    ruamel attaches a blank line to the end of the node before it, so a resource
    appended to the last section takes the break that separated the sections.
    """
    spaced = {
        line.split(":", 1)[0]
        for prev, line in zip(before.splitlines(), before.splitlines()[1:], strict=False)
        if not prev.strip() and line[:1].isalpha()
    }
    out: list[str] = []
    for line in after.splitlines():
        key = line.split(":", 1)[0] if line[:1].isalpha() else None
        if key in spaced and out and out[-1].strip():
            out.append("")
        out.append(line)
    return "\n".join(out) + "\n"

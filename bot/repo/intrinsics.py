"""Just enough of CloudFormation's intrinsic functions to name exports and imports.

We only need the string an export or import resolves to, given the parameter
values of one deployment. Anything we cannot resolve statically (a GetAtt, an
import inside an import) yields None, and callers treat that as "unknown"
rather than guessing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

_SUB_VAR = re.compile(r"\$\{([^}!]+)\}")


def pseudo_parameters(region: str, account_id: str, stack_name: str) -> dict[str, str]:
    return {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::StackName": stack_name,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }


def resolve(value: Any, params: Mapping[str, str]) -> str | None:  # noqa: PLR0911
    """Resolve a string-valued expression, or None when it depends on run time."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, dict) or len(value) != 1:
        return None
    ((fn, arg),) = value.items()
    if fn == "Ref":
        return params.get(str(arg))
    if fn == "Fn::Sub":
        return _resolve_sub(arg, params)
    if fn == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
        parts = [resolve(p, params) for p in arg[1]] if isinstance(arg[1], list) else [None]
        if any(p is None for p in parts):
            return None
        return str(arg[0]).join(p for p in parts if p is not None)
    return None


def _resolve_sub(arg: Any, params: Mapping[str, str]) -> str | None:
    local: dict[str, str] = dict(params)
    if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], dict):
        for key, val in arg[1].items():
            resolved = resolve(val, params)
            if resolved is None:
                return None
            local[str(key)] = resolved
        arg = arg[0]
    if not isinstance(arg, str):
        return None
    missing = False

    def repl(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        if name in local:
            return local[name]
        missing = True
        return match.group(0)

    text = _SUB_VAR.sub(repl, arg)
    return None if missing else text.replace("${!", "${")


def walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (path, node) pair in a decoded template, depth first."""
    yield path, node
    if isinstance(node, dict):
        for key, child in node.items():
            yield from walk(child, (*path, str(key)))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from walk(child, (*path, str(i)))


def line_of(node: Any) -> int:
    mark = getattr(node, "start_mark", None)
    return int(mark.line) + 1 if mark is not None else 0

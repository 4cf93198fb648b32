"""Evaluating template expressions for pricing: parameters, conditions, Fn::If.

Unlike bot.repo.intrinsics.resolve (which only needs export names as strings),
pricing needs whole property trees with parameter values substituted, Fn::If
branches chosen and AWS::NoValue removed. What cannot be known before deploy
(a GetAtt, a resource's physical id) becomes UNKNOWN, never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.repo.intrinsics import resolve


class _Unknown:
    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
_NO_VALUE = object()


@dataclass(frozen=True)
class Joined:
    """A Fn::Join whose parts are not all known: the count still is (for Fn::Split)."""

    delimiter: str
    parts: int


@dataclass(frozen=True)
class Scope:
    params: Mapping[str, Any]  # str, or list[str] for list-typed parameters
    conditions: Mapping[str, bool | None] = field(default_factory=dict)
    mappings: Mapping[str, Any] = field(default_factory=dict)
    exports: Mapping[str, Any] = field(default_factory=dict)


class ConditionError(ValueError):
    """A condition that refers to itself or to a condition that does not exist."""


def parameter_values(
    declared: Mapping[str, Any], given: Mapping[str, str], pseudo: Mapping[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """Deployment values over template defaults; list types split. Returns (values, unset)."""
    values: dict[str, Any] = dict(pseudo)
    unset: list[str] = []
    for name, declared_spec in declared.items():
        spec = declared_spec if isinstance(declared_spec, dict) else {}
        raw = given.get(name, spec.get("Default"))
        if raw is None:
            unset.append(str(name))
            continue
        ptype = str(spec.get("Type", "String"))
        if ptype.startswith("AWS::SSM::Parameter::Value"):
            continue  # resolved by CloudFormation from SSM at deploy time
        if ptype == "CommaDelimitedList" or ptype.startswith("List<"):
            values[str(name)] = [s.strip() for s in str(raw).split(",")] if raw != "" else []
        else:
            values[str(name)] = _scalar(raw)
    return values, unset


def _scalar(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


def evaluate_conditions(
    conditions: Mapping[str, Any], params: Mapping[str, Any], mappings: Mapping[str, Any]
) -> dict[str, bool | None]:
    """Each condition as True/False, or None when it depends on something unknown."""
    done: dict[str, bool | None] = {}
    active: set[str] = set()

    def condition(name: str) -> bool | None:
        if name in done:
            return done[name]
        if name not in conditions:
            raise ConditionError(f"condition {name!r} is not defined")
        if name in active:
            raise ConditionError(f"condition {name!r} refers to itself")
        active.add(name)
        scope = Scope(params, _LazyConditions(condition), mappings)
        value = evaluate(conditions[name], scope)
        active.discard(name)
        done[name] = value if isinstance(value, bool) else None
        return done[name]

    for name in conditions:
        condition(str(name))
    return done


class _LazyConditions(Mapping[str, bool | None]):
    """Lets a condition refer to another one that is evaluated on first use."""

    def __init__(self, get: Any) -> None:
        self._get = get

    def __getitem__(self, key: str) -> bool | None:
        result: bool | None = self._get(key)
        return result

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


def evaluate(node: Any, scope: Scope) -> Any:
    """The value of `node` with intrinsics applied; UNKNOWN where it depends on run time."""
    result = _eval(node, scope)
    return None if result is _NO_VALUE else result


def _eval(node: Any, scope: Scope) -> Any:
    if isinstance(node, dict):
        if len(node) == 1:
            ((key, arg),) = node.items()
            key = str(key)
            if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                return _intrinsic(key, arg, scope)
        out: dict[str, Any] = {}
        for k, v in node.items():
            value = _eval(v, scope)
            if value is not _NO_VALUE:
                out[str(k)] = value
        return out
    if isinstance(node, list):
        return [v for v in (_eval(x, scope) for x in node) if v is not _NO_VALUE]
    if isinstance(node, bool | int | float) or node is None:
        return node
    return str(node)


def _intrinsic(fn: str, arg: Any, scope: Scope) -> Any:  # noqa: PLR0911, PLR0912
    if fn == "Ref":
        name = str(arg)
        if name == "AWS::NoValue":
            return _NO_VALUE
        return scope.params.get(name, UNKNOWN)
    if fn == "Condition":
        return _condition(scope, str(arg))
    if fn == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
        cond = _condition(scope, str(arg[0]))
        if cond is None:
            return UNKNOWN
        return _eval(arg[1] if cond else arg[2], scope)
    if fn == "Fn::Equals" and isinstance(arg, list) and len(arg) == 2:
        a, b = (_eval(x, scope) for x in arg)
        if a is UNKNOWN or b is UNKNOWN:
            return UNKNOWN
        return _scalar(a) == _scalar(b) if not isinstance(a, list | dict) else a == b
    if fn in ("Fn::And", "Fn::Or") and isinstance(arg, list):
        values = [_eval(x, scope) for x in arg]
        return _logic(fn, values)
    if fn == "Fn::Not" and isinstance(arg, list) and len(arg) == 1:
        value = _eval(arg[0], scope)
        return (not value) if isinstance(value, bool) else UNKNOWN
    if fn == "Fn::FindInMap" and isinstance(arg, list) and len(arg) >= 3:
        keys = [_eval(x, scope) for x in arg[:3]]
        if any(not isinstance(k, str | int | float) for k in keys):
            return UNKNOWN
        node: Any = scope.mappings
        for k in keys:
            node = node.get(_scalar(k)) if isinstance(node, dict) else None
        return UNKNOWN if node is None else _eval(node, scope)
    if fn == "Fn::Select" and isinstance(arg, list) and len(arg) == 2:
        index, items = _eval(arg[0], scope), _eval(arg[1], scope)
        try:
            return items[int(index)] if isinstance(items, list) else UNKNOWN
        except (ValueError, TypeError, IndexError):
            return UNKNOWN
    if fn == "Fn::Split" and isinstance(arg, list) and len(arg) == 2:
        delim, text = str(arg[0]), _eval(arg[1], scope)
        if isinstance(text, str):
            return text.split(delim)
        if isinstance(text, Joined) and text.delimiter == delim:
            return [UNKNOWN] * text.parts
        return UNKNOWN
    if fn == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
        parts = _eval(arg[1], scope)
        if not isinstance(parts, list):
            return UNKNOWN
        if any(not isinstance(p, str | int | float) for p in parts):
            return Joined(str(arg[0]), len(parts))
        return str(arg[0]).join(_scalar(p) for p in parts)
    if fn == "Fn::Sub":
        strings = {k: v for k, v in scope.params.items() if isinstance(v, str)}
        text = resolve({fn: arg}, strings)
        return UNKNOWN if text is None else text
    if fn == "Fn::ImportValue":
        name = _eval(arg, scope)
        return scope.exports.get(name, UNKNOWN) if isinstance(name, str) else UNKNOWN
    if fn == "Fn::Length":
        items = _eval(arg, scope)
        return len(items) if isinstance(items, list) else UNKNOWN
    if fn == "Fn::Base64":
        return _eval(arg, scope)
    return UNKNOWN  # GetAtt, GetAZs, Cidr, Transform: decided at deploy time


def _condition(scope: Scope, name: str) -> bool | None:
    try:
        return scope.conditions[name]
    except KeyError:
        raise ConditionError(f"condition {name!r} is not defined") from None


def _logic(fn: str, values: list[Any]) -> Any:
    if fn == "Fn::And":
        if any(v is False for v in values):
            return False
        return True if all(v is True for v in values) else UNKNOWN
    if any(v is True for v in values):
        return True
    return False if all(v is False for v in values) else UNKNOWN


def number(value: Any) -> float | None:
    """A numeric property value, or None when unknown or not a number."""
    if isinstance(value, bool) or value is None or value is UNKNOWN:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def text(value: Any) -> str | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return _scalar(value)
    return None

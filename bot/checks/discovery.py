"""Find the checks by walking the bot.checks package, as cfn-lint loads its rules.

Every module of the package is imported and every concrete `Check` subclass
defined in it is a check. What runs therefore never depends on which module
some other code happened to import first, and two checks that claim the same
id stop the run instead of one silently replacing the other.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterable, Mapping
from functools import cache
from types import MappingProxyType, ModuleType

from bot.checks.base import Check

Registry = Mapping[str, type[Check]]


class CheckDefinitionError(RuntimeError):
    """The package's checks contradict each other (a duplicate id, a missing id)."""


class UnknownCheckError(ValueError):
    def __init__(self, unknown: Iterable[str], known: Iterable[str]) -> None:
        self.unknown = sorted(set(unknown))
        self.known = sorted(known)
        super().__init__(
            f"unknown check {', '.join(map(repr, self.unknown))}; "
            f"valid checks: {', '.join(self.known)}"
        )


def checks_in(module: ModuleType) -> list[type[Check]]:
    """The concrete checks a module defines itself (not the ones it imports)."""
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, Check) and obj.__module__ == module.__name__
        and not inspect.isabstract(obj)
    ]  # fmt: skip


def discover(package: ModuleType) -> dict[str, type[Check]]:
    """Import every module under `package`; id -> check class, sorted by id."""
    found: dict[str, type[Check]] = {}
    for info in sorted(pkgutil.walk_packages(package.__path__, f"{package.__name__}."),
                       key=lambda i: i.name):  # fmt: skip
        for cls in checks_in(importlib.import_module(info.name)):
            check_id = getattr(cls, "id", None)
            where = f"{cls.__module__}.{cls.__qualname__}"
            if not isinstance(check_id, str) or not check_id:
                raise CheckDefinitionError(f"{where} has no `id`")
            if check_id in found:
                other = found[check_id]
                raise CheckDefinitionError(
                    f"check id {check_id!r} is defined twice: "
                    f"{other.__module__}.{other.__qualname__} and {where}"
                )
            found[check_id] = cls
    return dict(sorted(found.items()))


@cache
def registry() -> Registry:
    """The bot's own checks, found once per process."""
    import bot.checks

    return MappingProxyType(discover(bot.checks))


def select(checks: Registry, only: Iterable[str] | None) -> list[str]:
    """The ids to run, in registry order; an id that is not a check is an error."""
    if only is None:
        return list(checks)
    wanted = list(dict.fromkeys(only))
    unknown = [i for i in wanted if i not in checks]
    if unknown:
        raise UnknownCheckError(unknown, checks)
    return [i for i in checks if i in wanted]

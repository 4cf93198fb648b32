"""The check interface, the context every check receives, and the registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

from bot.findings import Finding
from bot.repo.model import Release, Repository
from bot.toolchain import Toolchain


@dataclass(frozen=True)
class Targets:
    """What one validation run looks at; every path is absolute."""

    templates: tuple[Path, ...] = ()
    deployment_files: tuple[Path, ...] = ()
    releases: tuple[Release, ...] = ()
    environments: tuple[str, ...] = ()


@dataclass
class CheckContext:
    repo: Repository
    targets: Targets
    tools: Toolchain
    # The repository as it was at --changed-since, to compare exports against.
    base_repo: Repository | None = None
    # Repository-relative paths changed since the base, if known (for review scoping).
    changed_paths: frozenset[str] = field(default_factory=frozenset)


class Check(Protocol):
    id: ClassVar[str]
    description: ClassVar[str]

    def run(self, ctx: CheckContext) -> list[Finding]: ...


CheckFactory = Callable[[], Check]
REGISTRY: dict[str, CheckFactory] = {}


def register(cls: type[Check]) -> type[Check]:
    """Class decorator: the check becomes available under its `id`."""
    REGISTRY[cls.id] = cls
    return cls

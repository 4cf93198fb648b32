"""The check interface, the context every check receives, and what a run covered.

A check is a subclass of `Check` in any module of the bot.checks package;
bot.checks.discovery finds it there. Nothing registers itself on import.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from bot.findings import Finding
from bot.repo.model import Release, Repository
from bot.toolchain import Toolchain

# A check that leaves one of its items out (a chart it cannot find, say) says so
# in a finding whose message starts with "skipped:" or says "not checked", and
# whose `resource` names the item; coverage counts those items as skipped, not
# checked. Such a finding without a `resource` means the check left out everything.
NOT_CHECKED = re.compile(r"^skipped:|\bnot checked\b", re.IGNORECASE)


@dataclass(frozen=True)
class Targets:
    """What one validation run looks at; every path is absolute."""

    templates: tuple[Path, ...] = ()
    deployment_files: tuple[Path, ...] = ()
    releases: tuple[Release, ...] = ()
    environments: tuple[str, ...] = ()
    # Files among the paths that are Kubernetes manifests, not CloudFormation:
    # no check reads them, and the template checks' coverage lists them as skipped.
    manifests: tuple[Path, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.templates or self.deployment_files or self.releases)


@dataclass
class CheckContext:
    repo: Repository
    targets: Targets
    tools: Toolchain
    # The repository as it was at --changed-since, to compare exports against.
    base_repo: Repository | None = None
    # Repository-relative paths changed since the base, if known (for review scoping).
    changed_paths: frozenset[str] = field(default_factory=frozenset)


class Input(StrEnum):
    """The kinds of target a check reads; the plural is how coverage counts them."""

    TEMPLATES = "templates"
    DEPLOYMENT_FILES = "deployment files"
    RELEASES = "releases"


class Status(StrEnum):
    RAN = "ran"
    SKIPPED = "skipped"  # nothing of what the check reads was there, or no policy
    CRASHED = "crashed"  # the check raised; its `<id>/crashed` finding says why


@dataclass(frozen=True)
class Count:
    noun: str  # plural: "templates", "rules", "environments"
    n: int

    def __str__(self) -> str:
        noun = self.noun if self.n != 1 else self.noun.removesuffix("s")
        return f"{self.n} {noun}"


@dataclass(frozen=True)
class Skip:
    """One item a check that ran did not check, and the finding that says why."""

    item: str
    reason: str


@dataclass(frozen=True)
class Coverage:
    """What one check looked at in one run: the data behind every "passed"."""

    check: str
    status: Status
    counts: tuple[Count, ...] = ()
    reason: str = ""  # why it was SKIPPED or CRASHED
    skipped: tuple[Skip, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status.value,
            "counts": {c.noun: c.n for c in self.counts},
            "reason": self.reason,
            "skipped": [{"item": s.item, "reason": s.reason} for s in self.skipped],
        }


def not_checked(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if NOT_CHECKED.search(f.message)]


def skipped_by(findings: list[Finding]) -> tuple[Skip, ...]:
    """The items the check's own findings say it left out."""
    skips = {Skip(f.resource, f.check_id) for f in not_checked(findings) if f.resource}
    return tuple(sorted(skips, key=lambda s: (s.reason, s.item)))


class Check(ABC):
    """One validator. Subclasses set the metadata; the engine calls `run` once."""

    id: ClassVar[str]
    description: ClassVar[str]
    inputs: ClassVar[frozenset[Input]] = frozenset({Input.TEMPLATES})

    @classmethod
    def prepare(cls, ctx: CheckContext) -> None:
        """Called before the engine reads the templates, to start slow work early.

        By default nothing; it must not read the templates, and `run` must work
        without it.
        """
        return None

    @abstractmethod
    def run(self, ctx: CheckContext) -> list[Finding]: ...

    def coverage(self, ctx: CheckContext, findings: list[Finding]) -> Coverage:
        """By default: how many of each input the run was given, minus those it skipped."""
        counts = [Count(kind.value, n) for kind, n in self._given(ctx) if n]
        if not counts:
            wanted = " or ".join(sorted(kind.value for kind in self.inputs))
            return Coverage(self.id, Status.SKIPPED, reason=f"no {wanted}")
        whole = [f for f in not_checked(findings) if not f.resource]
        if whole:
            return Coverage(
                self.id, Status.SKIPPED, tuple(counts), f"not checked, see {whole[0].check_id}"
            )
        skips = skipped_by(findings)
        if self.inputs == {Input.RELEASES}:
            return self._per_environment(ctx, counts, skips)
        return Coverage(self.id, Status.RAN, tuple(counts), skipped=skips)

    def _per_environment(
        self, ctx: CheckContext, counts: list[Count], skips: tuple[Skip, ...]
    ) -> Coverage:
        """Releases are rendered once per environment: count both, and say when none was."""
        envs = _environments(ctx)
        if not envs:
            return Coverage(self.id, Status.SKIPPED, tuple(counts), "no environments")
        counts = [*counts, Count("environments", len(envs))]
        if {s.item for s in skips} >= {r.name for r in ctx.targets.releases}:
            return Coverage(self.id, Status.SKIPPED, tuple(counts), "every release skipped", skips)
        return Coverage(self.id, Status.RAN, tuple(counts), skipped=skips)

    def _given(self, ctx: CheckContext) -> list[tuple[Input, int]]:
        sizes = {
            Input.TEMPLATES: len(ctx.targets.templates),
            Input.DEPLOYMENT_FILES: len(ctx.targets.deployment_files),
            Input.RELEASES: len(ctx.targets.releases),
        }
        return [(kind, sizes[kind]) for kind in Input if kind in self.inputs]


def _environments(ctx: CheckContext) -> tuple[str, ...]:
    return ctx.targets.environments or tuple(ctx.repo.environments)

"""A scratch copy of the repository where proposed edits are applied and checked.

Only the infrastructure folders are copied (symlinks stay symlinks, so a link
planted in a PR is seen as one and refused, not followed). Screening an edit is
pure (guardrails); this module is the I/O around it.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bot.llm import guardrails
from bot.llm.schema import FileEdit
from bot.llm.yamledit import YamlEditError, apply_ops
from bot.repo.model import ENVIRONMENTS_DIR, GUARD_DIR, HELM_DIR, STACKS_DIR

COPIED = (STACKS_DIR, ENVIRONMENTS_DIR, HELM_DIR, GUARD_DIR)


@dataclass(frozen=True)
class Rejected:
    path: str
    reason: str


def symlink_on_path(root: Path, rel: str) -> bool:
    """True if `rel`, or a folder on the way to it, is a symlink under `root`."""
    here = root
    for part in Path(rel).parts:
        here = here / part
        if here.is_symlink():
            return True
    return False


@dataclass
class Workspace:
    origin: Path
    root: Path
    originals: dict[str, str | None] = field(default_factory=dict)  # before the first edit

    @classmethod
    def copy_of(cls, origin: Path) -> Workspace:
        root = Path(tempfile.mkdtemp(prefix="infra-bot-generate-"))
        for top in COPIED:
            if (origin / top).is_dir() and not (origin / top).is_symlink():
                shutil.copytree(origin / top, root / top, symlinks=True)
        return cls(origin, root)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def read(self, rel: str) -> str | None:
        path = self.root / rel
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def changes(self) -> dict[str, tuple[str | None, str]]:
        """path -> (original text or None, current text), for files that differ."""
        out: dict[str, tuple[str | None, str]] = {}
        for rel, before in sorted(self.originals.items()):
            now = self.read(rel)
            if now is not None and now != before:
                out[rel] = (before, now)
        return out

    def apply(self, edit: FileEdit) -> Rejected | None:
        """Screen and write one edit; the reason it was refused, or None."""
        rel = edit.path
        problem = guardrails.path_problem(rel)
        if problem is None and (
            symlink_on_path(self.origin, rel) or symlink_on_path(self.root, rel)
        ):
            problem = "the path goes through a symlink"
        if problem:
            return Rejected(rel, problem)
        old = self.read(rel)
        if edit.content is not None:
            new = edit.content if edit.content.endswith("\n") else edit.content + "\n"
        else:
            if old is None:
                return Rejected(rel, "yaml_ops need an existing file; give `content` for a new one")
            try:
                new = apply_ops(old, edit.yaml_ops)
            except YamlEditError as exc:
                return Rejected(rel, f"yaml_ops failed: {exc}")
        problem = guardrails.size_problem(new)
        total = sum(len(now.encode()) for _old, now in self.changes().values() if now)
        if total + len(new.encode()) > guardrails.MAX_TOTAL_BYTES:
            problem = f"the change would exceed {guardrails.MAX_TOTAL_BYTES:,} bytes in total"
        secrets = guardrails.secrets_added(old, new)
        if secrets:
            problem = f"the new text contains what looks like a secret ({', '.join(secrets)})"
        if lint := guardrails.lint_suppressions_added(old, new):
            problem = f"a proposal may not add lint suppressions ({'; '.join(lint)})"
        if problem:
            return Rejected(rel, problem)
        self.originals.setdefault(rel, old)
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(new, encoding="utf-8")
        return None

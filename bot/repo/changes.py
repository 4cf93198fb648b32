"""What a git diff touches: stacks, deployment files, releases, rules."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bot.repo.model import ENVIRONMENTS_DIR, GUARD_DIR, HELM_DIR, STACKS_DIR, Repository


class GitError(RuntimeError):
    pass


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def changed_files(root: Path, ref: str) -> list[str]:
    """Paths changed between `ref` and the working tree (committed or not)."""
    if ref.startswith("-"):
        raise GitError(f"refusing a ref that looks like an option: {ref!r}")
    base = git(root, "merge-base", ref, "HEAD").strip()
    out = git(root, "diff", "--name-only", "--no-renames", base, "--")
    untracked = git(root, "ls-files", "--others", "--exclude-standard")
    return sorted({*out.split(), *untracked.split()})


def checkout_at(root: Path, ref: str) -> Path:
    """The tree at `ref` (only the infrastructure folders) in a temporary directory."""
    tmp = Path(tempfile.mkdtemp(prefix="infra-bot-base-"))
    base = git(root, "merge-base", ref, "HEAD").strip()
    present = [d for d in (STACKS_DIR, ENVIRONMENTS_DIR, HELM_DIR)
               if git(root, "ls-tree", "--name-only", base, d).strip()]  # fmt: skip
    if present:
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", "--format=tar", base, *present],
            capture_output=True, check=True,
        )  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
    return tmp


@dataclass(frozen=True)
class Touched:
    stacks: frozenset[str]
    releases: frozenset[str]
    environments: frozenset[str]
    rules: bool  # guard/ changed: every stack is affected


def touched(repo: Repository, paths: list[str]) -> Touched:
    stacks: set[str] = set()
    releases: set[str] = set()
    envs: set[str] = set()
    rules = False
    for p in paths:
        parts = Path(p).parts
        if not parts:
            continue
        if parts[0] == STACKS_DIR and len(parts) == 2:
            stacks.add(Path(parts[1]).stem)
        elif parts[0] == ENVIRONMENTS_DIR and len(parts) == 3:
            envs.add(parts[1])
            deployment = repo.root / p
            if deployment.is_file():
                try:
                    template = repo.deployments(parts[1])[Path(parts[2]).stem].spec
                    stacks.add(Path(template.template_file_path).stem)
                except (KeyError, ValueError):
                    stacks.add(Path(parts[2]).stem)
        elif parts[0] == ENVIRONMENTS_DIR and len(parts) == 2:
            envs.add(Path(parts[1]).stem)
        elif parts[0] == HELM_DIR and len(parts) >= 2:
            releases.add(parts[1])
        elif parts[0] == GUARD_DIR:
            rules = True
        else:  # a template outside stacks/, named by a deployment file
            stacks.update(s for s, t in repo.stack_paths.items() if repo.rel(t) == p)
    return Touched(frozenset(stacks), frozenset(releases), frozenset(envs), rules)

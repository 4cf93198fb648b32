"""What a git diff touches: stacks, deployment files, releases, rules."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bot.repo.model import ENVIRONMENTS_DIR, GUARD_DIR, HELM_DIR, STACKS_DIR, Repository
from bot.subproc import tool_env


class GitError(RuntimeError):
    pass


class ChangeListError(GitError):
    """The API's list of a PR's files cannot be trusted for a review."""


# GitHub's "list pull request files" stops at 3,000 files, silently.
API_FILE_CAP = 3000


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False,
        env=tool_env(),
    )  # fmt: skip
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


def committed_changes(root: Path, ref: str) -> list[str]:
    """Paths the commits since the merge base with `ref` change (what a PR's file list shows)."""
    if ref.startswith("-"):
        raise GitError(f"refusing a ref that looks like an option: {ref!r}")
    base = git(root, "merge-base", "--end-of-options", ref, "HEAD").strip()
    out = git(root, "-c", "core.quotePath=false", "diff", "--name-only", "--no-renames", "-z",
              base, "HEAD", "--")  # fmt: skip
    return sorted(p for p in out.split("\0") if p)


def reviewed_paths(root: Path, ref: str | None, api_paths: list[str]) -> list[str]:
    """The changed paths a review is about: from git in the checkout, cross-checked
    with the API's list, which stops at GitHub's cap. Raises ChangeListError, naming
    the difference, rather than review a partial or different change."""
    listed = sorted(set(api_paths))
    if len(listed) >= API_FILE_CAP:
        raise ChangeListError(
            f"the pull request changes {len(listed):,} or more files; GitHub lists at most "
            f"{API_FILE_CAP:,}, so the review cannot see them all. Split the pull request."
        )
    if ref is None or not (root / ".git").exists():
        return listed
    from_git = committed_changes(root, ref)
    if len(from_git) >= API_FILE_CAP:
        raise ChangeListError(
            f"the checkout changes {len(from_git):,} files since {ref}; over GitHub's "
            f"{API_FILE_CAP:,}-file limit for a review. Split the pull request."
        )
    only_git = sorted(set(from_git) - set(listed))
    only_api = sorted(set(listed) - set(from_git))
    if only_git or only_api:
        parts = [f"only in git: {', '.join(only_git[:5])}"] if only_git else []
        parts += [f"only in GitHub's list: {', '.join(only_api[:5])}"] if only_api else []
        raise ChangeListError(
            f"the checkout's changes since {ref} and GitHub's file list differ "
            f"({'; '.join(parts)}); is the checkout the PR's head?"
        )
    return from_git


def checkout_at(root: Path, ref: str) -> Path:
    """The tree at `ref` (only the infrastructure folders) in a temporary directory."""
    tmp = Path(tempfile.mkdtemp(prefix="infra-bot-base-"))
    base = git(root, "merge-base", ref, "HEAD").strip()
    present = [d for d in (STACKS_DIR, ENVIRONMENTS_DIR, HELM_DIR)
               if git(root, "ls-tree", "--name-only", base, d).strip()]  # fmt: skip
    if present:
        _write_blobs(root, base, present, tmp)
    return tmp


def _write_blobs(root: Path, commit: str, dirs: list[str], into: Path) -> None:
    """The committed bytes of the regular files under `dirs` at `commit`. Not `git
    archive`: it applies the tree's .gitattributes (export-subst put the committer's
    name into a template, filters run drivers), so what was deployed was not the text
    that was reviewed. Symlinks and submodules are left out."""
    entries: list[tuple[str, str]] = []
    for item in git(root, "ls-tree", "-r", "-z", "--full-tree", commit, "--", *dirs).split("\0"):
        meta, _, path = item.partition("\t")
        mode, _, oid = meta.partition(" blob ")
        parts = path.split("/")
        if mode in ("100644", "100755") and not {"", ".", "..", ".git"} & set(parts):
            entries.append((path, oid))
    batch = subprocess.run(
        ["git", "-C", str(root), "cat-file", "--batch"], capture_output=True, check=True,
        input="".join(f"{oid}\n" for _, oid in entries).encode(), env=tool_env(),
    ).stdout  # fmt: skip
    pos = 0
    for path, _ in entries:
        end = batch.index(b"\n", pos)
        size = int(batch[pos:end].split()[2])
        target = into / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(batch[end + 1 : end + 1 + size])
        pos = end + 2 + size


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

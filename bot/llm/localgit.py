"""Writing a proposal as a commit on a new local branch, without touching the checkout.

`infra-bot generate` runs in someone's working tree; switching branches or
staging files there would disturb their work. Git's plumbing writes blobs, a
tree and a commit through a temporary index, and points a new branch at it.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from bot.repo.changes import GitError
from bot.subproc import tool_env

IDENTITY = {
    "GIT_AUTHOR_NAME": "infra-bot",
    "GIT_AUTHOR_EMAIL": "infra-bot@users.noreply.github.com",
    "GIT_COMMITTER_NAME": "infra-bot",
    "GIT_COMMITTER_EMAIL": "infra-bot@users.noreply.github.com",
}


def _git(
    root: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> str:
    proc = subprocess.run(
        ["git", "-C", str(root), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        env=tool_env(extra=env),
    )
    if proc.returncode != 0:
        raise GitError(f"git {args[0]}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def write_branch(root: Path, branch: str, files: dict[str, str | None], message: str) -> str:
    """One commit on top of HEAD with `files` changed, on new branch `branch`; its sha."""
    _git(root, "check-ref-format", "--branch", branch)
    head = _git(root, "rev-parse", "--verify", "HEAD")
    with tempfile.TemporaryDirectory(prefix="infra-bot-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), **IDENTITY}
        _git(root, "read-tree", head, env=env)
        for path, text in sorted(files.items()):
            if text is None:
                _git(root, "update-index", "--force-remove", "--", path, env=env)
                continue
            blob = _git(root, "hash-object", "-w", "--stdin", stdin=text)
            _git(root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        tree = _git(root, "write-tree", env=env)
    commit = _git(root, "commit-tree", tree, "-p", head, "-m", message, env=IDENTITY)
    # The empty old value makes this fail if the branch exists: never overwrite work.
    _git(root, "update-ref", f"refs/heads/{branch}", commit, "")
    return commit

"""A local git repository driven through plumbing commands only.

The GitHub stand-in keeps branches and commits in a real repository, so every
command that reads files at a ref, or diffs a PR, sees exactly what GitHub
would serve. Commits are built with a private index (read-tree, update-index,
write-tree, commit-tree), so nothing is checked out while building them.
"""

from __future__ import annotations

import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

from bot.subproc import tool_env

AUTHOR = {
    "GIT_AUTHOR_NAME": "infra-bot demo",
    "GIT_AUTHOR_EMAIL": "demo@infra-bot.local",
    "GIT_COMMITTER_NAME": "infra-bot demo",
    "GIT_COMMITTER_EMAIL": "demo@infra-bot.local",
}


class LocalGit:
    def __init__(self, root: Path) -> None:
        self.root = root

    def run(self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
        proc = subprocess.run(
            ["git", "-C", str(self.root), *args],
            input=stdin, capture_output=True, text=True, check=False,
            env=tool_env(extra={**AUTHOR, **(env or {})}),
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"git {' '.join(args[:3])}: {proc.stderr.strip()}")
        return proc.stdout

    def rev(self, ref: str) -> str:
        return self.run("rev-parse", "--verify", f"{ref}^{{commit}}").strip()

    def show(self, ref: str, path: str) -> str | None:
        try:
            return self.run("show", f"{ref}:{path}")
        except RuntimeError:
            return None

    def commit_time(self, sha: str) -> datetime:
        return datetime.fromisoformat(self.run("show", "-s", "--format=%cI", sha).strip())

    def commit_files(
        self, parent: str, files: dict[str, str | None], message: str, *, branch: str
    ) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self.run("read-tree", parent, env=env)
            for path, text in files.items():
                if text is None:
                    self.run("update-index", "--force-remove", "--", path, env=env)
                    continue
                blob = self.run("hash-object", "-w", "--stdin", stdin=text).strip()
                self.run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            tree = self.run("write-tree", env=env).strip()
        sha = self.run("commit-tree", tree, "-p", parent, "-m", message).strip()
        self.run("update-ref", f"refs/heads/{branch}", sha)
        return sha

    def merge(self, base: str, head: str, message: str) -> str:
        """A merge commit of `head` into branch `base` (no checkout needed)."""
        base_sha, head_sha = self.rev(base), self.rev(head)
        tree = self.run("merge-tree", "--write-tree", base_sha, head_sha).split()[0]
        sha = self.run("commit-tree", tree, "-p", base_sha, "-p", head_sha, "-m", message).strip()
        self.run("update-ref", f"refs/heads/{base}", sha)
        return sha

    def diff_names(self, base: str, head: str) -> list[tuple[str, str]]:
        out = self.run("diff", "--name-status", "--no-renames", f"{base}...{head}")
        return [(line.split("\t")[0], line.split("\t")[1]) for line in out.splitlines() if line]

    def diff_patch(self, base: str, head: str, path: str) -> str:
        out = self.run("diff", "--unified=3", f"{base}...{head}", "--", path)
        # GitHub's `patch` field starts at the first hunk header.
        start = out.find("@@")
        return out[start:] if start >= 0 else ""

    def checkout(self, ref: str) -> None:
        self.run("checkout", "-q", "--force", "--detach", ref)

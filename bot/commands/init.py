"""`infra-bot init`: adopt infra-bot in an existing repository.

Finds the CloudFormation templates where they are (they do not move: each deployment
file names its template's path), writes environments, deployment files, settings and
workflows that use the infra-bot action, and prints the checklist of what is left.
Never overwrites a file without --force, so a second run only fills in what is missing.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import typer

from bot.commands.common import fail

DEFAULT_ACTION = "infra-bot/infra-bot@v0.1.0"
_REMOTE = re.compile(r"(?:github\.com[:/])([\w.-]+/[\w.-]+?)(?:\.git)?/?$")
_OWNER_REPO = re.compile(r"[\w.-]+/[\w.-]+")


def owner_repo_from_remote(url: str) -> str | None:
    """OWNER/REPO from a GitHub remote URL (https or ssh), else None. Pure."""
    match = _REMOTE.search(url.strip())
    return match.group(1) if match else None


def _origin(root: Path) -> str:
    proc = subprocess.run(["git", "-C", str(root), "remote", "get-url", "origin"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return proc.stdout.strip() if proc.returncode == 0 else ""


def init(
    root: Path = typer.Option(Path("."), "--root", help="The repository to adopt."),
    repo: str | None = typer.Option(
        None, "--repo", help="OWNER/REPO (default: from `git remote get-url origin`)."
    ),
    envs: str = typer.Option("dev,tst,prd", "--envs", help="Environments, in promotion order."),
    project: str | None = typer.Option(None, help="Stack name prefix (default: the repo name)."),
    action: str = typer.Option(DEFAULT_ACTION, help="What the workflows `uses:` (pin a SHA)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask; write the files."),
    force: bool = typer.Option(False, "--force", help="Overwrite files that already exist."),
) -> None:
    """Adopt infra-bot here: environments, deployment files, settings, workflows."""
    from bot.init.checklist import checklist
    from bot.init.discover import find_helm_values, find_templates
    from bot.init.scaffold import Adoption, files

    root = root.resolve()
    if not root.is_dir():
        raise fail(f"{root} is not a folder")
    names = tuple(e.strip() for e in envs.split(",") if e.strip())
    if not names or any(not re.fullmatch(r"[a-z][a-z0-9-]{0,15}", e) for e in names):
        raise fail(f"--envs {envs!r}: lower-case names separated by commas, e.g. dev,tst,prd")
    owner_repo = repo or owner_repo_from_remote(_origin(root)) or "OWNER/REPO"
    if not _OWNER_REPO.fullmatch(owner_repo):
        raise fail(f"--repo {owner_repo!r} is not OWNER/REPO")
    templates = tuple(find_templates(root))
    prefix = project or re.sub(r"[^a-z0-9-]+", "-", owner_repo.split("/")[1].lower()).strip("-")
    adoption = Adoption(owner_repo, prefix or "platform", names, templates,
                        tuple(find_helm_values(root)), action)  # fmt: skip
    planned = files(adoption)
    existing = [p for p in planned if (root / p).exists()]
    to_write = [p for p in planned if force or p not in existing]
    print(f"Found {len(templates)} CloudFormation template(s):", file=sys.stderr)
    for t in templates:
        print(f"  {t.path} -> stack {t.stack}", file=sys.stderr)
    if adoption.helm_values:
        print("Helm values found (add a helm-values/<release>/release.yaml for each):",
              file=sys.stderr)  # fmt: skip
        for v in adoption.helm_values:
            print(f"  {v}", file=sys.stderr)
    if to_write and not yes:
        if not sys.stdin.isatty():
            raise fail("would write files; run with --yes (no terminal to ask on)")
        if not typer.confirm(f"Write {len(to_write)} file(s) under {root}?"):
            raise typer.Exit(1)
    for rel in to_write:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(planned[rel], encoding="utf-8")
    kept = [p for p in existing if p not in to_write]
    sys.stdout.write(checklist(adoption, to_write, kept))


def register(app: typer.Typer) -> None:
    app.command("init")(init)

"""Small helpers every command uses: finding the repository, reporting errors."""

from __future__ import annotations

from pathlib import Path

import typer


def repo_root(start: Path | None = None) -> Path:
    """The nearest folder upwards that looks like an infra repository."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "stacks").is_dir() or (folder / ".git").exists():
            return folder
    return here


def fail(message: str, code: int = 2) -> typer.Exit:
    from rich.console import Console

    from bot.redact import active

    Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {active().text(message)}")
    return typer.Exit(code)

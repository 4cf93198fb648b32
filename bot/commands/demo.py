"""`infra-bot demo`: watch the whole loop on this machine (no AWS account, no GitHub).

Prints a progress line per step and every comment the bot posts or edits,
rendered as markdown; `--html` writes the conversation as a page that reads
like the pull request on GitHub. Exit code 1 if any step fails.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.commands.common import fail, repo_root

if TYPE_CHECKING:
    from rich.console import Console

    from bot.demo.conversation import Said
    from bot.demo.transcript import Step


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    html: Annotated[
        Path | None, typer.Option("--html", help="Write the conversation as an HTML page here.")
    ] = None,
    step: Annotated[bool, typer.Option("--step", help="Pause after each step.")] = False,
    offline: Annotated[
        bool | None,
        typer.Option("--offline/--bedrock", help="Generator (default: Bedrock if credentials)."),
    ] = None,
    keep: Annotated[
        Path | None, typer.Option("--keep", help="Work in this directory and keep it.")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the run (steps, threads) as JSON here.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Progress lines only.")] = False,
    root: Annotated[Path | None, typer.Option("--root", help="Repository to copy.")] = None,
) -> None:
    """Run the whole loop: issue -> generated PR -> review, plan, cost -> merge -> DEV, TST, PRD."""
    from rich.console import Console

    from bot.demo.moto import MotoMissingError
    from bot.demo.run import run_demo

    console = Console(highlight=False)
    source = (root or repo_root()).resolve()
    if not (source / "stacks").is_dir() or not (source / "environments").is_dir():
        raise fail(f"{source} has no stacks/ and environments/ to run the demo on")

    def show(done: Step, index: int, total: int, news: list[Said]) -> None:
        _show(console, done, index, total, [] if quiet else news)

    def pause() -> None:
        if step:
            console.input("[dim]Enter for the next step...[/dim]")

    def start(note: str, adaptations: tuple[str, ...]) -> None:
        console.print(f"[bold]infra-bot demo[/bold]: {note}")
        for line in adaptations:
            console.print(f"  [dim]moto adaptation: {line}[/dim]")

    try:
        result = run_demo(source, show, pause=pause, offline=offline, keep=keep, on_start=start)
    except MotoMissingError as exc:
        raise fail(str(exc)) from None
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(result.html, encoding="utf-8")
        console.print(f"conversation written to {html}")
    if json_path is not None:
        json_path.write_text(json.dumps(result.document(), indent=2) + "\n", encoding="utf-8")
    total = sum(s.seconds for s in result.steps)
    if result.ok:
        console.print(f"[green]demo finished: {len(result.steps)} steps in {total:.1f} s[/green]")
        return
    console.print(f"[red]demo failed: {result.error}[/red]")
    raise typer.Exit(1)


def _show(console: Console, done: Step, index: int, total: int, news: list[Said]) -> None:
    from rich.markdown import Markdown
    from rich.panel import Panel

    mark = "[green]ok[/green]" if done.ok else "[red]FAILED[/red]"
    console.rule(f"[{index}/{total}] {done.title}", align="left")
    for said in news:
        if said.what.startswith("commit status") or said.what.startswith("GitHub deployment"):
            console.print(f"  [dim]{said.what}: {said.body}[/dim]", markup=True)
            continue
        console.print(Panel(Markdown(_strip_markers(said.body)), title=said.what,
                            title_align="left", border_style="blue"))  # fmt: skip
    console.print(f"{mark} ({done.seconds:.1f} s)")
    sys.stdout.flush()


def _strip_markers(body: str) -> str:
    """Hidden markers are HTML comments: GitHub hides them, a terminal would not."""
    return "\n".join(line for line in body.splitlines() if not line.startswith("<!-- infra-bot:"))

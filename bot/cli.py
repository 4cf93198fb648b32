"""The `infra-bot` command line: parse options, build adapters, call a command.

Start-up is part of the interface: `infra-bot --help` must list every command
with its help without importing boto3, cfn-lint, PyGithub or LangChain. So:

- each command module imports only typer and the standard library at module
  level and keeps everything heavy inside its command bodies
  (tests/test_cli_startup.py checks this in a fresh interpreter);
- help is rendered by click's plain formatter (`rich_markup_mode=None`): typer's
  rich formatter imports rich, markdown-it and pygments, which cost more than
  the rest of start-up together.
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
    rich_markup_mode=None,
)

# One module per command (or family); each exposes register(app).
COMMAND_MODULES = [
    "bot.commands.validate",
    "bot.commands.baseline",
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

"""`infra-bot handle`: the GitHub Actions entry point for every event.

Reads the Actions environment once (bot.settings), builds the API adapter,
parses the event payload and hands it to the router. Events it does not handle
exit 0 quietly, so one workflow can call it for everything.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.commands.common import fail

if TYPE_CHECKING:
    from bot.github.api import GitHubAPI
    from bot.github.context import Outcome
    from bot.settings import Settings


def register(app: typer.Typer) -> None:
    app.command("handle")(handle)


def handle(
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", help="Checkout the checks read (default: $GITHUB_WORKSPACE)."),
    ] = None,
    sarif: Annotated[Path | None, typer.Option("--sarif", help="Write SARIF here.")] = None,
    env: Annotated[str | None, typer.Option("--env", help="The deploy job's environment.")] = None,
    run: Annotated[
        str | None,
        typer.Option("--run", help="Run this /infra command for the event's PR (workflow steps)."),
    ] = None,
    stage: Annotated[
        str | None,
        typer.Option(
            "--stage",
            help="Deploy job stage: `plan` (create and publish the change sets) or "
            "`execute` (run exactly the published ones). Default: both in one job.",
        ),
    ] = None,
    plan: Annotated[
        str | None,
        typer.Option(
            "--plan",
            envvar="INFRA_BOT_PLAN",
            help="With --stage execute: the plan job's `plan` output (JSON).",
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Run every check; ignore the findings cache.")
    ] = False,
    cache_dir: Annotated[
        Path | None,
        typer.Option(envvar="INFRA_BOT_FINDINGS_CACHE", help="Findings cache directory."),
    ] = None,
) -> None:
    """Handle the GitHub event of this workflow run ($GITHUB_EVENT_NAME, $GITHUB_EVENT_PATH)."""
    from bot import findings_cache
    from bot.github.actions import log
    from bot.github.api import GitHubError
    from bot.settings import Settings, SettingsError

    cache = (
        None
        if no_cache
        else findings_cache.FindingsCache(cache_dir or findings_cache.default_dir())
    )
    try:
        settings = Settings.from_env()
        if stage not in {None, "plan", "execute"}:
            raise SettingsError(f"--stage {stage!r}: want `plan` or `execute`")
        with findings_cache.using(cache):
            outcome = run_handle(settings, workspace=workspace, sarif=sarif, env=env, run=run,
                                 stage=stage, plan=plan)  # fmt: skip
    except SettingsError as exc:
        raise fail(str(exc)) from None
    except GitHubError as exc:
        raise fail(str(exc), code=1) from None
    log(outcome.note)
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


def run_handle(
    settings: Settings,
    *,
    api: GitHubAPI | None = None,
    workspace: Path | None = None,
    sarif: Path | None = None,
    env: str | None = None,
    run: str | None = None,
    stage: str | None = None,
    plan: str | None = None,
) -> Outcome:
    """Parse the event and route it; `api` defaults to PyGithub against $GITHUB_API_URL."""
    from bot.github.context import Context
    from bot.github.events import parse_event
    from bot.github.pygithub_api import (
        GITHUB_ACTIONS_LOGIN,
        PyGithubAPI,
        app_bot_login,
        app_installation_auth,
        make_retry,
    )
    from bot.github.redacting import activate_for, redacting
    from bot.github.router import route
    from bot.settings import SettingsError

    event = parse_event(settings.event_name, settings.load_event())
    if api is None:
        if not settings.repository:
            raise SettingsError("GITHUB_REPOSITORY is not set; run inside GitHub Actions")
        retry = make_retry(backoff=settings.retry_backoff)
        auth = None
        bot_login: str | Callable[[], str] = GITHUB_ACTIONS_LOGIN
        if settings.app_id is not None and settings.app_private_key is not None:
            # Act as the GitHub App: its PRs and pushes trigger workflows, and it
            # can read org team membership (GITHUB_TOKEN can do neither).
            auth = app_installation_auth(
                settings.repository,
                settings.app_id,
                settings.app_private_key.get_secret_value(),
                installation_id=settings.app_installation_id,
                base_url=settings.api_url,
                retry=retry,
            )
            app_id, key = settings.app_id, settings.app_private_key.get_secret_value()
            # Asked only when a command checks whose comment a marker is in.
            bot_login = partial(app_bot_login, app_id, key, base_url=settings.api_url, retry=retry)
        api = PyGithubAPI(
            settings.repository,
            settings.token.get_secret_value(),
            auth=auth,
            base_url=settings.api_url,
            retry=retry,
            write_pause=settings.write_pause,
            bot_login=bot_login,
        )
    ctx = Context(
        api=redacting(api, activate_for(settings)),
        settings=settings,
        workspace=(workspace or settings.workspace or Path.cwd()).resolve(),
        sarif_path=sarif,
        env=env or settings.bound_environment,
        run_command=run,
        stage=stage,
        plan=plan,
    )
    return route(ctx, event)

"""What every handler receives: the API, the settings, and where the files are."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.github.api import GitHubAPI
from bot.github.grammar import Verb
from bot.settings import Settings


@dataclass(frozen=True)
class Context:
    api: GitHubAPI
    settings: Settings
    # The checkout the checks read (for PR events: the PR head; otherwise the
    # default branch). The bot's own settings never come from here.
    workspace: Path
    sarif_path: Path | None = None
    env: str | None = None  # the environment a deploy job is bound to
    table: dict[Verb, str] | None = None  # the command table (tests swap entries)
    # A workflow step's own command (`handle --run plan`): run for the event's PR
    # on behalf of the workflow, no comment involved.
    run_command: str | None = None
    # A deploy job's stage (plan | execute; None: both in one job) and the published
    # plan an execute stage runs (bot.cloud.published).
    stage: str | None = None
    plan: str | None = None

    @property
    def trusted_root(self) -> Path:
        """The checkout the bot was installed from ($GITHUB_WORKSPACE): the default
        branch (comment.yml, drift.yml, deploy.yml) or the PR's base commit (pr.yml),
        while `workspace` may be the PR head checked out as data under pr/. Everything
        that decides who, where and how strictly is read from here (bot.repo.policy)."""
        return self.settings.workspace or self.workspace


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    note: str

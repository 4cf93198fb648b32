"""Who may run what: repository permission, forks, and `.github/infra-bot.yml`.

The decision is a pure function of facts gathered by the caller (permission
from the API, fork or not, the settings file from the default branch); team
membership is looked up through a callable only when a rule names a team.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.github.api import Permission
from bot.github.grammar import Command, Verb

CONFIG_PATH = ".github/infra-bot.yml"
MAX_CONFIG_BYTES = 64 * 1024


class EnvironmentRule(BaseModel):
    """Narrows the mutating commands for one environment to these people."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    users: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()  # "org/team-slug"


class BotConfig(BaseModel):
    # Other parts own their own sections of the file (`llm:`, `cost:` ...), so
    # unknown top-level keys are theirs; the sections read here are strict.
    model_config = ConfigDict(extra="allow", frozen=True)
    # Environments `/infra apply` may deploy to before the PR is merged.
    apply_before_merge: tuple[str, ...] = ("dev",)
    environments: dict[str, EnvironmentRule] = Field(default_factory=dict)


class ConfigError(ValueError):
    pass


def parse_config(text: str | None) -> BotConfig:
    """The settings file, or the defaults if there is none; ConfigError if it is broken."""
    if text is None:
        return BotConfig()
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{CONFIG_PATH} is larger than {MAX_CONFIG_BYTES} bytes")
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{CONFIG_PATH} is not valid YAML: {exc}") from None
    try:
        return BotConfig.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{CONFIG_PATH}: {where}: {first['msg']}") from None


@dataclass(frozen=True)
class Actor:
    login: str
    is_bot: bool
    permission: Permission


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


ALLOW = Decision(True)


def decide(
    command: Command,
    actor: Actor,
    *,
    from_fork: bool,
    pr_open: bool,
    config: BotConfig | ConfigError,
    team_members: Callable[[str, str], frozenset[str]],
) -> Decision:
    """The whole decision; callers with a costly `config` use the two halves below."""
    access = decide_access(command, actor, from_fork=from_fork)
    if not access.allowed or not command.spec.mutating:
        return access
    return decide_settings(command, actor, pr_open=pr_open, config=config,
                           team_members=team_members)  # fmt: skip


def decide_access(command: Command, actor: Actor, *, from_fork: bool) -> Decision:
    """Bots, repository permission, forks: everything that needs no settings file."""
    spec = command.spec
    # A change request has no verb word; its usage line is what the user recognises.
    name = spec.usage if command.verb is Verb.GENERATE else command.verb.value
    if actor.is_bot:
        return Decision(False, "commands from bots are ignored")
    if actor.permission < spec.who:
        need = spec.who.name.lower()
        return Decision(
            False,
            f"`{name}` needs {need} permission on this "
            f"repository; you have {actor.permission.name.lower()}",
        )
    if spec.mutating and from_fork:
        return Decision(
            False,
            f"`{name}` does not run for pull requests from "
            "forks; a maintainer can push the branch to this repository",
        )
    return ALLOW


def decide_settings(
    command: Command,
    actor: Actor,
    *,
    pr_open: bool,
    config: BotConfig | ConfigError,
    team_members: Callable[[str, str], frozenset[str]],
) -> Decision:
    """What `.github/infra-bot.yml` (from the default branch) narrows for mutating commands."""
    if isinstance(config, ConfigError):
        return Decision(False, f"the bot's settings are broken, so changes are refused: {config}")
    return _settings_allow(command, actor, pr_open, config, team_members)


def _settings_allow(
    command: Command,
    actor: Actor,
    pr_open: bool,
    config: BotConfig,
    team_members: Callable[[str, str], frozenset[str]],
) -> Decision:
    if command.verb is Verb.APPLY and pr_open and command.args[0] not in config.apply_before_merge:
        allowed = ", ".join(config.apply_before_merge) or "none"
        return Decision(
            False,
            f"`apply {command.args[0]}` is not allowed before merge (allowed: "
            f"{allowed}); merge the PR to deploy through the pipeline",
        )
    for env in command.environments:
        rule = config.environments.get(env)
        if rule and not _named(actor.login, rule, team_members):
            return Decision(False, f"the settings limit `{env}` to named people and teams")
    return ALLOW


def _named(
    login: str, rule: EnvironmentRule, team_members: Callable[[str, str], frozenset[str]]
) -> bool:
    user = login.lower()
    if user in {u.lower() for u in rule.users}:
        return True
    for team in rule.teams:
        org, _, slug = team.partition("/")
        if slug and user in team_members(org, slug):
            return True
    return False

"""Who may run what: permission, forks, settings from the default branch."""

from __future__ import annotations

import pytest

from bot.github.api import Permission
from bot.github.auth import Actor, BotConfig, ConfigError, decide, parse_config
from bot.github.grammar import Command, Verb

CONFIG = parse_config("""
apply_before_merge: [dev, tst]
environments:
  prd:
    users: [Carol]
    teams: [acme/platform]
""")
TEAMS = {("acme", "platform"): frozenset({"dave"})}


def run(verb, args=(), login="alice", permission=Permission.WRITE, *, bot=False, fork=False,
        pr_open=True, config=CONFIG):  # fmt: skip
    return decide(
        Command(verb, tuple(args)), Actor(login, bot, permission), from_fork=fork,
        pr_open=pr_open, config=config,
        team_members=lambda org, slug: TEAMS.get((org, slug), frozenset()),
    )  # fmt: skip


@pytest.mark.parametrize("case,kwargs,allowed,reason", [
    ("help for anyone", dict(verb=Verb.HELP, permission=Permission.NONE), True, ""),
    ("status for anyone", dict(verb=Verb.STATUS, permission=Permission.NONE), True, ""),
    ("validate needs triage", dict(verb=Verb.VALIDATE, permission=Permission.READ), False,
     "needs triage permission"),
    ("validate by triage", dict(verb=Verb.VALIDATE, permission=Permission.TRIAGE), True, ""),
    ("validate on a fork is fine", dict(verb=Verb.VALIDATE, fork=True), True, ""),
    ("cost on a fork is fine", dict(verb=Verb.COST, fork=True), True, ""),
    ("plan needs write", dict(verb=Verb.PLAN, permission=Permission.TRIAGE), False,
     "needs write permission"),
    ("plan by write", dict(verb=Verb.PLAN, args=("dev",)), True, ""),
    ("plan on a fork", dict(verb=Verb.PLAN, fork=True), False, "forks"),
    ("apply on a fork even by admin", dict(verb=Verb.APPLY, args=("dev",), fork=True,
                                           permission=Permission.ADMIN), False, "forks"),
    ("bots never", dict(verb=Verb.HELP, bot=True), False, "bots"),
    ("apply dev before merge", dict(verb=Verb.APPLY, args=("dev",)), True, ""),
    ("apply prd before merge", dict(verb=Verb.APPLY, args=("prd",), login="carol"), False,
     "not allowed before merge"),
    ("prd limited to named users", dict(verb=Verb.APPROVE_COST, args=("prd",)), False,
     "limit `prd`"),
    ("named user (case-insensitive)", dict(verb=Verb.APPROVE_COST, args=("prd",),
                                           login="carol"), True, ""),
    ("team member", dict(verb=Verb.ROLLBACK, args=("prd", "vpc"), login="dave"), True, ""),
    ("promote into prd", dict(verb=Verb.PROMOTE, args=("tst", "prd")), False, "limit `prd`"),
    ("broken settings refuse changes", dict(verb=Verb.UNLOCK, args=("dev",),
                                            config=ConfigError("bad")), False, "settings are broken"),
    ("broken settings keep reads", dict(verb=Verb.COST, config=ConfigError("bad")), True, ""),
])  # fmt: skip
def test_decide(case, kwargs, allowed, reason):
    verb = kwargs.pop("verb")
    args = kwargs.pop("args", ())
    decision = run(verb, args, **kwargs)
    assert decision.allowed is allowed, case
    assert reason in decision.reason


def test_sections_of_other_parts_are_left_to_them():
    config = parse_config("llm:\n  model: x\napply_before_merge: [dev]\n")
    assert config.apply_before_merge == ("dev",)


def test_defaults_without_a_settings_file():
    assert parse_config(None) == BotConfig()
    assert parse_config(None).apply_before_merge == ("dev",)


@pytest.mark.parametrize("text,message", [
    ("apply_before_merge: [dev\n", "not valid YAML"),
    ("apply_before_merge: 7\n", "apply_before_merge"),
    ("environments:\n  prd:\n    people: [x]\n", "environments.prd.people"),
    ("x: " + "a" * 70_000, "larger than"),
])  # fmt: skip
def test_broken_settings_are_clear_errors(text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        parse_config(text)


@pytest.mark.parametrize("text,level", [
    ("admin", Permission.ADMIN), ("maintain", Permission.MAINTAIN), ("write", Permission.WRITE),
    ("triage", Permission.TRIAGE), ("read", Permission.READ), ("none", Permission.NONE),
    (None, Permission.NONE), ("weird", Permission.NONE),
])  # fmt: skip
def test_permission_parse(text, level):
    assert Permission.parse(text) is level

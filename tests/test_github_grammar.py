"""The /infra grammar: comment text -> typed command, against the allowlist."""

from __future__ import annotations

import pytest

from bot.github.grammar import Command, ParseError, Verb, Where, help_text, is_command, parse

ENVS = frozenset({"dev", "tst", "prd"})


@pytest.mark.parametrize("body,where,expected", [
    ("/infra help", Where.PR, Command(Verb.HELP)),
    ("  /infra help\r\nmore text", Where.ISSUE, Command(Verb.HELP)),
    ("/infra validate", Where.PR, Command(Verb.VALIDATE)),
    ("/infra plan", Where.PR, Command(Verb.PLAN)),
    ("/infra plan dev", Where.PR, Command(Verb.PLAN, ("dev",))),
    ("/infra PLAN dev", Where.PR, Command(Verb.PLAN, ("dev",))),
    ("/infra cost 'prd'", Where.PR, Command(Verb.COST, ("prd",))),
    ("/infra apply dev", Where.PR, Command(Verb.APPLY, ("dev",))),
    ("/infra promote dev tst", Where.ISSUE, Command(Verb.PROMOTE, ("dev", "tst"))),
    ("/infra drift", Where.ISSUE, Command(Verb.DRIFT)),
    ("/infra status prd", Where.ISSUE, Command(Verb.STATUS, ("prd",))),
    ("/infra rollback prd eks-cluster", Where.PR, Command(Verb.ROLLBACK, ("prd", "eks-cluster"))),
    ("/infra approve-cost prd", Where.PR, Command(Verb.APPROVE_COST, ("prd",))),
    ("/infra unlock tst", Where.PR, Command(Verb.UNLOCK, ("tst",))),
    ("/infra drift dev", Where.DISPATCH, Command(Verb.DRIFT, ("dev",))),
    ("/infra add an encrypted S3 bucket\nwith versioning", Where.ISSUE,
     Command(Verb.GENERATE, text="add an encrypted S3 bucket", context="with versioning")),
    ("/infra add Bob's \"logs\" bucket", Where.ISSUE,
     Command(Verb.GENERATE, text="add Bob's \"logs\" bucket")),
])  # fmt: skip
def test_commands_parse(body, where, expected):
    assert parse(body, where, ENVS) == expected


@pytest.mark.parametrize("body,where,message", [
    ("/infra", Where.PR, "needs a command"),
    ("/infra plna", Where.PR, "Did you mean `plan`?"),
    ("/infra add a bucket", Where.PR, "unknown command `add`"),
    ("/infra bucket", Where.ISSUE, "describe it in a few words"),
    ("/infra plan dev tst", Where.PR, "usage: `/infra plan [env]`"),
    ("/infra apply", Where.PR, "usage: `/infra apply <env>`"),
    ("/infra apply qa", Where.PR, "unknown environment `qa`"),
    ("/infra apply dev", Where.ISSUE, "works on a pull request only"),
    ("/infra validate", Where.ISSUE, "works on a pull request only"),
    ("/infra plan 'dev", Where.PR, "cannot split"),
    ("/infra plan ../etc", Where.PR, "not a valid env name"),
    ("/infra rollback dev $(id)", Where.PR, "usage:"),
    ("/infra rollback dev Stack_1", Where.PR, "not a valid stack name"),
    ("/infra " + "a" * 2000, Where.ISSUE, "longer than 1000"),
])  # fmt: skip
def test_bad_commands_are_errors(body, where, message):
    result = parse(body, where, ENVS)
    assert isinstance(result, ParseError)
    assert message in result.message


@pytest.mark.parametrize("body", [
    "", "hello", "/infrastructure plan", "please /infra plan", "`/infra plan`", "> /infra plan",
    "/Infra plan", "x\n/infra plan",
])  # fmt: skip
def test_not_commands(body):
    assert not is_command(body)
    assert parse(body, Where.PR, ENVS) is None


def test_environments_unknown_means_any_valid_name():
    assert parse("/infra plan qa", Where.PR) == Command(Verb.PLAN, ("qa",))


def test_command_environment_arguments():
    assert parse("/infra rollback prd vpc", Where.PR, ENVS).environments == ("prd",)  # type: ignore[union-attr]
    assert parse("/infra promote dev tst", Where.PR, ENVS).environments == ("dev", "tst")  # type: ignore[union-attr]


def test_help_lists_every_command_once():
    text = help_text()
    for verb in (
        "validate",
        "plan",
        "cost",
        "apply",
        "promote",
        "drift",
        "status",
        "rollback",
        "approve-cost",
        "unlock",
        "help",
    ):
        assert text.count(f"`/infra {verb}") == 1, verb
    assert "`/infra apply <env>` | PR | write+" in text
    pr_only = help_text(Where.ISSUE)
    assert "/infra validate" not in pr_only and "/infra <what you want>" in pr_only

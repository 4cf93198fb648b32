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
    # On a PR free text revises it (the runner refuses PRs the bot did not open).
    ("/infra keep old versions for 7 days\nas bob said", Where.PR,
     Command(Verb.GENERATE, text="keep old versions for 7 days", context="as bob said")),
    ("/infra add a bucket", Where.PR, Command(Verb.GENERATE, text="add a bucket")),
    ("/infra plna the retention change", Where.PR,  # near a verb, but prose
     Command(Verb.GENERATE, text="plna the retention change")),
])  # fmt: skip
def test_commands_parse(body, where, expected):
    assert parse(body, where, ENVS) == expected


@pytest.mark.parametrize("body,where,message", [
    ("/infra", Where.PR, "needs a command"),
    ("/infra plna", Where.PR, "Did you mean `plan`?"),
    ("/infra bucket", Where.ISSUE, "describe it in a few words"),
    ("/infra retention", Where.PR, "unknown command `retention`"),
    ("/infra retention", Where.PR, "To revise an infra-bot pull request"),
    ("/infra valdiate", Where.PR, "Did you mean `validate`?"),
    # A near-miss of a command with arguments that fit it is a typo, not a request.
    ("/infra plna dev", Where.PR, "unknown command `plna`. Did you mean `plan`?"),
    ("/infra rolback prd vpc", Where.ISSUE, "Did you mean `rollback`?"),
    ("/infra add a bucket", Where.DISPATCH, "unknown command `add`"),
    # A known verb first is that verb, with its own argument rules, never free text.
    ("/infra plan dev please", Where.PR, "usage: `/infra plan [env]`"),
    ("/infra apply the review comments", Where.PR,
     "usage: `/infra apply <env>`. `apply` is a command: to describe a change in words, "
     "start with another word"),
    ("/infra apply bob's review", Where.ISSUE, "start with another word"),
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


def test_a_command_word_with_fitting_arguments_gets_no_prose_hint():
    for body in ("/infra apply qa", "/infra apply dev", "/infra plan 'dev"):
        result = parse(body, Where.PR, ENVS)
        assert not isinstance(result, ParseError) or "another word" not in result.message
    result = parse("/infra drift dev tst prd", Where.DISPATCH, ENVS)  # no free text there
    assert isinstance(result, ParseError) and result.message == "usage: `/infra drift [env]`"


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
    on_pr = help_text(Where.PR)
    assert "| `/infra <what you want>` | PR, issue | write+ |" in on_pr
    assert "on an infra-bot PR: revise it" in on_pr
    assert "/infra <what you want>" not in help_text(Where.DISPATCH)


@pytest.mark.parametrize(
    ("text", "meant"),
    [("/infra deploy prd", "apply"), ("/infra diff dev", "plan"), ("/infra approve dev", "approve-cost")],
)
def test_words_from_other_tools_are_mistyped_commands_not_requests(text: str, meant: str) -> None:
    parsed = parse(text, Where.PR)
    assert isinstance(parsed, ParseError), parsed
    assert f"Did you mean `{meant}`?" in parsed.message


def test_a_sentence_starting_with_an_alias_is_still_a_request() -> None:
    parsed = parse("/infra deploy the bucket with a 90 day lifecycle rule", Where.ISSUE)
    assert isinstance(parsed, Command) and parsed.verb is Verb.GENERATE

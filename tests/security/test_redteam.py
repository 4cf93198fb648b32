"""Red-team cases: attacks by commenters and PR authors that tests/security/ did not
cover yet. Each goes through `run_handle` against the fake GitHub (or the pure edge it
reaches first) and checks what GitHub would show, not how the bot got there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.commands.handle import run_handle
from bot.github.context import Outcome
from bot.settings import Settings
from tests.fakegithub import FakeGitHub

ROOT = Path(__file__).resolve().parents[2]
# Bidi embedding/override/isolate controls and marks (Trojan Source, CVE-2021-42574).
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_user("alice", permission="write")
        fake.add_user("tom", permission="triage")
        yield fake


def say(gh: FakeGitHub, tmp_path: Path, number: int, body: str, author: str = "alice",
        **environ: str) -> Outcome:  # fmt: skip
    """One `issue_comment created` event through `infra-bot handle`."""
    event = tmp_path / f"event-{len(gh.requests)}.json"
    event.write_text(json.dumps(gh.comment_event(gh.add_comment(number, body, author=author))))
    env = gh.environ("issue_comment", str(event), GITHUB_WORKSPACE=str(ROOT), **environ)
    return run_handle(Settings.from_env(env), workspace=ROOT)


def replies(gh: FakeGitHub, number: int) -> list[str]:
    return [c["body"] for c in gh.comments_on(number) if c["user"]["type"] == "Bot"]


# --- (c)/(d) commenters: look-alike commands -------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "/infra unloc\u212a dev",  # KELVIN SIGN: "\u212a".lower() == "k"
        "/infra \u0430pply dev",  # Cyrillic a
        "/infra apply\u00a0dev",  # no-break space inside the words
        "/infra app\u200bly dev",  # zero-width space inside the verb
    ],
)
def test_a_look_alike_verb_never_runs_the_command(gh: FakeGitHub, tmp_path: Path,
                                                  body: str) -> None:  # fmt: skip
    """What runs is what the thread shows in ASCII: Unicode case folding (the Kelvin
    sign lower-cases to `k`) or a look-alike letter never turns into a verb."""
    pr = gh.add_pull_request({"stacks/topic.yaml": "x: 1\n"})

    outcome = say(gh, tmp_path, pr["number"], body)

    assert not outcome.note.startswith(("unlock", "apply", "denied")), outcome.note
    assert all("unknown command" in r or "not a valid" in r or "usage" in r
               for r in replies(gh, pr["number"])), replies(gh, pr["number"])  # fmt: skip


# --- (d) anyone: bidi controls reaching what the bot writes ----------------------------


def test_bidi_controls_in_a_comment_never_reach_the_reply(gh: FakeGitHub, tmp_path: Path) -> None:
    """A right-to-left override in the quoted command would make the bot's reply read
    differently from what it says (and flip the rest of the line in a terminal)."""
    issue = gh.add_issue(author="tom")

    say(gh, tmp_path, issue["number"], "/infra frobnicate \u202eved ylppa\u2066 \u2067x\u2069",
        author="tom")  # fmt: skip

    (reply,) = replies(gh, issue["number"])
    assert not set(reply) & set(BIDI), [hex(ord(c)) for c in reply if c in BIDI]


def test_bidi_controls_are_stripped_wherever_untrusted_text_is_cleaned() -> None:
    from bot.render.text import blockquote, escape_md, quote_untrusted, strip_controls

    text = "main" + BIDI + "\u202e1.0 yppa"
    for cleaned in (strip_controls(text), quote_untrusted(text), blockquote(text)):
        assert not set(cleaned) & set(BIDI)
    assert escape_md("a<b") == "a&lt;b"  # the other defusing is unchanged

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


# --- (b) PR author: planting the bot's own tags -----------------------------------------

TOPIC = 'AWSTemplateFormatVersion: "2010-09-09"\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n'
OLD_MAIN = "0123456789abcdef0123456789abcdef01234567"


def repo_with_tags(root: Path, tags: dict[str, str]) -> Path:
    (root / "environments" / "dev").mkdir(parents=True)
    (root / "environments" / "dev.yaml").write_text((ROOT / "environments/dev.yaml").read_text())
    (root / "stacks").mkdir()
    (root / "stacks" / "topic.yaml").write_text(TOPIC)
    lines = "".join(f"  {json.dumps(k)}: {json.dumps(v)}\n" for k, v in tags.items())
    (root / "environments" / "dev" / "topic.yaml").write_text(
        f"template-file-path: stacks/topic.yaml\ntags:\n  Project: platform\n{lines}"
    )
    return root


@pytest.mark.parametrize("key", ["infra-bot:previous-commit", "infra-bot:commit",
                                 "INFRA-BOT:previous-commit", "aws:cloudformation:x"])  # fmt: skip
def test_a_deployment_file_cannot_set_the_bots_own_tags(tmp_path: Path, key: str) -> None:
    """`infra-bot:previous-commit` is where `/infra rollback` returns to. A deployment
    file setting it on a new stack would pick the rollback target (any commit, e.g. one
    before a security fix); the bot's identity tags are the bot's alone."""
    import subprocess
    import sys

    root = repo_with_tags(tmp_path / "ws", {key: OLD_MAIN})
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "validate", "--root", str(root), "--format", "json"],
        capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode in (1, 2), proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"tags {key} use a reserved prefix" in " ".join((proc.stdout + proc.stderr).split())


def test_the_rollback_target_is_never_a_tag_the_deployment_file_wrote(tmp_path: Path) -> None:
    """Even past validation (a repository the model cannot read), the change set's
    tags carry the deployment file's tags but never a previous-commit it chose."""
    from bot.cloud.planner import TAG_PREVIOUS, deploy_tags
    from bot.cloud.spec import StackSpec

    spec = StackSpec(
        env="dev", stack="topic", stack_name="platform-dev-topic", template_path="stacks/topic.yaml",
        body="{}", parameters=(), tags=((TAG_PREVIOUS, OLD_MAIN), ("Project", "platform")),
        capabilities=(), commit="f" * 40, template_hash="0" * 64,
    )  # fmt: skip
    tags = deploy_tags(spec, None)
    assert tags.get(TAG_PREVIOUS) != OLD_MAIN
    assert tags["Project"] == "platform"


# --- (b) PR author racing a trusted `/infra validate` -----------------------------------


def test_a_push_during_a_comment_validate_never_gets_the_older_commits_verdict(
    gh: FakeGitHub, tmp_path: Path
) -> None:
    """comment.yml checks out refs/pull/N/head, installs the bot, then asks GitHub for
    the PR. A push in between (same files, new content) made the trusted status and
    review land on the new head although only the old one was checked."""
    from tests.moto_fixtures import make_platform_repo
    from tests.security.test_trust import handle as trusted_handle
    from tests.security.test_trust import pr_head
    from tests.test_handle_cloud import adopt

    base = tmp_path / "base"  # the trusted checkout (GITHUB_WORKSPACE)
    make_platform_repo(base, ["kms"])
    pr, ws = pr_head(gh, base, tmp_path, {"stacks/notes.yaml": TOPIC})
    checked = pr["head"]["sha"]
    # The author pushes again after the job's checkout: the same file, new content.
    pushed = adopt(gh, "b" * 40)
    pr["head"]["sha"] = pushed
    event = gh.comment_event(gh.add_comment(pr["number"], "/infra validate", author="tom"))

    trusted_handle(gh, tmp_path, "issue_comment", event, trusted=base, workspace=ws)

    assert [s["state"] for s in gh.statuses.get(pushed, [])] == ["failure"]
    assert checked not in gh.statuses
    (review,) = gh.reviews_on(pr["number"])
    assert f"the checkout is at `{checked[:12]}`" in " ".join(review["body"].split())


# --- (b) git tricks: attributes that rewrite what the bot reads from history ------------


def test_an_older_commits_tree_is_the_committed_text_not_an_export_rewrite(
    tmp_path: Path,
) -> None:
    """A rollback or a base comparison reads an older commit through `git archive`.
    With `export-subst` in .gitattributes, `$Format:%an$` in a template became the
    commit's author name (chosen by whoever committed, e.g. `0.0.0.0/0`) in what was
    deployed, while the review, cfn-lint and cfn-guard saw the literal placeholder."""
    import subprocess

    from bot.repo.changes import checkout_at

    root = tmp_path / "repo"
    (root / "stacks").mkdir(parents=True)
    template = TOPIC + "  Sg:\n    Type: AWS::EC2::SecurityGroupIngress\n" \
        "    Properties:\n      CidrIp: $Format:%an$\n"  # fmt: skip
    (root / "stacks" / "topic.yaml").write_text(template)
    (root / ".gitattributes").write_text("stacks/* export-subst\n")

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], check=True, text=True,
                              capture_output=True).stdout.strip()  # fmt: skip

    git("init", "-qb", "main")
    git("add", "-A")
    git("-c", "user.name=0.0.0.0/0", "-c", "user.email=a@example.com", "commit", "-qm", "x")

    old = checkout_at(root, git("rev-parse", "HEAD"))

    assert (old / "stacks" / "topic.yaml").read_text() == template


# --- (b) writer: `/infra apply` where no comment time binds it to a plan ---------------


def test_apply_in_a_review_body_is_refused_without_touching_aws(gh: FakeGitHub,
                                                                tmp_path: Path) -> None:  # fmt: skip
    """A review body has no comment id, so nothing says which plan its author saw:
    apply refuses before opening any environment."""
    pr = gh.add_pull_request({"stacks/topic.yaml": TOPIC})
    event = tmp_path / "review.json"
    event.write_text(json.dumps(gh.review_event(pr["number"], "/infra apply dev")))
    env = gh.environ("pull_request_review", str(event), GITHUB_WORKSPACE=str(ROOT),
                     AWS_ACCESS_KEY_ID="AKIAFAKEFAKEFAKEFAKE", AWS_SECRET_ACCESS_KEY="x",
                     AWS_ENDPOINT_URL="http://127.0.0.1:9")  # fmt: skip

    outcome = run_handle(Settings.from_env(env), workspace=ROOT)

    assert outcome.exit_code == 1
    (reply,) = replies(gh, pr["number"])
    assert "runs only from a pull request comment" in reply
    assert not gh.deployments

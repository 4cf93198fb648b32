"""Attacks on the trust boundary: a PR's files are data, never the rules it is judged by.

Each test runs `infra-bot handle` (run_handle) as the workflows do: $GITHUB_WORKSPACE
is the trusted checkout (the base commit the bot was installed from), `--workspace` the
PR head checked out as data (a clone of the base with the PR's commit on top, so
origin/main is there as in the workflow), GitHub the stateful fake, AWS a moto server.
The PR changes a rules file in its favour; the bot must judge it by the base's copy.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.commands.handle import run_handle
from bot.github.context import Outcome
from bot.render.comments import parse_marker
from bot.settings import Settings
from tests.fakegithub import FakeGitHub
from tests.moto_fixtures import ACCOUNTS, commit_all, git, make_platform_repo, moto_endpoint

__all__ = ["moto_endpoint"]

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")

ROOT = Path(__file__).resolve().parents[2]
CONFIG = "apply_before_merge: [dev]\nenvironments:\n  prd:\n    users: [carol]\n"
ATTACKER = "999999999999"
NATS = "".join(
    f"  Nat{i}:\n    Type: AWS::EC2::NatGateway\n    Properties:\n      SubnetId: subnet-{i}\n"
    for i in range(4)
)
BUCKET = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Logs:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: plain-logs
"""


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_user("alice", permission="write")
        fake.add_user("carol", permission="admin")
        fake.commit_files({".github/infra-bot.yml": CONFIG})
        yield fake


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """The trusted checkout: the platform's kms and iam stacks, its guard rules and
    usage file, on main."""
    root = tmp_path / "base"
    make_platform_repo(root, ["kms", "iam"])
    shutil.copytree(ROOT / "guard", root / "guard")
    shutil.copy(ROOT / "environments" / "usage.yaml", root / "environments")
    (root / ".github").mkdir()
    (root / ".github" / "infra-bot.yml").write_text(CONFIG)
    commit_all(root, "rules")
    return root


def pr_head(gh: FakeGitHub, base: Path, tmp_path: Path, files: dict[str, str | None]
            ) -> tuple[dict[str, Any], Path]:  # fmt: skip
    """The PR: `files` changed (None: deleted) on top of the base, as a commit in a
    clone (the workflow's pr/ checkout) and as a pull request in the fake."""
    ws = tmp_path / "pr"
    git(tmp_path, "clone", "-q", str(base), str(ws))
    for rel, text in files.items():
        path = ws / rel
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    head = commit_all(ws, "the PR")
    # The fake's main holds what the base has of these paths: statuses and patches match.
    known = {rel: (base / rel).read_text() for rel in files if (base / rel).is_file()}
    if known:
        gh.commit_files(known)
    pr = gh.add_pull_request(files)
    some = next(iter(gh.commits.values()))
    gh.commits[head] = {**some, "sha": head, "parents": [], "date": gh.now()}
    pr["head"]["sha"] = head
    return pr, ws


def handle(gh: FakeGitHub, tmp_path: Path, name: str, payload: dict[str, Any], *,
           trusted: Path, workspace: Path, **kw: Any) -> Outcome:  # fmt: skip
    event = tmp_path / f"event-{len(gh.requests)}.json"
    event.write_text(json.dumps(payload))
    env = gh.environ(name, str(event), GITHUB_WORKSPACE=str(trusted),
                     GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"))  # fmt: skip
    return run_handle(Settings.from_env(env), workspace=workspace, **kw)


def edit(base: Path, rel: str, old: str, new: str) -> str:
    text = (base / rel).read_text()
    assert old in text, (rel, old)
    return text.replace(old, new)


def bot_comment(gh: FakeGitHub, number: int, kind: str) -> str:
    for c in gh.comments_on(number):
        mark = parse_marker(c["body"]) if c["user"]["type"] == "Bot" else None
        if mark and mark.kind == kind:
            return str(c["body"])
    raise AssertionError(f"no {kind} comment on #{number}")


def review(gh: FakeGitHub, number: int) -> str:
    (only,) = gh.reviews_on(number)
    return str(only["body"])


# --- cost: the PR prices itself -------------------------------------------------------


def test_pr_lowering_usage_and_raising_its_threshold_is_judged_with_the_base(
    gh, base, tmp_path, tools
):
    """Four NAT gateways (~$130/month in DEV, limit $100). The PR also sets every hour
    to nothing in usage.yaml and its own dev limit to a billion: neither counts."""
    usage = "defaults:\n  hours_per_month: 0\nenvironments: {}\n"
    pr, ws = pr_head(gh, base, tmp_path, {
        "stacks/iam.yaml": edit(base, "stacks/iam.yaml", "Resources:\n", "Resources:\n" + NATS),
        "environments/usage.yaml": usage,
        "environments/dev.yaml": edit(base, "environments/dev.yaml",
                                      "max_monthly_increase_usd: 100", "max_monthly_increase_usd: 1000000000"),
    })  # fmt: skip
    outcome = handle(gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"]),
                     trusted=base, workspace=ws, run="cost")  # fmt: skip
    body = bot_comment(gh, pr["number"], "cost")
    assert "**DEV is above its cost threshold**" in body, body
    assert "above the $100.00/month limit" in body
    assert outcome.exit_code == 1


# --- where: the PR points an environment at another account ---------------------------


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty moto (reset before the fake GitHub starts intercepting requests)."""
    from tests.moto_fixtures import reset_moto

    reset_moto(moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


def test_pr_changing_the_account_and_roles_of_dev_does_not_move_the_bot(aws, gh, base, tmp_path):
    from tests.test_cloud_moto import stacks_in

    moto_endpoint = aws
    dev = (base / "environments/dev.yaml").read_text().replace(ACCOUNTS["dev"], ATTACKER)
    pr, ws = pr_head(gh, base, tmp_path, {"environments/dev.yaml": dev})
    assert f"arn:aws:iam::{ATTACKER}:role/" in dev
    gh.add_comment(pr["number"], "/infra plan dev")
    event = gh.comment_event(gh.comments_on(pr["number"])[-1])
    outcome = handle(gh, tmp_path, "issue_comment", event, trusted=base, workspace=ws)
    assert outcome.exit_code == 0, bot_comment(gh, pr["number"], "plan")
    assert stacks_in(ATTACKER, moto_endpoint) == {}, "the bot acted in the PR's account"
    assert set(stacks_in(ACCOUNTS["dev"], moto_endpoint)) == {"platform-dev-kms",
                                                              "platform-dev-iam"}  # fmt: skip


# --- how strictly: the PR deletes a guard rule -----------------------------------------


def test_pr_deleting_a_guard_rule_is_checked_with_it_and_told_so(gh, base, tmp_path, tools):
    pr, ws = pr_head(gh, base, tmp_path, {
        "guard/rules/sc28.guard": None,
        "stacks/logs.yaml": BUCKET,
    })  # fmt: skip
    handle(gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"]),
           trusted=base, workspace=ws)  # fmt: skip
    body = review(gh, pr["number"])
    inline = " ".join(c["body"] for c in gh.review_comments.values())
    assert "SC28_S3_ENCRYPTED" in body + inline, "the deleted rule still ran"
    status = gh.statuses[pr["head"]["sha"]][0]
    assert status["state"] == "failure"
    # The review opens with the rules change, before any finding.
    header, _, rest = body.partition("\n\n")
    assert header.splitlines()[-1].startswith("### infra-bot validate")
    assert rest.startswith("#### This PR changes the rules")
    assert "- `guard/rules/sc28.guard` (removed): cfn-guard rules" in rest
    # What the PR's own rules would report: the finding its deletion hides.
    hidden = rest.split("no longer reported with the PR's rules:", 1)[1].split("\n- ", 1)[0]
    assert "SC28_S3_ENCRYPTED" in hidden and "stacks/logs.yaml" in hidden
    assert "- 7 rule file(s) pass their own rule tests" in rest  # the PR's other rules


def test_pr_weakening_a_rule_shows_its_own_rule_tests_failing(gh, base, tmp_path, tools):
    rule = edit(base, "guard/rules/sc28.guard", 'IN ["aws:kms", "aws:kms:dsse"]',
                'IN ["aws:kms", "aws:kms:dsse", "AES256"]')  # fmt: skip
    pr, ws = pr_head(gh, base, tmp_path, {"guard/rules/sc28.guard": rule})
    handle(gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"]),
           trusted=base, workspace=ws)  # fmt: skip
    body = review(gh, pr["number"])
    assert "- `guard/rules/sc28.guard` (modified): cfn-guard rules" in body
    assert "- `guard/rules/sc28.guard`: its rule tests **fail**" in body


# --- how strictly: the PR silences cfn-lint ---------------------------------------------


BAD_PROPERTY = BUCKET.replace("      BucketName: plain-logs\n", "      NotAProperty: 1\n")


def test_pr_cfnlintrc_ignoring_checks_is_not_used(gh, base, tmp_path, tools, monkeypatch):
    """The old pr.yml ran the bot inside the PR head, and cfn-lint reads the .cfnlintrc of
    the working directory: the bot must name the trusted one itself."""
    pr, ws = pr_head(gh, base, tmp_path, {
        ".cfnlintrc": "ignore_checks:\n  - E3002\n  - W\n",
        "stacks/logs.yaml": BAD_PROPERTY,
    })  # fmt: skip
    monkeypatch.chdir(ws)
    handle(gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"]),
           trusted=base, workspace=ws)  # fmt: skip
    body = review(gh, pr["number"])
    inline = " ".join(c["body"] for c in gh.review_comments.values())
    assert "E3002" in body + inline, "the PR's .cfnlintrc silenced cfn-lint"
    assert "- `.cfnlintrc` (added): cfn-lint's configuration" in body


def test_the_trusted_cfnlintrc_is_the_one_applied(gh, base, tmp_path, tools):
    """The other direction: the base's configuration applies to the PR's templates,
    although the PR's checkout has none (and the working directory is elsewhere)."""
    pr, ws = pr_head(gh, base, tmp_path, {"stacks/logs.yaml": BAD_PROPERTY})
    (base / ".cfnlintrc.yaml").write_text("ignore_checks:\n  - E3002\n")
    assert not (ws / ".cfnlintrc.yaml").exists()
    handle(gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"]),
           trusted=base, workspace=ws)  # fmt: skip
    body = review(gh, pr["number"])
    inline = " ".join(c["body"] for c in gh.review_comments.values())
    assert "E3002" not in body + inline
    assert "SC28_S3_ENCRYPTED" in body + inline  # the other checks did run


# --- who: the PR gives everyone apply -------------------------------------------------


def test_pr_settings_giving_everyone_apply_are_not_read(gh, base, tmp_path, tools):
    loose = "apply_before_merge: [dev, tst, prd]\n"
    pr, ws = pr_head(gh, base, tmp_path, {".github/infra-bot.yml": loose})
    for command in ("/infra apply prd", "/infra apply tst"):
        gh.add_comment(pr["number"], command, author="alice")
        event = gh.comment_event(gh.comments_on(pr["number"])[-1])
        outcome = handle(gh, tmp_path, "issue_comment", event, trusted=base, workspace=ws)
        assert outcome.note.startswith("denied:"), outcome
    replies = [c["body"] for c in gh.comments_on(pr["number"]) if c["user"]["type"] == "Bot"]
    assert len(replies) == 2 and all("Sorry, I can't do that" in r for r in replies)
    handle(gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"]),
           trusted=base, workspace=ws)  # fmt: skip
    assert "- `.github/infra-bot.yml` (modified): who may run which command, where" in review(
        gh, pr["number"]
    )


# --- the pure parts: which files are rules, and the PR's rules run as data -------------


@pytest.mark.parametrize("path,what", [
    ("environments/prd.yaml", "an environment: account, region, roles, cost limits"),
    ("environments/usage.yaml", "usage assumptions the cost estimate prices"),
    ("environments/usage-dev.yaml", "usage assumptions the cost estimate prices"),
    ("guard/rules/sc28.guard", "cfn-guard rules"),
    ("guard/kubernetes/k8s_workloads.guard", "guard rules for rendered Kubernetes manifests"),
    ("guard/tests/sc28_tests.yaml", "tests of the guard rules"),
    (".github/infra-bot.yml", "who may run which command, where"),
    (".cfnlintrc.yaml", "cfn-lint's configuration"),
    (".infra-bot/charts/app-1.0.0.tgz", "the chart cache"),
    (".github/workflows/pr.yml", "the workflows that run the bot; a pull_request run uses "
     "the PR's copy, so review this file before trusting this PR's checks"),
    ("bot/github/validate_pr.py", "the bot's own code"),
    ("environments/prd/eks.yaml", None),  # a deployment file is data
    ("stacks/eks.yaml", None),
    ("helm-values/app/values.yaml", None),
    ("docs/environments/prd.yaml", None),
])  # fmt: skip
def test_which_changed_files_are_rules(path, what):
    from bot.repo.policy import rules_files

    found = rules_files([path], {path: "modified"})
    assert [(f.path, f.what, f.status) for f in found] == (
        [(path, what, "modified")] if what else []
    )


def test_the_prs_rules_run_without_the_jobs_secrets(tmp_path, monkeypatch):
    """cfn-guard on the PR's rule files gets an empty environment: a stand-in binary
    records what it was given."""
    from bot.github.rules_changes import run_rule_tests

    seen = tmp_path / "env.txt"
    fake = tmp_path / "cfn-guard"
    fake.write_text(f"#!/bin/sh\nenv > {seen}\npwd >> {seen}\nexit 1\n")
    fake.chmod(0o755)
    ws = tmp_path / "pr"
    (ws / "guard" / "rules").mkdir(parents=True)
    (ws / "guard" / "tests").mkdir()
    rule = ws / "guard" / "rules" / "x.guard"
    rule.write_text("rule X { Resources exists }\n")
    (ws / "guard" / "tests" / "x_tests.yaml").write_text("[]\n")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    (result,) = run_rule_tests(fake, ws, [rule])
    assert (result.path, result.ok) == ("guard/rules/x.guard", False)
    text = seen.read_text()
    assert "ghs_secret" not in text and "aws-secret" not in text
    assert str(ws) not in text.splitlines()[-1], "runs outside the PR checkout"


def test_fork_validation_cli_uses_the_base_rules(base, tmp_path, tools):
    """pr.yml's fork step: `infra-bot validate --root pr --policy-root .`, in a fresh
    process (no token there; the rules still must be the base's)."""
    import subprocess
    import sys

    ws = tmp_path / "pr"
    git(tmp_path, "clone", "-q", str(base), str(ws))
    # Deleting the file no longer drops the rule (the packaged pack still has it);
    # a same-named rule in the repository's guard/ replaces it: only the base may.
    (ws / "guard/rules/sc28.guard").write_text("rule SC28_S3_ENCRYPTED {\n    Resources exists\n}\n")
    (ws / "stacks/logs.yaml").write_text(BUCKET)
    commit_all(ws, "the PR")

    def rules_seen(*extra: str) -> set[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "bot.cli", "validate", "--root", str(ws), *extra,
             "--changed-since", "origin/main", "--format", "json", "--check", "cfn-guard"],
            capture_output=True, text=True, check=False, cwd=tmp_path,
        )  # fmt: skip
        assert proc.returncode in (0, 1), proc.stderr
        return {f["check_id"] for f in json.loads(proc.stdout)["findings"]}

    assert "guard/SC28_S3_ENCRYPTED" in rules_seen("--policy-root", str(base))
    assert "guard/SC28_S3_ENCRYPTED" not in rules_seen()  # the PR's own rules: why it matters


def test_a_symlinked_rule_test_is_not_read(tmp_path, tools):
    """A PR's guard/tests file linking to a runner file would otherwise be echoed by
    `cfn-guard test` into the review."""
    from bot.github.rules_changes import run_rule_tests

    guard = tools.require("cfn-guard")
    secret = tmp_path / "runner-file.yaml"
    secret.write_text(
        "- name: ghs_runner_secret\n  input: {}\n  expectations: {rules: {X: PASS}}\n"
    )
    ws = tmp_path / "pr"
    (ws / "guard" / "rules").mkdir(parents=True)
    (ws / "guard" / "tests").mkdir()
    rule = ws / "guard" / "rules" / "x.guard"
    rule.write_text("rule X { Resources exists }\n")
    (ws / "guard" / "tests" / "x_tests.yaml").symlink_to(secret)
    (result,) = run_rule_tests(guard.path, ws, [rule])
    assert not result.ok and "ghs_runner_secret" not in result.detail
    assert result.detail == "no rule tests at guard/tests/x_tests.yaml"

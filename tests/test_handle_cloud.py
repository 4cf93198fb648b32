"""The cloud and cost `/infra` commands end to end: `infra-bot handle` with real webhook
payload shapes, PyGithub against the fake GitHub API, CloudFormation on a moto server
on 127.0.0.1 (kms stand-in and iam, the cheapest pair with a cross-stack import).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.commands.handle import run_handle
from bot.github.context import Outcome
from bot.render.comments import parse_marker
from bot.settings import Settings
from tests.fakegithub import FakeGitHub
from tests.moto_fixtures import (
    ACCOUNTS,
    commit_all,
    git,
    make_platform_repo,
    moto_endpoint,
    reset_moto,
)
from tests.test_cloud_moto import stacks_in

__all__ = ["moto_endpoint"]

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")

CONFIG = "apply_before_merge: [dev]\n"
NATS = "".join(
    f"  Nat{i}:\n    Type: AWS::EC2::NatGateway\n    Properties:\n      SubnetId: subnet-{i}\n"
    for i in range(4)
)


def adopt(gh: FakeGitHub, sha: str) -> str:
    """Make a local git commit known to the fake (deployment refs, commit times)."""
    some = next(iter(gh.commits.values()))
    gh.commits[sha] = {**some, "sha": sha, "parents": [], "date": gh.now()}
    return sha


def open_pr(gh: FakeGitHub, head_sha: str) -> dict[str, Any]:
    pr = gh.add_pull_request({"environments/dev/iam.yaml": "changed"})
    pr["head"]["sha"] = adopt(gh, head_sha)
    return pr


def handle(gh: FakeGitHub, tmp_path: Path, name: str, payload: dict[str, Any], workspace: Path,
           **kw: Any) -> tuple[Outcome, int, str]:  # fmt: skip
    """(outcome, GitHub requests made, job summary) of one `infra-bot handle` run."""
    event = tmp_path / f"event-{len(gh.requests)}.json"
    event.write_text(json.dumps(payload))
    summary = tmp_path / f"summary-{len(gh.requests)}.md"
    env = gh.environ(name, str(event), GITHUB_STEP_SUMMARY=str(summary),
                     GITHUB_WORKSPACE=str(workspace), **kw.pop("environ", {}))  # fmt: skip
    before = len(gh.requests)
    outcome = run_handle(Settings.from_env(env), workspace=workspace, **kw)
    text = summary.read_text() if summary.exists() else ""
    return outcome, len(gh.requests) - before, text


def comment(gh: FakeGitHub, tmp_path: Path, number: int, body: str, workspace: Path,
            author: str = "alice") -> tuple[Outcome, int, str]:  # fmt: skip
    event = gh.comment_event(gh.add_comment(number, body, author=author))
    return handle(gh, tmp_path, "issue_comment", event, workspace)


def bot_comments(gh: FakeGitHub, number: int) -> dict[str, str]:
    out = {}
    for c in gh.comments_on(number):
        mark = parse_marker(c["body"]) if c["user"]["type"] == "Bot" else None
        if mark:
            out[mark.kind] = c["body"]
    return out


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_user("alice", permission="write")
        fake.commit_files({".github/infra-bot.yml": CONFIG})
        yield fake


@pytest.fixture(scope="module")
def deployed(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Pushes to main deployed dev (replanned) and then tst (promoted); prd refused.

    Module-scoped: the later tests read this state and change only dev's iam stack.
    """
    reset_moto(moto_endpoint)
    root = tmp_path_factory.mktemp("platform")
    main = make_platform_repo(root, ["kms", "iam"])
    git(root, "update-ref", "refs/remotes/origin/main", main)
    tmp = tmp_path_factory.mktemp("events")
    runs: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as mp, FakeGitHub() as fake:
        mp.setenv("AWS_ENDPOINT_URL", moto_endpoint)
        mp.delenv("INFRA_BOT_ENVIRONMENT", raising=False)
        fake.add_user("alice", permission="write")
        merged = fake.add_pull_request({"stacks/iam.yaml": "x"})
        merged["merge_commit_sha"] = adopt(fake, main)
        for env in ("dev", "tst", "prd"):
            runs[env] = handle(fake, tmp, "push", fake.push_event(), root, env=env)
        runs["deployments"] = [
            (d["environment"], d["sha"], d["description"],
             [s["state"] for s in fake.deployment_statuses[d["id"]]])
            for d in fake.deployments.values()
        ]  # fmt: skip
        runs["notes"] = bot_comments(fake, merged["number"])
        yield root, main, runs
    reset_moto(moto_endpoint)


def test_push_deploys_dev_then_promotes_tst_and_refuses_prd(deployed, moto_endpoint):
    _, main, runs = deployed
    dev, tst, prd = runs["dev"], runs["tst"], runs["prd"]
    assert dev[0].exit_code == 0, dev[2]
    assert "### Deploy to `dev` at" in dev[2] and "| `iam` | ✅ deployed |" in dev[2]
    assert "#### What was executed" in dev[2] and "`platform-dev-iam` (CREATE)" in dev[2]
    assert tst[0].exit_code == 0, tst[2]
    assert (
        "Promotion dev -> tst: pre-checks" in tst[2]
        and "✓ kms status: CREATE_COMPLETE at" in tst[2]
    )
    assert {t["infra-bot:commit"] for t in stacks_in(ACCOUNTS["tst"], moto_endpoint).values()} \
        == {main}  # fmt: skip
    assert set(stacks_in(ACCOUNTS["tst"], moto_endpoint)) == {
        "platform-tst-kms",
        "platform-tst-iam",
    }
    # prd: only from its protected job (INFRA_BOT_ENVIRONMENT=prd), and nothing happened.
    assert prd[0].exit_code == 1
    assert "only from a workflow job bound to the GitHub environment 'prd'" in prd[2]
    assert stacks_in(ACCOUNTS["prd"], moto_endpoint) == {}
    # One GitHub deployment per stack deployed, each with a success status.
    assert sorted(runs["deployments"]) == [
        ("dev", main, "platform-dev-iam: deployed", ["success"]),
        ("dev", main, "platform-dev-kms: deployed", ["success"]),
        ("tst", main, "platform-tst-iam: deployed", ["success"]),
        ("tst", main, "platform-tst-kms: deployed", ["success"]),
    ]
    # The merged PR gets one note per environment deployed; a refused job is the job's news.
    notes = runs["notes"]
    assert set(notes) == {"deploy-dev", "deploy-tst"}
    assert "succeeded" in notes["deploy-dev"] and "Promotion dev -> tst" in notes["deploy-tst"]
    # dev: 2 x (deployment + status), find the PR, list its comments, post the note.
    assert (dev[1], tst[1], prd[1]) == (7, 7, 0)


def test_status_and_drift_answer_per_environment(deployed, gh, tmp_path, moto_endpoint,
                                                 monkeypatch):  # fmt: skip
    root, main, _ = deployed
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    pr = open_pr(gh, main)
    outcome, used, _ = comment(gh, tmp_path, pr["number"], "/infra status", root)
    assert outcome.exit_code == 0
    status = bot_comments(gh, pr["number"])["status"]
    assert f"| `platform-tst-iam` | CREATE_COMPLETE | `{main[:12]}` |" in status
    assert "| `platform-prd-kms` | NOT_DEPLOYED | — | - |" in status
    assert status.index("Status of `dev`") < status.index("Status of `tst`") \
        < status.index("Status of `prd`")  # fmt: skip
    assert used <= 8
    outcome, used, _ = comment(gh, tmp_path, pr["number"], "/infra drift tst", root)
    assert outcome.exit_code == 0, gh.comments_on(pr["number"])[-1]["body"]
    drift = bot_comments(gh, pr["number"])["drift"]
    assert "### Drift in `tst`" in drift and "drift detection is not available here" in drift
    assert "`platform-tst-iam`" in drift and "`platform-dev-iam`" not in drift
    assert used <= 8


def test_plan_sticky_is_edited_by_reruns_then_apply_and_close(deployed, gh, tmp_path,
                                                              moto_endpoint, monkeypatch):  # fmt: skip
    from bot.cloud.runs import open_env
    from bot.repo.model import Repository

    root, main, _ = deployed
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    ws = tmp_path / "pr"
    git(root, "worktree", "add", "-q", "-b", f"pr-{tmp_path.name}", str(ws), main)
    dep = ws / "environments/dev/iam.yaml"
    dep.write_text(dep.read_text().replace("Owner: platform-team", "Owner: night-shift"))
    head = commit_all(ws, "new owner")
    pr = open_pr(gh, head)

    outcome, used, _ = comment(gh, tmp_path, pr["number"], "/infra plan dev", ws)
    assert outcome.exit_code == 0, outcome
    (plan,) = [c for c in gh.comments_on(pr["number"]) if c["user"]["type"] == "Bot"]
    body = plan["body"]
    assert parse_marker(body).kind == "plan"
    assert f"### Change sets for `dev` at `{head[:12]}`" in body
    assert "Stacks changed since `origin/main`" in body
    assert f"| `iam` | `infra-bot-{head[:12]}-" in body and "| `kms` |" not in body
    assert "| `iam` | `infra-bot-" in body and "parameters or tags only" in body
    # The same plan again: the change set is reused, the one sticky is edited (the first
    # run's note about the stale change set it deleted is gone), never duplicated.
    comment(gh, tmp_path, pr["number"], "/infra plan dev", ws)
    again = [c for c in gh.comments_on(pr["number"]) if c["user"]["type"] == "Bot"]
    assert [c["id"] for c in again] == [plan["id"]]
    assert again[0]["body"].count(f"`infra-bot-{head[:12]}-") == 1
    edits = gh.count("PATCH", r"/issues/comments/")
    # A new push: the rerun edits the one sticky.
    dep.write_text(dep.read_text().replace("night-shift", "day-shift"))
    head2 = commit_all(ws, "day shift")
    pr["head"]["sha"] = adopt(gh, head2)
    outcome, used, _ = comment(gh, tmp_path, pr["number"], "/infra plan dev", ws)
    assert outcome.exit_code == 0
    stickies = [c for c in gh.comments_on(pr["number"]) if c["user"]["type"] == "Bot"]
    assert [c["id"] for c in stickies] == [plan["id"]]
    assert f"at `{head2[:12]}`" in stickies[0]["body"]
    assert gh.count("PATCH", r"/issues/comments/") == edits + 1
    assert used <= 10

    # apply: exactly the planned change set of the head, recorded as a deployment.
    outcome, _, _ = comment(gh, tmp_path, pr["number"], "/infra apply dev", ws)
    assert outcome.exit_code == 0, gh.comments_on(pr["number"])[-1]["body"]
    reply = gh.comments_on(pr["number"])[-1]["body"]
    assert reply.startswith("> /infra apply dev") and "| `iam` | ✅ deployed |" in reply
    assert [(d["environment"], d["sha"]) for d in gh.deployments.values()] == [("dev", head2)]
    tags = stacks_in(ACCOUNTS["dev"], moto_endpoint)["platform-dev-iam"]
    assert (tags["Owner"], tags["infra-bot:commit"]) == ("day-shift", head2)

    # A plan of a last push that is never applied is deleted when the PR closes.
    dep.write_text(dep.read_text().replace("day-shift", "evening-shift"))
    head3 = commit_all(ws, "evening shift")
    pr["head"]["sha"] = adopt(gh, head3)
    assert comment(gh, tmp_path, pr["number"], "/infra plan dev", ws)[0].exit_code == 0
    dev = open_env(Repository(ws), "dev")

    def planned() -> list[str]:
        return [s["ChangeSetName"] for s in dev.cfn.list_change_sets("platform-dev-iam")
                if s["ChangeSetName"].startswith(f"infra-bot-{head3[:12]}-")]  # fmt: skip

    assert len(planned()) == 1
    outcome, used, _ = handle(gh, tmp_path, "pull_request",
                              gh.pull_request_event(pr["number"], "closed"), ws)  # fmt: skip
    assert (outcome.exit_code, used) == (0, 0)
    assert planned() == []
    assert stacks_in(ACCOUNTS["dev"], moto_endpoint)["platform-dev-iam"]["Owner"] == "day-shift"


def test_cost_step_posts_when_priced_and_fails_until_approved(gh, tmp_path):
    root = tmp_path / "repo"
    main = make_platform_repo(root, ["kms", "iam"])
    git(root, "update-ref", "refs/remotes/origin/main", main)
    pr = open_pr(gh, main)
    # Nothing priced changes: the workflow step stays quiet (job summary only).
    outcome, used, summary = handle(gh, tmp_path, "pull_request",
                                    gh.pull_request_event(pr["number"]), root, run="cost")  # fmt: skip
    assert outcome.exit_code == 0 and bot_comments(gh, pr["number"]) == {}
    assert "Cost estimate" in summary and used == 1  # the comments (approvals)

    iam = root / "stacks/iam.yaml"
    iam.write_text(iam.read_text().replace("Resources:\n", "Resources:\n" + NATS, 1))
    head = commit_all(root, "four NAT gateways")
    pr["head"]["sha"] = adopt(gh, head)
    outcome, used, _ = handle(gh, tmp_path, "pull_request",
                              gh.pull_request_event(pr["number"]), root, run="cost")  # fmt: skip
    assert outcome.exit_code == 1
    body = bot_comments(gh, pr["number"])["cost"]
    assert "**DEV is above its cost threshold**" in body
    assert "The cost check fails until someone with write permission comments " \
           "`/infra approve-cost dev`." in body  # fmt: skip
    envs = re.findall(r"comments `/infra approve-cost ([a-z]+)`", body)
    assert "dev" in envs
    assert used == 4  # comments, commit time, comments (sticky), create

    for env in envs:
        comment(gh, tmp_path, pr["number"], f"/infra approve-cost {env}", root)
    outcome, used, _ = handle(gh, tmp_path, "pull_request",
                              gh.pull_request_event(pr["number"]), root, run="cost")  # fmt: skip
    assert outcome.exit_code == 0, outcome
    body = bot_comments(gh, pr["number"])["cost"]
    assert "The DEV cost increase was approved by `@alice`." in body
    assert len([c for c in gh.comments_on(pr["number"]) if "Cost estimate" in c["body"]]) == 1


def test_without_aws_access_each_environment_says_what_to_configure(gh, tmp_path, no_aws):
    root = tmp_path / "repo"
    main = make_platform_repo(root, ["kms", "iam"])
    pr = open_pr(gh, main)
    outcome, _, _ = comment(gh, tmp_path, pr["number"], "/infra plan", root)
    assert outcome.exit_code == 1
    body = bot_comments(gh, pr["number"])["plan"]
    for env in ("dev", "tst", "prd"):
        assert f"### `{env}`\n\n> [!CAUTION]\n> No AWS credentials in this job" in body
        assert f"`plan_role_arn` to plan and read, `role_arn` to change it, in " \
               f"environments/{env}.yaml" in body  # fmt: skip
    assert "Traceback" not in body and "failed while running" not in body


def test_access_denied_names_the_code_and_the_fix():
    from botocore.exceptions import ClientError

    from bot.github.handlers.envruns import failure_reason

    exc = ClientError({"Error": {"Code": "AccessDenied", "Message": "not <b>allowed</b>"}},
                      "AssumeRole")  # fmt: skip
    reason = failure_reason("tst", exc)
    assert reason is not None
    assert reason.startswith("AWS refused access (AccessDenied):")
    assert "<b>" not in reason and "id-token: write" in reason
    assert failure_reason("tst", KeyError("bug")) is None  # a bug still crashes loudly

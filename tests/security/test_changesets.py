"""What is deployed is what was reviewed: attacks on the change sets a deploy executes.

Everything through `infra-bot handle` (run_handle) with webhook payload shapes, PyGithub
against the fake GitHub API and CloudFormation on a moto server on 127.0.0.1. The
attacker holds CreateChangeSet in the target account (any plan role does): it creates
change sets under infra-bot's predictable name and description, in its own session.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from bot.cloud.planner import deploy_tags
from bot.cloud.spec import StackSpec, api_parameters, api_tags
from bot.cloud.targets import specs_for
from bot.repo.model import Repository
from tests.fakegithub import FakeGitHub
from tests.moto_fixtures import (
    ACCOUNTS,
    commit_all,
    git,
    make_platform_repo,
    moto_endpoint,
    reset_moto,
)
from tests.test_handle_cloud import NATS, adopt, bot_comments, comment, handle, open_pr

__all__ = ["moto_endpoint"]

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")

# The attacker's template: the reviewed one plus a queue nobody reviewed.
EXTRA = {"Backdoor": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "backdoor"}}}


def cfn_in(account: str, endpoint: str) -> Any:
    """A CloudFormation client acting inside `account` (someone with a plan role)."""
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/infra-bot-plan",
                            RoleSessionName="attacker")["Credentials"]  # fmt: skip
    return boto3.client(
        "cloudformation", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )  # fmt: skip


def spec_of(root: Path, env: str, stack: str, commit: str) -> StackSpec:
    return specs_for(Repository(root), env, [stack], commit)[0]


def forge(endpoint: str, spec: StackSpec, *, replace_existing: bool = False,
          **tamper: Any) -> str:  # fmt: skip
    """A change set with infra-bot's name and description for `spec`, the content changed
    as `tamper` says (template=True adds a resource; parameters/tags/capabilities
    replace those). Returns its id."""
    cfn = cfn_in(ACCOUNTS[spec.env], endpoint)
    try:
        stack = cfn.describe_stacks(StackName=spec.stack_name)["Stacks"][0]
    except cfn.exceptions.ClientError:
        stack = None
    live = stack is not None and stack["StackStatus"] != "REVIEW_IN_PROGRESS"
    if replace_existing:
        cfn.delete_change_set(StackName=spec.stack_name, ChangeSetName=spec.change_set_name)
    body = json.loads(spec.body)
    if tamper.get("template"):
        body["Resources"].update(EXTRA)
    created = cfn.create_change_set(
        StackName=spec.stack_name, ChangeSetName=spec.change_set_name,
        ChangeSetType="UPDATE" if live else "CREATE", TemplateBody=json.dumps(body),
        Parameters=tamper.get("parameters", api_parameters(spec)),
        Capabilities=tamper.get("capabilities", list(spec.capabilities)),
        Tags=tamper.get("tags", api_tags(deploy_tags(spec, stack if live else None))),
        Description=spec.description,
    )  # fmt: skip
    return str(created["Id"])


def resources(endpoint: str, env: str, stack_name: str) -> set[str]:
    cfn = cfn_in(ACCOUNTS[env], endpoint)
    try:
        listed = cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    except cfn.exceptions.ClientError:
        return set()
    return {r["LogicalResourceId"] for r in listed}


def status(endpoint: str, env: str, stack_name: str) -> str | None:
    cfn = cfn_in(ACCOUNTS[env], endpoint)
    try:
        return str(cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"])
    except cfn.exceptions.ClientError:
        return None


@pytest.fixture
def platform(moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[tuple[Path, str, FakeGitHub]]:  # fmt: skip
    """A fresh moto, the kms + iam platform at commit `main`, and a fake GitHub whose
    merged PR is that commit."""
    reset_moto(moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.delenv("INFRA_BOT_ENVIRONMENT", raising=False)
    root = tmp_path / "platform"
    main = make_platform_repo(root, ["kms", "iam"])
    git(root, "update-ref", "refs/remotes/origin/main", main)
    with FakeGitHub() as gh:
        gh.add_user("alice", permission="write")
        gh.commit_files({".github/infra-bot.yml": "apply_before_merge: [dev]\n"})
        merged = gh.add_pull_request({"stacks/iam.yaml": "x"})
        merged["merge_commit_sha"] = adopt(gh, main)
        yield root, main, gh
    reset_moto(moto_endpoint)


def push(gh: FakeGitHub, tmp_path: Path, root: Path, env: str, **kw: Any) -> tuple[Any, str]:
    outcome, _, summary = handle(gh, tmp_path, "push", gh.push_event(), root, env=env, **kw)
    return outcome, summary


# --- the push deploy and the promotion ------------------------------------------


@pytest.mark.parametrize(
    ("tamper", "part"),
    [
        ({"template": True}, "template"),
        ({"parameters": [{"ParameterKey": "Environment", "ParameterValue": "dev"},
                         {"ParameterKey": "Owner", "ParameterValue": "mallory"}]},
         "parameters"),
        ({"tags": [{"Key": "Owner", "Value": "mallory"}]}, "tags"),
        ({"capabilities": ["CAPABILITY_NAMED_IAM"]}, "capabilities"),
    ],
    ids=["template", "parameters", "tags", "capabilities"],
)  # fmt: skip
def test_push_deploy_refuses_a_forged_change_set_with_our_name(platform, tmp_path,
                                                              moto_endpoint, tamper, part):  # fmt: skip
    root, main, gh = platform
    spec = spec_of(root, "dev", "kms", main)
    forged = forge(moto_endpoint, spec, **tamper)

    outcome, summary = push(gh, tmp_path, root, "dev")

    assert outcome.exit_code == 1, summary
    line = next(ln for ln in summary.splitlines() if "`kms`" in ln)
    assert "not what was reviewed" in line
    assert f"platform-dev-kms: change set {spec.change_set_name} is not what was reviewed" \
        in summary  # fmt: skip
    assert re.search(rf"\({part}[a-z ,]* differ", summary), summary
    # Nothing ran: kms never left review, iam was not started.
    assert status(moto_endpoint, "dev", "platform-dev-kms") == "REVIEW_IN_PROGRESS"
    assert "Backdoor" not in resources(moto_endpoint, "dev", "platform-dev-kms")
    assert status(moto_endpoint, "dev", "platform-dev-iam") is None
    cfn = cfn_in(ACCOUNTS["dev"], moto_endpoint)
    left = cfn.describe_change_set(StackName=spec.stack_name, ChangeSetName=forged)
    assert left["ExecutionStatus"] == "AVAILABLE"  # refused, not executed
    assert "Traceback" not in summary


def test_promotion_refuses_a_forged_change_set_with_our_name(platform, tmp_path, moto_endpoint):
    root, main, gh = platform
    outcome, summary = push(gh, tmp_path, root, "dev")
    assert outcome.exit_code == 0, summary
    spec = spec_of(root, "tst", "kms", main)
    forge(moto_endpoint, spec, template=True)

    outcome, summary = push(gh, tmp_path, root, "tst")

    assert outcome.exit_code == 1, summary
    assert "Promotion dev -> tst" in summary
    assert f"platform-tst-kms: change set {spec.change_set_name} is not what was reviewed " \
           "(template differ" in summary  # fmt: skip
    assert "Backdoor" not in resources(moto_endpoint, "tst", "platform-tst-kms")
    assert status(moto_endpoint, "tst", "platform-tst-kms") == "REVIEW_IN_PROGRESS"
    assert status(moto_endpoint, "tst", "platform-tst-iam") is None


# --- PRD: planned without approval, executed after it -------------------------------


def plan_stage(gh: FakeGitHub, tmp_path: Path, root: Path, env: str) -> tuple[Any, str, str]:
    """The plan job (no environment, plan role): outcome, summary, its `plan` output."""
    output = tmp_path / f"output-{env}-{len(gh.requests)}"
    outcome, summary = push(gh, tmp_path, root, env, stage="plan",
                            environ={"GITHUB_OUTPUT": str(output)})  # fmt: skip
    text = output.read_text() if output.exists() else ""
    found = re.search(r"^plan=(.*)$", text, re.MULTILINE)
    return outcome, summary, found.group(1) if found else ""


def execute_stage(gh: FakeGitHub, tmp_path: Path, root: Path, env: str,
                  plan: str) -> tuple[Any, str]:  # fmt: skip
    """The approved job (environment: `env`): runs exactly the plan job's output."""
    return push(gh, tmp_path, root, env, stage="execute", plan=plan,
                environ={"INFRA_BOT_ENVIRONMENT": env})  # fmt: skip


@pytest.fixture
def tst_deployed(platform, tmp_path):
    root, _, gh = platform
    for env in ("dev", "tst"):
        outcome, summary = push(gh, tmp_path, root, env)
        assert outcome.exit_code == 0, summary
    return platform


def test_prd_plan_is_published_and_execute_runs_exactly_it(tst_deployed, tmp_path,
                                                           moto_endpoint):  # fmt: skip
    root, main, gh = tst_deployed
    outcome, summary, plan = plan_stage(gh, tmp_path, root, "prd")
    assert outcome.exit_code == 0, summary
    published = json.loads(plan)
    assert published["env"] == "prd" and published["commit"] == main
    assert set(published["change_sets"]) == {"kms", "iam"}
    # Nothing ran yet; the approver sees the change sets on the merged PR and in the
    # GitHub deployment waiting for approval.
    assert status(moto_endpoint, "prd", "platform-prd-kms") == "REVIEW_IN_PROGRESS"
    note = bot_comments(gh, next(iter(gh.pulls)))["deploy-plan-prd"]
    assert f"## Plan for `prd` at `{main[:12]}`: awaiting approval" in note
    assert "`platform-prd-kms` (CREATE)" in note and published["change_sets"]["kms"] in note
    (record,) = [d for d in gh.deployments.values() if d["environment"] == "prd"]
    assert record["payload"] == {"infra-bot-plan": published}
    assert [s["state"] for s in gh.deployment_statuses[record["id"]]] == ["queued"]

    outcome, summary = execute_stage(gh, tmp_path, root, "prd", plan)

    assert outcome.exit_code == 0, summary
    assert "| `kms` | ✅ deployed |" in summary and "| `iam` | ✅ deployed |" in summary
    assert status(moto_endpoint, "prd", "platform-prd-iam") == "CREATE_COMPLETE"


def test_prd_execute_refuses_a_change_set_replaced_after_the_plan(tst_deployed, tmp_path,
                                                                  moto_endpoint):  # fmt: skip
    root, main, gh = tst_deployed
    outcome, summary, plan = plan_stage(gh, tmp_path, root, "prd")
    assert outcome.exit_code == 0, summary
    reviewed = json.loads(plan)["change_sets"]["kms"]
    spec = spec_of(root, "prd", "kms", main)
    # Same name, same description, same content even: but not the change set reviewed.
    replaced = forge(moto_endpoint, spec, replace_existing=True)
    assert replaced != reviewed

    outcome, summary = execute_stage(gh, tmp_path, root, "prd", plan)

    assert outcome.exit_code == 1, summary
    assert f"platform-prd-kms: change set {spec.change_set_name} was replaced after the plan " \
           f"was published (reviewed id {reviewed}, now {replaced})" in summary  # fmt: skip
    assert status(moto_endpoint, "prd", "platform-prd-kms") == "REVIEW_IN_PROGRESS"
    assert status(moto_endpoint, "prd", "platform-prd-iam") == "REVIEW_IN_PROGRESS"


def test_prd_plan_refuses_to_publish_a_forged_change_set(tst_deployed, tmp_path, moto_endpoint):
    root, main, gh = tst_deployed
    spec = spec_of(root, "prd", "kms", main)
    forged = forge(moto_endpoint, spec, template=True)

    outcome, summary, plan = plan_stage(gh, tmp_path, root, "prd")

    assert outcome.exit_code == 1
    assert f"platform-prd-kms: change set {spec.change_set_name} is not what was reviewed " \
           "(template differ" in summary  # fmt: skip
    assert "kms" not in json.loads(plan)["change_sets"] and forged not in plan


def test_prd_execute_refuses_when_the_source_moved_after_the_plan(tst_deployed, tmp_path,
                                                                  moto_endpoint):  # fmt: skip
    root, main, gh = tst_deployed
    _, _, plan = plan_stage(gh, tmp_path, root, "prd")
    other = "f" * 40
    tampered = json.dumps({**json.loads(plan), "commit": other})

    outcome, summary = execute_stage(gh, tmp_path, root, "prd", tampered)

    assert outcome.exit_code == 1
    assert f"tst is at {main[:12]} now, but the approved plan of prd is for {other[:12]}" \
        in summary  # fmt: skip
    assert status(moto_endpoint, "prd", "platform-prd-kms") == "REVIEW_IN_PROGRESS"


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ("", "--stage execute needs the plan job's `plan` output"),
        ("{not json", "the plan is not JSON"),
        ('{"env": "tst", "commit": "' + "a" * 40 + '", "change_sets": {}}',
         "the plan given is for `tst`"),
        ('{"env": "prd", "commit": "HEAD", "change_sets": {}}',
         "the plan's commit is not a 40-digit commit id"),
        ('{"env": "prd", "commit": "' + "a" * 40 + '", "change_sets": {"kms": "x; rm"}}',
         "change_sets must map stack names to change set ARNs"),
    ],
    ids=["missing", "not-json", "other-env", "bad-commit", "bad-id"],
)  # fmt: skip
def test_prd_execute_with_a_bad_plan_runs_nothing_and_says_why(platform, tmp_path,
                                                              moto_endpoint, plan, message):  # fmt: skip
    root, _, gh = platform
    outcome, summary = execute_stage(gh, tmp_path, root, "prd", plan)
    assert outcome.exit_code == 1
    assert message in summary and "Traceback" not in summary
    assert status(moto_endpoint, "prd", "platform-prd-kms") is None


# --- /infra apply ------------------------------------------------------------------


def open_dev_pr(platform: Any, tmp_path: Path) -> tuple[Path, str, dict[str, Any], FakeGitHub]:
    """dev deployed at main; an open PR whose head changes dev's iam owner."""
    root, main, gh = platform
    outcome, summary = push(gh, tmp_path, root, "dev")
    assert outcome.exit_code == 0, summary
    ws = tmp_path / "pr"
    git(root, "worktree", "add", "-q", "-b", f"pr-{tmp_path.name}", str(ws), main)
    dep = ws / "environments/dev/iam.yaml"
    dep.write_text(dep.read_text().replace("Owner: platform-team", "Owner: night-shift"))
    head = commit_all(ws, "new owner")
    return ws, head, open_pr(gh, head), gh


@pytest.fixture
def pr_head(platform, tmp_path):
    """open_dev_pr, planned with `/infra plan dev`."""
    ws, head, pr, gh = open_dev_pr(platform, tmp_path)
    assert comment(gh, tmp_path, pr["number"], "/infra plan dev", ws)[0].exit_code == 0
    return ws, head, pr, gh


def owner_in_dev(endpoint: str) -> str:
    cfn = cfn_in(ACCOUNTS["dev"], endpoint)
    stack = cfn.describe_stacks(StackName="platform-dev-iam")["Stacks"][0]
    return next(t["Value"] for t in stack["Tags"] if t["Key"] == "Owner")


def last_reply(gh: FakeGitHub, number: int) -> str:
    return str(gh.comments_on(number)[-1]["body"])


def test_apply_on_a_closed_pr_is_refused(pr_head, tmp_path, moto_endpoint):
    ws, _, pr, gh = pr_head
    pr["state"] = "closed"
    outcome, _, _ = comment(gh, tmp_path, pr["number"], "/infra apply dev", ws)
    assert outcome.note.startswith("denied")
    assert f"`apply` needs an open pull request (#{pr['number']} is closed)" \
        in last_reply(gh, pr["number"])  # fmt: skip
    assert owner_in_dev(moto_endpoint) == "platform-team"


@pytest.mark.parametrize("verb", ["plan dev", "approve-cost dev"])
def test_plan_and_approve_cost_on_a_closed_pr_are_refused(pr_head, tmp_path, verb):
    ws, _, pr, gh = pr_head
    pr["state"] = "closed"
    outcome, _, _ = comment(gh, tmp_path, pr["number"], f"/infra {verb}", ws)
    assert outcome.note.startswith("denied")
    assert "needs an open pull request" in last_reply(gh, pr["number"])


def push_to_pr(gh: FakeGitHub, ws: Path, pr: dict[str, Any], owner: str) -> str:
    dep = ws / "environments/dev/iam.yaml"
    dep.write_text(re.sub(r"Owner: [a-z-]+", f"Owner: {owner}", dep.read_text()))
    head = commit_all(ws, owner)
    pr["head"]["sha"] = adopt(gh, head)
    return head


def test_apply_refuses_when_the_head_moved_after_the_comment(pr_head, tmp_path, moto_endpoint):
    ws, head, pr, gh = pr_head
    command = gh.add_comment(pr["number"], "/infra apply dev", author="alice")
    new = push_to_pr(gh, ws, pr, "mallory")  # pushed after the comment, before it ran
    outcome, _, _ = handle(gh, tmp_path, "issue_comment", gh.comment_event(command), ws)
    assert outcome.exit_code == 1
    reply = last_reply(gh, pr["number"])
    assert f"the head moved: the plan shows `{head[:12]}`, the pull request is at " \
           f"`{new[:12]}` now" in reply  # fmt: skip
    assert owner_in_dev(moto_endpoint) == "platform-team"


def test_apply_refuses_a_plan_rewritten_after_the_comment(pr_head, tmp_path, moto_endpoint):
    ws, _, pr, gh = pr_head
    command = gh.add_comment(pr["number"], "/infra apply dev", author="alice")
    new = push_to_pr(gh, ws, pr, "mallory")
    # pr.yml plans the new head before the apply comment's run starts.
    replan = handle(gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"]), ws,
                    run="plan dev")  # fmt: skip
    assert replan[0].exit_code == 0
    outcome, _, _ = handle(gh, tmp_path, "issue_comment", gh.comment_event(command), ws)
    assert outcome.exit_code == 1
    assert f"the plan was rewritten after your comment (it now shows `{new[:12]}`" \
        in last_reply(gh, pr["number"])  # fmt: skip
    assert owner_in_dev(moto_endpoint) == "platform-team"


def test_apply_refuses_a_change_set_replaced_after_the_plan(pr_head, tmp_path, moto_endpoint):
    ws, head, pr, gh = pr_head
    spec = spec_of(ws, "dev", "iam", head)
    forge(moto_endpoint, spec, replace_existing=True, template=True)
    outcome, _, _ = comment(gh, tmp_path, pr["number"], "/infra apply dev", ws)
    assert outcome.exit_code == 1
    reply = last_reply(gh, pr["number"])
    assert f"platform-dev-iam: change set {spec.change_set_name} was replaced after the plan " \
           "was published" in reply  # fmt: skip
    assert owner_in_dev(moto_endpoint) == "platform-team"
    assert "Backdoor" not in resources(moto_endpoint, "dev", "platform-dev-iam")


def test_apply_runs_the_posted_plan(pr_head, tmp_path, moto_endpoint):
    ws, _, pr, gh = pr_head
    outcome, _, _ = comment(gh, tmp_path, pr["number"], "/infra apply dev", ws)
    assert outcome.exit_code == 0, last_reply(gh, pr["number"])
    assert "| `iam` | ✅ deployed |" in last_reply(gh, pr["number"])
    assert owner_in_dev(moto_endpoint) == "night-shift"


# --- /infra approve-cost ---------------------------------------------------------------


def test_cost_approval_marker_from_another_bot_is_ignored(tmp_path):
    with FakeGitHub() as gh:
        gh.add_user("alice", permission="write")
        gh.add_user("evil-app[bot]", bot=True)
        root = tmp_path / "repo"
        main = make_platform_repo(root, ["kms", "iam"])
        git(root, "update-ref", "refs/remotes/origin/main", main)
        iam = root / "stacks/iam.yaml"
        iam.write_text(iam.read_text().replace("Resources:\n", "Resources:\n" + NATS, 1))
        head = commit_all(root, "four NAT gateways")
        pr = open_pr(gh, head)
        # Another App on the repository writes the bot's marker for every environment.
        lines = "\n".join(f"<!-- approve-cost env={e} user=alice sha={head} -->"
                          for e in ("dev", "tst", "prd"))  # fmt: skip
        gh.add_comment(pr["number"], "<!-- infra-bot:cost-approval valid-at="
                       f"2030-01-01T00:00:00+00:00 -->\n{lines}", author="evil-app[bot]")  # fmt: skip
        outcome, _, _ = handle(gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"]),
                               root, run="cost")  # fmt: skip
        assert outcome.exit_code == 1
        body = bot_comments(gh, pr["number"])["cost"]
        assert "**DEV is above its cost threshold**" in body and "approved by" not in body

        # The bot's own record of a writer's approval counts.
        comment(gh, tmp_path, pr["number"], "/infra approve-cost dev", root)
        outcome, _, _ = handle(gh, tmp_path, "pull_request", gh.pull_request_event(pr["number"]),
                               root, run="cost")  # fmt: skip
        body = next(c["body"] for c in gh.comments_on(pr["number"])
                    if c["user"]["login"] == gh.bot_login and "Cost estimate" in c["body"])  # fmt: skip
        assert "The DEV cost increase was approved by `@alice`." in body


def test_as_a_github_app_only_the_apps_own_marker_counts(tmp_path):
    """With the App configured, the bot is `<slug>[bot]`: github-actions[bot] (any
    workflow's GITHUB_TOKEN can comment as it) is just another bot."""
    from tests.test_github_app import APP_ID, _pem_pair, app_env

    private, public = _pem_pair()
    with FakeGitHub() as gh:
        gh.add_user("alice", permission="write")
        gh.add_app(APP_ID, public, slug="infra-bot-app")
        root = tmp_path / "repo"
        main = make_platform_repo(root, ["kms", "iam"])
        git(root, "update-ref", "refs/remotes/origin/main", main)
        iam = root / "stacks/iam.yaml"
        iam.write_text(iam.read_text().replace("Resources:\n", "Resources:\n" + NATS, 1))
        head = commit_all(root, "four NAT gateways")
        pr = open_pr(gh, head)
        gh.add_comment(pr["number"], "<!-- infra-bot:cost-approval valid-at="
                       "2030-01-01T00:00:00+00:00 -->\n"
                       f"<!-- approve-cost env=dev user=alice sha={head} -->",
                       author="github-actions[bot]")  # fmt: skip

        def cost() -> int:
            outcome, _, _ = handle(gh, tmp_path, "pull_request",
                                   gh.pull_request_event(pr["number"]), root, run="cost",
                                   environ=app_env(private))  # fmt: skip
            return outcome.exit_code

        assert cost() == 1
        event = gh.comment_event(gh.add_comment(pr["number"], "/infra approve-cost dev"))
        handle(gh, tmp_path, "issue_comment", event, root, environ=app_env(private))
        assert cost() == 0
        (approval,) = [c for c in gh.comments_on(pr["number"])
                       if c["user"]["login"] == "infra-bot-app[bot]"
                       and "cost approvals" in c["body"]]  # fmt: skip
        assert f"<!-- approve-cost env=dev user=alice sha={head} -->" in approval["body"]
        assert gh.count("GET", r"^/app$") >= 1


def test_cli_stage_and_plan_are_checked_at_the_edge(platform, tmp_path, moto_endpoint):
    """`infra-bot handle` itself: a wrong --stage is a usage error; the plan comes from
    INFRA_BOT_PLAN (the job output), and a bad one executes nothing, without a traceback."""
    from typer.testing import CliRunner

    from bot.cli import app

    root, _, gh = platform
    event = tmp_path / "push.json"
    event.write_text(json.dumps(gh.push_event()))
    env = gh.environ("push", str(event), GITHUB_WORKSPACE=str(root),
                     AWS_ENDPOINT_URL=moto_endpoint)  # fmt: skip
    runner = CliRunner()
    wrong = runner.invoke(app, ["handle", "--env", "dev", "--stage", "deploy"], env=env)
    assert wrong.exit_code == 2 and "--stage 'deploy': want `plan` or `execute`" in wrong.output
    summary = tmp_path / "summary.md"
    bad = runner.invoke(app, ["handle", "--env", "dev", "--stage", "execute"],
                        env={**env, "INFRA_BOT_PLAN": '{"env": "dev"}',
                             "GITHUB_STEP_SUMMARY": str(summary)})  # fmt: skip
    assert (bad.exit_code, type(bad.exception)) == (1, SystemExit)
    assert "the plan needs exactly env, commit and change_sets; nothing was executed" \
        in summary.read_text()  # fmt: skip
    assert "Traceback" not in bad.output
    assert status(moto_endpoint, "dev", "platform-dev-kms") is None


def test_prd_is_never_planned_and_executed_in_the_approved_job(platform, tmp_path,
                                                               moto_endpoint):  # fmt: skip
    """The approved job without --stage would plan and run what no approver saw."""
    root, _, gh = platform
    outcome, summary = push(gh, tmp_path, root, "prd", environ={"INFRA_BOT_ENVIRONMENT": "prd"})
    assert outcome.exit_code == 1
    assert "`prd` deploys in two stages so its approvers see what runs" in summary
    assert status(moto_endpoint, "prd", "platform-prd-kms") is None


def test_another_bots_plan_marker_neither_blocks_nor_feeds_apply(platform, tmp_path,
                                                                 moto_endpoint):  # fmt: skip
    """A future-dated plan comment by another bot, with its own ids, before the bot's
    first plan: the bot still posts and updates its own, and apply runs that one."""
    ws, head, pr, gh = open_dev_pr(platform, tmp_path)
    gh.add_user("evil-app[bot]", bot=True)
    other = "arn:aws:cloudformation:us-east-1:111111111111:changeSet/x/00000000-0000"
    fake_ids = json.dumps({"env": "dev", "commit": head, "change_sets": {"iam": other}})
    gh.add_comment(pr["number"], "<!-- infra-bot:plan valid-at=2030-01-01T00:00:00+00:00 -->\n"
                   f"<!-- infra-bot:plan-ids {fake_ids} -->", author="evil-app[bot]")  # fmt: skip
    new = push_to_pr(gh, ws, pr, "day-shift")
    assert comment(gh, tmp_path, pr["number"], "/infra plan dev", ws)[0].exit_code == 0
    (ours,) = [c["body"] for c in gh.comments_on(pr["number"])
               if c["user"]["login"] == gh.bot_login and "infra-bot:plan " in c["body"]]  # fmt: skip
    assert f"at `{new[:12]}`" in ours and "infra-bot:plan-ids" in ours
    outcome, _, _ = comment(gh, tmp_path, pr["number"], "/infra apply dev", ws)
    assert outcome.exit_code == 0, last_reply(gh, pr["number"])
    assert owner_in_dev(moto_endpoint) == "day-shift"

"""Which role the bot acts as: the plan role to preview and read, the deploy role to change.

Pure choice (role_for), the model's checks of the ARNs, real STS role assumption on a
moto server on 127.0.0.1, and the handlers end to end: `/infra plan dev` and the push
deploy of tst (a promotion from dev) recording the roles they assumed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from bot.cloud import session
from bot.cloud.runs import deploy_env, open_env
from bot.cloud.session import AwsTarget, Purpose, environment_session, role_for
from bot.cloud.targets import head_commit
from bot.repo.model import Environment, RepoError, Repository
from tests.fakegithub import FakeGitHub
from tests.moto_fixtures import ACCOUNTS, make_platform_repo, moto_endpoint, reset_moto
from tests.test_handle_cloud import CONFIG, adopt, bot_comments, comment, handle, open_pr

__all__ = ["moto_endpoint"]

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = "arn:aws:iam::111111111111:role/infra-bot-deploy"
PLAN = "arn:aws:iam::111111111111:role/infra-bot-plan"


def env(**kw: Any) -> Environment:
    return Environment.model_validate({"name": "dev", "account_id": "111111111111", **kw})


def role(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


# --------------------------------------------------------------------------- pure choice


@pytest.mark.parametrize(
    ("roles", "purpose", "expected"),
    [
        ({"role_arn": DEPLOY, "plan_role_arn": PLAN}, Purpose.PLAN, PLAN),
        ({"role_arn": DEPLOY, "plan_role_arn": PLAN}, Purpose.DEPLOY, DEPLOY),
        ({"role_arn": DEPLOY}, Purpose.PLAN, DEPLOY),  # no plan role: the deploy role
        ({"role_arn": DEPLOY}, Purpose.DEPLOY, DEPLOY),
        ({"plan_role_arn": PLAN}, Purpose.PLAN, PLAN),
        ({"plan_role_arn": PLAN}, Purpose.DEPLOY, None),  # never deploys as the plan role
        ({}, Purpose.PLAN, None),  # the process's own credentials
    ],
)
def test_role_for_purpose(roles: dict[str, str], purpose: Purpose, expected: str | None) -> None:
    assert role_for(env(**roles), purpose) == expected


@pytest.mark.parametrize(
    ("key", "arn", "problem"),
    [
        ("plan_role_arn", "arn:aws:iam::222222222222:role/infra-bot-plan",
         "in account 222222222222, not the environment's 111111111111"),
        ("role_arn", "arn:aws:iam::222222222222:role/infra-bot-deploy", "in account 222222222222"),
        ("plan_role_arn", "infra-bot-plan", "is not an IAM role ARN"),
        ("plan_role_arn", "arn:aws:iam::111111111111:user/infra-bot", "is not an IAM role ARN"),
    ],
)  # fmt: skip
def test_role_arns_must_be_roles_of_the_environment_account(
    tmp_path: Path, key: str, arn: str, problem: str
) -> None:
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments/dev.yaml").write_text(
        f'account_id: "111111111111"\n{key}: {arn}\n', encoding="utf-8"
    )
    with pytest.raises(RepoError, match=f"dev.yaml: {key}.*{problem}"):
        _ = Repository(tmp_path).environments


def test_role_arn_with_a_path_and_another_partition_is_accepted() -> None:
    arn = "arn:aws-us-gov:iam::111111111111:role/ci/infra-bot-plan"
    assert env(plan_role_arn=arn).plan_role_arn == arn


def test_the_repository_environments_have_plan_roles_in_their_accounts() -> None:
    envs = Repository(ROOT).environments
    assert set(envs) == set(ACCOUNTS)
    for name, e in envs.items():
        assert e.plan_role_arn == role(ACCOUNTS[name], "infra-bot-plan")
        assert e.role_arn == role(ACCOUNTS[name], "infra-bot-deploy")


# --------------------------------------------------------------------------- STS on moto


def caller_arn(client: Any, endpoint: str) -> str:
    """The identity behind a boto3 client's credentials."""
    creds = client._request_signer._credentials.get_frozen_credentials()
    sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds.access_key,
        aws_secret_access_key=creds.secret_key,
        aws_session_token=creds.token,
    )
    return str(sts.get_caller_identity()["Arn"])


@pytest.fixture
def repo(tmp_path: Path, moto_endpoint: str) -> Repository:
    """kms (stand-in) and iam in a fresh git repository; moto emptied."""
    reset_moto(moto_endpoint)
    make_platform_repo(tmp_path / "repo", ["kms", "iam"])
    (tmp_path / "events").mkdir()
    return Repository(tmp_path / "repo")


@pytest.mark.parametrize(
    ("purpose", "role_name"),
    [(Purpose.PLAN, "infra-bot-plan"), (Purpose.DEPLOY, "infra-bot-deploy")],
)
def test_open_env_assumes_the_role_for_its_purpose(
    repo: Repository, moto_endpoint: str, purpose: Purpose, role_name: str
) -> None:
    run = open_env(repo, "tst", endpoint_url=moto_endpoint, purpose=purpose)
    assert run.purpose is purpose
    arn = caller_arn(run.cfn._client, moto_endpoint)
    assert arn.startswith(f"arn:aws:sts::{ACCOUNTS['tst']}:assumed-role/{role_name}/"), arn
    # The lock store acts as the same role.
    assert caller_arn(run.locks._ssm, moto_endpoint) == arn  # type: ignore[union-attr]


def test_without_a_plan_role_planning_says_so_and_uses_the_deploy_role(
    moto_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    no_plan = env(role_arn=DEPLOY)
    sess = environment_session(no_plan, AwsTarget("us-east-1", moto_endpoint), Purpose.PLAN)
    arn = sess.client("sts", endpoint_url=moto_endpoint).get_caller_identity()["Arn"]
    assert "assumed-role/infra-bot-deploy/" in arn
    assert "dev has no plan_role_arn; planning with its deploy role" in capsys.readouterr().err


def test_a_run_opened_to_plan_cannot_deploy(repo: Repository, moto_endpoint: str) -> None:
    run = open_env(repo, "dev", endpoint_url=moto_endpoint, purpose=Purpose.PLAN)
    with pytest.raises(RuntimeError, match="opened to plan"):
        deploy_env(run, "0" * 40)


# --------------------------------------------------------------------------- handlers


@pytest.fixture
def assumed(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The role ARNs the bot asks for, in order (the real role_session still runs)."""
    roles: list[str | None] = []
    real = session.role_session

    def recording(role_arn: str | None, account_id: str, target: AwsTarget) -> Any:
        roles.append(role_arn)
        return real(role_arn, account_id, target)

    monkeypatch.setattr(session, "role_session", recording)
    return roles


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_user("alice", permission="write")
        fake.commit_files({".github/infra-bot.yml": CONFIG})
        yield fake


def test_plan_comment_uses_the_plan_role(
    repo: Repository, gh: FakeGitHub, tmp_path: Path, moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch, assumed: list[str | None],
) -> None:  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    pr = open_pr(gh, head_commit(repo.root))
    outcome, _, _ = comment(gh, tmp_path / "events", pr["number"], "/infra plan dev", repo.root)
    assert outcome.exit_code == 0, gh.comments_on(pr["number"])[-1]["body"]
    assert "### Change sets for `dev`" in bot_comments(gh, pr["number"])["plan"]
    assert assumed == [role(ACCOUNTS["dev"], "infra-bot-plan")]


def test_promotion_reads_the_source_with_its_plan_role_and_deploys_with_the_target_role(
    repo: Repository, gh: FakeGitHub, tmp_path: Path, moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch, assumed: list[str | None],
) -> None:  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.delenv("INFRA_BOT_ENVIRONMENT", raising=False)
    merged = gh.add_pull_request({"stacks/iam.yaml": "x"})
    merged["merge_commit_sha"] = adopt(gh, head_commit(repo.root))
    events = tmp_path / "events"
    dev, _, _ = handle(gh, events, "push", gh.push_event(), repo.root, env="dev")
    assert dev.exit_code == 0
    assert assumed == [role(ACCOUNTS["dev"], "infra-bot-deploy")]
    assumed.clear()
    tst, _, summary = handle(gh, events, "push", gh.push_event(), repo.root, env="tst")
    assert tst.exit_code == 0, summary
    assert "Promotion dev -> tst: pre-checks" in summary
    assert sorted(r or "" for r in assumed) == [
        role(ACCOUNTS["dev"], "infra-bot-plan"),  # the source, for the pre-checks
        role(ACCOUNTS["tst"], "infra-bot-deploy"),  # the target
    ]

"""The cluster of the cluster stack: token and kubeconfig formats (pure), the connector
and deploys with Helm releases against a moto server on 127.0.0.1 (CloudFormation, EKS,
STS), the `eks-token` command. helm itself is the recording fake: no cluster here."""

from __future__ import annotations

import base64
import dataclasses
import json
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from bot.cloud import eks
from bot.cloud.helm import HelmRun, MissingHelm, Skip, cluster_skips, redact_secrets
from bot.cloud.runs import (
    EnvRun,
    HelmAccess,
    deploy_env,
    open_env,
    plan_env,
    promote,
    release_status,
    status_env,
)
from bot.cloud.session import AwsTarget, Purpose, target_for
from bot.cloud.waiting import Clock
from bot.github.commands import CommandRequest
from bot.github.grammar import Command, Verb, Where
from bot.render.changeset import deploy_markdown, promotion_markdown, status_markdown
from bot.repo.model import Repository
from bot.settings import Settings
from tests.fakegithub import FakeGitHub
from tests.moto_fixtures import ACCOUNTS, commit_all, make_platform_repo, moto_endpoint, reset_moto
from tests.test_cloud_core import HELM_LIST, RecordingHelm
from tests.test_handle_cloud import adopt

__all__ = ["moto_endpoint"]

# moto's CloudFormation skips the stand-in's WaitConditionHandle (outputs still resolve).
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")

FAST = Clock(sleep=lambda _s: None, poll_seconds=0)
CLUSTER = eks.ClusterInfo("platform-dev", "eu-west-1", "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
                          "Q0EtREFUQQ==")  # fmt: skip
ROLE = "arn:aws:iam::111111111111:role/infra-bot"


# -- pure formats --------------------------------------------------------------------


def test_token_is_prefixed_unpadded_base64url_of_the_url() -> None:
    url = "https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X=a?b"
    token = eks.token_from_url(url)
    body = token.removeprefix("k8s-aws-v1.")
    assert token.startswith("k8s-aws-v1.") and "=" not in body and "+" not in body
    assert base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode() == url
    assert eks.token_from_url("ab") == "k8s-aws-v1.YWI"  # "YWI=" without its padding


def test_exec_credential_document() -> None:
    expires = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert eks.exec_credential("k8s-aws-v1.x", expires) == {
        "kind": "ExecCredential",
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "spec": {},
        "status": {"token": "k8s-aws-v1.x", "expirationTimestamp": "2025-01-02T03:04:05Z"},
    }


def test_kubeconfig_document_runs_eks_token(tmp_path: Path) -> None:
    doc = eks.kubeconfig_document(CLUSTER, ROLE, ("/venv/bin/infra-bot",))
    assert doc == {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": "platform-dev", "cluster": {
            "server": "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
            "certificate-authority-data": "Q0EtREFUQQ=="}}],
        "contexts": [{"name": "platform-dev",
                      "context": {"cluster": "platform-dev", "user": "infra-bot"}}],
        "current-context": "platform-dev",
        "users": [{"name": "infra-bot", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "/venv/bin/infra-bot",
            "args": ["eks-token", "--cluster", "platform-dev", "--region", "eu-west-1",
                     "--role-arn", ROLE],
            "interactiveMode": "Never"}}}],
    }  # fmt: skip
    no_role = eks.kubeconfig_document(CLUSTER, None, ("python", "-m", "bot.cli"))
    exec_ = no_role["users"][0]["user"]["exec"]
    assert exec_["command"] == "python" and exec_["args"][:3] == ["-m", "bot.cli", "eks-token"]
    assert "--role-arn" not in exec_["args"]
    path = eks.write_kubeconfig(doc, tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text()) == doc


def test_cluster_name_from_the_stack_outputs() -> None:
    outputs = {"StackStatus": "UPDATE_COMPLETE",
               "Outputs": [{"OutputKey": "ClusterName", "OutputValue": "platform-dev"}]}  # fmt: skip
    assert eks.cluster_name("s", outputs) == "platform-dev"
    with pytest.raises(eks.ClusterUnreachable, match="s is not deployed"):
        eks.cluster_name("s", None)
    with pytest.raises(eks.ClusterUnreachable, match="no ClusterName output"):
        eks.cluster_name("s", {"StackStatus": "CREATE_COMPLETE", "Outputs": []})
    with pytest.raises(eks.ClusterUnreachable, match="CREATING"):
        eks.cluster_info("c", "r", {"cluster": {"status": "CREATING"}})


def test_presigned_url_signs_the_cluster_header(monkeypatch: pytest.MonkeyPatch) -> None:
    """Presigning is local: dummy credentials, no network."""
    session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
                            region_name="eu-west-1")  # fmt: skip
    credential = eks.eks_token(session, "platform-dev", AwsTarget("eu-west-1"),
                               datetime(2025, 1, 1, tzinfo=UTC))  # fmt: skip
    assert credential["status"]["expirationTimestamp"] == "2025-01-01T00:14:00Z"
    body = credential["status"]["token"].removeprefix("k8s-aws-v1.")
    url = urlsplit(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode())
    query = parse_qs(url.query)
    assert url.netloc == "sts.eu-west-1.amazonaws.com"
    assert query["Action"] == ["GetCallerIdentity"] and query["X-Amz-Expires"] == ["60"]
    assert query["X-Amz-SignedHeaders"] == ["host;x-k8s-aws-id"]


# -- which releases may run ------------------------------------------------------------


def test_cluster_skips_table() -> None:
    env_stacks, in_run = {"eks-cluster", "vpc"}, ["vpc", "eks-cluster"]
    assert cluster_skips(["eks-cluster"], "dev", env_stacks, in_run, None) == {}
    assert cluster_skips(["other"], "dev", env_stacks, in_run, None) == {
        "other": Skip("cluster stack other is not one of dev's stacks", False)}  # fmt: skip
    assert cluster_skips(["eks-cluster"], "dev", env_stacks, ["vpc"], None) == {
        "eks-cluster": Skip("cluster stack eks-cluster is not part of this deploy", False)}  # fmt: skip
    assert cluster_skips(["eks-cluster"], "dev", env_stacks, in_run, "vpc") == {
        "eks-cluster": Skip("stack vpc did not deploy", True)}  # fmt: skip


def test_secret_values_never_reach_the_diff() -> None:
    manifest = ("---\nkind: ConfigMap\ndata:\n  mode: fast\n---\napiVersion: v1\nkind: Secret\n"
                "data:\n  password: aHVudGVyMg==\nstringData:\n  key: |\n    s3cr3t\ntype: Opaque\n")  # fmt: skip
    redacted = redact_secrets(manifest)
    assert "aHVudGVyMg==" not in redacted and "s3cr3t" not in redacted
    assert "  password: <redacted>\n" in redacted and "  key: <redacted>\n" in redacted
    assert "  mode: fast\n" in redacted and "type: Opaque\n" in redacted


# -- against moto ------------------------------------------------------------------------

CLUSTER_STAND_IN = """\
AWSTemplateFormatVersion: "2010-09-09"
Description: Stand-in for the EKS cluster stack (moto's CloudFormation has no EKS).
Parameters:
  ClusterName:
    Type: String
Resources:
  Marker:
    Type: AWS::CloudFormation::WaitConditionHandle
Outputs:
  ClusterName:
    Value: !Ref ClusterName
"""
NO_OUTPUT = CLUSTER_STAND_IN.split("Outputs:", maxsplit=1)[0]
RELEASE = """\
chart: web
repository: https://charts.example.com
version: 1.0.0
namespace: web
cluster_stack: eks-cluster
"""


def cluster_repo(dest: Path, template: str = CLUSTER_STAND_IN) -> str:
    """Only the cluster stack stand-in and one release, in every environment."""
    make_platform_repo(dest, [])
    (dest / "stacks" / "eks-cluster.yaml").write_text(template)
    for env in ACCOUNTS:
        (dest / "environments" / env / "eks-cluster.yaml").write_text(
            "template-file-path: stacks/eks-cluster.yaml\n"
            f"parameters:\n  ClusterName: platform-{env}\n"
        )
    (dest / "helm-values" / "web").mkdir(parents=True)
    (dest / "helm-values" / "web" / "release.yaml").write_text(RELEASE)
    (dest / "helm-values" / "web" / "values.yaml").write_text("replicas: 2\n")
    return commit_all(dest, "cluster")


def eks_in(account: str, endpoint: str) -> object:
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/probe",
                            RoleSessionName="probe")["Credentials"]  # fmt: skip
    return boto3.client("eks", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])  # fmt: skip


def create_cluster(env: str, endpoint: str) -> None:
    eks_in(ACCOUNTS[env], endpoint).create_cluster(  # type: ignore[attr-defined]
        name=f"platform-{env}", roleArn=f"arn:aws:iam::{ACCOUNTS[env]}:role/eks",
        resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"]},
    )  # fmt: skip


def run_for(root: Path, env: str, endpoint: str, purpose: Purpose = Purpose.DEPLOY) -> EnvRun:
    run = open_env(Repository(root), env, endpoint_url=endpoint, owner="pytest", purpose=purpose)
    return dataclasses.replace(run, clock=FAST)


class ClusterHelm(RecordingHelm):
    """RecordingHelm that also keeps, per call, the kubeconfig it was given (read while it
    exists: its temporary folder is gone after the run) and what `probe` said then."""

    def __init__(self, listed: str = "[]", probe: Callable[[], object] = lambda: None) -> None:
        super().__init__(listed=listed)
        self.kubeconfigs: list[dict[str, Any]] = []
        self.probed: list[object] = []
        self.probe = probe

    def __call__(self, args: list[str]) -> HelmRun:
        if "--kubeconfig" in args:
            path = Path(args[args.index("--kubeconfig") + 1])
            self.kubeconfigs.append(yaml.safe_load(path.read_text()))
        self.probed.append(self.probe())
        return super().__call__(args)

    def contexts(self) -> set[str]:
        return {k["current-context"] for k in self.kubeconfigs}


def connector(run: EnvRun, endpoint: str, folder: Path) -> eks.ClusterConnector:
    return eks.ClusterConnector(run.cfn, run.env, target_for(run.env, endpoint), folder,
                                ("infra-bot",), run.purpose)  # fmt: skip


@pytest.fixture
def moto(moto_endpoint: str) -> str:
    reset_moto(moto_endpoint)
    return moto_endpoint


def test_deploy_finds_the_cluster_and_runs_releases_after_stacks(tmp_path: Path, moto: str) -> None:
    root = tmp_path / "repo"
    sha = cluster_repo(root)
    create_cluster("dev", moto)
    dev = run_for(root, "dev", moto)
    helm = RecordingHelm()
    seen: list[str] = []
    outcome = deploy_env(dev, sha, replan=True, helm=helm, on_result=lambda r: seen.append(
        f"{r.stack}:{len(helm.calls)}"), connect=connector(dev, moto, tmp_path / "kube"))  # fmt: skip
    assert outcome.ok, outcome
    assert seen == ["eks-cluster:0"]  # the stack deployed before helm ran at all
    assert [c[0] for c in helm.calls] == ["template", "get", "upgrade"]
    kubeconfig = tmp_path / "kube" / "eks-cluster" / "kubeconfig"
    assert all(c[-2:] == ["--kubeconfig", str(kubeconfig)] for c in helm.calls)
    doc = yaml.safe_load(kubeconfig.read_text())
    assert doc["clusters"][0]["name"] == "platform-dev"
    assert doc["clusters"][0]["cluster"]["server"].startswith("https://")
    assert doc["users"][0]["user"]["exec"]["args"][-2:] == ["--role-arn", dev.env.role_arn]
    text = deploy_markdown("dev", sha, outcome.results, outcome.releases)
    assert "Helm release `web`: ✅ upgraded" in text
    assert "<details><summary>web: rendered diff</summary>" in text
    assert "-replicas: 1" in text and "+replicas: 2" in text

    # tst is promoted from dev at the same commit; its releases run against tst's cluster.
    create_cluster("tst", moto)
    tst = run_for(root, "tst", moto)
    helm = RecordingHelm()
    promoted = promote(dev, tst, checks_passed=True, helm=helm,
                       connect=connector(tst, moto, tmp_path / "kube-tst"))  # fmt: skip
    assert promoted.ok and [r.release for r in promoted.releases] == ["web"]
    tst_config = yaml.safe_load((tmp_path / "kube-tst/eks-cluster/kubeconfig").read_text())
    assert tst_config["current-context"] == "platform-tst"
    assert "Helm release `web`: ✅ upgraded" in promotion_markdown(promoted)


def test_unreachable_cluster_skips_releases_and_fails(tmp_path: Path, moto: str) -> None:
    root = tmp_path / "repo"
    sha = cluster_repo(root)  # no EKS cluster created: DescribeCluster fails
    dev = run_for(root, "dev", moto)
    helm = RecordingHelm()
    outcome = deploy_env(dev, sha, replan=True, helm=helm,
                         connect=connector(dev, moto, tmp_path / "kube"))  # fmt: skip
    assert all(r.result.ok for r in outcome.results) and not outcome.ok
    [web] = outcome.releases
    assert web.skipped and not web.ok and helm.calls == []
    assert web.message.startswith("skipped: cannot reach the cluster of eks-cluster: EKS Describe")
    text = deploy_markdown("dev", sha, outcome.results, outcome.releases)
    assert "FAILED" in text and "Helm release `web`: ❌ skipped: cannot reach" in text


def test_cluster_stack_without_output_or_outside_the_run(tmp_path: Path, moto: str) -> None:
    root = tmp_path / "repo"
    sha = cluster_repo(root, NO_OUTPUT)
    create_cluster("dev", moto)
    dev = run_for(root, "dev", moto)
    outcome = deploy_env(dev, sha, replan=True, helm=RecordingHelm(),
                         connect=connector(dev, moto, tmp_path / "kube"))  # fmt: skip
    assert not outcome.ok and "has no ClusterName output" in outcome.releases[0].message
    # The release names a cluster stack dev does not have: skipped, and not a failure.
    release = root / "helm-values" / "web" / "release.yaml"
    release.write_text(RELEASE.replace("cluster_stack: eks-cluster", "cluster_stack: other"))
    sha = commit_all(root, "other cluster")
    outcome = deploy_env(run_for(root, "dev", moto), sha, replan=True, helm=RecordingHelm(),
                         connect=connector(dev, moto, tmp_path / "kube"))  # fmt: skip
    assert outcome.ok and outcome.releases[0].skipped
    assert outcome.releases[0].message == "skipped: cluster stack other is not one of dev's stacks"
    assert "Helm release `web`: ⏭️ skipped" in deploy_markdown("dev", sha, outcome.results,
                                                                outcome.releases)  # fmt: skip


def test_cli_deploy_builds_the_kubeconfig(tmp_path: Path, moto: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from bot.cli import app
    from bot.commands import cloud

    root = tmp_path / "repo"
    cluster_repo(root)
    create_cluster("dev", moto)
    helm = RecordingHelm()
    monkeypatch.setattr(cloud, "_helm", lambda: helm)
    args = ["deploy", "--env", "dev", "--replan", "--root", str(root), "--endpoint-url", moto]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Helm release `web`: ✅ upgraded" in result.output
    assert helm.calls[-1][-2] == "--kubeconfig"
    assert not Path(helm.calls[-1][-1]).exists()  # the temporary folder is gone
    helm.calls.clear()
    result = CliRunner().invoke(app, [*args, "--no-helm"])
    assert result.exit_code == 0 and helm.calls == []
    assert "Helm releases were not deployed (--no-helm)" in result.output


def test_push_deploy_gets_helm_access_only_with_releases(tmp_path: Path, moto: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from bot.github.handlers import deploy

    root = tmp_path / "repo"
    cluster_repo(root)
    dev = run_for(root, "dev", moto)
    monkeypatch.setattr(deploy, "helm_runner", RecordingHelm)
    with deploy.helm_access(dev, dev.repo) as access:
        assert isinstance(access.helm, RecordingHelm)
        assert isinstance(access.connect, eks.ClusterConnector)
        folder = access.connect.folder
        assert folder.is_dir()
    assert not folder.exists()
    bare = tmp_path / "bare"
    make_platform_repo(bare, [])
    with deploy.helm_access(dev, Repository(bare)) as access:
        assert access == deploy.HelmAccess()


def test_apply_deploys_releases_after_stacks(tmp_path: Path, moto: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """`/infra apply dev`: the planned change sets, then the releases against dev's cluster."""
    from bot.cloud.published import from_previews
    from bot.github.handlers import deploy

    root = tmp_path / "repo"
    sha = cluster_repo(root)
    create_cluster("dev", moto)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    dev = run_for(root, "dev", moto)
    previews = plan_env(dev, sha)
    cluster_status = lambda: (dev.cfn.describe_stack("platform-dev-eks-cluster")  # noqa: E731
                              or {}).get("StackStatus")  # fmt: skip
    helm = ClusterHelm(probe=cluster_status)
    monkeypatch.setattr(deploy, "helm_runner", lambda: helm)
    with FakeGitHub() as gh:
        pr = gh.add_pull_request({"helm-values/web/values.yaml": "replicas: 2\n"})
        pr["head"]["sha"] = adopt(gh, sha)
        api = gh.client()
        # The plan posted for the head before the apply comment: what apply may execute.
        gh.add_comment(pr["number"], f"<!-- infra-bot:plan valid-at=2030-01-01T00:00:00+00:00 -->\n"
                       f"{from_previews('dev', sha, previews).marker()}", author=gh.bot_login)  # fmt: skip
        asked = api.create_issue_comment(pr["number"], "/infra apply dev")
        request = CommandRequest(Command(Verb.APPLY, ("dev",)), api, Settings(), root, "alice",
                                 Where.PR, pr["number"], pr=api.pull_request(pr["number"]),
                                 comment_at=asked.created_at)  # fmt: skip
        result = deploy.run_apply(request)
        assert [d["environment"] for d in gh.deployments.values()] == ["dev"]
    assert result.ok, result.body
    assert "| `eks-cluster` | ✅ deployed |" in result.body
    assert result.body.index("| `eks-cluster` |") < result.body.index("Helm release `web`: ✅")
    assert [c[0] for c in helm.calls] == ["template", "get", "upgrade"]
    assert set(helm.probed) == {"CREATE_COMPLETE"}  # the stack was deployed before helm ran
    assert all(c[-2] == "--kubeconfig" for c in helm.calls)
    assert helm.contexts() == {"platform-dev"}
    assert not Path(helm.calls[0][-1]).exists()  # the temporary folder is gone


def test_cli_promote_deploys_releases_to_the_target_cluster(
    tmp_path: Path, moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import app
    from bot.commands import cloud

    root = tmp_path / "repo"
    cluster_repo(root)
    create_cluster("dev", moto)
    create_cluster("tst", moto)
    helm = ClusterHelm()
    monkeypatch.setattr(cloud, "_helm", lambda: helm)
    where = ["--root", str(root), "--endpoint-url", moto]
    result = CliRunner().invoke(app, ["deploy", "--env", "dev", "--replan", *where])
    assert result.exit_code == 0, result.output
    assert helm.contexts() == {"platform-dev"}
    helm.calls.clear()
    helm.kubeconfigs.clear()
    promote_args = ["promote", "dev", "tst", "--checks-passed", *where]
    result = CliRunner().invoke(app, [*promote_args, "--dry-run"])
    assert result.exit_code == 0 and helm.calls == [], result.output
    result = CliRunner().invoke(app, promote_args)
    assert result.exit_code == 0, result.output
    assert "| `eks-cluster` | ✅ deployed |" in result.output
    assert "Helm release `web`: ✅ upgraded" in result.output
    assert [c[0] for c in helm.calls] == ["template", "get", "upgrade"]
    assert helm.contexts() == {"platform-tst"}  # the TARGET's cluster
    assert helm.kubeconfigs[0]["users"][0]["user"]["exec"]["args"][-1] == \
        "arn:aws:iam::222222222222:role/infra-bot-deploy"  # fmt: skip
    helm.calls.clear()
    result = CliRunner().invoke(app, [*promote_args, "--no-helm"])
    assert result.exit_code == 0 and helm.calls == [], result.output
    assert "Helm releases were not deployed (--no-helm)" in result.output


def test_status_lists_releases_with_cluster_access(tmp_path: Path, moto: str) -> None:
    root = tmp_path / "repo"
    sha = cluster_repo(root)
    create_cluster("dev", moto)
    # Before the cluster stack is deployed: one line saying why, helm never runs.
    reader = run_for(root, "dev", moto, Purpose.PLAN)
    helm = ClusterHelm(listed=HELM_LIST.read_text())
    access = HelmAccess(helm, connect=connector(reader, moto, tmp_path / "kube"))
    [group] = status_env(reader, access=access).releases
    assert group.unknown == ("cannot reach the cluster of eks-cluster: stack "
                             "platform-dev-eks-cluster is not deployed") and helm.calls == []  # fmt: skip
    assert deploy_env(run_for(root, "dev", moto), sha, replan=True).ok

    got = status_env(reader, access=access)
    assert got.stacks[0].status == "CREATE_COMPLETE"
    [group] = got.releases
    assert not group.unknown and group.states["web"].revision == "3"
    assert helm.calls == [["list", "--all-namespaces", "--all", "--filter", "^(web)$",
                           "--output", "json", "--kubeconfig",
                           str(tmp_path / "kube/eks-cluster/kubeconfig")]]  # fmt: skip
    # Status reads with the plan role: DescribeCluster and the kubeconfig's token.
    exec_args = helm.kubeconfigs[0]["users"][0]["user"]["exec"]["args"]
    assert exec_args[-2:] == ["--role-arn", "arn:aws:iam::111111111111:role/infra-bot-plan"]
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    md = status_markdown("dev", got.stacks, got.releases, now)
    assert "| `web` | 1.0.0 | deployed | 3 | 2026-11-23 10:00 UTC (2h ago) |" in md

    # Without helm, or without access to the cluster: one line each, never a traceback.
    missing = HelmAccess(MissingHelm("helm is not available (not found); run x"),
                         connect=access.connect)  # fmt: skip
    assert release_status(reader, missing)[0].unknown.startswith(
        "helm is not installed: helm is not available")  # fmt: skip

    def no_credentials(stack: str) -> Path:
        raise eks.ClusterUnreachable("EKS DescribeCluster platform-dev: Unable to locate "
                                     "credentials")  # fmt: skip

    [group] = release_status(reader, HelmAccess(helm, connect=no_credentials))
    assert group.unknown.endswith("Unable to locate credentials")
    [group] = release_status(reader, HelmAccess())
    assert group.unknown == "no cluster connection in this run"
    md = status_markdown("dev", got.stacks, [group], now)
    assert "Helm releases `web` (cluster stack `eks-cluster`): state unknown, no cluster" in md


def test_status_commands_show_releases_or_why_not(tmp_path: Path, moto: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """CLI `status` and `/infra status` connect to the cluster like deploys do."""
    from bot.cli import app
    from bot.commands import cloud
    from bot.github.handlers import deploy
    from bot.github.handlers.cloud import run_status

    root = tmp_path / "repo"
    sha = cluster_repo(root)
    create_cluster("dev", moto)
    assert deploy_env(run_for(root, "dev", moto), sha, replan=True).ok
    helm = ClusterHelm(listed=HELM_LIST.read_text())
    monkeypatch.setattr(cloud, "_helm", lambda: helm)
    args = ["status", "dev", "--root", str(root), "--endpoint-url", moto]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "| `web` | 1.0.0 | deployed | 3 | 2026-11-23 10:00 UTC (" in result.output
    assert helm.contexts() == {"platform-dev"}
    monkeypatch.setattr(cloud, "_helm", lambda: MissingHelm("helm is not available (x)"))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Helm releases `web` (cluster stack `eks-cluster`): state unknown, helm is not " \
           "installed: helm is not available (x)" in result.output  # fmt: skip
    assert "Traceback" not in result.output

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    monkeypatch.setattr(deploy, "helm_runner", lambda: helm)
    with FakeGitHub() as gh:
        request = CommandRequest(Command(Verb.STATUS, ("dev",)), gh.client(), Settings(), root,
                                 "alice", Where.PR, 1)  # fmt: skip
        answer = run_status(request)
    assert answer.ok, answer.body
    assert "| `platform-dev-eks-cluster` | CREATE_COMPLETE |" in answer.body
    assert "| `web` | 1.0.0 | deployed | 3 |" in answer.body


# -- eks-token ---------------------------------------------------------------------------


def test_eks_token_prints_an_exec_credential(moto: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli import app

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_EC2_METADATA_DISABLED": "true"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["eks-token", "--cluster", "platform-dev", "--region",
                                      "us-east-1", "--role-arn", ROLE, "--endpoint-url", moto])  # fmt: skip
    assert result.exit_code == 0, result.output
    credential = json.loads(result.stdout)
    assert credential["kind"] == "ExecCredential"
    assert credential["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert credential["status"]["token"].startswith("k8s-aws-v1.")
    expires = datetime.strptime(credential["status"]["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    assert 13 * 60 < (expires.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds() <= 14 * 60
    body = credential["status"]["token"].removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    assert url.startswith(moto) and "x-k8s-aws-id" in url

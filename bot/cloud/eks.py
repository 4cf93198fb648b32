"""The EKS cluster of an environment, for helm: a kubeconfig built from the cluster stack.

The cluster's name is the cluster stack's `ClusterName` output; its endpoint and CA
come from EKS DescribeCluster. The kubeconfig's user is an exec credential plugin
(`infra-bot eks-token`), so client-go asks for a fresh token whenever the last one
is about to expire and a long `helm upgrade --wait` never outlives its token.

The token is the one `aws eks get-token` and aws-iam-authenticator produce: an STS
GetCallerIdentity URL, presigned with the cluster name signed in as the
`x-k8s-aws-id` header, base64url-encoded behind `k8s-aws-v1.`. The cluster's
authenticator calls that URL to learn which IAM role is knocking.
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.cloud.adapter import CloudError, CloudFormationApi
from bot.cloud.session import AwsTarget, Purpose, client, environment_session, role_for
from bot.repo.model import Environment

CLUSTER_OUTPUT = "ClusterName"
TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - a format, not a secret
CLUSTER_HEADER = "x-k8s-aws-id"
URL_EXPIRES_SECONDS = 60
# EKS accepts a token for 15 minutes from signing; client-go refreshes it after this.
TOKEN_LIFETIME = timedelta(minutes=14)
EXEC_API = "client.authentication.k8s.io/v1beta1"
KUBE_USER = "infra-bot"


class ClusterUnreachable(CloudError):  # noqa: N818 - reads as the verdict it is
    """The cluster of a cluster stack cannot be found or described."""


@dataclass(frozen=True)
class ClusterInfo:
    name: str
    region: str
    endpoint: str
    certificate_authority: str  # base64 PEM, as EKS returns it


def cluster_name(stack_name: str, desc: dict[str, Any] | None) -> str:
    """The `ClusterName` output of a deployed cluster stack. Pure."""
    if desc is None:
        raise ClusterUnreachable(f"stack {stack_name} is not deployed")
    for output in desc.get("Outputs") or []:
        if output.get("OutputKey") == CLUSTER_OUTPUT and output.get("OutputValue"):
            return str(output["OutputValue"])
    raise ClusterUnreachable(f"stack {stack_name} has no {CLUSTER_OUTPUT} output")


def cluster_info(name: str, region: str, described: dict[str, Any]) -> ClusterInfo:
    """ClusterInfo from a DescribeCluster response. Pure."""
    cluster = described.get("cluster") or {}
    endpoint = cluster.get("endpoint")
    ca = (cluster.get("certificateAuthority") or {}).get("data")
    if not endpoint or not ca:
        status = cluster.get("status", "without an endpoint")
        raise ClusterUnreachable(f"EKS cluster {name} is {status}: no endpoint or CA yet")
    return ClusterInfo(name, region, str(endpoint), str(ca))


def token_from_url(presigned_url: str) -> str:
    """The EKS bearer token for a presigned GetCallerIdentity URL. Pure."""
    encoded = base64.urlsafe_b64encode(presigned_url.encode("utf-8")).decode("ascii")
    return TOKEN_PREFIX + encoded.rstrip("=")


def exec_credential(token: str, expires: datetime) -> dict[str, Any]:
    """What an exec credential plugin prints for client-go. Pure."""
    return {
        "kind": "ExecCredential",
        "apiVersion": EXEC_API,
        "spec": {},
        "status": {
            "token": token,
            "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }


def token_args(cluster: str, region: str, role_arn: str | None) -> list[str]:
    return [
        "eks-token",
        "--cluster",
        cluster,
        "--region",
        region,
        *(["--role-arn", role_arn] if role_arn else []),
    ]


def kubeconfig_document(
    cluster: ClusterInfo, role_arn: str | None, command: Sequence[str] = ("infra-bot",)
) -> dict[str, Any]:
    """A kubeconfig for one cluster whose user runs `infra-bot eks-token`. Pure."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": cluster.name,
                "cluster": {
                    "server": cluster.endpoint,
                    "certificate-authority-data": cluster.certificate_authority,
                },
            }
        ],
        "contexts": [
            {"name": cluster.name, "context": {"cluster": cluster.name, "user": KUBE_USER}}
        ],
        "current-context": cluster.name,
        "users": [
            {
                "name": KUBE_USER,
                "user": {
                    "exec": {
                        "apiVersion": EXEC_API,
                        "command": command[0],
                        "args": [*command[1:], *token_args(cluster.name, cluster.region, role_arn)],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
    }


def write_kubeconfig(document: dict[str, Any], folder: Path) -> Path:
    """`document` as YAML in `folder`, readable by the owner only."""
    path = folder / "kubeconfig"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(document, fh, sort_keys=False)
    path.chmod(0o600)  # O_CREAT's mode does not apply to a file that already existed
    return path


def token_command() -> tuple[str, ...]:
    """How helm's exec plugin starts us: the installed script, else this interpreter."""
    script = shutil.which("infra-bot")
    return (script,) if script else (sys.executable, "-m", "bot.cli")


def presigned_identity_url(sts: Any, cluster: str) -> str:
    """A presigned STS GetCallerIdentity URL with `x-k8s-aws-id: <cluster>` signed in."""

    def add_cluster_header(request: Any, **_: Any) -> None:
        request.headers[CLUSTER_HEADER] = cluster

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster_header)
    url: str = sts.generate_presigned_url(
        "get_caller_identity", Params={}, ExpiresIn=URL_EXPIRES_SECONDS, HttpMethod="GET"
    )
    return url


def eks_token(session: Any, cluster: str, target: AwsTarget, now: datetime) -> dict[str, Any]:
    """The ExecCredential for `cluster`, signed with `session`'s credentials."""
    url = presigned_identity_url(client(session, "sts", target), cluster)
    return exec_credential(token_from_url(url), now + TOKEN_LIFETIME)


@dataclass
class ClusterConnector:
    """deploy_env's `connect`: cluster stack -> a kubeconfig for its cluster in `folder`.

    No AWS call until it is called (after the stacks deployed); failures become
    ClusterUnreachable saying why. DescribeCluster and the kubeconfig's token act as the
    role for `purpose` (status reads with the plan role, deploys with the deploy role).
    """

    cfn: CloudFormationApi
    env: Environment
    target: AwsTarget
    folder: Path
    command: tuple[str, ...] = field(default_factory=token_command)
    purpose: Purpose = Purpose.DEPLOY

    def __call__(self, cluster_stack: str) -> Path:
        from botocore.exceptions import BotoCoreError, ClientError

        stack_name = self.env.stack_name(cluster_stack)
        try:
            desc = self.cfn.describe_stack(stack_name)
        except (ClientError, BotoCoreError) as exc:
            raise ClusterUnreachable(f"cannot describe stack {stack_name}: {exc}") from None
        name = cluster_name(stack_name, desc)
        try:
            session = environment_session(self.env, self.target, self.purpose)
            eks = client(session, "eks", self.target)
            described = eks.describe_cluster(name=name)
        except (ClientError, BotoCoreError) as exc:
            raise ClusterUnreachable(f"EKS DescribeCluster {name}: {exc}") from None
        info = cluster_info(name, self.target.region, described)
        folder = self.folder / cluster_stack
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        role = role_for(self.env, self.purpose)
        return write_kubeconfig(kubeconfig_document(info, role, self.command), folder)

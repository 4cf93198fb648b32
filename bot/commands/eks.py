"""`eks-token`: the exec credential plugin of the kubeconfigs bot.cloud.eks writes.

client-go (helm, kubectl) runs it whenever it needs a token and reads the
ExecCredential JSON it prints; errors go to stderr with exit code 2.
"""

from __future__ import annotations

import json
import sys

import typer

from bot.commands.common import fail


def register(app: typer.Typer) -> None:
    app.command("eks-token")(eks_token)


def eks_token(
    cluster: str = typer.Option(..., "--cluster", help="EKS cluster name."),
    region: str = typer.Option(..., "--region", help="The cluster's region."),
    role_arn: str | None = typer.Option(None, "--role-arn", help="Sign as this role."),
    endpoint_url: str | None = typer.Option(
        None, "--endpoint-url", help="STS endpoint (moto); default $AWS_ENDPOINT_URL."
    ),
) -> None:
    """Print an ExecCredential with an EKS bearer token for CLUSTER (valid 14 minutes)."""
    import os
    from datetime import UTC, datetime

    from botocore.exceptions import BotoCoreError, ClientError

    from bot.cloud import eks
    from bot.cloud.session import AwsTarget, account_of, role_session

    target = AwsTarget(region, endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None)
    try:
        session = role_session(role_arn, account_of(role_arn or ""), target)
        credential = eks.eks_token(session, cluster, target, datetime.now(UTC))
    except (ClientError, BotoCoreError) as exc:
        raise fail(f"AWS: {exc}") from None
    sys.stdout.write(json.dumps(credential) + "\n")

"""boto3 clients for one environment: the environment's account, with adaptive retries.

Credentials: with an endpoint override (moto, LocalStack) or any credentials
already in the process, we assume the environment's role through STS; in GitHub
Actions with an OIDC token file (AWS_WEB_IDENTITY_TOKEN_FILE) we exchange it for
the role directly. When the caller already is in the environment's account (the
workflow's configure-credentials step assumed the role), no assume happens.

Which role: a `Purpose`. Reading and previewing (plan, drift, status, PR clean-up,
a promotion's pre-checks on its source) use the environment's `plan_role_arn`, which
can create change sets but not execute them; changing the environment (deploy,
apply, promote's target, rollback, unlock, destroy) uses `role_arn`. So the jobs
without a GitHub environment never need the deploy roles, and each deploy role can
trust only its own environment's deploy job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.cloud.purpose import Purpose as Purpose  # noqa: PLC0414 (re-exported for callers)
from bot.github.actions import log
from bot.repo.model import Environment

SESSION_NAME = "infra-bot"


@dataclass(frozen=True)
class AwsTarget:
    """Where to send calls: a region, an optional endpoint, the attempts per call."""

    region: str
    endpoint_url: str | None = None
    max_attempts: int = 8


def client_config(max_attempts: int) -> Any:
    """Adaptive retries (client-side rate limiting after throttling); `max_attempts`
    counts the first try too (botocore's own `max_attempts` would not)."""
    from botocore.config import Config

    return Config(
        retries={"mode": "adaptive", "total_max_attempts": max_attempts},
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra="infra-bot",
    )


def target_for(environment: Environment, endpoint_url: str | None = None) -> AwsTarget:
    return AwsTarget(
        region=environment.region,
        endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
    )


def role_for(environment: Environment, purpose: Purpose) -> str | None:
    """The role to act as: the plan role for PLAN when the environment has one, else the
    deploy role (None: the process's own credentials). Pure."""
    if purpose is Purpose.PLAN and environment.plan_role_arn:
        return environment.plan_role_arn
    return environment.role_arn


def environment_session(
    environment: Environment, target: AwsTarget, purpose: Purpose = Purpose.DEPLOY
) -> Any:
    """A boto3 Session acting in the environment's account, as the role for `purpose`."""
    if purpose is Purpose.PLAN and not environment.plan_role_arn and environment.role_arn:
        log(f"{environment.name} has no plan_role_arn; planning with its deploy role")
    return role_session(role_for(environment, purpose), environment.account_id, target)


def account_of(role_arn: str) -> str:
    """The account id in `arn:aws:iam::<account>:role/<name>` ('' when there is none). Pure."""
    parts = role_arn.split(":")
    return parts[4] if len(parts) > 5 else ""


def role_session(role_arn: str | None, account_id: str, target: AwsTarget) -> Any:
    """A boto3 Session acting as `role_arn` (the process's own credentials without one)."""
    import boto3

    base = boto3.Session(region_name=target.region)
    sts = base.client(
        "sts", endpoint_url=target.endpoint_url, config=client_config(target.max_attempts)
    )
    token_file = os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE")
    if role_arn is None:
        return base
    if token_file and target.endpoint_url is None:
        creds = sts.assume_role_with_web_identity(
            RoleArn=role_arn,
            RoleSessionName=SESSION_NAME,
            WebIdentityToken=Path(token_file).read_text(encoding="utf-8").strip(),
        )["Credentials"]
    else:
        if sts.get_caller_identity()["Account"] == account_id:
            return base
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME)["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=target.region,
    )


def client(session: Any, service: str, target: AwsTarget) -> Any:
    return session.client(
        service, endpoint_url=target.endpoint_url, config=client_config(target.max_attempts)
    )


def cloudformation(
    environment: Environment, target: AwsTarget, purpose: Purpose = Purpose.DEPLOY
) -> Any:
    """A CloudFormationApi for the environment (imports boto3 only when called)."""
    from bot.cloud.adapter import Boto3CloudFormation

    return Boto3CloudFormation(
        client(environment_session(environment, target, purpose), "cloudformation", target)
    )

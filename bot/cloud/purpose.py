"""Why an environment is opened, in a module of its own so the command line can name
it without importing boto3 or the repository model (`infra-bot --help` stays fast)."""

from __future__ import annotations

from enum import StrEnum


class Purpose(StrEnum):
    """Why an environment is opened; decides the role (role_for)."""

    PLAN = "plan"  # change sets, drift, describe: plan_role_arn
    DEPLOY = "deploy"  # execute, delete, the deploy lock: role_arn

"""What `infra-bot init` writes, as {path: text}: pure, so it is table-tested and a
second run can tell what already exists. bot.commands.init does the writing."""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from bot.init.discover import FoundTemplate

DEFAULT_ENVS = ("dev", "tst", "prd")
PLACEHOLDER = "REPLACE-ME"
# A parameter of one of these names gets the environment's name, not the template's default.
ENVIRONMENT_PARAMETERS = frozenset({"Environment", "EnvironmentName", "Env", "Stage"})
# Placeholder accounts: obviously not real, one per environment, 12 digits as the
# model requires, so the files load and `plan` runs against `infra-bot local-aws`.
PLACEHOLDER_ACCOUNTS = ("111111111111", "222222222222", "333333333333")


@dataclass(frozen=True)
class Adoption:
    owner_repo: str  # OWNER/REPO, or the placeholder
    project: str
    envs: tuple[str, ...]
    templates: tuple[FoundTemplate, ...]
    helm_values: tuple[str, ...]
    action: str  # what the workflows `uses:`, e.g. OWNER/infra-bot@<sha>
    region: str = "us-east-1"


def account_for(index: int) -> str:
    return PLACEHOLDER_ACCOUNTS[index] if index < len(PLACEHOLDER_ACCOUNTS) else "1" * 12


def environment_file(a: Adoption, index: int) -> str:
    env = a.envs[index]
    account = account_for(index)
    nxt = a.envs[index + 1] if index + 1 < len(a.envs) else None
    lines = [
        f"# Environment {env}, written by `infra-bot init`.",
        f"# Every value marked {PLACEHOLDER} is a placeholder: replace it before the",
        "# first real deploy (the account id and the two roles in that account).",
        f"name: {env}",
        f'account_id: "{account}"   # {PLACEHOLDER}: the AWS account of {env}',
        f"region: {a.region}",
        "# Deploy role (executes change sets): trusts the deploy job of this environment.",
        f"role_arn: arn:aws:iam::{account}:role/infra-bot-deploy   # {PLACEHOLDER}",
        "# Plan role (change sets, drift, describe; never executes).",
        f"plan_role_arn: arn:aws:iam::{account}:role/infra-bot-plan   # {PLACEHOLDER}",
    ]
    if nxt:
        lines.append(f"next: {nxt}")
    lines += [
        f"project: {a.project}",
        "cost:",
        "  # a PR above either threshold needs /infra approve-cost",
        "  max_monthly_increase_usd: 100",
        "  max_monthly_increase_percent: 10",
    ]
    return "\n".join(lines) + "\n"


def _scalar(value: str) -> str:
    dumped: str = yaml.safe_dump(value, default_style=None, width=10_000)
    return dumped.removesuffix("\n...\n").strip()


def deployment_file(t: FoundTemplate, env: str) -> str:
    lines = [
        f"# Stack <project>-{env}-{t.stack}: a CloudFormation Git sync deployment file",
        "# written by `infra-bot init`. Values come from the template's defaults.",
    ]
    if t.required:
        lines.append("# REQUIRED parameters (no default in the template) are commented out below:")
        lines.append("# set each one, or `plan` stops with `no value for parameters`.")
    lines += [f"template-file-path: {t.path}"]
    lines.append("parameters:")
    for p in t.parameters:
        if p.default is None:
            lines.append(f'  # {p.name}: ""   # REQUIRED ({p.type}): {p.description}'.rstrip())
        else:
            value = env if p.name in ENVIRONMENT_PARAMETERS else p.default
            lines.append(f"  {p.name}: {_scalar(value)}")
    lines += ["tags:", f"  Environment: {env}"]
    return "\n".join(lines) + "\n"


SETTINGS = """\
# infra-bot settings for this repository, written by `infra-bot init`. Read from the
# DEFAULT branch only: a pull request cannot change who may deploy what by editing it.

# Environments `/infra apply <env>` may deploy to before the PR is merged.
apply_before_merge: [{first}]

# Narrow the mutating commands per environment to people or teams ("org/team-slug").
environments:
  {last}:
    users: []
    teams: []   # {placeholder}: e.g. [{owner}/platform-admins]
"""


def settings_file(a: Adoption) -> str:
    owner = a.owner_repo.split("/")[0]
    return SETTINGS.format(first=a.envs[0], last=a.envs[-1], placeholder=PLACEHOLDER,
                           owner=owner)  # fmt: skip


def files(a: Adoption) -> dict[str, str]:
    """Every file init writes, by repository-relative path. Pure."""
    from bot.init.workflows import workflow_files

    out: dict[str, str] = {}
    for index, env in enumerate(a.envs):
        out[f"environments/{env}.yaml"] = environment_file(a, index)
        for t in a.templates:
            out[f"environments/{env}/{t.stack}.yaml"] = deployment_file(t, env)
    out[".github/infra-bot.yml"] = settings_file(a)
    out.update(workflow_files(a))
    return out

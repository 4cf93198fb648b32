"""The workflows `infra-bot init` writes: each job checks out the repository (the
trusted tree) at the root, the PR head as data in pr/, and runs the infra-bot action,
which installs the bot from its own ref. No copy of the bot. Pure text."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.init.scaffold import Adoption

CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2"
AWS = "aws-actions/configure-aws-credentials@e3dd6a429d7300a6a4c196c26e071d42e0343502 # v4.0.2"
TOOLS = "          tools: 'true'\n"
SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"

TRUSTED_BASE = f"""\
      - uses: {CHECKOUT}
        with:
          # Trusted: settings, environments and rules from the base commit.
          ref: ${{{{ github.event.pull_request.base.sha }}}}
          persist-credentials: false
"""
PR_HEAD = f"""\
      - uses: {CHECKOUT}
        with:
          # Data: the PR head, read by the bot and never installed or run.
          ref: ${{{{ github.event.pull_request.head.sha }}}}
          path: pr
          fetch-depth: 0
          persist-credentials: false
"""
DEFAULT_BRANCH = f"""\
      - uses: {CHECKOUT}
        with:
          persist-credentials: false
"""


def _aws(role_var: str) -> str:
    return f"""\
      - uses: {AWS}
        with:
          role-to-assume: ${{{{ vars.{role_var} }}}}
          aws-region: ${{{{ vars.AWS_REGION || 'us-east-1' }}}}
"""


def _step(action: str, step: str, extra: str = "", app: bool = False) -> str:
    env = "          GITHUB_TOKEN: ${{ github.token }}\n"
    if app:
        env += (
            "          INFRA_BOT_APP_ID: ${{ vars.INFRA_BOT_APP_ID }}\n"
            "          INFRA_BOT_APP_PRIVATE_KEY: ${{ secrets.INFRA_BOT_APP_PRIVATE_KEY }}\n"
        )
    return (
        f"      - uses: {action}\n        id: bot\n        with:\n          step: {step}\n{extra}"
        f"        env:\n{env}"
    )


def pr_workflow(action: str) -> str:
    pr = "          working-directory: pr\n"
    validate = _step(action, "validate", pr + TOOLS)
    return f"""\
# infra-bot on pull requests (written by `infra-bot init`): validate, plan, cost.
name: infra-bot PR
on:
  pull_request:
    types: [opened, synchronize, reopened, closed]
permissions: {{}}
concurrency:
  group: infra-bot-pr-${{{{ github.event.pull_request.number }}}}
  cancel-in-progress: true
jobs:
  validate:
    if: github.event.action != 'closed' && {SAME_REPO}
    runs-on: ubuntu-24.04
    permissions:
      contents: read
      pull-requests: write
      statuses: write
    steps:
{TRUSTED_BASE}{PR_HEAD}{validate}
  plan:
    needs: validate
    if: github.event.action != 'closed' && {SAME_REPO}
    runs-on: ubuntu-24.04
    permissions:
      contents: read
      pull-requests: write
      id-token: write
    steps:
{TRUSTED_BASE}{PR_HEAD}{_aws("INFRA_BOT_PLAN_ROLE_ARN")}{_step(action, "plan", pr)}
  cost:
    needs: validate
    if: github.event.action != 'closed' && {SAME_REPO}
    runs-on: ubuntu-24.04
    permissions:
      contents: read
      pull-requests: write
    steps:
{TRUSTED_BASE}{PR_HEAD}{_step(action, "cost", pr)}
  cleanup:
    if: github.event.action == 'closed' && {SAME_REPO}
    runs-on: ubuntu-24.04
    permissions:
      contents: read
      id-token: write
    steps:
{TRUSTED_BASE}{PR_HEAD}{_aws("INFRA_BOT_PLAN_ROLE_ARN")}{_step(action, "cleanup", pr)}"""


def comment_workflow(action: str) -> str:
    head = PR_HEAD.replace(
        "ref: ${{ github.event.pull_request.head.sha }}",
        "ref: refs/pull/${{ github.event.issue.number }}/head",
    ).replace("      - uses:", "      - if: github.event.issue.pull_request\n        uses:", 1)
    data = "          working-directory: ${{ github.event.issue.pull_request && 'pr' || '' }}\n"
    step = _step(action, "command", data + TOOLS, app=True)
    return f"""\
# `/infra` commands in comments (written by `infra-bot init`). The bot and settings
# come from the default branch; a PR's files are data under pr/.
name: infra-bot command
on:
  issue_comment: # zizmor: ignore[dangerous-triggers] the PR is data, never run
    types: [created]
permissions: {{}}
jobs:
  command:
    if: startsWith(github.event.comment.body, '/infra') && github.event.comment.user.type != 'Bot'
    runs-on: ubuntu-24.04
    environment: infra-bot
    concurrency:
      group: infra-bot-command-${{{{ github.event.issue.number }}}}
      cancel-in-progress: false
    permissions:
      contents: write
      pull-requests: write
      issues: write
      statuses: write
      id-token: write
    steps:
{DEFAULT_BRANCH}{head}{_aws("INFRA_BOT_COMMAND_ROLE_ARN")}{step}"""


def drift_workflow(action: str) -> str:
    return f"""\
# Scheduled drift detection (written by `infra-bot init`): one tracking issue.
name: infra-bot drift
on:
  schedule:
    - cron: "17 5 * * 1-5"
  workflow_dispatch:
permissions: {{}}
jobs:
  drift:
    if: github.ref_name == github.event.repository.default_branch
    environment: infra-bot
    runs-on: ubuntu-24.04
    permissions:
      contents: read
      issues: write
      id-token: write
    steps:
{DEFAULT_BRANCH}{_aws("INFRA_BOT_DRIFT_ROLE_ARN")}{_step(action, "drift", app=True)}"""


def deploy_workflow(action: str, envs: tuple[str, ...]) -> str:
    jobs = []
    previous = ""
    for env in envs:
        needs = f"    needs: {previous}\n" if previous else ""
        plan_with = f"          environment: {env}\n          stage: plan\n"
        exec_with = f"          environment: {env}\n          stage: execute\n" + TOOLS
        plan_step = _step(action, "deploy", plan_with, app=True)
        exec_step = _step(action, "deploy", exec_with, app=True)
        jobs.append(f"""\
  plan-{env}:
{needs}    environment: infra-bot
    runs-on: ubuntu-24.04
    concurrency:
      group: infra-bot-plan-{env}
      cancel-in-progress: false
    permissions:
      contents: read
      id-token: write
      pull-requests: write
      deployments: write
    outputs:
      plan: ${{{{ steps.bot.outputs.plan }}}}
    steps:
{DEFAULT_BRANCH}{_aws("INFRA_BOT_PLAN_ROLE_ARN")}{plan_step}
  {env}:
    needs: plan-{env}
    environment: {env}
    runs-on: ubuntu-24.04
    concurrency:
      group: infra-bot-deploy-{env}
      cancel-in-progress: false
    permissions:
      contents: read
      id-token: write
      pull-requests: write
      issues: write
      deployments: write
    steps:
{DEFAULT_BRANCH}{_aws("INFRA_BOT_DEPLOY_ROLE_ARN")}{exec_step}\
          INFRA_BOT_ENVIRONMENT: {env}
          INFRA_BOT_PLAN: ${{{{ needs.plan-{env}.outputs.plan }}}}
""")
        previous = env
    return """\
# Deploy on push to main (written by `infra-bot init`): each environment is planned,
# then deployed by a job bound to its GitHub environment (reviewers gate it there).
name: infra-bot deploy
on:
  push:
    branches: [main]
permissions: {}
jobs:
""" + "\n".join(jobs)


def workflow_files(a: Adoption) -> dict[str, str]:
    return {
        ".github/workflows/infra-bot-pr.yml": pr_workflow(a.action),
        ".github/workflows/infra-bot-command.yml": comment_workflow(a.action),
        ".github/workflows/infra-bot-drift.yml": drift_workflow(a.action),
        ".github/workflows/infra-bot-deploy.yml": deploy_workflow(a.action, a.envs),
    }

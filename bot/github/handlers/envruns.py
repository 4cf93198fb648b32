"""What the cloud and cost handlers share: the checkout at the commit a command is about,
one EnvRun per environment, and known failures as one line saying what to fix.

A failure in one environment becomes that environment's section of the answer; the
other environments still run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from bot.cloud.session import Purpose
from bot.github.actions import log
from bot.render.text import escape_md, quote_untrusted

if TYPE_CHECKING:
    from bot.cloud.runs import EnvRun
    from bot.github.commands import CommandRequest
    from bot.repo.model import Repository
    from bot.repo.policy import Policy
    from bot.settings import Settings

T = TypeVar("T")

# Codes AWS answers when the credentials exist but may not do this.
ACCESS_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "ExpiredToken",
    "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
    "InvalidIdentityToken", "AuthFailure",
})  # fmt: skip
CONFIGURE = (
    "the job needs AWS credentials for the environment's role (`plan_role_arn` to plan and "
    "read, `role_arn` to change it, in environments/{env}.yaml): give the workflow "
    "`permissions: id-token: write` so the bot can assume it through OIDC, and let the "
    "role's trust policy accept this job"
)


@dataclass(frozen=True)
class Failed:
    """An environment the command could not run in, and why (one line, markdown-safe)."""

    env: str
    reason: str

    def markdown(self) -> str:
        return f"### `{self.env}`\n\n> [!CAUTION]\n> {self.reason}\n"


def failure_reason(env: str, exc: BaseException) -> str | None:
    """One clear line for the failures we know; None for a bug (it crashes loudly)."""
    from bot.cloud.adapter import ApiError, CloudError, error_code
    from bot.cloud.helm import HelmError
    from bot.cloud.runs import RunRefused
    from bot.repo.changes import GitError
    from bot.repo.graph import GraphError
    from bot.repo.model import RepoError

    def clean(text: str) -> str:
        return quote_untrusted(escape_md(text)).replace("\n", " ")[:1000]

    # The adapter's translated errors keep AWS's code: access problems still say
    # what to configure, whichever layer caught them.
    if isinstance(exc, ApiError) and exc.code in ACCESS_CODES:
        return f"AWS refused access ({exc.code}): {clean(str(exc))}. {CONFIGURE.format(env=env)}."
    if isinstance(exc, RunRefused | RepoError | GraphError | GitError | CloudError | HelmError):
        return clean(str(exc))
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return f"No AWS credentials in this job: {CONFIGURE.format(env=env)}."
    code = error_code(exc)
    if isinstance(exc, ClientError) and code in ACCESS_CODES:
        return f"AWS refused access ({code}): {clean(str(exc))}. {CONFIGURE.format(env=env)}."
    if isinstance(exc, ClientError | BotoCoreError):
        return f"AWS: {clean(str(exc))}"
    return None


def attempt(env: str, work: Callable[[str], T]) -> T | Failed:
    """`work(env)`, or a Failed for a known failure (logged); anything else propagates."""
    try:
        return work(env)
    except Exception as exc:
        reason = failure_reason(env, exc)
        if reason is None:
            raise
        log(f"{env}: {type(exc).__name__}: {exc}")
        return Failed(env, reason)


def owner(settings: Settings) -> str:
    """Who holds a deploy lock: this workflow run."""
    return f"github-run-{settings.run_id}" if settings.run_id else "infra-bot"


def repo_at(workspace: Path, sha: str | None, policy: Policy) -> Repository:
    """The repository at `sha`: the checkout itself when it is there (the workflow checks
    out the PR head), else that commit's tree from the checkout's history. Either way
    its environments (account, roles, region) and rules come from `policy`, the trusted
    checkout: a PR decides what is deployed, never where or as whom."""
    from bot.cloud.targets import head_commit
    from bot.repo.changes import checkout_at
    from bot.repo.model import Repository

    root = workspace.resolve()
    if sha is None or not (root / ".git").exists() or head_commit(root) == sha:
        return Repository(root, trusted=policy)
    return Repository(checkout_at(root, sha), trusted=policy)


def open_run(
    request: CommandRequest, repo: Repository, env: str, purpose: Purpose = Purpose.DEPLOY
) -> EnvRun:
    """An EnvRun in `env`'s account as the role for `purpose` (PLAN: preview and read;
    DEPLOY: change it). AWS_ENDPOINT_URL, when set, is the endpoint."""
    from bot.cloud.runs import open_env

    return open_env(repo, env, owner=owner(request.settings), purpose=purpose)


def environments(request: CommandRequest, repo: Repository) -> list[str]:
    """The environment the command names, or all of them in promotion order."""
    args = request.command.args
    return [args[0]] if args else promotion_order(repo)


def promotion_order(repo: Repository) -> list[str]:
    """dev, tst, prd: the repository lists environments in promotion order."""
    return list(repo.environments)

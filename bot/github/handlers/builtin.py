"""The commands this package runs itself: help, validate, status of the checks."""

from __future__ import annotations

import subprocess

from bot.github.commands import CommandRequest, CommandResult
from bot.github.grammar import help_text
from bot.render.text import escape_md
from bot.subproc import tool_env

STATUS_KIND = "status"


def run_help(request: CommandRequest) -> CommandResult:
    text = "**infra-bot commands** (first line of a comment):\n\n" + help_text()
    return CommandResult(True, text, summary=text)


def base_ref_for(request: CommandRequest) -> str | None:
    """`origin/<base>` when the workspace has it (cross-stack checks compare with it)."""
    if request.pr is None or not (request.workspace / ".git").exists():
        return None
    ref = f"origin/{request.pr.base_ref}"
    # The name is untrusted: passed as one argv word to git, after --end-of-options.
    probe = subprocess.run(
        ["git", "-C", str(request.workspace), "rev-parse", "--verify", "--quiet",
         "--end-of-options", f"{ref}^{{commit}}"],
        capture_output=True, check=False, env=tool_env(),
    )  # fmt: skip
    return ref if probe.returncode == 0 and not ref.startswith("-") else None


def run_validate(request: CommandRequest) -> CommandResult:
    from bot.github.validate_pr import validate_pull_request

    if request.pr is None:
        return CommandResult(False, "`validate` needs a pull request.")
    validate_pull_request(
        request.api, request.settings, request.pr, workspace=request.workspace,
        sarif_path=request.sarif_path, base_ref=base_ref_for(request), policy=request.policy,
    )  # fmt: skip
    # The review and the commit status carry the verdict; the command itself ran
    # (rocket), and a reply would be noise.
    return CommandResult(True)


def run_status(request: CommandRequest) -> CommandResult:
    """Deployments come from the cloud part when it is built in; the checks always."""
    from bot.github.commands import UnavailableError, resolve

    parts = []
    try:
        cloud = resolve("bot.github.handlers.cloud:run_status")
    except UnavailableError as exc:
        parts.append(f"_Deployment status is not available in this build: {escape_md(str(exc))}._")
    else:
        result = cloud(request)
        if result.body:
            parts.append(result.body)
    if request.pr is not None:
        statuses = request.api.commit_statuses(request.pr.head_sha)
        rows = ["| check | state | description |", "|---|---|---|"]
        rows += [
            f"| `{escape_md(s.context)}` | {s.state} | {escape_md(s.description)} |"
            for s in sorted(statuses, key=lambda s: s.context)
        ]
        head = f"**Checks on `{request.pr.head_sha[:7]}`**"
        parts.append(head + ("\n\n" + "\n".join(rows) if statuses else ": none reported yet."))
    body = "### infra-bot status\n\n" + "\n\n".join(parts)
    return CommandResult(True, body, kind=STATUS_KIND if request.pr else None)

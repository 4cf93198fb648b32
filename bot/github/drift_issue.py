"""The drift tracking issue: one open issue the bot owns, kept current by the scheduled run.

`plan_issue` is the pure decision; `sync_issue` carries it out through the API.

The issue is found by its label and by a hidden marker on the first line of its body,
and only among issues a bot opened: anyone can open an issue, label it and paste the
marker, but only the bot's own issue is edited or closed. The body is edited only when
the drift report changes, so a drift that lasts for weeks costs one read a day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.github.api import GitHubAPI, Issue
from bot.github.handlers.cloud import DriftVerdict
from bot.render.comments import GITHUB_LIMIT

LABEL = "infra-bot-drift"
MARKER = "<!-- infra-bot:drift-issue -->"
_FOOTER = "\n\n---\n_Reported "  # starts the line that changes on every edit
_CUT = "\n\n_... cut: the full report is in the job summary of the run below._"


@dataclass(frozen=True)
class Open:
    title: str
    body: str


@dataclass(frozen=True)
class Edit:
    number: int
    body: str
    close: bool = False


@dataclass(frozen=True)
class Keep:
    reason: str
    number: int | None = None


Action = Open | Edit | Keep


def marker(env: str | None) -> str:
    """One issue for the whole repository; a job bound to one environment gets its own."""
    return MARKER if env is None else MARKER.replace(" -->", f" env={env} -->")


def owned(issues: list[Issue], env: str | None) -> Issue | None:
    """The bot's open tracking issue (the oldest, if a race ever opened two)."""
    mark = marker(env)
    mine = [
        i for i in issues
        if i.author_is_bot and LABEL in i.labels and _first_line(i.body) == mark
    ]  # fmt: skip
    return min(mine, key=lambda i: i.number) if mine else None


def drift_body(env: str | None, report: str, when: datetime, run_url: str) -> str:
    run = f" by [this run]({run_url})" if run_url else ""
    footer = (
        f"{_FOOTER}{when:%Y-%m-%d %H:%M} UTC{run}. The scheduled drift run edits this issue "
        "when the report changes and closes it once every stack is back in sync "
        "(redeploy the stack, or change its template to match)._\n"
    )
    head = f"{marker(env)}\n## CloudFormation drift{_scope(env)}\n\n"
    room = GITHUB_LIMIT - len(head) - len(footer) - len(_CUT) - 100
    text = report.strip()
    if len(text) > room:
        text = text[:room].rsplit("\n", 1)[0] + _CUT
    return head + text + footer


def in_sync_body(env: str | None, when: datetime, run_url: str) -> str:
    run = f" by [this run]({run_url})" if run_url else ""
    return (
        f"{marker(env)}\n## CloudFormation drift{_scope(env)}: resolved\n\n"
        f"✓ Every stack was in sync with its template when checked at "
        f"{when:%Y-%m-%d %H:%M} UTC{run}. This issue's edit history has the last drift report.\n"
    )


def _first_line(body: str) -> str:
    return body.lstrip().split("\n", 1)[0].strip()


def _scope(env: str | None) -> str:
    return f" in `{env}`" if env else ""


def _report_part(body: str) -> str:
    """The body without the footer that says when it was written."""
    return body.rpartition(_FOOTER)[0] or body


_UNSURE = {
    DriftVerdict.FAILED: "some environment could not be checked",
    DriftVerdict.UNCHECKED: "drift detection is not available for every stack",
}


def plan_issue(
    issues: list[Issue],
    verdict: DriftVerdict,
    report: str,
    *,
    env: str | None,
    when: datetime,
    run_url: str = "",
) -> Action:
    current = owned(issues, env)
    number = current.number if current else None
    if verdict in _UNSURE:  # neither open nor close on a partial answer
        return Keep(_UNSURE[verdict], number)
    if verdict is DriftVerdict.IN_SYNC:
        if current is None:
            return Keep("no drift, and no issue is open")
        return Edit(current.number, in_sync_body(env, when, run_url), close=True)
    body = drift_body(env, report, when, run_url)
    if current is None:
        return Open(f"infra-bot: CloudFormation drift{_scope(env)}", body)
    if _report_part(current.body) == _report_part(body):
        return Keep("the report is the same", number)
    return Edit(current.number, body)


def sync_issue(
    api: GitHubAPI,
    verdict: DriftVerdict,
    report: str,
    *,
    env: str | None,
    when: datetime,
    run_url: str = "",
) -> str:
    """Carry out the plan; returns one markdown line for the job summary."""
    issues = [] if verdict is DriftVerdict.FAILED else api.list_open_issues(LABEL)
    action = plan_issue(issues, verdict, report, env=env, when=when, run_url=run_url)
    if isinstance(action, Open):
        issue = api.create_issue(action.title, action.body, [LABEL])
        missing = "" if LABEL in issue.labels else (
            f" **It lacks the `{LABEL}` label** (GitHub dropped it: the token may not set "
            "labels), so the next run will not find it; label it by hand."
        )  # fmt: skip
        return f"Opened the drift tracking issue #{issue.number}.{missing}"
    if isinstance(action, Edit):
        api.edit_issue(action.number, body=action.body, state="closed" if action.close else None)
        what = "Closed" if action.close else "Updated"
        return f"{what} the drift tracking issue #{action.number}."
    where = f" #{action.number}" if action.number else ""
    return f"Drift tracking issue{where} not changed: {action.reason}."

"""Decisions around environments: promotion pre-checks, protection, destroy, status rows.

Pure: inputs are stack descriptions and flags, outputs are verdicts and rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.cloud.drift import DriftState, StackDrift
from bot.cloud.events import Ending, ending
from bot.cloud.preview import tags_of
from bot.cloud.spec import TAG_COMMIT, TAG_HASH

PROTECTED = frozenset({"prd"})
# Set by the workflow job bound to the GitHub environment (required reviewers).
ENV_VAR_BOUND_ENVIRONMENT = "INFRA_BOT_ENVIRONMENT"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: could not be checked (said so, does not block)
    detail: str


def stack_checks(
    stacks: list[str], described: dict[str, dict[str, Any] | None]
) -> tuple[list[Check], str | None]:
    """Every stack complete at one commit -> (checks, that commit)."""
    checks: list[Check] = []
    commits: dict[str, str] = {}
    for stack in stacks:
        desc = described.get(stack)
        if desc is None:
            checks.append(Check(f"{stack} deployed", False, "not deployed"))
            continue
        status = str(desc.get("StackStatus", ""))
        commit = tags_of(desc).get(TAG_COMMIT)
        ok = ending(status) is Ending.SUCCEEDED and bool(commit)
        detail = f"{status} at {commit[:12] if commit else 'no infra-bot commit tag'}"
        checks.append(Check(f"{stack} status", ok, detail))
        if commit:
            commits[stack] = commit
    distinct = sorted(set(commits.values()))
    if len(distinct) == 1 and len(commits) == len(stacks):
        checks.append(Check("same commit", True, f"all {len(stacks)} stacks at {distinct[0][:12]}"))
        return checks, distinct[0]
    by_commit = ", ".join(
        f"{c[:12]}: {', '.join(s for s, v in commits.items() if v == c)}" for c in distinct
    )
    checks.append(Check("same commit", False, by_commit or "no deployed commit"))
    return checks, None


def content_checks(
    stacks: list[str],
    described: dict[str, dict[str, Any] | None],
    commit: str,
    expected: dict[str, tuple[str, str]],
) -> list[Check]:
    """Every stack complete and running what `commit` deploys, by content: its deployed
    template+parameters hash is the one `expected` (stack -> (version, hash)) gives.

    A stack whose files did not change since an older commit is at that older version
    and still exactly what `commit` deploys; the detail says which stacks are at the
    commit and which are unchanged since when."""
    checks: list[Check] = []
    at: list[str] = []
    since: list[str] = []
    wrong: list[str] = []
    for stack in stacks:
        desc = described.get(stack)
        if desc is None:
            checks.append(Check(f"{stack} deployed", False, "not deployed"))
            wrong.append(f"{stack} (not deployed)")
            continue
        status = str(desc.get("StackStatus", ""))
        tags = tags_of(desc)
        deployed = tags.get(TAG_COMMIT)
        ok = ending(status) is Ending.SUCCEEDED and bool(deployed)
        detail = f"{status} at {deployed[:12] if deployed else 'no infra-bot commit tag'}"
        checks.append(Check(f"{stack} status", ok, detail))
        version, digest = expected.get(stack, ("", ""))
        if not digest or tags.get(TAG_HASH) != digest:
            shown = deployed[:12] if deployed else "?"
            wrong.append(f"{stack} (runs {shown}, {commit[:12]} deploys {version[:12] or '?'})")
        elif deployed == commit:
            at.append(stack)
        else:
            since.append(f"{stack} (unchanged since {(deployed or '?')[:12]})")
    if wrong:
        checks.append(Check("same commit", False,
                            f"not what {commit[:12]} deploys: {', '.join(wrong)}"))  # fmt: skip
        return checks
    parts = [f"at {commit[:12]}: {', '.join(at)}" if at else "", ", ".join(since)]
    checks.append(Check("same commit", True, "; ".join(p for p in parts if p)))
    return checks


def drift_check(drifts: list[StackDrift]) -> Check:
    drifted = [d.stack for d in drifts if d.state is DriftState.DRIFTED]
    if drifted:
        return Check("no drift", False, "drifted: " + ", ".join(drifted))
    if any(d.state is DriftState.UNSUPPORTED for d in drifts):
        return Check("no drift", None, "drift detection is not available on this endpoint")
    failed = [d.stack for d in drifts if d.state is DriftState.FAILED]
    if failed:
        return Check("no drift", None, "detection failed for " + ", ".join(failed))
    return Check("no drift", True, f"{len(drifts)} stacks in sync")


def checks_passed_check(passed: bool | None) -> Check:
    if passed is None:
        return Check("checks passed", None, "not given (pass --checks-passed from the workflow)")
    return Check("checks passed", passed, "validation passed" if passed else "validation failed")


def promotion_allowed(checks: list[Check]) -> bool:
    return all(c.ok is not False for c in checks)


def protection_refusal(env: str, bound_env: str | None, override: bool) -> str | None:
    """Why a mutation of `env` is refused here, or None."""
    if env not in PROTECTED or override:
        return None
    if bound_env == env:
        return None
    return (
        f"{env.upper()} is changed only from a workflow job bound to the GitHub environment "
        f"'{env}' (required reviewers); this run is not ({ENV_VAR_BOUND_ENVIRONMENT}="
        f"{bound_env or 'unset'}). Use the promotion workflow, or --override-protection "
        "if you really are the break-glass operator."
    )


def confirm_phrase(env: str) -> str:
    return f"DELETE {env.upper()}"


def destroy_refusal(env: str, confirm: str | None) -> str | None:
    if env in PROTECTED:
        return f"destroy is refused for {env.upper()}: delete its stacks by hand if you must"
    if confirm != confirm_phrase(env):
        return f'destroy needs --confirm "{confirm_phrase(env)}" (typed exactly)'
    return None


@dataclass(frozen=True)
class StatusRow:
    stack: str
    stack_name: str
    status: str
    commit: str | None
    updated: datetime | None
    reason: str


def status_row(stack: str, stack_name: str, desc: dict[str, Any] | None) -> StatusRow:
    if desc is None:
        return StatusRow(stack, stack_name, "NOT_DEPLOYED", None, None, "")
    updated = desc.get("LastUpdatedTime") or desc.get("CreationTime")
    return StatusRow(
        stack,
        stack_name,
        str(desc.get("StackStatus", "")),
        tags_of(desc).get(TAG_COMMIT),
        updated if isinstance(updated, datetime) else None,
        str(desc.get("StackStatusReason") or ""),
    )


def age(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "-"
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"

"""Markdown for change-set previews, deploy results, drift, status and promotion checks.

Pure functions over the dataclasses of bot.cloud; every value that came from AWS
(reasons, property values) is escaped and cut, since a template author controls it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.cloud.deployer import Result, StackResult
from bot.cloud.drift import DriftState, StackDrift
from bot.cloud.events import FailedResource
from bot.cloud.helm import ReleaseResult, ReleaseState, ReleaseStatus
from bot.cloud.policy import Check, StatusRow, age
from bot.cloud.preview import Outcome, PropertyChange, ResourceChange, StackPreview
from bot.render.comments import fold
from bot.render.text import escape_md, quote_untrusted

if TYPE_CHECKING:  # for annotations only: the renderer stays free of the I/O modules
    from bot.cloud.runs import PromotionOutcome, RollbackOutcome

VALUE_LIMIT = 300
# A chart's CRDs make diffs of thousands of lines; the comment keeps the start.
DIFF_LIMIT = 20_000
ACTION_ORDER = ("Add", "Modify", "Remove", "Import", "Dynamic")


def _clean(text: str | None, limit: int = VALUE_LIMIT) -> str:
    if text is None:
        return "—"
    text = quote_untrusted(escape_md(str(text))).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + " …"


def _code(text: str | None) -> str:
    if text is None:
        return "—"
    # Backticks inside the value would end the code span early.
    return "`" + _clean(text).replace("`", "'") + "`"


def replacement_label(change: ResourceChange) -> str:
    if change.action == "Remove":
        return "**deleted**"
    if change.replacement == "True":
        return "**replaced**"
    if change.replacement == "Conditional":
        return "**may be replaced**"
    return "no" if change.action == "Modify" else "—"


def change_flags(change: ResourceChange) -> str:
    if change.data_loss:
        return "🛑 **stateful: data loss**"
    if change.destructive:
        return "⚠️ destructive"
    return ""


def _property_lines(props: tuple[PropertyChange, ...]) -> list[str]:
    lines = ["| property | change | recreation | before | after |", "|---|---|---|---|---|"]
    for p in props:
        recreation = {"Always": "**always**", "Conditionally": "**conditionally**"}.get(
            p.requires_recreation, p.requires_recreation.lower() or "—"
        )
        lines.append(
            f"| {_code(p.path)} | {p.change_type} | {recreation} | "
            f"{_code(p.before)} | {_code(p.after)} |"
        )
    return lines


def _counts(preview: StackPreview) -> str:
    counts = preview.counts()
    parts = [f"{counts[a]} {a.lower()}" for a in ACTION_ORDER if counts.get(a)]
    replaced = sum(1 for c in preview.changes if c.replaces)
    if replaced:
        parts.append(f"{replaced} replaced")
    return ", ".join(parts) or "parameters or tags only"


def preview_summary(preview: StackPreview) -> str:
    if preview.outcome is Outcome.CHANGES:
        return _counts(preview)
    if preview.outcome is Outcome.NO_CHANGES:
        return "no changes (change set deleted)"
    if preview.outcome is Outcome.BLOCKED:
        return f"blocked: {preview.stack_status}"
    return "change set failed"


def stack_preview_md(preview: StackPreview) -> str:
    kind = preview.change_set_type or "-"
    title = f"#### `{preview.stack_name}` ({kind}): {preview_summary(preview)}"
    lines = [title, ""]
    if preview.outcome is Outcome.BLOCKED:
        lines.append(f"> [!WARNING]\n> {_clean(preview.advice, 1000)}")
        return "\n".join(lines)
    if preview.outcome is Outcome.FAILED:
        lines.append(f"> [!CAUTION]\n> {_clean(preview.reason, 1000)}")
        if preview.advice:
            lines.append(f">\n> {_clean(preview.advice, 1000)}")
        return "\n".join(lines)
    if preview.outcome is Outcome.NO_CHANGES:
        return "\n".join(lines[:1])
    if not preview.changes:  # a change set of parameters or tags only: no resource rows
        return "\n".join(lines[:1])
    loss = preview.data_loss
    if loss:
        names = ", ".join(f"`{c.logical_id}` ({c.resource_type})" for c in loss)
        lines += [
            f"> [!CAUTION]\n> 🛑 **Stateful resources will be deleted or replaced: {names}.** "
            "Their data does not move to the new resource. Check DeletionPolicy / "
            "UpdateReplacePolicy and backups before you merge.",
            "",
        ]
    elif preview.destructive:
        lines += ["> [!WARNING]\n> ⚠️ Some resources will be deleted or replaced.", ""]
    order = {a: i for i, a in enumerate(ACTION_ORDER)}
    changes = sorted(preview.changes, key=lambda c: (not c.destructive, order.get(c.action, 9)))
    table = ["| action | logical id | type | replacement | |", "|---|---|---|---|---|"]
    table += [
        f"| {c.action} | `{_clean(c.logical_id)}` | `{c.resource_type}` | "
        f"{replacement_label(c)} | {change_flags(c)} |"
        for c in changes
    ]
    # A long table folds; the warnings above stay visible, destructive rows come first.
    lines.append(
        fold("\n".join(table), f"{len(changes)} resource changes", open_=bool(preview.destructive))
    )
    detailed = [c for c in changes if c.properties]
    for c in detailed:
        lines += [
            "",
            fold(
                "\n".join(_property_lines(c.properties)),
                f"{c.logical_id}: {len(c.properties)} property change(s)",
                open_=c.destructive,
            ),
        ]
    return "\n".join(lines)


def plan_markdown(env: str, commit: str, previews: list[StackPreview]) -> str:
    changed = [p for p in previews if p.outcome is Outcome.CHANGES]
    loss = sum(len(p.data_loss) for p in previews)
    head = [f"### Change sets for `{env}` at `{commit[:12]}`", ""]
    if loss:
        head += [
            f"**🛑 {loss} stateful resource(s) deleted or replaced — read before merging.**",
            "",
        ]
    head += ["| stack | change set | preview |", "|---|---|---|"]
    for p in previews:
        shown = p.change_set if p.change_set and p.outcome is Outcome.CHANGES else None
        head.append(f"| `{p.stack}` | {f'`{shown}`' if shown else '—'} | {preview_summary(p)} |")
    head.append("")
    head.append(f"{len(changed)} of {len(previews)} stacks change.")
    body = [stack_preview_md(p) for p in previews if p.outcome is not Outcome.NO_CHANGES]
    stale = [n for p in previews for n in p.deleted_stale]
    tail = [f"Deleted {len(stale)} stale change set(s) of older plans."] if stale else []
    return "\n\n".join(["\n".join(head), *body, *tail]) + "\n"


RESULT_ICON = {
    Result.DEPLOYED: "✅",
    Result.UNCHANGED: "=",
    Result.SKIPPED: "⏭️",
    Result.ROLLED_BACK: "↩️",
}


def deploy_markdown(
    env: str, commit: str, results: list[StackResult], releases: list[ReleaseResult] | None = None
) -> str:
    ok = all(r.result.ok for r in results) and all(r.ok for r in releases or [])
    idle = bool(results) and not releases and all(r.result is Result.UNCHANGED for r in results)
    verdict = "nothing to deploy" if ok and idle else "succeeded" if ok else "FAILED"
    lines = [f"### Deploy to `{env}` at `{commit[:12]}`: {verdict}", ""]
    if ok and idle:
        lines += [f"Every stack already runs what `{commit[:12]}` deploys.", ""]
    lines += ["| stack | result | detail |", "|---|---|---|"]
    for r in results:
        icon = RESULT_ICON.get(r.result, "❌")
        lines.append(f"| `{r.stack}` | {icon} {r.result.value} | {_clean(r.message, 500)} |")
    for r in results:
        if not r.result.ok and (r.failures or r.advice):
            lines += _failure_lines(r)
    lines += _release_lines(releases or [])
    return "\n".join(lines) + "\n"


def _failure_row(f: FailedResource) -> str:
    return (
        f"| `{_clean(f.logical_id)}` | `{f.resource_type}` | {f.status} | {_clean(f.reason, 800)} |"
    )


def _failure_lines(r: StackResult) -> list[str]:
    """Why a stack failed: its first failing resource (the root cause), the others
    folded, then what to do about the usual causes."""
    head = {
        Result.ROLLED_BACK: "CloudFormation rolled the stack back to its previous state.",
        Result.BLOCKED: "the stack must be repaired before it can deploy.",
    }.get(r.result, "the stack needs attention.")
    if r.final_status == "REVIEW_IN_PROGRESS":
        # A first create refused before it started: nothing exists to repair.
        head = "nothing was created; fix the cause and deploy again."
    lines = ["", f"**{r.stack_name}** {r.final_status or r.result.value}: {head}"]
    if r.failures:
        table = ["| resource | type | status | reason |", "|---|---|---|---|"]
        lines += ["", *table, _failure_row(r.failures[0])]
        if len(r.failures) > 1:
            rest = "\n".join([*table, *(_failure_row(f) for f in r.failures[1:])])
            lines += ["", fold(rest, f"{len(r.failures) - 1} more failed resource(s)",
                               max_lines=0)]  # fmt: skip
    if r.advice:
        lines += ["", "What to do:", *(f"- {_clean(a, 600)}" for a in r.advice)]
    return lines


def _release_lines(releases: list[ReleaseResult]) -> list[str]:
    """One line per Helm release; its rendered diff folded below it."""
    lines: list[str] = []
    for rel in releases:
        icon = "⏭️" if rel.skipped and rel.ok else "✅" if rel.ok else "❌"
        lines += ["", f"Helm release `{rel.release}`: {icon} {_clean(rel.message, 500)}"]
        if rel.diff:
            diff = rel.diff.rstrip()
            if len(diff) > DIFF_LIMIT:
                diff = diff[:DIFF_LIMIT] + f"\n… ({len(rel.diff) - DIFF_LIMIT:,} more characters)"
            # A rendered chart may hold backticks: the fence is longer than any run of them.
            fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", diff)), default=0))
            body = f"{fence}diff\n{diff}\n{fence}"
            lines += ["", fold(body, f"{escape_md(rel.release)}: rendered diff", max_lines=0)]
    return lines


def drift_markdown(env: str, drifts: list[StackDrift]) -> str:
    lines = [f"### Drift in `{env}`", ""]
    for d in drifts:
        if d.state is DriftState.DRIFTED:
            lines.append(f"**`{d.stack_name}`**: ⚠️ DRIFT DETECTED ({len(d.resources)} resource(s))")
            for r in d.resources:
                lines += ["", f"- `{_clean(r.logical_id)}` ({r.resource_type}): **{r.status}**"]
                if r.properties:
                    lines += [
                        "",
                        "  | property | difference | expected | actual |",
                        "  |---|---|---|---|",
                    ]
                    lines += [
                        f"  | {_code(p.path)} | {p.kind} | {_code(p.expected)} | "
                        f"{_code(p.actual)} |"
                        for p in r.properties
                    ]
        elif d.state is DriftState.IN_SYNC:
            lines.append(f"**`{d.stack_name}`**: ✓ no drift detected")
        elif d.state is DriftState.UNSUPPORTED:
            lines.append(
                f"**`{d.stack_name}`**: drift detection is not available here "
                f"({_clean(d.detail)}); nothing was checked."
            )
        else:
            lines.append(
                f"**`{d.stack_name}`**: {d.state.value}"
                + (f" ({_clean(d.detail)})" if d.detail else "")
            )
        lines.append("")
    return "\n".join(lines)


def status_markdown(
    env: str, rows: list[StatusRow], releases: list[ReleaseStatus], now: datetime
) -> str:
    lines = [
        f"### Status of `{env}`",
        "",
        "| stack | status | deployed commit | age |",
        "|---|---|---|---|",
    ]
    for r in rows:
        note = f" ({_clean(r.reason, 200)})" if r.reason else ""
        lines.append(
            f"| `{r.stack_name}` | {r.status}{note} | "
            f"{f'`{r.commit[:12]}`' if r.commit else '—'} | {age(r.updated, now)} |"
        )
    return "\n".join(lines + _release_status_lines(releases, now)) + "\n"


def _release_status_lines(releases: list[ReleaseStatus], now: datetime) -> list[str]:
    """A table of the releases helm could list; one line per cluster stack it could not."""
    table = [
        "| release | chart version | status | revision | last deployed |",
        "|---|---|---|---|---|",
    ]
    unknown: list[str] = []
    for group in releases:
        names = ", ".join(f"`{escape_md(r)}`" for r in group.wanted)
        if group.unknown:
            unknown.append(
                f"Helm releases {names} (cluster stack `{group.cluster_stack}`): "
                f"state unknown, {_clean(group.unknown, 400)}"
            )
            continue
        for name, version in group.wanted.items():
            table.append(_release_row(name, version, group.states.get(name), now))
    lines = ["", *table] if len(table) > 2 else []
    return lines + [line for u in unknown for line in ("", u)]


def _release_row(name: str, wanted: str, state: ReleaseState | None, now: datetime) -> str:
    if state is None:
        pinned = f"— (repository pins {_clean(wanted)})"
        return f"| `{escape_md(name)}` | {pinned} | not installed | — | — |"
    version = _clean(state.chart_version)
    if state.chart_version != wanted:
        version += f" (repository pins {_clean(wanted)})"
    when = "—"
    if state.updated is not None:
        when = f"{state.updated.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({age(state.updated, now)} ago)"
    return (
        f"| `{escape_md(name)}` | {version} | {_clean(state.status)} | "
        f"{_clean(state.revision)} | {when} |"
    )


def checks_markdown(title: str, checks: list[Check]) -> str:
    icon = {True: "✓", False: "✗", None: "?"}
    lines = [f"{title}:", ""]
    lines += [f"- {icon[c.ok]} {c.name}: {_clean(c.detail, 500)}" for c in checks]
    return "\n".join(lines) + "\n"


def promotion_markdown(outcome: PromotionOutcome) -> str:
    """Pre-checks of the source, then the target's deploy (or why it did not start)."""
    title = f"Promotion {outcome.source} -> {outcome.target}: pre-checks"
    text = checks_markdown(title, outcome.checks)
    if not outcome.allowed:
        return text + "\nPromotion refused: a pre-check failed.\n"
    if outcome.commit and outcome.results:
        text += "\n" + deploy_markdown(
            outcome.target, outcome.commit, outcome.results, outcome.releases
        )
    return text


def rollback_markdown(env: str, outcome: RollbackOutcome) -> str:
    current = outcome.current[:12] if outcome.current else "unknown"
    text = (
        f"### Rollback of `{outcome.stack}` in `{env}`\n\nCurrent version: `{current}`\n"
        f"Rolling back to: `{outcome.target[:12]}`\n\n{stack_preview_md(outcome.preview)}\n"
    )
    if outcome.result:
        text += "\n" + deploy_markdown(env, outcome.target, [outcome.result])
    return text


def event_line(stack_name: str, line: str) -> str:
    """One plain line per stack event (GitHub Actions logs, pipes)."""
    return f"[{stack_name}] {quote_untrusted(line)}"

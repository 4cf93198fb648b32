"""Is this change set the one that was reviewed? Compared by content, not by name.

Anyone allowed CreateChangeSet on a stack (every plan role) can create a change set
named `infra-bot-<commit>-<hash>` with our description and another template, so a
name or a description is no identity. Before a change set is executed, or reused
by a plan, its template (GetTemplate, stage Original), parameters, tags,
capabilities, service role and notification topics are compared with what the
reviewed spec would create. Pure: takes the API's answers, returns the differences.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.cloud.spec import StackSpec

# What DescribeChangeSet shows instead of a NoEcho parameter's value.
MASKED = "****"


@dataclass(frozen=True)
class Mismatch:
    """One part of a change set that is not what the spec would create."""

    part: str  # template | parameters | tags | capabilities | stack | service role ...
    detail: str


def _template(body: Any) -> Any:
    """GetTemplate's TemplateBody as data: botocore decodes JSON to a dict, else a string."""
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return json.loads(json.dumps(body))


def _declared(spec: StackSpec) -> dict[str, Any]:
    params = json.loads(spec.body).get("Parameters") or {}
    return params if isinstance(params, dict) else {}


def _parameter_mismatch(spec: StackSpec, listed: list[dict[str, Any]]) -> str | None:
    """CloudFormation lists defaulted parameters too; a NoEcho one shows as ****."""
    declared = _declared(spec)
    want = dict(spec.parameters)
    got = {str(p.get("ParameterKey")): p.get("ParameterValue") for p in listed}
    wrong: list[str] = []
    for key in sorted(set(want) | set(got)):
        found = declared.get(key)
        decl: dict[str, Any] = found if isinstance(found, dict) else {}
        expected = want.get(key, decl.get("Default"))
        value = got.get(key, expected if key not in want else None)
        if value == MASKED and decl.get("NoEcho") in {True, "true", "True"}:
            continue
        if key not in declared or value is None or str(value) != str(expected):
            wrong.append(key)
    return f"{', '.join(wrong)} differ" if wrong else None


def _tags_of(listed: list[dict[str, Any]] | None) -> dict[str, str]:
    return {str(t.get("Key")): str(t.get("Value")) for t in listed or []}


def content_mismatches(
    spec: StackSpec, desc: dict[str, Any], template: Any, expected_tags: dict[str, str]
) -> list[Mismatch]:
    """Every way the change set (`desc`, its Original `template`) differs from `spec`
    created with `expected_tags`; empty when it is exactly what the spec would create."""
    out: list[Mismatch] = []
    if desc.get("StackName") != spec.stack_name:
        out.append(Mismatch("stack", f"it belongs to {desc.get('StackName')!r}"))
    if _template(template) != json.loads(spec.body):
        out.append(Mismatch("template", f"it is not {spec.template_path} at {spec.commit[:12]}"))
    problem = _parameter_mismatch(spec, list(desc.get("Parameters") or []))
    if problem:
        out.append(Mismatch("parameters", problem))
    got = _tags_of(desc.get("Tags"))
    if got != expected_tags:
        keys = sorted(k for k in {*got, *expected_tags} if got.get(k) != expected_tags.get(k))
        out.append(Mismatch("tags", f"{', '.join(keys)} differ"))
    caps = set(desc.get("Capabilities") or [])
    if caps != set(spec.capabilities):
        shown = ", ".join(sorted(caps)) or "none"
        out.append(Mismatch("capabilities", f"{shown}; reviewed: "
                            f"{', '.join(spec.capabilities) or 'none'}"))  # fmt: skip
    if desc.get("RoleARN"):
        out.append(Mismatch("service role", f"it runs as {desc['RoleARN']}; infra-bot sets none"))
    if desc.get("NotificationARNs"):
        out.append(Mismatch("notifications", "it notifies topics infra-bot never sets"))
    return out


def describe_mismatches(spec: StackSpec, change_set: str, found: list[Mismatch]) -> str:
    """One line naming the stack, the change set and what differs."""
    parts = "; ".join(f"{m.part}: {m.detail}" for m in found)
    names = ", ".join(m.part for m in found)
    return (
        f"{spec.stack_name}: change set {change_set} is not what was reviewed ({names} differ "
        f"from commit {spec.commit[:12]}: {parts}). Refusing to execute it; someone other "
        "than infra-bot created or changed it. Delete it, find out who, and plan again."
    )


def runs_spec(spec: StackSpec, stack: dict[str, Any], template: Any) -> bool:
    """Does the stack (DescribeStacks, GetTemplate Original) already run exactly what
    `spec` deploys: template, parameters, the deployment file's tags, capabilities?
    infra-bot's own tags are left out: they name a commit, not a content."""
    if stack.get("StackName") != spec.stack_name or _template(template) != json.loads(spec.body):
        return False
    if _parameter_mismatch(spec, list(stack.get("Parameters") or [])):
        return False
    own = {k: v for k, v in _tags_of(stack.get("Tags")).items() if not k.startswith("infra-bot:")}
    return own == dict(spec.tags)

"""A plan as published for review: environment, commit and the change set id per stack.

The plan job writes it (job output, the GitHub deployment's payload, a hidden line in
the comment); the approved job and `/infra apply` read it back and execute only those
change sets (bot.cloud.deployer pins), each verified by content again. Pure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from bot.cloud.preview import Outcome, StackPreview

_SHA = re.compile(r"^[0-9a-f]{40}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_ARN = re.compile(
    r"^arn:aws[a-z-]*:cloudformation:[a-z0-9-]+:\d{12}:changeSet/[A-Za-z0-9-]+/[0-9a-f-]+$"
)
_MARK = re.compile(r"<!-- infra-bot:plan-ids (?P<json>\{[^<>]*\}) -->")
MAX_TEXT = 20_000


class PlanFormatError(ValueError):
    """The published plan cannot be read; nothing is executed."""


@dataclass(frozen=True)
class PublishedPlan:
    env: str
    commit: str
    change_sets: dict[str, str]  # stack -> ChangeSetId; stacks with nothing to run absent

    def to_json(self) -> str:
        data = {"env": self.env, "commit": self.commit, "change_sets": self.change_sets}
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def marker(self) -> str:
        """The hidden line a comment carries, for `/infra apply` to read back."""
        return f"<!-- infra-bot:plan-ids {self.to_json()} -->"


def from_previews(env: str, commit: str, previews: list[StackPreview]) -> PublishedPlan:
    ids = {
        p.stack: p.change_set_id
        for p in previews
        if p.outcome is Outcome.CHANGES and p.change_set_id
    }
    return PublishedPlan(env, commit, dict(sorted(ids.items())))


def parse_plan(text: str) -> PublishedPlan:
    """A plan from its JSON; PlanFormatError saying what is wrong."""
    if len(text) > MAX_TEXT:
        raise PlanFormatError(f"the plan is {len(text)} characters, over {MAX_TEXT}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFormatError(f"the plan is not JSON ({exc.msg})") from None
    if not isinstance(data, dict) or set(data) != {"env", "commit", "change_sets"}:
        raise PlanFormatError("the plan needs exactly env, commit and change_sets")
    env, commit, sets = data["env"], data["commit"], data["change_sets"]
    if not isinstance(env, str) or not _NAME.match(env):
        raise PlanFormatError("the plan's env is not an environment name")
    if not isinstance(commit, str) or not _SHA.match(commit):
        raise PlanFormatError("the plan's commit is not a 40-digit commit id")
    if not isinstance(sets, dict) or not all(
        isinstance(k, str) and _NAME.match(k) and isinstance(v, str) and _ARN.match(v)
        for k, v in sets.items()
    ):
        raise PlanFormatError("the plan's change_sets must map stack names to change set ARNs")
    return PublishedPlan(env, commit, dict(sorted(sets.items())))


def plans_in(body: str) -> list[PublishedPlan]:
    """The plans a comment body carries (one per environment); unreadable ones left out."""
    out: list[PublishedPlan] = []
    for match in _MARK.finditer(body):
        try:
            out.append(parse_plan(match["json"]))
        except PlanFormatError:
            continue
    return out

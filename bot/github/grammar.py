"""The `/infra` command grammar (DESIGN.md section 3): comment text -> typed command.

Pure: no I/O. A comment is a command only if its first line starts with
`/infra`; that line is split into words with shell-like quoting rules (never
through a shell) and matched against the allowlist below. Anything else is
either ignored (not a command) or answered with a short error and the help.
"""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass
from enum import StrEnum

from bot.github.api import Permission
from bot.render.text import strip_controls

PREFIX = "/infra"
# GitHub caps comment bodies at 65,536 characters; reading past that is waste,
# and a 5 MB body (from a review, a dispatch input or a hostile fake) stays cheap.
MAX_BODY_CHARS = 65_536
MAX_LINE_CHARS = 1_000
MAX_CONTEXT_CHARS = 8_000
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class Verb(StrEnum):
    GENERATE = "generate"
    HELP = "help"
    VALIDATE = "validate"
    PLAN = "plan"
    COST = "cost"
    APPLY = "apply"
    PROMOTE = "promote"
    DRIFT = "drift"
    STATUS = "status"
    ROLLBACK = "rollback"
    APPROVE_COST = "approve-cost"
    UNLOCK = "unlock"


class Where(StrEnum):
    ISSUE = "issue"
    PR = "pr"
    DISPATCH = "dispatch"  # workflow_dispatch input: no thread to answer in


class Arg(StrEnum):
    ENV = "env"
    STACK = "stack"


@dataclass(frozen=True)
class Spec:
    verb: Verb
    usage: str
    summary: str
    where: frozenset[Where]
    who: Permission
    # Changes state in AWS or the repository, or uses the deploy role: never for forks.
    mutating: bool
    required: tuple[Arg, ...] = ()
    optional: tuple[Arg, ...] = ()


_ANY = frozenset(Where)
_PR = frozenset({Where.PR})
_ISSUE_OR_PR = frozenset({Where.ISSUE, Where.PR})
_ISSUE_PR = frozenset({Where.ISSUE, Where.PR, Where.DISPATCH})

SPECS: dict[Verb, Spec] = {
    s.verb: s
    for s in (
        Spec(
            Verb.GENERATE,
            "/infra <what you want>",
            "on an issue: generate a change as a pull request; "
            "on an infra-bot PR: revise it (one more commit on its branch)",
            _ISSUE_OR_PR,
            Permission.WRITE,
            True,
        ),
        Spec(Verb.HELP, "/infra help", "this list", _ANY, Permission.NONE, False),
        Spec(
            Verb.VALIDATE,
            "/infra validate",
            "re-run the checks and update the review",
            _PR,
            Permission.TRIAGE,
            False,
        ),
        Spec(
            Verb.PLAN,
            "/infra plan [env]",
            "(re)create the change-set previews",
            _PR,
            Permission.WRITE,
            True,
            optional=(Arg.ENV,),
        ),
        Spec(
            Verb.COST,
            "/infra cost [env]",
            "monthly cost delta",
            _PR,
            Permission.TRIAGE,
            False,
            optional=(Arg.ENV,),
        ),
        Spec(
            Verb.APPLY,
            "/infra apply <env>",
            "deploy the reviewed change sets before merge",
            _PR,
            Permission.WRITE,
            True,
            required=(Arg.ENV,),
        ),
        Spec(
            Verb.PROMOTE,
            "/infra promote <from> <to>",
            "re-run a promotion",
            _ISSUE_PR,
            Permission.WRITE,
            True,
            required=(Arg.ENV, Arg.ENV),
        ),
        Spec(
            Verb.DRIFT,
            "/infra drift [env]",
            "drift report",
            _ANY,
            Permission.TRIAGE,
            False,
            optional=(Arg.ENV,),
        ),
        Spec(
            Verb.STATUS,
            "/infra status [env]",
            "stacks, releases and checks with their status",
            _ANY,
            Permission.NONE,
            False,
            optional=(Arg.ENV,),
        ),
        Spec(
            Verb.ROLLBACK,
            "/infra rollback <env> <stack>",
            "redeploy the last successful template of a stack",
            _ISSUE_PR,
            Permission.WRITE,
            True,
            required=(Arg.ENV, Arg.STACK),
        ),
        Spec(
            Verb.APPROVE_COST,
            "/infra approve-cost <env>",
            "accept a cost increase above the environment's threshold",
            _PR,
            Permission.WRITE,
            True,
            required=(Arg.ENV,),
        ),
        Spec(
            Verb.UNLOCK,
            "/infra unlock <env>",
            "release a stuck deploy lock",
            _PR,
            Permission.WRITE,
            True,
            required=(Arg.ENV,),
        ),
    )
}


@dataclass(frozen=True)
class Command:
    verb: Verb
    args: tuple[str, ...] = ()
    text: str = ""  # generate: the request, first line
    context: str = ""  # generate: the rest of the comment, bounded

    @property
    def spec(self) -> Spec:
        return SPECS[self.verb]

    @property
    def environments(self) -> tuple[str, ...]:
        kinds = (*self.spec.required, *self.spec.optional)
        return tuple(a for a, k in zip(self.args, kinds, strict=False) if k is Arg.ENV)

    def __str__(self) -> str:
        if self.verb is Verb.GENERATE:
            return PREFIX
        return " ".join((PREFIX, self.verb.value, *self.args))


@dataclass(frozen=True)
class ParseError:
    message: str


def first_line(body: str) -> str:
    head = body[:MAX_BODY_CHARS].lstrip("\ufeff \t\r\n")
    return head.split("\n", 1)[0].rstrip("\r")


def is_command(body: str) -> bool:
    line = first_line(body)
    return line == PREFIX or line.startswith((PREFIX + " ", PREFIX + "\t"))


def parse(
    body: str, where: Where, environments: frozenset[str] = frozenset()
) -> Command | ParseError | None:
    """None if the comment is not a command; otherwise a Command or a ParseError."""
    if not is_command(body):
        return None
    line = first_line(body)
    if len(line) > MAX_LINE_CHARS:
        return ParseError(f"the command line is longer than {MAX_LINE_CHARS} characters")
    rest = strip_controls(line[len(PREFIX) :]).strip()
    if not rest:
        return ParseError("`/infra` needs a command")
    first = rest.split(maxsplit=1)[0]
    verb = _verb(first)
    if verb is None:
        return _free_text(first, rest, body, where)
    return _known(verb, rest, where, environments)


def _free_text(first: str, rest: str, body: str, where: Where) -> Command | ParseError:
    # Free text is a request, not words: it is never split (quotes in it are prose).
    # On an issue it asks for a new PR; on a PR, for a revision of that PR. One
    # word, or a near-miss of a command with arguments that fit it ("plna dev"),
    # is a mistyped command: answered with a hint, never guessed into a request.
    words = rest.split()
    if where in SPECS[Verb.GENERATE].where and len(words) > 1:
        return _unknown(first, where) if _mistyped(first, words[1:]) else _generate(rest, body)
    return _unknown(first, where)


def _mistyped(first: str, args: list[str]) -> bool:
    close = _close_verb(first)
    if close is None:
        return False
    spec = SPECS[close]
    fits = len(args) <= len(spec.required) + len(spec.optional)
    return fits and all(_NAME.match(a) for a in args)


# Words people bring from other tools (Atlantis, Digger, plain English) for our verbs:
# "/infra deploy prd" is a mistyped `apply`, never a change request.
ALIASES = {
    "deploy": Verb.APPLY, "diff": Verb.PLAN, "preview": Verb.PLAN, "approve": Verb.APPROVE_COST,
    "check": Verb.VALIDATE, "lint": Verb.VALIDATE, "estimate": Verb.COST,
    "revert": Verb.ROLLBACK, "undo": Verb.ROLLBACK, "release": Verb.UNLOCK,
}  # fmt: skip


def _close_verb(word: str) -> Verb | None:
    if word.lower() in ALIASES:
        return ALIASES[word.lower()]
    names = [v.value for v in Verb if v is not Verb.GENERATE]
    close = difflib.get_close_matches(word.lower(), names, n=1)
    return Verb(close[0]) if close else None


def _known(
    verb: Verb, rest: str, where: Where, environments: frozenset[str]
) -> Command | ParseError:
    spec = SPECS[verb]
    parsed = _command(spec, rest, where, environments)
    too_many = len(rest.split()) - 1 > len(spec.required) + len(spec.optional)
    if isinstance(parsed, ParseError) and too_many and where in SPECS[Verb.GENERATE].where:
        # "/infra apply the review comments" is `apply` with bad arguments, never a
        # guess at a change request; say how to phrase one.
        return ParseError(
            f"{parsed.message}. `{verb.value}` is a command: to describe a change in "
            "words, start with another word"
        )
    return parsed


def _command(
    spec: Spec, rest: str, where: Where, environments: frozenset[str]
) -> Command | ParseError:
    if where not in spec.where:
        places = " or ".join(
            sorted(
                "a pull request" if w is Where.PR else f"an {w.value}"
                for w in spec.where
                if w is not Where.DISPATCH
            )
        )
        return ParseError(f"`{spec.usage}` works on {places} only")
    try:
        words = shlex.split(rest, comments=False, posix=True)
    except ValueError as exc:  # unbalanced quotes
        return ParseError(f"cannot split the command into words: {exc}")
    return _args(spec, tuple(words[1:]), environments)


def _verb(word: str) -> Verb | None:
    if not word.isascii():  # "unloc\u212a".lower() == "unlock": what runs is what reads
        return None
    try:
        verb = Verb(word.lower())
    except ValueError:
        return None
    return None if verb is Verb.GENERATE else verb


def _generate(rest: str, body: str) -> Command:
    tail = body[:MAX_BODY_CHARS].split("\n", 1)
    context = tail[1].strip()[:MAX_CONTEXT_CHARS] if len(tail) > 1 else ""
    return Command(Verb.GENERATE, text=rest, context=strip_controls(context))


def _unknown(word: str, where: Where) -> ParseError:
    close = _close_verb(word)
    hint = f" Did you mean `{close.value}`?" if close else ""
    shown = word[:40]
    if where is Where.ISSUE:
        return ParseError(
            f"unknown command `{shown}`.{hint} To ask for a change, "
            "describe it in a few words after `/infra`."
        )
    if where is Where.PR:
        return ParseError(
            f"unknown command `{shown}`.{hint} To revise an infra-bot pull request, "
            "describe the change in a few words after `/infra`."
        )
    return ParseError(f"unknown command `{shown}`.{hint}")


def _args(spec: Spec, args: tuple[str, ...], environments: frozenset[str]) -> Command | ParseError:
    low, high = len(spec.required), len(spec.required) + len(spec.optional)
    if not low <= len(args) <= high:
        return ParseError(f"usage: `{spec.usage}`")
    for value, kind in zip(args, (*spec.required, *spec.optional), strict=False):
        if not _NAME.match(value):
            shown = value[:40].replace("`", "'")
            return ParseError(f"`{shown}` is not a valid {kind.value} name (usage: `{spec.usage}`)")
        if kind is Arg.ENV and environments and value not in environments:
            known = ", ".join(sorted(environments))
            return ParseError(f"unknown environment `{value}`; this repository has {known}")
    return Command(spec.verb, args)


def help_text(where: Where | None = None) -> str:
    rows = ["| command | where | who | what |", "|---|---|---|---|"]
    for spec in SPECS.values():
        if where is not None and where not in spec.where:
            continue
        places = ", ".join(
            sorted(
                "PR" if w is Where.PR else w.value for w in spec.where if w is not Where.DISPATCH
            )
        )
        who = "anyone" if spec.who is Permission.NONE else f"{spec.who.name.lower()}+"
        rows.append(f"| `{spec.usage}` | {places} | {who} | {spec.summary} |")
    return "\n".join(rows)

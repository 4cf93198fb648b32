"""What the model sees: a map of the whole repository and the few files it will touch.

Sending every template costs tokens and attention; the map (stacks with their
resources, parameters, exports and imports; environments; Helm releases; guard
rules with their fix hints) lets the model place a change, and the full text of
only the likely-touched files lets it write one. Selection is a cheap keyword
and graph match, no model call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.llm.usage import estimate_tokens
from bot.repo.model import (
    ENVIRONMENTS_DIR,
    GUARD_DIR,
    HELM_DIR,
    STACKS_DIR,
    TEMPLATE_SUFFIXES,
    RepoError,
    Repository,
)

# Words of a request -> resource types it is probably about.
TYPE_HINTS: dict[str, tuple[str, ...]] = {
    "bucket": ("AWS::S3::Bucket",),
    "s3": ("AWS::S3::Bucket",),
    "queue": ("AWS::SQS::Queue",),
    "sqs": ("AWS::SQS::Queue",),
    "security group": ("AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress"),
    "ingress": ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroup"),
    "port": ("AWS::EC2::SecurityGroupIngress",),
    "irsa": ("AWS::IAM::Role",),
    "role": ("AWS::IAM::Role",),
    "policy": ("AWS::IAM::ManagedPolicy", "AWS::IAM::Role"),
    "node": ("AWS::EKS::Nodegroup",),
    "nodegroup": ("AWS::EKS::Nodegroup",),
    "kms": ("AWS::KMS::Key",),
    "key": ("AWS::KMS::Key",),
    "load balancer": ("AWS::ElasticLoadBalancingV2::LoadBalancer",),
    "alb": ("AWS::ElasticLoadBalancingV2::LoadBalancer",),
    "log group": ("AWS::Logs::LogGroup",),
    "subnet": ("AWS::EC2::Subnet",),
    "vpc": ("AWS::EC2::VPC",),
    "cluster": ("AWS::EKS::Cluster",),
    "user pool": ("AWS::Cognito::UserPool",),
    "cognito": ("AWS::Cognito::UserPool",),
    "bastion": ("AWS::EC2::Instance",),
}
ENV_WORDS = {
    "dev": "dev",
    "development": "dev",
    "tst": "tst",
    "test": "tst",
    "staging": "tst",
    "prd": "prd",
    "prod": "prd",
    "production": "prd",
}
HELM_WORDS = ("chart", "replica", "helm", "values", "release")
_RULE = re.compile(r"^\s*rule\s+([A-Za-z0-9_]+)", re.MULTILINE)
_MESSAGE = re.compile(r"<<\s*\[NIST ([A-Z]{2}-\d+(?:\(\d+\))?)\]\s*(.*?)\s*>>", re.DOTALL)
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class RuleSummary:
    rule: str
    control: str
    problem: str
    fix: str


@dataclass(frozen=True)
class Context:
    repo_map: str
    files: tuple[tuple[str, str], ...]  # (path, full text), most relevant first
    omitted: tuple[str, ...]  # relevant files that did not fit the budget
    tokens: int


# ------------------------------------------------------------ guard rules
def parse_guard_rules(text: str) -> list[RuleSummary]:
    """One summary per (rule, message) from a .guard file; messages are `[NIST X] ... Fix: ...`."""
    out: list[RuleSummary] = []
    starts = [(m.start(), m.group(1)) for m in _RULE.finditer(text)]
    for i, (start, rule) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        seen: set[str] = set()
        for m in _MESSAGE.finditer(text, start, end):
            body = " ".join(m.group(2).split())
            problem, _, fix = body.partition(" Fix: ")
            if problem in seen:
                continue
            seen.add(problem)
            out.append(RuleSummary(rule, m.group(1), problem.rstrip(". "), fix.rstrip(". ")))
    return out


def guard_section(summaries: Iterable[RuleSummary], per_rule: int = 2) -> str:
    lines: list[str] = []
    count: dict[str, int] = {}
    for s in summaries:
        count[s.rule] = count.get(s.rule, 0) + 1
        if count[s.rule] > per_rule:
            continue
        fix = f" Fix: {s.fix}." if s.fix else ""
        lines.append(f"- {s.rule} [NIST {s.control}]: {s.problem}.{fix}")
    return "\n".join(lines)


# ----------------------------------------------------------- the map
def _expr(node: Any) -> str:
    """An export/import name as written: the !Sub string, else a compact repr."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and len(node) == 1:
        ((key, arg),) = node.items()
        if key == "Fn::Sub":
            return _expr(arg[0] if isinstance(arg, list) and arg else arg)
        return f"{key}({_expr(arg)})"
    return "?"


def _imports(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::ImportValue":
                yield _expr(value)
            else:
                yield from _imports(value)
    elif isinstance(node, list):
        for item in node:
            yield from _imports(item)


EXPORT_PREFIX = "${ProjectName}-${Environment}-"


def _strip_prefix(name: str) -> str:
    # Every export shares this prefix; saying so once saves ~8 tokens per name.
    return "~" + name.removeprefix(EXPORT_PREFIX) if name.startswith(EXPORT_PREFIX) else name


def _short(rtype: str) -> str:
    return rtype.removeprefix("AWS::")


def stack_section(repo: Repository, stack: str, path: Path) -> str:
    template = repo.template(path)
    if template.body is None:
        return f"### {STACKS_DIR}/{path.name} (unreadable)"
    params = ", ".join(str(p) for p in template.parameters)
    resources = ", ".join(
        f"{rid}:{_short(str(r.get('Type', '?')))}" if isinstance(r, dict) else str(rid)
        for rid, r in template.resources.items()
    )
    exports = [
        _expr(o["Export"].get("Name"))
        for o in template.outputs.values()
        if isinstance(o, dict) and isinstance(o.get("Export"), dict)
    ]
    imports = sorted(set(_imports(template.resources)))
    lines = [
        f"### {repo.rel(path)} (stack {stack})",
        f"- parameters: {params or '-'}",
        f"- resources: {resources or '-'}",
    ]
    if exports:
        lines.append(f"- exports: {', '.join(_strip_prefix(e) for e in exports)}")
    if imports:
        lines.append(f"- imports: {', '.join(_strip_prefix(i) for i in imports)}")
    return "\n".join(lines)


def environments_section(repo: Repository) -> str:
    lines: list[str] = []
    try:
        envs = repo.environments
    except RepoError as exc:
        return f"(environments unreadable: {exc})"
    for name, env in envs.items():
        folder = repo.root / ENVIRONMENTS_DIR / name
        stacks = sorted(p.stem for p in folder.glob("*.y*ml")) if folder.is_dir() else []
        lines.append(
            f"- {name}: region {env.region}, project {env.project}, next {env.next or '-'}; "
            f"deployment files {ENVIRONMENTS_DIR}/{name}/<stack>.yaml for: {', '.join(stacks)}"
        )
    return "\n".join(lines)


def releases_section(repo: Repository) -> str:
    try:
        releases = repo.releases
    except RepoError as exc:
        return f"(releases unreadable: {exc})"
    lines = []
    for name, rel in releases.items():
        files = sorted(p.name for p in rel.folder.glob("*.y*ml"))
        s = rel.spec
        lines.append(
            f"- {name}: chart {s.chart} {s.version} from {s.repository}, namespace {s.namespace}; "
            f"files {', '.join(files)}"
        )
    return "\n".join(lines) or "(none)"


def repo_map(repo: Repository) -> str:
    rules: list[RuleSummary] = []
    for path in sorted((repo.root / GUARD_DIR / "rules").glob("*.guard")):
        rules += parse_guard_rules(path.read_text(encoding="utf-8"))
    parts = [f"## Stacks (in export/import names, ~ stands for {EXPORT_PREFIX})"]
    parts += [stack_section(repo, s, p) for s, p in repo.stack_paths.items()]
    parts += ["## Environments", environments_section(repo)]
    parts += ["## Helm releases (helm-values/<release>/)", releases_section(repo)]
    parts += ["## Guard rules (cfn-guard, must pass)", guard_section(rules) or "(none)"]
    return "\n".join(parts)


# ------------------------------------------------------------ selection
def request_words(request: str) -> set[str]:
    text = request.lower()
    words = set(_WORD.findall(text))
    words |= {w.rstrip("s") for w in words}
    words |= {hint for hint in TYPE_HINTS if " " in hint and hint in text}
    return words


def score_stacks(repo: Repository, request: str) -> dict[str, int]:
    """Stack -> relevance: its name in the request, or resource types the request names."""
    words = request_words(request)
    wanted = {t for w in words for t in TYPE_HINTS.get(w, ())}
    scores: dict[str, int] = {}
    for stack, path in repo.stack_paths.items():
        name_words = set(stack.split("-")) | {stack.replace("-", "")}
        score = 5 * len(name_words & words)
        types = {
            str(r.get("Type"))
            for r in repo.template(path).resources.values()
            if isinstance(r, dict)
        }
        score += 3 * len(types & wanted)
        if score:
            scores[stack] = score
    return scores


def mentioned_envs(repo: Repository, request: str) -> list[str]:
    words = request_words(request)
    try:
        known = list(repo.environments)
    except RepoError:
        known = []
    named = sorted({ENV_WORDS[w] for w in words if w in ENV_WORDS} & set(known))
    return named


def select_files(repo: Repository, request: str, limit: int = 4) -> list[Path]:
    scores = score_stacks(repo, request)
    best = sorted(scores, key=lambda s: (-scores[s], s))[:limit]
    if not best and repo.stack_paths and not request_words(request) & set(HELM_WORDS):
        # Nothing like it exists yet: the smallest stack shows the conventions to follow.
        best = [min(repo.stack_paths, key=lambda s: repo.stack_paths[s].stat().st_size)]
    envs = mentioned_envs(repo, request) or sorted(repo.environments)[:1]
    paths = [repo.stack_paths[s] for s in best]
    for env in envs:
        for stack in best:
            dep = repo.root / ENVIRONMENTS_DIR / env / f"{stack}.yaml"
            if dep.is_file():
                paths.append(dep)
    words = request_words(request)
    for name, rel in repo.releases.items():
        hit = set(name.split("-")) & words or rel.spec.chart in words
        if hit or (words & set(HELM_WORDS) and len(repo.releases) == 1):
            paths += sorted(
                p for p in rel.folder.iterdir() if p.is_file() and p.suffix in TEMPLATE_SUFFIXES
            )
    return paths


def build_context(repo: Repository, request: str, budget_tokens: int) -> Context:
    """The map, then whole files in order of relevance while they fit in the budget."""
    the_map = repo_map(repo)
    used = estimate_tokens(the_map) + estimate_tokens(request)
    files: list[tuple[str, str]] = []
    omitted: list[str] = []
    for path in select_files(repo, request):
        text = _readable(repo, path)
        if text is None:
            continue
        cost = estimate_tokens(text)
        if used + cost > budget_tokens:
            omitted.append(repo.rel(path))
            continue
        files.append((repo.rel(path), text))
        used += cost
    return Context(the_map, tuple(files), tuple(omitted), used)


def whole_repository_tokens(root: Path) -> int:
    """What sending every infrastructure file would cost (the baseline of the benchmark)."""
    total = 0
    for top in (STACKS_DIR, ENVIRONMENTS_DIR, HELM_DIR, GUARD_DIR):
        folder = root / top
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    total += estimate_tokens(path.read_text(encoding="utf-8", errors="replace"))
    return total


def _readable(repo: Repository, path: Path) -> str | None:
    """The file's text for the prompt; None for a symlink or a file that leads out of
    the checkout, or one too large or not text (the prompt is sent to Bedrock)."""
    from bot.repo.safeyaml import UnsafeYamlError, read_bounded

    try:
        if path.is_symlink():
            return None
        repo.inside(path, repo.rel(path))
        return read_bounded(path)
    except (RepoError, UnsafeYamlError, OSError):
        return None

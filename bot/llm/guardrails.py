"""What a model-proposed edit may touch and what it may not carry.

Pure functions over paths and text, table-tested. The rules come from the
security model: LLM output is data, it may only edit stacks/, helm-values/ and
environments/, it never adds a secret, and anything that weakens a control is
called out at the top of the pull request rather than slipped into it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

ALLOWED_TOPS = ("stacks", "helm-values", "environments")
ALLOWED_SUFFIXES = (".yaml", ".yml", ".json")
MAX_EDIT_BYTES = 200_000
MAX_TOTAL_BYTES = 1_000_000
MAX_EDITS = 40
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def path_problem(path: str) -> str | None:  # noqa: PLR0911 - one reason per rule
    """Why `path` may not be edited, or None. Symlinks are checked on disk separately."""
    if not path or len(path) > 200:
        return "empty or overlong path"
    if "\\" in path or "\x00" in path or path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return "only repository-relative paths with forward slashes are allowed"
    parts = PurePosixPath(path).parts
    if any(p in ("..", ".", "") for p in path.split("/")):
        return "'..', '.' and empty path segments are not allowed"
    if parts[0] not in ALLOWED_TOPS:
        return f"edits are only allowed under {', '.join(d + '/' for d in ALLOWED_TOPS)}"
    if not all(_NAME.match(p) for p in parts):
        return "path segments may only use letters, digits, '.', '_' and '-'"
    if PurePosixPath(path).suffix not in ALLOWED_SUFFIXES:
        return f"only {', '.join(ALLOWED_SUFFIXES)} files may be edited"
    depth = {"stacks": 2, "environments": 3}
    if parts[0] in depth and len(parts) != depth[parts[0]]:
        shape = "stacks/<stack>.yaml" if parts[0] == "stacks" else "environments/<env>/<stack>.yaml"
        return f"files under {parts[0]}/ must be {shape}"
    if parts[0] == "helm-values" and len(parts) != 3:
        return "files under helm-values/ must be helm-values/<release>/<file>.yaml"
    return None


def size_problem(text: str) -> str | None:
    size = len(text.encode("utf-8"))
    if size > MAX_EDIT_BYTES:
        return f"{size:,} bytes is over the {MAX_EDIT_BYTES:,}-byte limit for one edit"
    if "\x00" in text:
        return "the new content contains NUL bytes"
    return None


# ---------------------------------------------------------------- secrets
_SECRETS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b")),
    (
        "AWS secret access key",
        re.compile(r"(?i)aws.{0,20}secret.{0,20}[:=]\s*['\"]?[A-Za-z0-9/+]{40}\b"),
    ),
    ("private key", re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----")),
    ("GitHub token", re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b")),
    ("GitHub fine-grained token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{60,}\b")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b")),
)


def secrets_added(old: str | None, new: str) -> list[str]:
    """Kinds of secret that appear in lines of `new` that were not in `old`."""
    before = set((old or "").splitlines())
    added = "\n".join(line for line in new.splitlines() if line not in before)
    return [kind for kind, pattern in _SECRETS if pattern.search(added)]


# ------------------------------------------------------- weakened policy
@dataclass(frozen=True, order=True)
class Signal:
    kind: str  # suppression | open-cidr | wildcard-iam | admin-policy | public | encryption
    where: str  # e.g. Resources.Bucket.Properties.BucketEncryption

    def describe(self, path: str) -> str:
        text = {
            "suppression": "a policy suppression was added",
            "open-cidr": "ingress from the whole internet (0.0.0.0/0 or ::/0) was opened",
            "wildcard-iam": "a wildcard IAM permission was granted",
            "admin-policy": "an administrator policy was attached",
            "public": "a resource was made public or privileged",
            "encryption": "encryption was removed or disabled",
        }[self.kind]
        return f"`{path}` {self.where}: {text}"


_ENCRYPTION_KEYS = {
    "BucketEncryption",
    "KmsMasterKeyId",
    "KmsKeyId",
    "KMSMasterKeyID",
    "KmsKeyArn",
    "Encrypted",
    "StorageEncrypted",
    "EncryptionConfig",
    "SSESpecification",
    "SqsManagedSseEnabled",
    "EnableKeyRotation",
    "EncryptionConfiguration",
}
_SUPPRESSION_KEYS = {"SuppressedRules", "ignore_checks", "rules_to_suppress"}
_PUBLIC_TRUE = {
    "PubliclyAccessible",
    "EndpointPublicAccess",
    "MapPublicIpOnLaunch",
    "privileged",
    "hostNetwork",
    "hostPID",
    "allowPrivilegeEscalation",
}
_PUBLIC_FALSE = {
    "BlockPublicAcls",
    "BlockPublicPolicy",
    "IgnorePublicAcls",
    "RestrictPublicBuckets",
    "runAsNonRoot",
    "readOnlyRootFilesystem",
}
_OPEN = {"0.0.0.0/0", "::/0"}
_WILDCARD_ACTION = re.compile(r"^(\*|[a-z0-9-]+:\*)$")


def _walk(node: Any, where: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path of parent, key, value) for every mapping entry; list indexes dropped,
    so that reordering a list does not look like a change."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield where, str(k), v
            yield from _walk(v, f"{where}.{k}" if where else str(k))
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, where)


def _flatten(nodes: list[Any]) -> list[Any]:
    out: list[Any] = []
    for n in nodes:
        out += _flatten(n) if isinstance(n, list) else [n]
    return out


def _falsy(value: Any) -> bool:
    return value is False or str(value).strip().lower() in ("false", "disabled", "none")


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def signals(doc: Any) -> set[Signal]:
    """Security-relevant facts about a parsed document (template, deployment, values)."""
    found: set[Signal] = set()
    for where, key, value in _walk(doc):
        at = f"{where}.{key}" if where else key
        if key in _ENCRYPTION_KEYS and not _falsy(value):
            found.add(Signal("encryption-present", at))
        if key in _SUPPRESSION_KEYS or key == "infra-bot.io/suppress":
            for rule in _as_list(value):
                for item in str(rule).split(","):
                    found.add(Signal("suppression", f"{at}: {item.strip()}"))
        if key in ("CidrIp", "CidrIpv6") and str(value) in _OPEN:
            found.add(Signal("open-cidr", where))
        if key in _PUBLIC_TRUE and _truthy(value):
            found.add(Signal("public", at))
        if key in _PUBLIC_FALSE and _falsy(value):
            found.add(Signal("public", at))
        if key == "ManagedPolicyArns":
            for arn in _as_list(value):
                if "AdministratorAccess" in str(arn) or "PowerUserAccess" in str(arn):
                    found.add(Signal("admin-policy", at))
        if key == "Effect" and value == "Allow":
            found |= _statement_signals(where, doc)
    return found


def _statement_signals(where: str, doc: Any) -> set[Signal]:
    # `_walk` drops list indexes, so re-find the statements under `where` and
    # judge each Allow statement for wildcards.
    out: set[Signal] = set()
    nodes: list[Any] = [doc]
    for part in where.split("."):
        nodes = [n[part] for n in _flatten(nodes) if isinstance(n, dict) and part in n]
    statements = [s for n in nodes for s in _as_list(n)]
    for stmt in statements:
        if not isinstance(stmt, dict) or stmt.get("Effect") != "Allow":
            continue
        if "KeyPolicy" in where and _account_root_only(stmt.get("Principal")):
            continue  # the AWS default key policy: delegates to IAM, Resource "*" is this key
        principal = stmt.get("Principal")
        anyone = principal == "*" or (
            isinstance(principal, dict) and "*" in [str(p) for p in _as_list(principal.get("AWS"))]
        )
        if anyone and "AssumeRolePolicyDocument" in where:
            out.add(Signal("public", f"{where} Principal * may assume the role"))
        actions = [str(a) for a in _as_list(stmt.get("Action", []))]
        resources = [str(r) for r in _as_list(stmt.get("Resource", []))]
        if any(_WILDCARD_ACTION.match(a) for a in actions):
            out.add(Signal("wildcard-iam", f"{where} Action {', '.join(actions)}"))
        if "*" in resources:
            out.add(Signal("wildcard-iam", f"{where} Resource *"))
    return out


def _account_root_only(principal: Any) -> bool:
    if not isinstance(principal, dict) or set(principal) != {"AWS"}:
        return False
    # !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:root" loads as {"Fn::Sub": ...}
    return all(str(p).rstrip("'\"}").endswith(":root") for p in _as_list(principal["AWS"]))


def weakened(old_doc: Any, new_doc: Any) -> list[Signal]:
    """Signals that make the new document weaker than the old one."""
    old, new = signals(old_doc), signals(new_doc)
    added = sorted(s for s in new - old if s.kind != "encryption-present")
    gone = sorted(s.where for s in old - new if s.kind == "encryption-present")
    # A removed BucketEncryption takes its KMSMasterKeyID with it: report the top one.
    removed = [
        Signal("encryption", w) for w in gone if not any(w.startswith(g + ".") for g in gone)
    ]
    return added + removed


def load_for_signals(text: str | None) -> Any:
    """Parse YAML/JSON with any tag (CloudFormation short forms) as plain data.

    Unparseable text yields None: the checks report the syntax error, and a
    document we cannot read has no signals to compare.
    """
    if text is None:
        return None
    import yaml

    from bot.repo.safeyaml import UnsafeYamlError, check_aliases

    class _Loader(yaml.SafeLoader):
        pass

    def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.MappingNode):
            return {name: loader.construct_mapping(node, deep=True)}
        if isinstance(node, yaml.SequenceNode):
            return {name: loader.construct_sequence(node, deep=True)}
        return {name: loader.construct_scalar(node)}  # type: ignore[arg-type]

    _Loader.add_multi_constructor("!", _tagged)
    try:
        check_aliases(text)
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, UnsafeYamlError):
        return None

"""What a model-proposed edit may touch and what it may not carry.

Pure functions over paths and text, table-tested. The rules come from the
security model: LLM output is data, it may only edit stacks/, helm-values/ and
environments/, it never adds a secret, and anything that weakens a control is
called out at the top of the pull request rather than slipped into it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

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

    def describe(self, path: str, via: str = "") -> str:
        text = {
            "suppression": "a policy suppression was added",
            "open-cidr": "ingress from the whole internet (0.0.0.0/0 or ::/0) was opened",
            "wildcard-iam": "a wildcard IAM permission was granted",
            "admin-policy": "an administrator policy was attached",
            "public": "a resource was made public or privileged",
            "encryption": "encryption was removed or disabled",
        }[self.kind]
        through = f" (its values in `{via}`)" if via else ""
        return f"`{path}`{through} {self.where}: {text}"


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
# "*", "*:*", "s3:*", "S3:*", "s3:*Object", "iam:Pass*": IAM matches actions
# case-insensitively, and any "*" in an action grants a family of them.
_WILDCARD_ACTION = re.compile(r"^[^:]*\*|^[A-Za-z0-9-]+:.*\*", re.IGNORECASE)


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


# Candidate values of a template's parameters: its Default and every value a
# deployment file gives. A value is judged with each of them, so a policy ARN
# moved into a parameter default is the same policy ARN.
Params = Mapping[str, Sequence[Any]]
_MAX_VARIANTS = 16
_SUB_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_LIST_TYPES = ("CommaDelimitedList", "List<")


def template_parameters(
    doc: Any, deployments: Iterable[Mapping[str, Any]] = ()
) -> dict[str, list[Any]]:
    """name -> candidate values, from `Parameters.<name>.Default` and deployment files."""
    params = doc.get("Parameters") if isinstance(doc, dict) else None
    if not isinstance(params, dict):
        return {}
    given = [d for d in deployments if isinstance(d, Mapping)]
    out: dict[str, list[Any]] = {}
    for name, spec in params.items():
        if not isinstance(spec, dict):
            continue
        raw = ([spec["Default"]] if "Default" in spec else []) + [
            d[name] for d in given if name in d
        ]
        listy = str(spec.get("Type", "")).startswith(_LIST_TYPES)
        values: list[Any] = []
        for value in raw:
            item = [v.strip() for v in str(value).split(",")] if listy else str(value)
            if item not in values:
                values.append(item)
        if values:
            out[str(name)] = values
    return out


def _sub(text: str, params: Params) -> list[str]:
    variants = [text]
    for name in dict.fromkeys(_SUB_VAR.findall(text)):
        if name not in params:
            continue
        variants = [v.replace(f"${{{name}}}", str(c)) for v in variants for c in params[name]][
            :_MAX_VARIANTS
        ]
    return variants


def resolve(node: Any, params: Params) -> Any:
    """`node` with `Ref`s to parameters (and `${Name}` in `Fn::Sub`) replaced by
    their candidate value, or a list of them when there are several. Pure."""
    if isinstance(node, dict):
        if len(node) == 1 and "Ref" in node and str(node["Ref"]) in params:
            values = list(params[str(node["Ref"])])
            return values[0] if len(values) == 1 else values
        if len(node) == 1 and "Fn::Sub" in node:
            body = node["Fn::Sub"]
            text = (
                body
                if isinstance(body, str)
                else (body[0] if isinstance(body, list) and body else None)
            )
            if isinstance(text, str) and _SUB_VAR.search(text):
                variants = _sub(text, params)
                return variants[0] if len(variants) == 1 else variants
        return {k: (v if k == "Parameters" else resolve(v, params)) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(item, params) for item in node]
    return node


def signals(doc: Any, params: Params | None = None) -> set[Signal]:
    """Security-relevant facts about a parsed document (template, deployment, values).

    Parameters are resolved first (their defaults, or `params`), so that moving a
    value behind a `Ref` does not hide it.
    """
    doc = resolve(doc, template_parameters(doc) if params is None else params)
    found: set[Signal] = set()
    for where, key, value in _walk(doc):
        at = f"{where}.{key}" if where else key
        found |= _suppression_signals(where, key, value, at)
        found |= _value_signals(where, key, value, at)
        if key == "Effect" and "Allow" in _as_list(value):
            found |= _statement_signals(where, doc)
    found |= _open_world_sets(doc)
    found |= _public_resources(doc)
    return found


def _suppression_signals(where: str, key: str, value: Any, at: str) -> set[Signal]:
    found: set[Signal] = set()
    if key in _SUPPRESSION_KEYS or key == "infra-bot.io/suppress":
        for rule in _as_list(value):
            for item in str(rule).split(","):
                found.add(Signal("suppression", f"{at}: {item.strip()}"))
    if key in _LINT_TOOLS and where.endswith("Metadata"):
        found.add(Signal("suppression", f"{at}: linter configuration"))
    if key.startswith("ignore-check.kube-linter.io/"):
        found.add(Signal("suppression", at))
    return found


def _value_signals(where: str, key: str, value: Any, at: str) -> set[Signal]:
    found: set[Signal] = set()
    values = _flatten(_as_list(value))
    if key in _ENCRYPTION_KEYS and not _falsy(value):
        found.add(Signal("encryption-present", at))
    if key in ("CidrIp", "CidrIpv6") and any(_world(c) for c in values):
        found.add(Signal("open-cidr", where))
    if (key in _PUBLIC_TRUE and any(_truthy(v) for v in values)) or (
        key in _PUBLIC_FALSE and any(_falsy(v) for v in values)
    ):
        found.add(Signal("public", at))
    if key == "AccessControl" and any(str(v) in _PUBLIC_ACL for v in values):
        found.add(Signal("public", at))
    if key == "ManagedPolicyArns" and any(
        name in str(arn) for arn in values for name in _ADMIN_POLICIES
    ):
        found.add(Signal("admin-policy", at))
    return found


_LINT_TOOLS = {"cfn-lint", "cfn_nag", "checkov"}
_PUBLIC_ACL = {"PublicRead", "PublicReadWrite", "AuthenticatedRead"}
_ADMIN_POLICIES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError:
        return None


def _world(value: Any) -> bool:
    net = _network(value)
    return net is not None and net.prefixlen == 0


def _covers_world(cidrs: Iterable[Any]) -> bool:
    """True if the CIDRs together are all of IPv4 or all of IPv6 (0.0.0.0/1 + 128.0.0.0/1)."""
    nets = [n for n in (_network(c) for c in cidrs) if n is not None]
    for version in (4, 6):
        same = [n for n in nets if n.version == version]
        if any(n.prefixlen == 0 for n in ipaddress.collapse_addresses(same)):  # type: ignore[type-var]
            return True
    return False


def _ingress_cidrs(node: Any) -> list[Any]:
    """CidrIp/CidrIpv6 values under `node`, egress rules left out."""
    out: list[Any] = []
    for where, key, value in _walk(node):
        if "Egress" in where or key == "SecurityGroupEgress":
            continue
        if key in ("CidrIp", "CidrIpv6", "loadBalancerSourceRanges", "SourceRanges"):
            out += _flatten(_as_list(value))
    return out


def _open_world_sets(doc: Any) -> set[Signal]:
    """Ingress whose CIDRs open the world only together, per security group:
    inline rules and AWS::EC2::SecurityGroupIngress resources of the same group."""
    resources = doc.get("Resources") if isinstance(doc, dict) else None
    groups: dict[str, tuple[str, list[Any]]] = {}
    if isinstance(resources, dict):
        for name, res in resources.items():
            if not isinstance(res, dict):
                continue
            props = res.get("Properties")
            if res.get("Type") == "AWS::EC2::SecurityGroupIngress" and isinstance(props, dict):
                group = repr(props.get("GroupId") or props.get("GroupName"))
            else:
                group = repr({"Ref": name})
            _first, cidrs = groups.setdefault(group, (f"Resources.{name}", []))
            cidrs += _ingress_cidrs(props)
    elif isinstance(doc, dict):
        groups["values"] = ("values", _ingress_cidrs(doc))
    return {
        Signal("open-cidr", f"{where} (CIDRs that together cover every address)")
        for where, cidrs in groups.values()
        if _covers_world(cidrs) and not any(_world(c) for c in cidrs)
    }


def _public_resources(doc: Any) -> set[Signal]:
    """Resources public by type rather than by policy: a Lambda permission for anyone
    without a source, a function URL without auth."""
    resources = doc.get("Resources") if isinstance(doc, dict) else None
    out: set[Signal] = set()
    for name, res in (resources or {}).items() if isinstance(resources, dict) else ():
        props = res.get("Properties") if isinstance(res, dict) else None
        if not isinstance(props, dict):
            continue
        kind = res.get("Type")
        anyone = "*" in [str(p) for p in _as_list(props.get("Principal"))]
        scoped = {"SourceArn", "SourceAccount", "PrincipalOrgID"} & set(props)
        if kind == "AWS::Lambda::Permission" and anyone and not scoped:
            out.add(Signal("public", f"Resources.{name} Principal * may invoke the function"))
        if kind == "AWS::Lambda::Url" and str(props.get("AuthType")) == "NONE":
            out.add(Signal("public", f"Resources.{name} AuthType NONE"))
    return out


def _statement_signals(where: str, doc: Any) -> set[Signal]:
    # `_walk` drops list indexes, so re-find the statements under `where` and
    # judge each Allow statement for wildcards.
    out: set[Signal] = set()
    nodes: list[Any] = [doc]
    for part in where.split("."):
        nodes = [n[part] for n in _flatten(nodes) if isinstance(n, dict) and part in n]
    statements = [s for n in nodes for s in _as_list(n)]
    for stmt in statements:
        if not isinstance(stmt, dict) or "Allow" not in _as_list(stmt.get("Effect")):
            continue
        if "KeyPolicy" in where and _account_root_only(stmt.get("Principal")):
            continue  # the AWS default key policy: delegates to IAM, Resource "*" is this key
        if _anyone(stmt.get("Principal")) or "NotPrincipal" in stmt:
            if "AssumeRolePolicyDocument" in where:
                out.add(Signal("public", f"{where} Principal * may assume the role"))
            elif not stmt.get("Condition"):
                out.add(Signal("public", f"{where} Principal * without a Condition"))
        if "NotAction" in stmt:
            out.add(Signal("wildcard-iam", f"{where} NotAction allows every other action"))
        if "NotResource" in stmt:
            out.add(Signal("wildcard-iam", f"{where} NotResource allows every other resource"))
        actions = [str(a) for a in _flatten(_as_list(stmt.get("Action", [])))]
        resources = [str(r) for r in _flatten(_as_list(stmt.get("Resource", [])))]
        if any(_WILDCARD_ACTION.match(a.strip()) for a in actions):
            out.add(Signal("wildcard-iam", f"{where} Action {', '.join(actions)}"))
        if "*" in [r.strip() for r in resources]:
            out.add(Signal("wildcard-iam", f"{where} Resource *"))
    return out


_ANY_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::\*:", re.IGNORECASE)


def _anyone(principal: Any) -> bool:
    """Principal "*", {"AWS": "*"} (or any other key), or any account's root."""
    if isinstance(principal, dict):
        values = [str(v).strip() for vs in principal.values() for v in _flatten(_as_list(vs))]
    else:
        values = [str(v).strip() for v in _flatten(_as_list(principal))] if principal else []
    return any(v == "*" or _ANY_ACCOUNT.match(v) for v in values)


def _account_root_only(principal: Any) -> bool:
    if not isinstance(principal, dict) or set(principal) != {"AWS"}:
        return False
    # !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:root" loads as {"Fn::Sub": ...}
    return all(str(p).rstrip("'\"}").endswith(":root") for p in _as_list(principal["AWS"]))


def weakened(
    old_doc: Any, new_doc: Any, old_params: Params | None = None, new_params: Params | None = None
) -> list[Signal]:
    """Signals that make the new document weaker than the old one."""
    old, new = signals(old_doc, old_params), signals(new_doc, new_params)
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


# ------------------------------------------------ a proposal as a whole
class _Change(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def old(self) -> str | None: ...
    @property
    def new(self) -> str: ...


def lint_suppressions_added(old: str | None, new: str) -> list[str]:
    """cfn-lint settings (`Metadata: cfn-lint: config: ignore_checks ...`, template- or
    resource-level) that `new` adds. A proposal may not switch a linter off."""

    def lint(text: str | None) -> set[str]:
        return {
            s.where
            for s in signals(load_for_signals(text))
            if s.kind == "suppression" and ("cfn-lint" in s.where or "ignore_checks" in s.where)
        }

    return sorted(lint(new) - lint(old))


def change_warnings(changes: Iterable[_Change], root: Path) -> list[str]:
    """What each change weakens, judged with parameters resolved: a template with the
    values its deployment files give, a deployment file through the template it names."""
    out: list[str] = []
    for change in changes:
        old, new = load_for_signals(change.old), load_for_signals(change.new)
        parts = change.path.split("/")
        if parts[0] == "stacks":
            given = _deployment_values(root, change.path)
            old_params = template_parameters(old, given)
            found = weakened(old, new, old_params, template_parameters(new, given))
        else:
            found = weakened(old, new)
        out += [s.describe(change.path) for s in found]
        if parts[0] == "environments" and len(parts) == 3:
            out += _through_template(change.path, old, new, root)
    return out


def _read_doc(path: Path) -> Any:
    from bot.repo.safeyaml import UnsafeYamlError, read_bounded

    try:
        return load_for_signals(read_bounded(path))
    except (UnsafeYamlError, OSError):
        return None


def _inside(root: Path, rel: Any) -> Path | None:
    from bot.repo.model import relative_path_problem

    if not isinstance(rel, str) or relative_path_problem(rel):
        return None
    path = (root / rel).resolve()
    return path if root.resolve() in path.parents and path.is_file() else None


def _deployment_values(root: Path, template: str) -> list[Mapping[str, Any]]:
    """The `parameters` of every deployment file in `root` that deploys `template`."""
    out: list[Mapping[str, Any]] = []
    for path in sorted((root / "environments").glob("*/*.y*ml")):
        doc = None if path.is_symlink() else _read_doc(path)
        if isinstance(doc, dict) and doc.get("template-file-path") == template:
            params = doc.get("parameters")
            out += [params] if isinstance(params, dict) else []
    return out


def _through_template(path: str, old: Any, new: Any, root: Path) -> list[str]:
    """A deployment file's new parameter values, judged where the template uses them."""
    rel = new.get("template-file-path") if isinstance(new, dict) else None
    template_path = _inside(root, rel)
    if template_path is None:
        return []
    template = _read_doc(template_path)

    def given(doc: Any) -> list[Mapping[str, Any]]:
        params = doc.get("parameters") if isinstance(doc, dict) else None
        return [params] if isinstance(params, dict) else []

    found = weakened(
        template, template,
        template_parameters(template, given(old)), template_parameters(template, given(new)),
    )  # fmt: skip
    return [s.describe(str(rel), via=path) for s in found]

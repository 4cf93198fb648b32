"""The deterministic generator: a catalogue of common requests, no model, no credentials.

A request is parsed into an intent by plain patterns (pure), and the intent is
turned into the same `ChangeProposal` a model would return, from jinja2
blueprints that pass the guard rules. Anything outside the catalogue gets a
plain answer listing what is available, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from bot.llm.bedrock import Answer
from bot.llm.context import ENV_WORDS
from bot.llm.schema import ChangeProposal, FileEdit, YamlOp
from bot.llm.usage import Usage
from bot.repo.model import RepoError, Repository

BLUEPRINTS_DIR = Path(__file__).parent / "blueprints"
OFFLINE_MODEL = "offline-blueprints"
CATALOGUE = (
    'add an encrypted S3 bucket, as a new stack or in an existing one ("add an S3 bucket for '
    'ALB access logs", "... to the velero-backup stack")',
    'add a KMS-encrypted SQS queue ("add an SQS queue for order events")',
    'add a security group rule ("allow tcp 8443 from 10.20.0.0/16 to the node security group")',
    'add an IRSA role ("add an IRSA role for service account payments/api")',
    'resize the node group of an environment ("scale the prd node group to 6 nodes")',
    'bump a chart version ("bump the web-app chart to 1.4.2")',
    'set a release\'s replica count ("set web-app replicas to 3 in prd")',
)


class OutsideCatalogueError(ValueError):
    """The offline generator cannot do this; the message says what it can do."""


def catalogue_answer(reason: str = "") -> str:
    items = "\n".join(f"- {item}" for item in CATALOGUE)
    lead = f"{reason}\n\n" if reason else ""
    return (
        f"{lead}Without Bedrock I can only do these changes (offline catalogue):\n{items}\n"
        "Configure Bedrock (`llm:` in .github/infra-bot.yml) for anything else."
    )


# ------------------------------------------------------------------ facts
@dataclass(frozen=True)
class EnvFacts:
    name: str
    project: str
    owner: str = "platform-team"
    security_level: str = "internal"
    nodegroup: dict[str, Any] = field(default_factory=dict)  # parameters of eks-nodegroup


@dataclass(frozen=True)
class RepoFacts:
    """What the blueprints need to know about the repository, read once."""

    environments: tuple[EnvFacts, ...]
    stacks: frozenset[str]
    security_groups: tuple[str, ...] = ()  # logical ids in stacks/security-groups.yaml
    irsa_resources: frozenset[str] = frozenset()
    releases: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> file -> text
    stack_parameters: dict[str, frozenset[str]] = field(default_factory=dict)


def read_facts(repo: Repository) -> RepoFacts:
    from bot.repo.safeyaml import load_data

    envs: list[EnvFacts] = []
    for name, env in repo.environments.items():
        owner, level, nodegroup = "platform-team", "internal", {}
        folder = repo.root / "environments" / name
        for dep in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            data = load_data(dep)
            params = data.get("parameters", {}) if isinstance(data, dict) else {}
            owner = str(params.get("Owner", owner))
            level = str(params.get("SecurityLevel", level))
            if dep.stem == "eks-nodegroup":
                nodegroup = dict(params)
        envs.append(EnvFacts(name, env.project, owner, level, nodegroup))
    groups: tuple[str, ...] = ()
    if "security-groups" in repo.stack_paths:
        res = repo.stack_template("security-groups").resources
        groups = tuple(
            k
            for k, v in res.items()
            if isinstance(v, dict) and v.get("Type") == "AWS::EC2::SecurityGroup"
        )
    irsa = frozenset(repo.stack_template("irsa").resources) if "irsa" in repo.stack_paths else None
    releases = {
        name: {p.name: p.read_text(encoding="utf-8") for p in sorted(rel.folder.glob("*.y*ml"))}
        for name, rel in repo.releases.items()
    }
    params = {s: frozenset(str(p) for p in repo.stack_template(s).parameters)
              for s in repo.stack_paths}  # fmt: skip
    return RepoFacts(
        tuple(envs), frozenset(repo.stack_paths), groups, irsa or frozenset(), releases, params
    )


# --------------------------------------------------------------- parsing
_STOP = {
    "a",
    "an",
    "the",
    "new",
    "encrypted",
    "kms",
    "for",
    "to",
    "of",
    "in",
    "and",
    "with",
    "our",
    "my",
    "s3",
    "sqs",
    "bucket",
    "queue",
    "please",
    "add",
    "create",
    "store",
    "storing",
    "that",
    "which",
    "holds",
    "hold",
    "some",
    "all",
}


def slugify(words: str, limit: int = 24) -> str:
    tokens = [t for t in re.findall(r"[a-z0-9]+", words.lower()) if t not in _STOP]
    slug = "-".join(tokens)[:limit].strip("-")
    return slug


def purpose_of(text: str) -> str:
    """The words after "for" (up to punctuation): what the resource is for."""
    m = re.search(r"\bfor\s+(?:the\s+|our\s+)?([^.,;:!?\n]+)", text, re.IGNORECASE)
    return m.group(1).strip() if m else ""


def envs_in(text: str, known: list[str]) -> list[str]:
    words = set(re.findall(r"[a-z]+", text.lower()))
    return sorted({ENV_WORDS[w] for w in words if w in ENV_WORDS} & set(known))


def _render(blueprint: str, **values: Any) -> str:
    return str(_jinja().get_template(blueprint).render(**values))


@cache
def _jinja() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(BLUEPRINTS_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - YAML, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _yaml_node(text: str) -> Any:
    """A rendered blueprint snippet as ruamel nodes, so its !Ref/!Sub tags survive."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    return yaml.load(text)


def _new_stack_proposal(
    facts: RepoFacts, stack: str, body: str, *, title: str, summary: str, rationale: str
) -> ChangeProposal:
    """A new template under stacks/ and its deployment file in every environment."""
    return ChangeProposal(
        title=title[:120],
        summary=summary,
        edits=[
            FileEdit(path=f"stacks/{stack}.yaml", content=body, rationale=rationale),
            *_deployments(facts, stack, "Deploys the new stack in {env}."),
        ],
    )


def _deployments(facts: RepoFacts, stack: str, rationale: str) -> list[FileEdit]:
    return [
        FileEdit(
            path=f"environments/{env.name}/{stack}.yaml",
            rationale=rationale.format(env=env.name),
            content=_render(
                "deployment.yaml.j2",
                project=env.project,
                env=env.name,
                stack=stack,
                owner=env.owner,
                security_level=env.security_level,
            ),
        )
        for env in facts.environments
    ]


def _base(facts: RepoFacts) -> dict[str, Any]:
    first = facts.environments[0] if facts.environments else EnvFacts("dev", "platform")
    return {
        "project": first.project,
        "owner": first.owner,
        "security_level": "internal",
        "environments": [e.name for e in facts.environments] or ["dev", "tst", "prd"],
    }


def _new_stack_name(facts: RepoFacts, slug: str, suffix: str) -> str:
    stack = f"{slug}-{suffix}" if slug else suffix
    if stack in facts.stacks:
        raise OutsideCatalogueError(
            f"a stack named {stack!r} exists already; name the new one differently "
            f'("... for <purpose>")'
        )
    return stack


# ------------------------------------------------------------ blueprints
CONVENTION_PARAMETERS = frozenset({"ProjectName", "Environment", "Owner", "SecurityLevel",
                                   "IaCVersion"})  # fmt: skip
_IN_STACK = re.compile(
    r"\b(?:in|to|into)\s+(?:the\s+)?(?:stacks/)?([a-z0-9][a-z0-9-]*?)(?:\.yaml)?\s+stack\b|"
    r"\b(?:in|to|into)\s+stacks/([a-z0-9][a-z0-9-]*)\.yaml\b",
    re.IGNORECASE,
)


def target_stack(text: str, facts: RepoFacts) -> str | None:
    """An existing stack the request names ("... to the velero-backup stack"), if any."""
    m = _IN_STACK.search(text)
    if not m:
        return None
    name = (m.group(1) or m.group(2)).lower()
    if name not in facts.stacks:
        known = ", ".join(sorted(facts.stacks))
        raise OutsideCatalogueError(f"there is no stack {name!r} (stacks: {known})")
    missing = CONVENTION_PARAMETERS - facts.stack_parameters.get(name, frozenset())
    if missing:
        raise OutsideCatalogueError(
            f"stack {name!r} lacks the parameters {', '.join(sorted(missing))} the blueprint "
            "tags with; add the bucket as a new stack instead"
        )
    return name


def _purpose_without_stack(text: str) -> str:
    return _IN_STACK.sub("", purpose_of(_IN_STACK.sub(".", text)) or "").strip()


def plan_bucket_in_stack(text: str, facts: RepoFacts, stack: str) -> ChangeProposal:
    purpose = _purpose_without_stack(text) or "application data"
    slug = slugify(purpose) or "data"
    name = _camel(slug) + "Bucket"
    nodes = _yaml_node(_render("s3-bucket-resources.yaml.j2", name=name, slug=slug))
    export = f"${{ProjectName}}-${{Environment}}-{stack}-{name}"
    ops = [YamlOp(op="add_resource", key_path=[key], value=nodes[key]) for key in nodes]
    ops += [
        YamlOp(op="set", key_path=["Outputs", f"{name}Name"],
               value={"Value": {"Ref": name}, "Export": {"Name": {"Fn::Sub": f"{export}Name"}}}),
        YamlOp(op="set", key_path=["Outputs", f"{name}Arn"],
               value={"Value": {"Fn::GetAtt": f"{name}.Arn"},
                      "Export": {"Name": {"Fn::Sub": f"{export}Arn"}}}),
    ]  # fmt: skip
    return ChangeProposal(
        title=f"Add an encrypted S3 bucket for {purpose} to the {stack} stack"[:120],
        summary=f"{name} and its TLS-only policy in stacks/{stack}.yaml.",
        edits=[FileEdit(path=f"stacks/{stack}.yaml", yaml_ops=ops,
                        rationale=("S3 bucket with SSE-KMS (platform S3 key), versioning, public "
                                   "access block and a policy denying non-TLS requests, with "
                                   "exported name and ARN."))],
    )  # fmt: skip


def plan_bucket(text: str, facts: RepoFacts) -> ChangeProposal:
    stack_name = target_stack(text, facts)
    if stack_name is not None:
        return plan_bucket_in_stack(text, facts, stack_name)
    purpose = purpose_of(text) or "application data"
    slug = slugify(purpose) or "data"
    stack = _new_stack_name(facts, slug, "bucket")
    note = ""
    log_delivery = bool(re.search(r"\b(alb|elb|nlb|load balancer)\b.*\blogs?\b", text, re.I))
    if log_delivery:
        note = (
            " ELB access-log delivery only writes to SSE-S3 buckets, so this bucket uses "
            "SSE-S3 and suppresses SC28_S3_ENCRYPTED (KMS at rest) with a justification; "
            "its policy lets the ELB log-delivery service write under AWSLogs/."
        )
    body = _render(
        "s3-bucket-stack.yaml.j2",
        **_base(facts),
        purpose=purpose,
        slug=slug,
        stack=stack,
        noncurrent_days=30,
        log_delivery=log_delivery,
    )
    return _new_stack_proposal(
        facts, stack, body,
        title=f"Add an encrypted S3 bucket for {purpose}",
        summary=f"New stack `{stack}` with one S3 bucket and its TLS-only policy.{note}",
        rationale=(
            ("S3 bucket with SSE-S3" if log_delivery else
             "S3 bucket with SSE-KMS (platform S3 key from the kms stack)")
            + ", versioning, public access block and a policy denying non-TLS "
            "requests, as guard SC-28, CP-9 and SC-8 require." + note
        ),
    )  # fmt: skip


def plan_queue(text: str, facts: RepoFacts) -> ChangeProposal:
    purpose = purpose_of(text) or "application messages"
    slug = slugify(purpose) or "messages"
    stack = _new_stack_name(facts, slug, "queue")
    body = _render(
        "sqs-queue-stack.yaml.j2", **_base(facts), purpose=purpose, slug=slug, stack=stack
    )
    return _new_stack_proposal(
        facts, stack, body,
        title=f"Add an encrypted SQS queue for {purpose}",
        summary=f"New stack `{stack}`: queue, dead-letter queue and their KMS key.",
        rationale=(
            "SQS queue and dead-letter queue encrypted with a dedicated "
            "customer managed KMS key (rotation on), TLS-only queue policy."
        ),
    )  # fmt: skip


_PORT = re.compile(r"\b(tcp|udp)?\s*(?:ports?\s+)?(\d{1,5})(?:\s*-\s*(\d{1,5}))?\b", re.IGNORECASE)
_CIDR = re.compile(r"\b(\d{1,3}(?:\.\d{1,3}){3}/\d{1,2})\b")


def _group(name_words: str, groups: tuple[str, ...]) -> str | None:
    """The security group a phrase like "the node security group" names."""
    words = [w.removesuffix("s") for w in re.findall(r"[a-z0-9]+", name_words.lower())]
    words = [w for w in words if w not in {"the", "security", "group", "sg"}]
    for g in groups:
        base = g.lower().removesuffix("securitygroup")
        if words and base in words:
            return g
    return None


def plan_sg_rule(text: str, facts: RepoFacts) -> ChangeProposal:
    if not facts.security_groups:
        raise OutsideCatalogueError("there is no stacks/security-groups.yaml with security groups")
    m = re.search(
        r"\bfrom\s+(.+?)\s+(?:to|on|into)\s+(?:the\s+)?(.+?)(?:$|[.,;])", text, re.IGNORECASE
    )
    if not m:
        raise OutsideCatalogueError('say "allow <protocol> <port> from <CIDR or group> to <group>"')
    source, target = m.group(1), m.group(2)
    group = _group(target, facts.security_groups)
    if group is None:
        known = ", ".join(facts.security_groups)
        raise OutsideCatalogueError(f"which security group is {target!r}? Known: {known}")
    head = text[: m.start()]
    ports = [p for p in _PORT.finditer(head) if p.group(2)]
    if not ports:
        raise OutsideCatalogueError('name the port, e.g. "allow tcp 8443 from ..."')
    port = ports[-1]
    protocol = (port.group(1) or "tcp").lower()
    low, high = int(port.group(2)), int(port.group(3) or port.group(2))
    if not (0 < low <= high <= 65535):
        raise OutsideCatalogueError(f"{low}-{high} is not a valid port range")
    cidr = _CIDR.search(source)
    source_group = None if cidr else _group(source, facts.security_groups)
    if cidr is None and source_group is None:
        raise OutsideCatalogueError("the source must be a CIDR (10.0.0.0/16) or a known group")
    if cidr and cidr.group(1) in ("0.0.0.0/0",) and not (protocol == "tcp" and low == high == 443):
        raise OutsideCatalogueError(
            "opening a port other than tcp 443 to the whole internet breaks guard rule "
            "SC7_NO_OPEN_INGRESS [NIST SC-7]; a human has to make and justify that change"
        )
    name = f"{group.removesuffix('SecurityGroup')}Ingress{protocol.title()}{low}"
    if low != high:
        name += f"To{high}"
    what = source_group or (cidr.group(1) if cidr else "")
    description = f"{protocol} {low}{'-' + str(high) if high != low else ''} from {what}"
    snippet = _render(
        "sg-ingress.yaml.j2",
        group=group,
        description=description,
        protocol=protocol,
        from_port=low,
        to_port=high,
        source_group=source_group,
        cidr=cidr.group(1) if cidr else "",
    )
    return ChangeProposal(
        title=f"Allow {description} to {group}"[:120],
        summary=f"One AWS::EC2::SecurityGroupIngress on {group}.",
        edits=[
            FileEdit(
                path="stacks/security-groups.yaml",
                rationale=(
                    f"A separate ingress resource on {group} ({description}), so the rule "
                    "can be reviewed and removed on its own."
                ),
                yaml_ops=[YamlOp(op="add_resource", key_path=[name], value=_yaml_node(snippet))],
            )
        ],
    )


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def plan_irsa(text: str, facts: RepoFacts) -> ChangeProposal:
    if not facts.irsa_resources:
        raise OutsideCatalogueError("there is no stacks/irsa.yaml to add the role to")
    m = re.search(r"\b([a-z0-9][a-z0-9-]*)\s*[/:]\s*([a-z0-9][a-z0-9-]*)\b", text)
    if m:
        namespace, account = m.group(1), m.group(2)
    else:
        sa = re.search(r"service ?account\s+([a-z0-9-]+)", text, re.IGNORECASE)
        ns = re.search(r"namespace\s+([a-z0-9-]+)", text, re.IGNORECASE)
        if not (sa and ns):
            raise OutsideCatalogueError(
                "name the service account as <namespace>/<name>, e.g. payments/api"
            )
        namespace, account = ns.group(1), sa.group(1)
    name = _camel(f"{namespace}-{account}")
    role, parameter = f"{name}Role", f"{name}ServiceAccount"
    if role in facts.irsa_resources:
        raise OutsideCatalogueError(f"stacks/irsa.yaml already has {role}")
    snippet = _render(
        "irsa-role.yaml.j2",
        namespace=namespace,
        service_account=account,
        parameter=parameter,
        name=f"{namespace}-{account}",
    )
    export = {
        "Value": {"Fn::GetAtt": f"{role}.Arn"},
        "Export": {"Name": {"Fn::Sub": f"${{ProjectName}}-${{Environment}}-irsa-{role}Arn"}},
    }
    return ChangeProposal(
        title=f"Add an IRSA role for {namespace}/{account}",
        summary=(
            f"Role {role} trusted by exactly one service account through the cluster's "
            "OIDC provider; it has no permissions yet: attach scoped policies in review."
        ),
        edits=[
            FileEdit(
                path="stacks/irsa.yaml",
                rationale=(
                    f"IRSA role for system:serviceaccount:{namespace}:{account}, following "
                    "the trust-policy pattern of the other roles; no permissions granted."
                ),
                yaml_ops=[
                    YamlOp(
                        op="set",
                        key_path=["Parameters", parameter],
                        value={
                            "Type": "String",
                            "Default": f"{namespace}:{account}",
                            "Description": f"namespace:name of the {account} service account.",
                        },
                    ),
                    YamlOp(op="add_resource", key_path=[role], value=_yaml_node(snippet)),
                    YamlOp(op="set", key_path=["Outputs", f"{role}Arn"], value=export),
                ],
            )
        ],
    )


_COUNT = re.compile(r"\bto\s+(\d{1,3})\s*(?:nodes?|instances?)?\b", re.IGNORECASE)
_BOUND = re.compile(
    r"\b(min(?:imum)?|max(?:imum)?|desired)\b[^\d.;]{0,40}?(\d{1,3})\b", re.IGNORECASE
)
_INSTANCE = re.compile(
    r"\b([a-z][a-z0-9-]*\d[a-z0-9-]*\.(?:\d*x?large|medium|small|micro|nano|metal))\b"
)


def plan_resize(text: str, facts: RepoFacts) -> ChangeProposal:
    known = [e.name for e in facts.environments]
    envs = envs_in(text, known)
    if not envs:
        raise OutsideCatalogueError(f"say which environment to resize ({', '.join(known)})")
    wanted: dict[str, int] = {}
    for m in _BOUND.finditer(text):
        key = {"mi": "MinSize", "ma": "MaxSize", "de": "DesiredSize"}[m.group(1)[:2].lower()]
        wanted[key] = int(m.group(2))
    count = _COUNT.search(text)
    if count and not wanted:
        wanted["DesiredSize"] = int(count.group(1))
    instance = _INSTANCE.search(text)
    if not wanted and not instance:
        raise OutsideCatalogueError('say the size, e.g. "scale the prd node group to 6 nodes"')
    edits = []
    for env in (e for e in facts.environments if e.name in envs):
        if not env.nodegroup:
            raise OutsideCatalogueError(f"environments/{env.name}/eks-nodegroup.yaml not found")
        current = {k: int(env.nodegroup.get(k, 0)) for k in ("MinSize", "DesiredSize", "MaxSize")}
        new = {**current, **wanted}
        # Keep min <= desired <= max: moving one bound drags the others along.
        if "DesiredSize" in wanted:
            new["MaxSize"] = max(new["MaxSize"], new["DesiredSize"])
            new["MinSize"] = min(new["MinSize"], new["DesiredSize"])
        new["DesiredSize"] = min(max(new["DesiredSize"], new["MinSize"]), new["MaxSize"])
        if new["MinSize"] > new["MaxSize"] or new["MinSize"] < 1:
            raise OutsideCatalogueError(f"min {new['MinSize']} / max {new['MaxSize']} do not fit")
        ops = [
            YamlOp(op="set", key_path=["parameters", k], value=_like(env.nodegroup.get(k), v))
            for k, v in new.items()
            if v != current[k]
        ]
        if instance:
            ops.append(
                YamlOp(op="set", key_path=["parameters", "InstanceType"], value=instance.group(1))
            )
        if not ops:
            continue
        change = ", ".join(f"{k} {current[k]} -> {new[k]}" for k in new if new[k] != current[k])
        if instance:
            change = ", ".join(x for x in (change, f"InstanceType -> {instance.group(1)}") if x)
        edits.append(
            FileEdit(
                path=f"environments/{env.name}/eks-nodegroup.yaml",
                rationale=f"{env.name}: {change}.",
                yaml_ops=ops,
            )
        )
    if not edits:
        raise OutsideCatalogueError("the node group already has that size")
    return ChangeProposal(
        title=f"Resize the {', '.join(envs)} node group"[:120],
        summary="Node group parameters in the deployment files.",
        edits=edits,
    )


def _like(old: Any, value: int) -> Any:
    """Same YAML type as the value it replaces (a quoted number stays quoted)."""
    return str(value) if isinstance(old, str) else value


_VERSION = re.compile(r"\bv?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)\b")


def _release(text: str, facts: RepoFacts) -> str:
    words = set(re.findall(r"[a-z0-9-]+", text.lower()))
    hits = [r for r in facts.releases if r in words or r in text.lower()]
    if len(hits) != 1:
        known = ", ".join(facts.releases) or "none"
        raise OutsideCatalogueError(f"name exactly one Helm release (known: {known})")
    return hits[0]


def plan_chart_bump(text: str, facts: RepoFacts) -> ChangeProposal:
    release = _release(text, facts)
    m = _VERSION.search(text)
    if not m:
        raise OutsideCatalogueError('give the chart version, e.g. "to 1.4.2"')
    return ChangeProposal(
        title=f"Bump the {release} chart to {m.group(1)}",
        summary="Chart version pinned in release.yaml.",
        edits=[
            FileEdit(
                path=f"helm-values/{release}/release.yaml",
                rationale=f"Pin chart version {m.group(1)}.",
                yaml_ops=[YamlOp(op="set", key_path=["version"], value=m.group(1))],
            )
        ],
    )


def _replica_key(text: str) -> list[str | int] | None:
    """Where a values file keeps the replica count (first replicaCount/replicas key)."""
    from ruamel.yaml import YAML

    def find(node: Any, path: list[str | int]) -> list[str | int] | None:
        if isinstance(node, dict):
            for k, v in node.items():
                if str(k) in ("replicaCount", "replicas") and isinstance(v, int):
                    return [*path, str(k)]
                if (hit := find(v, [*path, str(k)])) is not None:
                    return hit
        return None

    return find(YAML(typ="safe").load(text) if text.strip() else {}, [])


def plan_replicas(text: str, facts: RepoFacts) -> ChangeProposal:
    release = _release(text, facts)
    m = re.search(r"\b(?:to|=)\s*(\d{1,3})\b", text)
    m = m or re.search(r"\b(\d{1,3})\s+replicas?\b", text)
    if not m:
        raise OutsideCatalogueError('give the replica count, e.g. "to 3"')
    count = int(m.group(1))
    files = facts.releases[release]
    known = sorted(
        {f.removeprefix("values-").removesuffix(".yaml") for f in files if f.startswith("values-")}
        | {e.name for e in facts.environments}
    )
    envs = envs_in(text, known)
    targets = [f"values-{e}.yaml" for e in envs] or ["values.yaml"]
    base_key = _replica_key(files.get("values.yaml", ""))
    if base_key is None:
        raise OutsideCatalogueError(
            f"helm-values/{release}/values.yaml has no replicaCount or replicas key; "
            "the chart's replica setting needs a human (or Bedrock) to find"
        )
    edits = []
    for name in targets:
        text_now = files.get(name)
        key = (_replica_key(text_now) if text_now else None) or base_key
        edit_kw: dict[str, Any] = (
            {"yaml_ops": [YamlOp(op="set", key_path=key, value=count)]}
            if text_now is not None
            else {"content": _nested(key, count)}
        )
        edits.append(
            FileEdit(
                path=f"helm-values/{release}/{name}",
                rationale=f"{'.'.join(map(str, key))}: {count}.",
                **edit_kw,
            )
        )
    return ChangeProposal(
        title=f"Set {release} replicas to {count}" + (f" in {', '.join(envs)}" if envs else ""),
        summary="Replica count in the release's values.",
        edits=edits,
    )


def _nested(key: list[str | int], value: int) -> str:
    lines = [f"{'  ' * i}{k}:" for i, k in enumerate(key[:-1])]
    lines.append(f"{'  ' * (len(key) - 1)}{key[-1]}: {value}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- router
def plan(text: str, facts: RepoFacts) -> ChangeProposal:  # noqa: PLR0911 - one per entry
    """The catalogue entry the request matches, planned; OutsideCatalogueError otherwise."""
    low = text.lower()
    if re.search(r"\bchart\b", low) and _VERSION.search(low):
        return plan_chart_bump(text, facts)
    if re.search(r"\breplica", low):
        return plan_replicas(text, facts)
    if re.search(r"\bnode ?groups?\b|\bnodes\b|\bworker", low) and re.search(
        r"\b(resize|scale|size|grow|shrink|set|increase|decrease|change)\b", low
    ):
        return plan_resize(text, facts)
    if re.search(r"\birsa\b|service ?account", low):
        return plan_irsa(text, facts)
    if re.search(r"\b(ingress|security group rule|sg rule)\b", low) or (
        re.search(r"\b(allow|open)\b", low) and re.search(r"\bfrom\b", low)
    ):
        return plan_sg_rule(text, facts)
    if re.search(r"\b(sqs|queue)\b", low):
        return plan_queue(text, facts)
    if re.search(r"\b(s3|bucket)\b", low):
        return plan_bucket(text, facts)
    raise OutsideCatalogueError("This request is outside the offline catalogue.")


@dataclass
class OfflineProposer:
    """The loop's proposer without a model: one answer, then nothing more to offer."""

    facts: RepoFacts

    @property
    def model_id(self) -> str:
        return OFFLINE_MODEL

    @classmethod
    def for_repo(cls, root: Path, repo: Repository | None = None) -> OfflineProposer:
        try:
            return cls(read_facts(repo or Repository(root)))
        except RepoError:
            return cls(RepoFacts((), frozenset()))

    def first(self, system: str, prompt: str) -> Answer:
        request = _request_from(prompt)
        try:
            return Answer(plan(request, self.facts), None, Usage())
        except OutsideCatalogueError as exc:
            return Answer(None, catalogue_answer(str(exc)), Usage())

    def follow_up(self, prompt: str) -> Answer | None:
        return None  # blueprints pass the checks or they are a bug; nothing to repair


def _request_from(prompt: str) -> str:
    """The request back out of the rendered prompt (the proposer sees what a model sees)."""
    m = re.search(r"<request>\n(.*)\n</request>", prompt, re.DOTALL)
    return m.group(1) if m else prompt

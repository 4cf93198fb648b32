"""What one stack deploys for one commit: body, parameters, tags, and their identity.

The identity (commit + template hash) ties a change set to what was reviewed:
deploy executes only a change set whose name and description carry exactly the
commit and hash it recomputes from the files at deploy time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from bot.repo.model import Deployment, Environment, RepoError, Repository
from bot.repo.templates import Template

TAG_COMMIT = "infra-bot:commit"
TAG_HASH = "infra-bot:template-sha256"
CHANGE_SET_PREFIX = "infra-bot-"
IAC_VERSION_PARAMETER = "IaCVersion"
# CloudFormation's limit for an inline TemplateBody; beyond it a template must
# be uploaded to S3 (TemplateURL), which we do not do yet.
MAX_TEMPLATE_BODY = 51_200
_SHA = re.compile(r"^[0-9a-f]{7,40}$")
_IAM_PREFIX = "AWS::IAM::"


@dataclass(frozen=True)
class StackSpec:
    env: str
    stack: str
    stack_name: str
    template_path: str
    body: str
    parameters: tuple[tuple[str, str], ...]
    tags: tuple[tuple[str, str], ...]
    capabilities: tuple[str, ...]
    commit: str
    template_hash: str

    @property
    def change_set_name(self) -> str:
        return change_set_name(self.commit, self.template_hash)

    @property
    def description(self) -> str:
        return change_set_description(self.commit, self.template_hash)

    def all_tags(self) -> dict[str, str]:
        return {**dict(self.tags), TAG_COMMIT: self.commit, TAG_HASH: self.template_hash}


def check_commit(commit: str) -> str:
    if not _SHA.match(commit):
        raise RepoError(f"not a git commit id: {commit!r} (want 7-40 lowercase hex digits)")
    return commit


def _yaml_scalar(value: object) -> str:
    """YAML's unquoted dates (`AWSTemplateFormatVersion: 2010-09-09`, a date in a
    Default) as the text CloudFormation reads them as."""
    if isinstance(value, dt.date):  # datetime is a date too
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} in a template is not JSON")


def template_body(template: Template) -> str:
    """The template as compact JSON: the exact bytes sent to CloudFormation and hashed.

    Comments and formatting do not change what deploys, so they do not change the
    hash either; and JSON avoids YAML short-form tags some endpoints mis-parse.
    """
    if template.body is None:
        problems = "; ".join(e.message for e in template.errors) or "unreadable"
        raise RepoError(f"{template.path}: cannot deploy an invalid template: {problems}")
    body = json.dumps(
        template.body, separators=(",", ":"), ensure_ascii=False, default=_yaml_scalar
    )
    if len(body.encode()) > MAX_TEMPLATE_BODY:
        raise RepoError(
            f"{template.path}: {len(body.encode())} bytes as JSON, over CloudFormation's "
            f"{MAX_TEMPLATE_BODY}-byte TemplateBody limit (split the stack)"
        )
    return body


def resolve_parameters(template: Template, deployment: Deployment, commit: str) -> dict[str, str]:
    """The deployment file's parameters, checked against the template; IaCVersion = commit."""
    declared = {str(k) for k in template.parameters}
    unknown = sorted(set(deployment.spec.parameters) - declared)
    if unknown:
        raise RepoError(
            f"{deployment.path}: parameters not declared in {deployment.spec.template_file_path}: "
            + ", ".join(unknown)
        )
    params = {k: str(v) for k, v in deployment.spec.parameters.items()}
    if IAC_VERSION_PARAMETER in declared:
        params[IAC_VERSION_PARAMETER] = commit
    missing = sorted(
        name
        for name, spec in template.parameters.items()
        if str(name) not in params and not (isinstance(spec, dict) and "Default" in spec)
    )
    if missing:
        raise RepoError(f"{deployment.path}: no value for parameters: {', '.join(missing)}")
    return dict(sorted(params.items()))


def capabilities(template: Template) -> tuple[str, ...]:
    """What CloudFormation makes us acknowledge for this template."""
    caps: list[str] = []
    types = {str(r.get("Type", "")) for r in template.resources.values() if isinstance(r, dict)}
    if any(t.startswith(_IAM_PREFIX) for t in types):
        caps.append("CAPABILITY_NAMED_IAM")
    transform = (template.body or {}).get("Transform")
    if transform or "AWS::CloudFormation::Macro" in types:
        caps.append("CAPABILITY_AUTO_EXPAND")
    return tuple(caps)


def template_hash(body: str, parameters: dict[str, str], tags: dict[str, str]) -> str:
    """sha256 over the body, the resolved parameters and the deployment file's tags."""
    payload = json.dumps({"body": body, "parameters": parameters, "tags": tags}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def change_set_name(commit: str, digest: str) -> str:
    return f"{CHANGE_SET_PREFIX}{commit[:12]}-{digest[:8]}"


def change_set_description(commit: str, digest: str) -> str:
    return f"infra-bot commit={commit} sha256={digest}"


def parse_description(text: str | None) -> tuple[str, str] | None:
    """(commit, hash) from a change set description we wrote, else None."""
    m = re.fullmatch(r"infra-bot commit=([0-9a-f]{7,40}) sha256=([0-9a-f]{64})", text or "")
    return (m.group(1), m.group(2)) if m else None


def build_spec(
    repo: Repository,
    environment: Environment,
    deployment: Deployment,
    commit: str,
    version: str | None = None,
) -> StackSpec:
    """The stack as `commit` deploys it. `version` is the commit its inputs last changed
    in (bot.cloud.targets.stack_version): the spec's commit, its IaCVersion and tags,
    so a merge that does not touch a stack leaves it as it is. None: `commit` itself."""
    check_commit(commit)
    commit = check_commit(version) if version else commit
    path = repo.root / deployment.spec.template_file_path
    if not path.is_file():
        raise RepoError(
            f"{deployment.path}: template {deployment.spec.template_file_path} not found"
        )
    template = repo.template(path)
    body = template_body(template)
    params = resolve_parameters(template, deployment, commit)
    tags = dict(sorted(deployment.spec.tags.items()))
    return StackSpec(
        env=environment.name,
        stack=deployment.stack,
        stack_name=environment.stack_name(deployment.stack),
        template_path=deployment.spec.template_file_path,
        body=body,
        parameters=tuple(params.items()),
        tags=tuple(tags.items()),
        capabilities=capabilities(template),
        commit=commit,
        template_hash=template_hash(body, params, tags),
    )


def api_parameters(spec: StackSpec) -> list[dict[str, Any]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in spec.parameters]


def api_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]

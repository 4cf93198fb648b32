"""Checks that need more than one template, or knowledge no linter has.

Each rule comes from the seed platform's "CloudFormation Constraints (Lessons
Learned)": things that passed cfn-lint and still failed a deploy.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from bot.checks.base import Check, CheckContext, Count, Coverage, Status
from bot.findings import Finding, Severity
from bot.repo.graph import StackGraph, build_graph
from bot.repo.intrinsics import line_of, walk
from bot.repo.model import Repository
from bot.repo.templates import Template

HELP = "https://github.com/infra-bot/infra-bot/blob/main/docs/checks.md#"
EXPORT_LIMIT = 1024
_SSM_RESOLVE = re.compile(r"\{\{resolve:ssm(?:-secure)?:([^:}]+)")
_LONG_ATTRIBUTES = {("AWS::EKS::Cluster", "CertificateAuthorityData")}
_TAGGED_LISTS = ("Tags", "UserPoolTags")


def _finding(
    repo: Repository,
    template: Template,
    line: int,
    rule: str,
    msg: str,
    severity: Severity = Severity.ERROR,
    resource: str | None = None,
) -> Finding:
    return Finding(
        path=repo.rel(template.path), line=line, column=1 if line else 0,
        check_id=f"cross-stack/{rule}", severity=severity, message=msg,
        help_url=HELP + rule, resource=resource,
    )  # fmt: skip


def _graphs(ctx: CheckContext) -> list[tuple[str | None, StackGraph]]:
    envs: list[str | None] = [*ctx.targets.environments] or [*ctx.repo.environments] or [None]
    return [(env, build_graph(ctx.repo, env)) for env in envs]


def _targeted(ctx: CheckContext) -> set[str]:
    wanted = {p.resolve() for p in ctx.targets.templates}
    return {s for s, p in ctx.repo.stack_paths.items() if p.resolve() in wanted}


class CrossStackCheck(Check):
    id: ClassVar[str] = "cross-stack"
    description: ClassVar[str] = "exports, imports, SSM references, tags, EKS upgrades"

    def coverage(self, ctx: CheckContext, findings: list[Finding]) -> Coverage:
        stacks = _targeted(ctx)
        if not stacks:
            return Coverage(self.id, Status.SKIPPED, reason="no stacks under stacks/")
        envs = [*ctx.targets.environments] or [*ctx.repo.environments]
        counts = [Count("stacks", len(stacks))]
        if envs:
            counts.append(Count("environments", len(envs)))
        return Coverage(self.id, Status.RAN, tuple(counts))

    def run(self, ctx: CheckContext) -> list[Finding]:
        repo, found = ctx.repo, set[Finding]()
        stacks = _targeted(ctx)
        for env, graph in _graphs(ctx):
            found.update(self._exports(repo, graph, stacks, env))
            if ctx.base_repo is not None:
                found.update(self._removed_exports(ctx, graph, env))
        ssm_created = _ssm_parameters_created(repo)
        for stack in sorted(stacks):
            template = repo.stack_template(stack)
            if template.body is None:
                continue
            found.update(_tag_commas(repo, template))
            found.update(_ssm_refs(repo, template, ssm_created))
            found.update(_long_exports(repo, template))
            found.update(_eks_log_group(repo, template))
            if ctx.base_repo is not None and stack in ctx.base_repo.stack_paths:
                found.update(_eks_upgrade(repo, template, ctx.base_repo.stack_template(stack)))
        return sorted(found)

    @staticmethod
    def _exports(
        repo: Repository, graph: StackGraph, stacks: set[str], env: str | None
    ) -> Iterator[Finding]:
        where = f" in {env}" if env else ""
        for name, exps in graph.exporters().items():
            if len(exps) > 1:
                owners = ", ".join(sorted(f"{e.stack}.{e.output}" for e in exps))
                for e in exps:
                    if e.stack in stacks:
                        yield _finding(
                            repo, repo.stack_template(e.stack), e.line, "duplicate-export",
                            f"export name {name!r} is declared more than once{where}: {owners}; "
                            "CloudFormation rejects the second stack",
                        )  # fmt: skip
        exported = set(graph.exporters())
        for stack in stacks:
            for imp in graph.imports.get(stack, []):
                if imp.name is not None and imp.name not in exported:
                    yield _finding(
                        repo, repo.stack_template(stack), imp.line, "missing-export",
                        f"Fn::ImportValue {imp.name!r}{where}: no stack in this repository "
                        "exports it, so the deploy fails",
                    )  # fmt: skip

    @staticmethod
    def _removed_exports(
        ctx: CheckContext, graph: StackGraph, env: str | None
    ) -> Iterator[Finding]:
        assert ctx.base_repo is not None
        before = build_graph(ctx.base_repo, env).exporters()
        now = graph.exporters()
        importers: dict[str, list[str]] = {}
        for stack, imps in graph.imports.items():
            for imp in imps:
                if imp.name:
                    importers.setdefault(imp.name, []).append(stack)
        for name, exps in before.items():
            if name in now or name not in importers:
                continue
            stack = exps[0].stack
            template = ctx.repo.stack_template(stack) if stack in ctx.repo.stack_paths else None
            users = ", ".join(sorted(set(importers[name])))
            yield Finding(
                path=ctx.repo.rel(template.path) if template else f"stacks/{stack}",
                line=template.line_of("Outputs") if template else 0, column=0,
                check_id="cross-stack/export-in-use", severity=Severity.ERROR,
                message=f"export {name!r} was removed or renamed but {users} still "
                "import it; CloudFormation refuses to update an export in use",
                help_url=HELP + "export-in-use",
            )  # fmt: skip


def _tag_commas(repo: Repository, template: Template) -> Iterator[Finding]:
    for logical_id, resource in template.resources.items():
        props = resource.get("Properties") if isinstance(resource, dict) else None
        if not isinstance(props, dict):
            continue
        for key in _TAGGED_LISTS:
            for tag_key, value, node in _tags(props.get(key)):
                if isinstance(value, str) and "," in value:
                    yield _finding(
                        repo, template, line_of(node) or line_of(logical_id), "tag-comma",
                        f"{logical_id}: tag {tag_key}={value!r} contains a comma, which "
                        "tagging APIs reject; join values with underscores (AC-2_AC-6)",
                        resource=str(logical_id),
                    )  # fmt: skip


def _tags(tags: Any) -> Iterator[tuple[str, Any, Any]]:
    if isinstance(tags, list):
        for item in tags:
            if isinstance(item, dict) and "Key" in item:
                yield str(item["Key"]), item.get("Value"), item.get("Value")
    elif isinstance(tags, dict):
        for key, value in tags.items():
            yield str(key), value, key


def _ssm_parameters_created(repo: Repository) -> set[str]:
    names: set[str] = set()
    for stack in repo.stack_paths:
        template = repo.stack_template(stack)
        for resource in template.resources.values():
            if isinstance(resource, dict) and resource.get("Type") == "AWS::SSM::Parameter":
                name = (resource.get("Properties") or {}).get("Name")
                if isinstance(name, str):
                    names.add(name)
    return names


def _ssm_refs(repo: Repository, template: Template, created: set[str]) -> Iterator[Finding]:
    for _path, node in walk(template.body):
        if not isinstance(node, str):
            continue
        for match in _SSM_RESOLVE.finditer(node):
            name = match.group(1)
            # Public AWS parameters always exist; everything else must be ours.
            if name.startswith("/aws/service/") or name in created:
                continue
            yield _finding(
                repo, template, line_of(node), "ssm-missing",
                f"{{{{resolve:ssm:{name}}}}} refers to a parameter no stack here creates; "
                "the deploy fails if it does not exist yet (create it in a bootstrap stack)",
                Severity.WARNING,
            )  # fmt: skip


def _long_exports(repo: Repository, template: Template) -> Iterator[Finding]:
    types = {str(k): v.get("Type") for k, v in template.resources.items() if isinstance(v, dict)}
    for output_id, output in template.outputs.items():
        if not isinstance(output, dict) or "Export" not in output:
            continue
        value = output.get("Value")
        too_long = isinstance(value, str) and len(value) > EXPORT_LIMIT
        getatt = value.get("Fn::GetAtt") if isinstance(value, dict) else None
        if isinstance(getatt, str):
            getatt = getatt.split(".", 1)
        if isinstance(getatt, list) and len(getatt) == 2:
            too_long |= (types.get(str(getatt[0])), str(getatt[1])) in _LONG_ATTRIBUTES
        if too_long:
            yield _finding(
                repo, template, line_of(output_id), "export-too-long",
                f"output {output_id} exports a value that can exceed {EXPORT_LIMIT} characters; "
                "store it in SSM Parameter Store or read it from the API instead",
            )  # fmt: skip


def _eks_log_group(repo: Repository, template: Template) -> Iterator[Finding]:
    log_groups = {
        str(k) for k, v in template.resources.items()
        if isinstance(v, dict) and v.get("Type") == "AWS::Logs::LogGroup"
    }  # fmt: skip
    for logical_id, resource in template.resources.items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::EKS::Cluster":
            continue
        if not _logging_on(resource):
            continue
        depends = resource.get("DependsOn") or []
        depends = [depends] if isinstance(depends, str) else list(depends)
        if not log_groups & {str(d) for d in depends}:
            yield _finding(
                repo, template, line_of(logical_id), "eks-log-group-order",
                f"{logical_id}: EKS creates /aws/eks/<name>/cluster itself when logging is on; "
                "declare that log group and add it to the cluster's DependsOn so it exists first",
                resource=str(logical_id),
            )  # fmt: skip


def _logging_on(cluster: dict[str, Any]) -> bool:
    """Whether the cluster may send control-plane logs: EnabledTypes is a non-empty
    list, or an intrinsic (decided at deploy time, so it may be on). Without
    `Logging` EKS writes no logs and creates no log group."""
    props = cluster.get("Properties")
    logging = props.get("Logging") if isinstance(props, dict) else None
    if not isinstance(logging, dict):
        return logging is not None
    cluster_logging = logging.get("ClusterLogging")
    if not isinstance(cluster_logging, dict):
        return cluster_logging is not None
    types = cluster_logging.get("EnabledTypes")
    if isinstance(types, list):
        return bool(types)
    return types is not None


def _eks_versions(template: Template) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for logical_id, resource in template.resources.items():
        if isinstance(resource, dict) and resource.get("Type") == "AWS::EKS::Cluster":
            version = (resource.get("Properties") or {}).get("Version")
            if isinstance(version, dict) and "Ref" in version:
                spec = template.parameters.get(str(version["Ref"])) or {}
                version = spec.get("Default") if isinstance(spec, dict) else None
            if isinstance(version, str | float) and re.fullmatch(r"\d+\.\d+", str(version)):
                major, minor = str(version).split(".")
                out[str(logical_id)] = (int(major), int(minor))
    return out


def _eks_upgrade(repo: Repository, template: Template, before: Template) -> Iterator[Finding]:
    old = _eks_versions(before)
    for logical_id, (major, minor) in _eks_versions(template).items():
        if logical_id in old and old[logical_id][0] == major and minor - old[logical_id][1] > 1:
            was = f"{old[logical_id][0]}.{old[logical_id][1]}"
            yield _finding(
                repo, template, template.line_of("Resources", logical_id), "eks-version-skip",
                f"{logical_id}: EKS upgrades one minor version at a time; {was} -> "
                f"{major}.{minor} must go through {major}.{old[logical_id][1] + 1} first",
                resource=logical_id,
            )  # fmt: skip

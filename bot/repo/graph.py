"""Which stack exports what, who imports it, and the order stacks deploy in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any

from bot.repo.intrinsics import line_of, pseudo_parameters, resolve, walk
from bot.repo.model import Repository
from bot.repo.templates import Template


@dataclass(frozen=True)
class Export:
    stack: str
    output: str
    name: str | None  # None: the name depends on run-time values
    line: int
    value: Any


@dataclass(frozen=True)
class Import:
    stack: str
    name: str | None
    line: int


@dataclass
class StackGraph:
    exports: dict[str, list[Export]] = field(default_factory=dict)
    imports: dict[str, list[Import]] = field(default_factory=dict)

    def exporters(self) -> dict[str, list[Export]]:
        by_name: dict[str, list[Export]] = {}
        for items in self.exports.values():
            for e in items:
                if e.name is not None:
                    by_name.setdefault(e.name, []).append(e)
        return by_name

    def dependencies(self) -> dict[str, set[str]]:
        """stack -> the stacks whose exports it imports."""
        owner = {name: exps[0].stack for name, exps in self.exporters().items()}
        deps: dict[str, set[str]] = {stack: set() for stack in self.exports}
        for stack, imps in self.imports.items():
            for imp in imps:
                if imp.name in owner and owner[imp.name] != stack:
                    deps.setdefault(stack, set()).add(owner[imp.name])
        return deps

    def order(self, stacks: list[str] | None = None) -> list[str]:
        """Deployment order (dependencies first). Raises GraphError on a cycle."""
        deps = self.dependencies()
        try:
            ordered = list(TopologicalSorter(deps).static_order())
        except CycleError as exc:
            cycle = " -> ".join(str(s) for s in exc.args[1])
            raise GraphError(f"stacks import each other in a cycle: {cycle}") from None
        return [s for s in ordered if stacks is None or s in stacks]

    def dependents(self, stacks: set[str]) -> set[str]:
        """Every stack that imports, directly or not, from one of `stacks`."""
        deps = self.dependencies()
        found = set(stacks)
        changed = True
        while changed:
            changed = False
            for stack, needs in deps.items():
                if stack not in found and needs & found:
                    found.add(stack)
                    changed = True
        return found - stacks


class GraphError(ValueError):
    pass


def parameter_values(
    template: Template, overrides: Mapping[str, str], pseudo: Mapping[str, str]
) -> dict[str, str]:
    values: dict[str, str] = dict(pseudo)
    for name, spec in template.parameters.items():
        if isinstance(spec, dict) and "Default" in spec:
            values[str(name)] = str(spec["Default"])
    values.update(overrides)
    return values


def stack_exports(stack: str, template: Template, params: Mapping[str, str]) -> list[Export]:
    out: list[Export] = []
    for output_id, output in template.outputs.items():
        if isinstance(output, dict) and isinstance(output.get("Export"), dict):
            name_node = output["Export"].get("Name")
            out.append(
                Export(
                    stack,
                    str(output_id),
                    resolve(name_node, params),
                    line_of(output_id) or template.line_of("Outputs", str(output_id)),
                    output.get("Value"),
                )
            )
    return out


def stack_imports(stack: str, template: Template, params: Mapping[str, str]) -> list[Import]:
    out: list[Import] = []
    for _path, node in walk(template.body):
        if isinstance(node, dict) and len(node) == 1 and "Fn::ImportValue" in node:
            # The long form's key carries its line; the short form (!ImportValue)
            # has a plain key, and its line is the node's own.
            key = next(iter(node))
            line = line_of(key) or line_of(node)
            out.append(Import(stack, resolve(node["Fn::ImportValue"], params), line))
    return out


def build_graph(repo: Repository, env: str | None = None) -> StackGraph:
    """The graph with names resolved for `env` (its deployment files), or defaults."""
    graph = StackGraph()
    environment = repo.environments.get(env) if env else None
    deployments = repo.deployments(env) if env else {}
    for stack, _path in repo.stack_paths.items():
        template = repo.stack_template(stack)
        if template.body is None:
            graph.exports[stack], graph.imports[stack] = [], []
            continue
        overrides = dict(deployments[stack].spec.parameters) if stack in deployments else {}
        if environment is not None:
            pseudo = pseudo_parameters(
                environment.region, environment.account_id, environment.stack_name(stack)
            )
        else:
            pseudo = pseudo_parameters("us-east-1", "123456789012", stack)
        params = parameter_values(template, overrides, pseudo)
        graph.exports[stack] = stack_exports(stack, template, params)
        graph.imports[stack] = stack_imports(stack, template, params)
    return graph

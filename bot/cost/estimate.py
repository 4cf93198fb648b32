"""Pricing stacks: resolve parameters and conditions, share usage, run the pricers.

Pure apart from reading templates through the repository model: the price
table, the usage figures and the day of the estimate all come in as arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bot.cost.base import Context, Resource
from bot.cost.model import Component, EnvEstimate, LineItem, Skipped, StackEstimate, Status, item
from bot.cost.prices import PriceTable
from bot.cost.registry import FREE_TYPES, PRICERS, usage_keys
from bot.cost.usage import UsageFile, UsageValues, allocate
from bot.cost.values import ConditionError, Scope, evaluate, evaluate_conditions, parameter_values
from bot.repo.intrinsics import pseudo_parameters
from bot.repo.model import Repository
from bot.repo.templates import Template

USAGE_STACK = "(usage file)"
DEFAULT_ACCOUNT = "123456789012"


@dataclass(frozen=True)
class StackInput:
    stack: str
    template: Template
    template_label: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    stack_name: str = ""
    region: str = "us-east-1"
    account_id: str = DEFAULT_ACCOUNT


@dataclass
class _Prepared:
    source: StackInput
    scope: Scope | None = None
    resources: dict[str, Resource] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _prepare_scope(src: StackInput) -> _Prepared:
    prep = _Prepared(src)
    body = src.template.body
    if body is None:
        first = src.template.errors[0].message if src.template.errors else "unreadable"
        prep.error = f"template could not be read: {first}"
        return prep
    pseudo = pseudo_parameters(src.region, src.account_id, src.stack_name or src.stack)
    params, unset = parameter_values(src.template.parameters, src.parameters, pseudo)
    for name in unset:
        prep.notes.append(f"parameter {name} has no value and no default")
    mappings = _dict(body.get("Mappings"))
    try:
        conditions = evaluate_conditions(_dict(body.get("Conditions")), params, mappings)
    except ConditionError as exc:
        prep.error = str(exc)
        return prep
    prep.scope = Scope(params, conditions, mappings)
    return prep


def _exports(prep: _Prepared) -> dict[str, Any]:
    if prep.scope is None or prep.source.template.body is None:
        return {}
    out: dict[str, Any] = {}
    for output in prep.source.template.outputs.values():
        if not isinstance(output, dict) or "Export" not in output:
            continue
        cond = output.get("Condition")
        if cond is not None and prep.scope.conditions.get(str(cond)) is False:
            continue
        name = evaluate(_dict(output.get("Export")).get("Name"), prep.scope)
        if isinstance(name, str):
            out[name] = evaluate(output.get("Value"), prep.scope)
    return out


def _prepare_resources(prep: _Prepared, exports: Mapping[str, Any]) -> None:
    if prep.scope is None:
        return
    scope = Scope(prep.scope.params, prep.scope.conditions, prep.scope.mappings, exports)
    for lid, raw in prep.source.template.resources.items():
        if not isinstance(raw, dict):
            continue
        rtype = str(raw.get("Type", ""))
        cond = raw.get("Condition")
        if cond is not None:
            if str(cond) not in scope.conditions:
                prep.error = f"{lid}: condition {cond!r} is not defined"
                return
            value = scope.conditions.get(str(cond))
            if value is False:
                prep.skipped.append(Skipped(str(lid), rtype, str(cond)))
                continue
            if value is None:
                prep.notes.append(f"{lid}: condition {cond} not decidable before deploy; "
                                  "assumed true")  # fmt: skip
        if rtype not in PRICERS:
            # Free or unpriced: its properties do not matter (and IAM policies are large).
            prep.resources[str(lid)] = Resource(prep.source.stack, str(lid), rtype, {}, raw)
            continue
        try:
            props = evaluate(_dict(raw.get("Properties")), scope)
        except ConditionError as exc:
            prep.error = f"{lid}: {exc}"
            return
        prep.resources[str(lid)] = Resource(prep.source.stack, str(lid), rtype,
                                            _dict(props), raw)  # fmt: skip


def _price_one(r: Resource, ctx: Context) -> LineItem:
    pricer = PRICERS.get(r.type)
    if pricer is not None:
        try:
            return pricer(r, ctx)
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
            # Templates come from pull requests: odd shapes become "not priced", never a crash.
            return LineItem(r.stack, r.logical_id, r.type, Status.NOT_PRICED, (),
                            (f"could not be priced: {exc!r}",), ctx.hours)  # fmt: skip
    if r.type in FREE_TYPES:
        return LineItem(r.stack, r.logical_id, r.type, Status.FREE, (),
                        ("no charge for this resource type",), ctx.hours)  # fmt: skip
    return LineItem(r.stack, r.logical_id, r.type, Status.NOT_PRICED, (),
                    ("no price for this resource type",), ctx.hours)  # fmt: skip


def price_stacks(
    inputs: list[StackInput], usage: UsageValues, table: PriceTable, on: date
) -> list[StackEstimate]:
    """Price stacks that share one usage pool (an environment, or a set of templates)."""
    prepared = [_prepare_scope(src) for src in inputs]
    exports: dict[str, Any] = {}
    for prep in prepared:
        exports.update(_exports(prep))
    for prep in prepared:
        _prepare_resources(prep, exports)
    consumers: dict[str, list[tuple[str, str]]] = {}
    for prep in prepared:
        for r in prep.resources.values():
            for key in usage_keys(r, prep.resources):
                consumers.setdefault(key, []).append((r.stack, r.logical_id))
    shares = allocate(consumers, usage)
    out: list[StackEstimate] = []
    for prep in prepared:
        items: tuple[LineItem, ...] = ()
        if prep.error is None:
            items = tuple(
                _price_one(
                    r,
                    Context(table, on, usage.hours, shares.get((r.stack, lid), {}), prep.resources),
                )
                for lid, r in prep.resources.items()
            )
        out.append(StackEstimate(prep.source.stack, prep.source.template_label, items,
                                 tuple(prep.skipped), tuple(prep.notes), prep.error))  # fmt: skip
    return out


def usage_items(usage: UsageValues, table: PriceTable) -> StackEstimate | None:
    """Costs the usage file names that belong to no template resource."""
    items: list[LineItem] = []
    src = usage.source or "the usage file"
    for key, price_key, rtype, name in (
        ("data_transfer_out_gb", "data_transfer.out_gb", "Usage::DataTransferOut",
         "Data transfer out to the internet"),
        ("ebs_snapshot_gb", "ebs.snapshot_gb", "Usage::EBSSnapshots",
         "EBS snapshots (taken at run time, e.g. by Velero)"),
    ):  # fmt: skip
        if key not in usage.totals:
            continue
        p = table.price(price_key)
        comp = Component(name, p.unit, p.usd, usage.totals[key], p.source, key)
        notes = [f"{key} = {usage.totals[key]:g} in {src}"]
        if key == "data_transfer_out_gb":
            notes.append("the 100 GB/month free allowance is not applied: AWS grants it "
                         "once per organization across all regions")  # fmt: skip
        items.append(
            item(USAGE_STACK, key, rtype, (comp,), assumptions=tuple(notes), hours=usage.hours)
        )
    return StackEstimate(USAGE_STACK, src, tuple(items)) if items else None


def environment_inputs(repo: Repository, env: str) -> list[StackInput]:
    """The stacks of one environment: its deployment files and their templates."""
    environment = repo.environment(env)
    inputs: list[StackInput] = []
    for stack, dep in repo.deployments(env).items():
        path = repo.root / dep.spec.template_file_path
        template = repo.template(path) if path.is_file() else Template(path, None)
        if not path.is_file():
            template.errors.append(_missing(dep.spec.template_file_path))
        inputs.append(StackInput(stack, template, dep.spec.template_file_path,
                                 dep.spec.parameters, environment.stack_name(stack),
                                 environment.region, environment.account_id))  # fmt: skip
    return inputs


def price_environment(
    env: str, inputs: list[StackInput], usage: UsageFile, table: PriceTable, on: date
) -> EnvEstimate:
    values = usage.for_env(env)
    stacks = price_stacks(inputs, values, table, on)
    extra = usage_items(values, table)
    return EnvEstimate(env, tuple([*stacks, *([extra] if extra else [])]), values.source)


def estimate_environment(
    repo: Repository, env: str, usage: UsageFile, table: PriceTable, on: date
) -> EnvEstimate:
    return price_environment(env, environment_inputs(repo, env), usage, table, on)


def _missing(path: str) -> Any:
    from bot.repo.templates import LoadError

    return LoadError(1, 1, f"{path} does not exist")


def estimate_templates(
    paths: list[Path],
    *,
    parameters: Mapping[str, str],
    usage: UsageFile,
    table: PriceTable,
    on: date,
    label: str = "templates",
) -> EnvEstimate:
    """Bare templates (like `infracost breakdown --path`): one pool, --parameter values."""
    from bot.repo.templates import load_template

    inputs = [StackInput(p.stem, load_template(p), p.as_posix(), parameters, p.stem) for p in paths]
    values = usage.for_env(None)
    return EnvEstimate(label, tuple(price_stacks(inputs, values, table, on)), values.source)

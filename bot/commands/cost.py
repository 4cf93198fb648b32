"""`infra-bot cost`: monthly cost per environment and stack, and the delta of a change."""

from __future__ import annotations

import shutil
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.commands.common import fail, repo_root

if TYPE_CHECKING:
    from bot.cost.delta import EnvDelta
    from bot.cost.prices import PriceTable
    from bot.cost.usage import UsageFile
    from bot.repo.model import Repository


class Format(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


def register(app: typer.Typer) -> None:
    app.command("cost")(cost)


def cost(
    templates: Annotated[
        list[Path] | None, typer.Argument(help="Price these templates directly.")
    ] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="Environment(s).")] = None,
    changed_since: Annotated[
        str | None, typer.Option(help="Compare with the tree at this git ref.")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
    usage: Annotated[Path | None, typer.Option("--usage", help="Usage file.")] = None,
    live_prices: Annotated[
        bool, typer.Option("--live-prices", help="EC2 prices from the AWS Price List API.")
    ] = False,
    parameter: Annotated[
        list[str] | None, typer.Option("--parameter", help="KEY=VALUE for templates.")
    ] = None,
    on: Annotated[str | None, typer.Option("--date", help="Price as of YYYY-MM-DD.")] = None,
    approved: Annotated[
        list[str] | None, typer.Option("--approved", help="Env whose increase is approved.")
    ] = None,
    fail_over_threshold: Annotated[
        bool, typer.Option(help="Exit 1 when an unapproved env exceeds its cost limit.")
    ] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")] = None,
    root: Annotated[Path | None, typer.Option("--root", help="Repository root.")] = None,
) -> None:
    """Estimate monthly AWS cost (us-east-1 on-demand, 730 h/month) and its change."""
    from bot.cost.prices import PriceError, load_embedded
    from bot.cost.usage import UsageError
    from bot.repo.changes import GitError
    from bot.repo.model import RepoError, Repository

    templates, env, parameter, approved = (
        templates or [],
        env or [],
        parameter or [],
        approved or [],
    )
    repo = Repository(root.resolve() if root else repo_root())
    try:
        day = date.fromisoformat(on) if on else date.today()
    except ValueError:
        raise fail(f"--date {on!r}: expected YYYY-MM-DD") from None
    params = _params(parameter)
    if templates and (changed_since or env):
        raise fail("--changed-since and --env apply to environments, not to templates")
    if params and not templates:
        raise fail("--parameter applies to templates named on the command line; "
                   "environments take parameters from their deployment files")  # fmt: skip
    try:
        table = load_embedded()
        usage_file = _usage(repo, usage)
        if templates:
            deltas = _templates(list(templates), params, usage_file, table, day)
        else:
            deltas = _environments(repo, list(env), changed_since, usage_file, table, day)
        if live_prices:
            table = _live(table, deltas)
            deltas = (
                _templates(list(templates), params, usage_file, table, day)
                if templates
                else _environments(repo, list(env), changed_since, usage_file, table, day)
            )
    except (RepoError, GitError, UsageError, PriceError) as exc:
        raise fail(str(exc)) from None
    _emit(repo, deltas, table, day, fmt, output, changed_since is not None, set(approved),
          fail_over_threshold)  # fmt: skip


def _params(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise fail(f"--parameter {pair!r}: expected KEY=VALUE")
        out[key] = value
    return out


def _usage(repo: Repository, path: Path | None) -> UsageFile:
    from bot.cost.compare import repository_usage
    from bot.cost.usage import load_usage

    if path is not None:
        if not path.is_file():
            raise fail(f"--usage {path}: no such file")
        return load_usage(path, repo.rel(path))
    return repository_usage(repo)


def _templates(
    paths: list[Path], params: dict[str, str], usage: UsageFile, table: PriceTable, day: date
) -> list[EnvDelta]:
    from bot.cost.delta import diff_env
    from bot.cost.estimate import estimate_templates

    for p in paths:
        if not p.is_file():
            raise fail(f"{p}: no such template")
    est = estimate_templates(paths, parameters=params, usage=usage, table=table, on=day)
    return [diff_env(est.env, None, est)]


def _environments(
    repo: Repository,
    envs: list[str],
    ref: str | None,
    usage: UsageFile,
    table: PriceTable,
    day: date,
) -> list[EnvDelta]:
    from bot.cost.compare import environment_deltas
    from bot.repo.changes import checkout_at
    from bot.repo.model import Repository

    if ref is None:
        return environment_deltas(repo, envs, None, usage, table, day)
    if ref.startswith("-"):
        raise fail(f"refusing a ref that looks like an option: {ref!r}")
    base_root = checkout_at(repo.root, ref)
    try:
        return environment_deltas(repo, envs, Repository(base_root), usage, table, day)
    finally:
        shutil.rmtree(base_root, ignore_errors=True)


def _live(table: PriceTable, deltas: list[EnvDelta]) -> PriceTable:
    import boto3

    from bot.cost.live import LivePriceError, live_table, needed_products

    items = [r.current for d in deltas for s in d.stacks for r in s.resources]
    client = boto3.client("pricing", region_name="us-east-1")
    cache = Path.home() / ".cache" / "infra-bot" / "prices.json"
    try:
        return live_table(table, needed_products(items), client, cache)
    except LivePriceError as exc:
        raise fail(f"--live-prices: {exc}") from None


def _emit(
    repo: Repository,
    deltas: list[EnvDelta],
    table: PriceTable,
    day: date,
    fmt: Format,
    output: Path | None,
    compared: bool,
    approved: set[str],
    fail_over: bool,
) -> None:
    import json

    from bot.cost.report import to_document
    from bot.render.cost import evaluate_thresholds, exceeding, render_comment

    limits = {n: e.cost for n, e in repo.environments.items()}
    results = evaluate_thresholds(deltas, limits) if compared else {}
    if fmt is Format.json:
        flags = {env: r.exceeded for env, r in results.items()}
        doc = to_document(deltas, table, day, compared=compared, exceeded=flags)
        text = json.dumps(doc, indent=2) + "\n"
    elif fmt is Format.markdown:
        text = render_comment(deltas, results, approved, price_date=table.as_of,
                              compared=compared)  # fmt: skip
    else:
        text = ""
    if output is not None:
        output.write_text(text or _plain(deltas, compared), encoding="utf-8")
    elif fmt is Format.text:
        _print_rich(deltas, compared, table)
    else:
        sys.stdout.write(text)
    if fail_over and exceeding(results, approved):
        raise typer.Exit(1)


def _details(item: Any) -> str:
    lines = []
    for c in item.components:
        if c.quantity is None:
            lines.append(f"{c.name}: depends on usage (${c.unit_price:g} per {c.unit})")
        else:
            lines.append(f"{c.name}: {c.quantity:,.4g} x ${c.unit_price:g} = ${c.monthly:,.2f}")
    return "\n".join([*lines, *(f"- {a}" for a in item.assumptions)])


def _plain(deltas: list[EnvDelta], compared: bool) -> str:
    from bot.render.cost import headline, money

    out = []
    for d in deltas:
        out.append(headline(d) if compared else f"{d.env}: {money(d.after_monthly)}/month")
        for s in d.stacks:
            for r in s.resources:
                monthly = r.after_monthly if r.after else r.before_monthly
                marker = r.change.value if compared else " "
                out.append(f"  {marker} {s.stack}/{r.logical_id} {r.current.type} "
                           f"{r.current.status.value} {money(monthly)}")  # fmt: skip
    return "\n".join(out) + "\n"


def _print_rich(deltas: list[EnvDelta], compared: bool, table: PriceTable) -> None:
    from rich.console import Console
    from rich.table import Table

    from bot.cost.delta import Change
    from bot.cost.model import Status
    from bot.render.cost import headline, money, signed

    # Piped output (CI logs) gets a width that fits the explanations on one line.
    console = Console(width=None if sys.stdout.isatty() else 180)
    for d in deltas:
        title = headline(d) if compared else f"{d.env}: {money(d.after_monthly)}/month"
        grid = Table(title=title, title_justify="left", show_lines=True)
        for col in ("", "resource / type", "status", "monthly", "delta" if compared else "hourly"):
            grid.add_column(col, overflow="fold")
        grid.add_column("how", overflow="fold", ratio=3)
        free = 0
        for s in d.stacks:
            for r in s.resources:
                item = r.current
                if item.status is Status.FREE and (r.change is Change.SAME or not compared):
                    free += 1
                    continue
                last = signed(r.delta) if compared else f"${item.hourly:.4f}"
                grid.add_row(r.change.value if compared else "",
                             f"{s.stack}/{r.logical_id}\n{item.type}", item.status.value,
                             money(item.monthly), last, _details(item))  # fmt: skip
        console.print(grid)
        console.print(f"{free} free resources not shown; prices as of {table.as_of}"
                      + (f" + {', '.join(table.overlays)}" if table.overlays else ""))  # fmt: skip

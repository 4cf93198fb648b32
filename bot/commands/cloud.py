"""`plan`, `deploy`, `promote`, `rollback`, `drift`, `status`, `destroy`, `unlock`.

Thin: read options and the few Actions environment variables, build an EnvRun
(boto3 inside), call bot.cloud.runs, print markdown from bot.render.changeset.
Exit codes: 0 done, 1 the operation ran and something failed, 2 refused or bad input.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bot.commands.common import fail, repo_root

if TYPE_CHECKING:
    from bot.cloud.events import StackEvent
    from bot.cloud.helm import HelmRunner
    from bot.cloud.runs import ClusterConnect, EnvRun
    from bot.cloud.spec import StackSpec
    from bot.settings import Settings

ROOT_OPT = typer.Option(None, "--root", help="Repository root.")
ENDPOINT_OPT = typer.Option(
    None, "--endpoint-url", help="AWS endpoint (moto, LocalStack); default $AWS_ENDPOINT_URL."
)
STACKS_OPT = typer.Option([], "--stacks", help="Only these stacks (repeat or comma-separate).")
COMMIT_OPT = typer.Option(None, "--commit", help="Commit to plan/deploy; default HEAD.")
OUTPUT_OPT = typer.Option(None, "--output", "-o", help="Also write the markdown to this file.")
OVERRIDE_OPT = typer.Option(
    False, "--override-protection", help="Allow PRD outside its protected workflow job."
)


def register(app: typer.Typer) -> None:
    for name, fn in (
        ("plan", plan),
        ("deploy", deploy),
        ("promote", promote),
        ("rollback", rollback),
        ("drift", drift),
        ("status", status),
        ("destroy", destroy),
        ("unlock", unlock),
    ):
        app.command(name)(fn)


def _split(values: list[str]) -> list[str] | None:
    out = [v.strip() for item in values for v in item.split(",") if v.strip()]
    return out or None


def _settings() -> Settings:
    """The Actions environment, read in bot.settings (the one place that reads it)."""
    from bot.settings import Settings

    return Settings.from_env()


def _in_actions() -> bool:
    return _settings().in_actions


def _bound_env() -> str | None:
    return _settings().bound_environment


def _owner() -> str:
    settings = _settings()
    if settings.run_id:
        return f"github-run-{settings.run_id}"
    return f"{os.environ.get('USER', 'someone')}@{os.uname().nodename}"


def _emit(markdown: str, output: Path | None) -> None:
    sys.stdout.write(markdown)
    sys.stdout.flush()
    if output:
        output.write_text(markdown, encoding="utf-8")
    settings = _settings()
    if settings.in_actions and settings.step_summary:
        with settings.step_summary.open("a", encoding="utf-8") as fh:
            fh.write(markdown + "\n")


@contextmanager
def _errors() -> Iterator[None]:
    """Known failures become one clear line and exit code 2, not a traceback."""
    from bot.cloud.adapter import CloudError
    from bot.cloud.helm import HelmError
    from bot.cloud.runs import RunRefused
    from bot.repo.changes import GitError
    from bot.repo.graph import GraphError
    from bot.repo.model import RepoError

    try:
        yield
    except (RunRefused, RepoError, GraphError, GitError, CloudError, HelmError) as exc:
        raise fail(str(exc)) from None
    except Exception as exc:
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, ClientError | BotoCoreError):
            raise fail(f"AWS: {exc}") from None
        raise


def _open(root: Path | None, env: str, endpoint: str | None) -> EnvRun:
    from bot.cloud.runs import open_env
    from bot.repo.model import Repository

    repo = Repository(root.resolve() if root else repo_root())
    return open_env(repo, env, endpoint_url=endpoint, owner=_owner())


def _commit(run: EnvRun, commit: str | None) -> str:
    from bot.cloud.spec import check_commit
    from bot.cloud.targets import head_commit

    return check_commit(commit) if commit else head_commit(run.repo.root)


class EventPrinter:
    """Stack events as they arrive: plain lines in Actions or pipes, rich in a terminal."""

    def __init__(self) -> None:
        from rich.console import Console

        self.plain = _in_actions() or not sys.stdout.isatty()
        self.console = Console(stderr=True, highlight=False)

    def __call__(self, spec: StackSpec, event: StackEvent) -> None:
        from bot.render.changeset import event_line

        line = event_line(spec.stack_name, event.line())
        if self.plain:
            print(line, file=sys.stderr, flush=True)
            return
        style = "red" if event.failed else "green" if event.status.endswith("COMPLETE") else ""
        self.console.print(line, style=style, markup=False)

    @contextmanager
    def running(self, what: str) -> Iterator[None]:
        if self.plain:
            print(what, file=sys.stderr, flush=True)
            yield
            return
        with self.console.status(what):
            yield


def plan(
    env: str = typer.Option(..., "--env", help="Environment to plan."),
    stacks: list[str] = STACKS_OPT,
    changed_since: str | None = typer.Option(None, help="Only stacks changed since this ref."),
    commit: str | None = COMMIT_OPT,
    output: Path | None = OUTPUT_OPT,
    root: Path | None = ROOT_OPT,
    endpoint_url: str | None = ENDPOINT_OPT,
) -> None:
    """Create change sets for this commit and print their preview (nothing is executed)."""
    from bot.cloud.preview import Outcome
    from bot.cloud.runs import plan_env
    from bot.render.changeset import plan_markdown

    with _errors():
        run = _open(root, env, endpoint_url)
        sha = _commit(run, commit)
        with EventPrinter().running(f"planning {env} at {sha[:12]}"):
            previews = plan_env(run, sha, _split(stacks), changed_since)
    _emit(plan_markdown(env, sha, previews), output)
    if any(p.outcome in {Outcome.FAILED, Outcome.BLOCKED} for p in previews):
        raise typer.Exit(1)


def deploy(
    env: str = typer.Option(..., "--env", help="Environment to deploy."),
    stacks: list[str] = STACKS_OPT,
    commit: str | None = COMMIT_OPT,
    replan: bool = typer.Option(
        False, "--replan", help="Plan stacks that have no change set yet, then deploy them."
    ),
    kubeconfig: Path | None = typer.Option(
        None, help="The cluster for the Helm releases; default: found from the cluster stack."
    ),
    helm: bool | None = typer.Option(
        None, "--helm/--no-helm", help="Deploy the Helm releases too (default: when there are any)."
    ),
    override_protection: bool = OVERRIDE_OPT,
    output: Path | None = OUTPUT_OPT,
    root: Path | None = ROOT_OPT,
    endpoint_url: str | None = ENDPOINT_OPT,
) -> None:
    """Execute the reviewed change sets of this commit, in dependency order, then the Helm
    releases against the cluster of their cluster stack.

    A release is "skipped: <why>" when its cluster cannot be used. Exit code 1 when
    the cluster stack was part of this deploy but its cluster cannot be reached (no
    ClusterName output, DescribeCluster refused): the releases were due. Not a
    failure when the cluster stack is not one of ENV's stacks or not among --stacks.
    """
    import tempfile

    from bot.cloud.runs import deploy_env
    from bot.render.changeset import deploy_markdown, stack_preview_md

    printer = EventPrinter()
    with _errors(), tempfile.TemporaryDirectory(prefix="infra-bot-kube-") as folder:
        run = _open(root, env, endpoint_url)
        sha = _commit(run, commit)
        with_helm = bool(run.repo.releases) if helm is None else helm
        outcome = deploy_env(
            run,
            sha,
            _split(stacks),
            replan=replan,
            on_event=printer,
            on_preview=lambda p: _emit(stack_preview_md(p) + "\n\n", None),
            helm=_helm() if with_helm else None,
            kubeconfig=kubeconfig,
            connect=_connector(run, endpoint_url, Path(folder)) if with_helm else None,
            bound_env=_bound_env(),
            override_protection=override_protection,
        )
    text = deploy_markdown(env, sha, outcome.results, outcome.releases)
    if not with_helm and run.repo.releases:
        text += "\nHelm releases were not deployed (--no-helm).\n"
    _emit(text, output)
    if not outcome.ok:
        raise typer.Exit(1)


def _connector(run: EnvRun, endpoint_url: str | None, folder: Path) -> ClusterConnect:
    """Finds the cluster of a cluster stack and writes its kubeconfig into `folder`."""
    from bot.cloud.eks import ClusterConnector
    from bot.cloud.session import target_for

    return ClusterConnector(run.cfn, run.env, target_for(run.env, endpoint_url), folder)


def _helm() -> HelmRunner:
    from bot.cloud.helm import toolchain_helm

    return toolchain_helm()


def promote(
    source: str = typer.Argument(..., help="Environment to promote from (e.g. dev)."),
    target: str = typer.Argument(..., help="Environment to promote to (e.g. tst)."),
    stacks: list[str] = STACKS_OPT,
    checks_passed: bool | None = typer.Option(
        None, "--checks-passed/--checks-failed", help="Result of the source's checks."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only run the pre-checks."),
    override_protection: bool = OVERRIDE_OPT,
    output: Path | None = OUTPUT_OPT,
    root: Path | None = ROOT_OPT,
    endpoint_url: str | None = ENDPOINT_OPT,
) -> None:
    """Pre-check SOURCE (same commit everywhere, no drift, checks passed), then deploy TARGET."""
    from bot.cloud import runs
    from bot.render.changeset import promotion_markdown

    with _errors():
        src = _open(root, source, endpoint_url)
        dst = _open(root, target, endpoint_url)
        outcome = runs.promote(
            src,
            dst,
            stacks=_split(stacks),
            checks_passed=checks_passed,
            on_event=EventPrinter(),
            bound_env=_bound_env(),
            override_protection=override_protection,
            dry_run=dry_run,
        )
    _emit(promotion_markdown(outcome), output)
    if not outcome.ok:
        raise typer.Exit(1)


def rollback(
    env: str = typer.Argument(..., help="Environment."),
    stack: str = typer.Argument(..., help="Stack to roll back."),
    to: str | None = typer.Option(None, "--to", help="Commit to return to."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show the change set."),
    override_protection: bool = OVERRIDE_OPT,
    output: Path | None = OUTPUT_OPT,
    root: Path | None = ROOT_OPT,
    endpoint_url: str | None = ENDPOINT_OPT,
) -> None:
    """Redeploy the last successfully deployed template and parameters of STACK."""
    from bot.cloud import runs
    from bot.render.changeset import rollback_markdown

    with _errors():
        run = _open(root, env, endpoint_url)
        outcome = runs.rollback(
            run,
            stack,
            to=to,
            execute=not dry_run,
            on_event=EventPrinter(),
            bound_env=_bound_env(),
            override_protection=override_protection,
        )
    _emit(rollback_markdown(env, outcome), output)
    if outcome.result and not outcome.result.result.ok:
        raise typer.Exit(1)


def drift(
    env: str = typer.Argument(..., help="Environment."),
    stacks: list[str] = STACKS_OPT,
    output: Path | None = OUTPUT_OPT,
    root: Path | None = ROOT_OPT,
    endpoint_url: str | None = ENDPOINT_OPT,
) -> None:
    """Run CloudFormation drift detection and show expected vs actual values."""
    from bot.cloud.drift import DriftState
    from bot.cloud.runs import drift_env
    from bot.render.changeset import drift_markdown

    with _errors():
        run = _open(root, env, endpoint_url)
        with EventPrinter().running(f"detecting drift in {env}"):
            drifts = drift_env(run, _split(stacks))
    _emit(drift_markdown(env, drifts), output)
    if any(d.state is DriftState.DRIFTED for d in drifts):
        raise typer.Exit(1)


def status(
    env: str = typer.Argument(..., help="Environment."),
    output: Path | None = OUTPUT_OPT,
    root: Path | None = ROOT_OPT,
    endpoint_url: str | None = ENDPOINT_OPT,
) -> None:
    """Stacks with their state, deployed commit and age; the environment's Helm releases."""
    from datetime import UTC, datetime

    from bot.cloud.runs import status_env
    from bot.render.changeset import status_markdown

    with _errors():
        run = _open(root, env, endpoint_url)
        rows = status_env(run)
    _emit(status_markdown(env, rows, sorted(run.repo.releases), datetime.now(UTC)), output)


def destroy(
    env: str = typer.Argument(..., help="Environment."),
    confirm: str | None = typer.Option(None, "--confirm", help='Type "DELETE <ENV>".'),
    root: Path | None = ROOT_OPT,
    endpoint_url: str | None = ENDPOINT_OPT,
) -> None:
    """Delete every stack of ENV in reverse dependency order (never PRD)."""
    from bot.cloud.policy import destroy_refusal
    from bot.cloud.runs import destroy_env

    refusal = destroy_refusal(env, confirm)
    if refusal:
        raise fail(refusal)
    with _errors():
        run = _open(root, env, endpoint_url)
        deleted = destroy_env(run, confirm)
    lines = [f"### Destroy `{env}`", ""] + [
        f"{i}. `{d.stack_name}`: {d.status}" for i, d in enumerate(deleted, 1)
    ]
    _emit("\n".join(lines) + "\n", None)
    if any(d.status not in {"DELETE_COMPLETE", "NOT_DEPLOYED"} for d in deleted):
        raise typer.Exit(1)


def unlock(
    env: str = typer.Argument(..., help="Environment."),
    force: bool = typer.Option(False, "--force", help="Release a lock that is not stale yet."),
    root: Path | None = ROOT_OPT,
    endpoint_url: str | None = ENDPOINT_OPT,
) -> None:
    """Release a stale deploy lock of ENV."""
    from datetime import UTC, datetime

    from bot.cloud import lock

    with _errors():
        run = _open(root, env, endpoint_url)
        if run.locks is None:
            raise fail("no lock store for this environment")
        try:
            message = lock.unlock(
                run.locks, lock.lock_name(run.env.project, env), datetime.now(UTC), force
            )
        except lock.LockError as exc:
            raise fail(str(exc)) from None
    _emit(message + "\n", None)

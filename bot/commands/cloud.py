"""`plan`, `deploy`, `promote`, `rollback`, `drift`, `status`, `destroy`, `unlock`.

Thin: read options and the few Actions environment variables, build an EnvRun
(boto3 inside), call bot.cloud.runs, print markdown from bot.render.changeset.
Exit codes: 0 done (a deploy with nothing to change too), 1 the operation ran and
something failed (an AWS error included), 2 refused or bad input.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_type_hints

import typer

from bot.cloud.purpose import Purpose
from bot.commands.common import fail, repo_root

if TYPE_CHECKING:
    from bot.cloud.events import StackEvent
    from bot.cloud.helm import HelmRunner
    from bot.cloud.runs import EnvRun, HelmAccess
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
KUBECONFIG_OPT = typer.Option(
    None, help="The cluster for the Helm releases; default: found from the cluster stack."
)
HELM_OPT = typer.Option(
    None, "--helm/--no-helm", help="Deploy the Helm releases too (default: when there are any)."
)
ENV_ARG = typer.Argument(..., help="Environment.")


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
    """Known failures become one clear line, not a traceback: exit code 2 for a refusal
    or bad input, 1 for AWS failing (the run was right to try; AWS or access was not)."""
    from bot.cloud.adapter import CloudError, translate
    from bot.cloud.helm import HelmError
    from bot.cloud.runs import RunRefused
    from bot.repo.changes import GitError
    from bot.repo.graph import GraphError
    from bot.repo.model import RepoError

    try:
        yield
    except (RunRefused, RepoError, GraphError, GitError, HelmError) as exc:
        raise fail(str(exc)) from None
    except CloudError as exc:
        raise fail(f"AWS: {exc}", 1) from None
    except Exception as exc:
        # Clients the adapter does not wrap (SSM locks, STS): the same translation.
        mine = translate(exc, "the call")
        if mine is None:
            raise
        raise fail(f"AWS: {mine}", 1) from None


def _open(
    root: Path | None, env: str, endpoint: str | None, purpose: Purpose = Purpose.DEPLOY
) -> EnvRun:
    """The environment as the role for `purpose`: PLAN for plan, drift, status and a
    promotion's source; DEPLOY for everything that changes it."""
    from bot.cloud.runs import open_env
    from bot.repo.model import Repository

    repo = Repository(root.resolve() if root else repo_root())
    run = open_env(repo, env, endpoint_url=endpoint, owner=_owner(), purpose=purpose)
    run.clock = dataclasses.replace(run.clock, progress=WaitReporter())
    return run


class WaitReporter:
    """Long waits, shown: a line every `every` seconds per thing awaited (Actions logs
    and pipes keep each line), styled by rich in a terminal. Silent for short waits."""

    def __init__(self, every: float = 30.0) -> None:
        from rich.console import Console

        self.every = every
        self.plain = _in_actions() or not sys.stderr.isatty()
        self.console = Console(stderr=True, highlight=False)
        self.shown: dict[str, float] = {}

    def __call__(self, what: str, elapsed: float) -> None:
        if elapsed - self.shown.get(what, 0.0) < self.every:
            return
        self.shown[what] = elapsed
        line = f"still waiting for {what}: {elapsed:.0f} s"
        if self.plain:
            print(line, file=sys.stderr, flush=True)
        else:
            self.console.print(f"[dim]⏳ {line}[/]", markup=True)


def _commit(run: EnvRun, commit: str | None) -> str:
    from bot.cloud.spec import check_commit
    from bot.cloud.targets import head_commit

    return check_commit(commit) if commit else head_commit(run.repo.root)


@dataclass(frozen=True)
class Place:
    """--root, --endpoint-url and --output: the repository and AWS endpoint a command
    works on, and the file its markdown also goes to."""

    root: Path | None = None
    endpoint_url: str | None = None
    output: Path | None = None

    def open(self, env: str, purpose: Purpose = Purpose.DEPLOY) -> EnvRun:
        return _open(self.root, env, self.endpoint_url, purpose)

    @contextmanager
    def opened(self, env: str, purpose: Purpose = Purpose.DEPLOY) -> Iterator[EnvRun]:
        """`env` opened; known failures in the block become one line and exit code 2."""
        with _errors():
            yield self.open(env, purpose)

    def emit(self, markdown: str) -> None:
        _emit(markdown, self.output)


Command = Callable[..., None]
_PLACE_OPTIONS = (
    ("output", OUTPUT_OPT, Path | None),
    ("root", ROOT_OPT, Path | None),
    ("endpoint_url", ENDPOINT_OPT, str | None),
)


def _place_options(*, output: bool = True) -> Callable[[Command], Command]:
    """Adds --output (unless `output` is False), --root and --endpoint-url after a command's
    own options, in that order, and hands them to it as its keyword-only `place`."""
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=kind)
        for name, opt, kind in _PLACE_OPTIONS
        if output or name != "output"
    ]

    def add(command: Command) -> Command:
        hints = get_type_hints(command)
        own = [
            p.replace(annotation=hints[name])
            for name, p in inspect.signature(command).parameters.items()
            if name != "place"
        ]

        @functools.wraps(command)
        def run(*args: Any, output: Path | None = None, root: Path | None = None,
                endpoint_url: str | None = None, **kwargs: Any) -> None:  # fmt: skip
            command(*args, place=Place(root, endpoint_url, output), **kwargs)

        run.__signature__ = inspect.Signature([*own, *shared])  # type: ignore[attr-defined]
        return run

    return add


@contextmanager
def _helm_access(
    run: EnvRun, wanted: bool | None, kubeconfig: Path | None, place: Place
) -> Iterator[HelmAccess]:
    """helm and the clusters of `run`: --kubeconfig for all, else each one found from its
    cluster stack (bot.cloud.eks); no helm with --no-helm, or by default without releases."""
    from bot.cloud.runs import HelmAccess, cluster_access

    if not (bool(run.repo.releases) if wanted is None else wanted):
        yield HelmAccess()
    elif kubeconfig is not None:
        yield HelmAccess(_helm(), kubeconfig=kubeconfig)
    else:
        with cluster_access(run, _helm(), place.endpoint_url) as access:
            yield access


def _no_helm_note(run: EnvRun, wanted: bool | None) -> str:
    return (
        "\nHelm releases were not deployed (--no-helm).\n"
        if wanted is False and run.repo.releases
        else ""
    )


def _exit_unless(ok: bool) -> None:
    """Exit code 1: the operation ran and something failed."""
    if not ok:
        raise typer.Exit(1)


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


@_place_options()
def plan(
    env: str = typer.Option(..., "--env", help="Environment to plan."),
    stacks: list[str] = STACKS_OPT,
    changed_since: str | None = typer.Option(None, help="Only stacks changed since this ref."),
    commit: str | None = COMMIT_OPT,
    *,
    place: Place,
) -> None:
    """Create change sets for this commit and print their preview (nothing is executed)."""
    from bot.cloud.preview import Outcome
    from bot.cloud.runs import plan_env
    from bot.render.changeset import plan_markdown

    with place.opened(env, Purpose.PLAN) as run:
        sha = _commit(run, commit)
        with EventPrinter().running(f"planning {env} at {sha[:12]}"):
            previews = plan_env(run, sha, _split(stacks), changed_since)
    place.emit(plan_markdown(env, sha, previews))
    # A stack in ROLLBACK_COMPLETE cannot be previewed, but the deploy recreates it.
    _exit_unless(not any(p.outcome in {Outcome.FAILED, Outcome.BLOCKED}
                         and p.stack_status != "ROLLBACK_COMPLETE" for p in previews))  # fmt: skip


@_place_options()
def deploy(
    env: str = typer.Option(..., "--env", help="Environment to deploy."),
    stacks: list[str] = STACKS_OPT,
    commit: str | None = COMMIT_OPT,
    replan: bool = typer.Option(
        False, "--replan", help="Plan stacks that have no change set yet, then deploy them."
    ),
    kubeconfig: Path | None = KUBECONFIG_OPT,
    helm: bool | None = HELM_OPT,
    override_protection: bool = OVERRIDE_OPT,
    continue_rollback: bool = typer.Option(
        False,
        "--continue-rollback",
        help="Continue the rollback of a stack in UPDATE_ROLLBACK_FAILED (ContinueUpdateRollback).",
    ),
    skip_resource: list[str] = typer.Option(
        [],
        "--skip-resource",
        help="With --continue-rollback: a resource to skip (repeat); the deploy lists them.",
    ),
    *,
    place: Place,
) -> None:
    """Execute the reviewed change sets of this commit, then the Helm releases.

    Exit code 0 also when there is nothing to deploy (every stack unchanged). A stack
    left in ROLLBACK_COMPLETE by a failed first create is deleted and created again.

    A release is "skipped: <why>" when its cluster cannot be used. Exit code 1 when
    the cluster stack was part of this deploy but its cluster cannot be reached (no
    ClusterName output, DescribeCluster refused): the releases were due. Not a
    failure when the cluster stack is not one of ENV's stacks or not among --stacks.
    """
    from bot.cloud.deployer import Recovery
    from bot.cloud.runs import deploy_env
    from bot.render.changeset import deploy_markdown, stack_preview_md

    skip = tuple(_split(skip_resource) or ())
    if skip and not continue_rollback:
        raise fail("--skip-resource goes with --continue-rollback")
    printer = EventPrinter()
    with place.opened(env) as run, _helm_access(run, helm, kubeconfig, place) as access:
        sha = _commit(run, commit)
        outcome = deploy_env(
            run, sha, _split(stacks), replan=replan, on_event=printer,
            on_preview=lambda p: _emit(stack_preview_md(p) + "\n\n", None),
            helm=access.helm, kubeconfig=access.kubeconfig, connect=access.connect,
            bound_env=_bound_env(), override_protection=override_protection,
            recovery=Recovery(continue_rollback=continue_rollback, skip=skip),
        )  # fmt: skip
    text = deploy_markdown(env, sha, outcome.results, outcome.releases)
    place.emit(text + _no_helm_note(run, helm))
    _exit_unless(outcome.ok)


def _helm() -> HelmRunner:
    from bot.cloud.helm import toolchain_helm

    return toolchain_helm()


@_place_options()
def promote(
    source: str = typer.Argument(..., help="Environment to promote from (e.g. dev)."),
    target: str = typer.Argument(..., help="Environment to promote to (e.g. tst)."),
    stacks: list[str] = STACKS_OPT,
    checks_passed: bool | None = typer.Option(
        None, "--checks-passed/--checks-failed", help="Result of the source's checks."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only run the pre-checks."),
    kubeconfig: Path | None = KUBECONFIG_OPT,
    helm: bool | None = HELM_OPT,
    override_protection: bool = OVERRIDE_OPT,
    *,
    place: Place,
) -> None:
    """Pre-check SOURCE (same commit everywhere, no drift, checks passed), then deploy TARGET.

    TARGET's stacks deploy at SOURCE's commit, then that commit's Helm releases against
    the cluster of TARGET's cluster stack, as `deploy` does.
    """
    from bot.cloud import runs
    from bot.render.changeset import promotion_markdown

    with place.opened(source, Purpose.PLAN) as src:
        # A dry run only pre-checks the source: the target's plan role is enough.
        dst = place.open(target, Purpose.PLAN if dry_run else Purpose.DEPLOY)
        with _helm_access(dst, False if dry_run else helm, kubeconfig, place) as access:
            outcome = runs.promote(
                src, dst, stacks=_split(stacks), checks_passed=checks_passed,
                on_event=EventPrinter(), bound_env=_bound_env(),
                override_protection=override_protection, dry_run=dry_run,
                helm=access.helm, kubeconfig=access.kubeconfig, connect=access.connect,
            )  # fmt: skip
    place.emit(promotion_markdown(outcome) + _no_helm_note(dst, helm))
    _exit_unless(outcome.ok)


@_place_options()
def rollback(
    env: str = ENV_ARG,
    stack: str = typer.Argument(..., help="Stack to roll back."),
    to: str | None = typer.Option(None, "--to", help="Commit to return to."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show the change set."),
    override_protection: bool = OVERRIDE_OPT,
    *,
    place: Place,
) -> None:
    """Redeploy the last successfully deployed template and parameters of STACK."""
    from bot.cloud import runs
    from bot.render.changeset import rollback_markdown

    with place.opened(env) as run:
        outcome = runs.rollback(
            run, stack, to=to, execute=not dry_run, on_event=EventPrinter(),
            bound_env=_bound_env(), override_protection=override_protection,
        )  # fmt: skip
    place.emit(rollback_markdown(env, outcome))
    _exit_unless(outcome.result is None or outcome.result.result.ok)


@_place_options()
def drift(env: str = ENV_ARG, stacks: list[str] = STACKS_OPT, *, place: Place) -> None:
    """Run CloudFormation drift detection and show expected vs actual values."""
    from bot.cloud.drift import DriftState
    from bot.cloud.runs import drift_env
    from bot.render.changeset import drift_markdown

    printer = EventPrinter()
    with place.opened(env, Purpose.PLAN) as run, printer.running(f"detecting drift in {env}"):
        drifts = drift_env(run, _split(stacks))
    place.emit(drift_markdown(env, drifts))
    _exit_unless(not any(d.state is DriftState.DRIFTED for d in drifts))


@_place_options()
def status(env: str = ENV_ARG, *, place: Place) -> None:
    """Stacks with their state, deployed commit and age; the environment's Helm releases."""
    from datetime import UTC, datetime

    from bot.cloud.runs import status_env
    from bot.render.changeset import status_markdown

    # With a cluster: each release's chart version, status, revision, last deploy;
    # without one (or helm, or access to it), one line saying why.
    with place.opened(env, Purpose.PLAN) as run, _helm_access(run, None, None, place) as access:
        got = status_env(run, access=access)
    place.emit(status_markdown(env, got.stacks, got.releases, datetime.now(UTC)))


@_place_options(output=False)
def destroy(
    env: str = ENV_ARG,
    confirm: str | None = typer.Option(None, "--confirm", help='Type "DELETE <ENV>".'),
    *,
    place: Place,
) -> None:
    """Delete every stack of ENV in reverse dependency order (never PRD)."""
    from bot.cloud.policy import destroy_refusal
    from bot.cloud.runs import destroy_env

    refusal = destroy_refusal(env, confirm)
    if refusal:
        raise fail(refusal)
    with place.opened(env) as run:
        deleted = destroy_env(run, confirm)
    lines = [f"### Destroy `{env}`", ""] + [
        f"{i}. `{d.stack_name}`: {d.status}" for i, d in enumerate(deleted, 1)
    ]
    place.emit("\n".join(lines) + "\n")
    _exit_unless(all(d.status in {"DELETE_COMPLETE", "NOT_DEPLOYED"} for d in deleted))


@_place_options(output=False)
def unlock(
    env: str = ENV_ARG,
    force: bool = typer.Option(False, "--force", help="Release a lock that is not stale yet."),
    *,
    place: Place,
) -> None:
    """Release a stale deploy lock of ENV."""
    from datetime import UTC, datetime

    from bot.cloud import lock

    with place.opened(env) as run:
        if run.locks is None:
            raise fail("no lock store for this environment")
        try:
            message = lock.unlock(
                run.locks, lock.lock_name(run.env.project, env), datetime.now(UTC), force
            )
        except lock.LockError as exc:
            raise fail(str(exc)) from None
    place.emit(message + "\n")

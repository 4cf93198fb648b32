"""`infra-bot demo`: the whole loop on one machine, through the real handlers.

A temporary copy of the platform is a git repository; LocalGitHub keeps the
issues, pull requests, comments, reviews, statuses and environment approvals;
moto on 127.0.0.1 is AWS with one account per environment. Every step replays
the webhook event GitHub would send into `run_handle`, the same entry point a
workflow run calls, so nothing here decides what the bot says.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.demo import payloads
from bot.demo.conversation import Said, Watcher, stickies
from bot.demo.localgit import LocalGit
from bot.demo.localgithub import LocalGitHub
from bot.demo.moto import moto_cloud
from bot.demo.platform import ADAPTATIONS, copy_platform
from bot.demo.transcript import Step
from bot.github.api import Permission, PullRequestInfo
from bot.github.context import Outcome

REPOSITORY = "acme/platform-infra"
REQUEST = "/infra add an encrypted S3 bucket for ALB access logs"
PEOPLE = {
    "alice": Permission.WRITE,  # asks for the change
    "bob": Permission.WRITE,  # reviews
    "carol": Permission.MAINTAIN,  # merges, and is the prd environment's required reviewer
}
TEAMS = {"acme/platform-admins": frozenset({"carol"})}  # prd is limited to this team


STEP_SECONDS = 180  # a stuck wait fails the demo instead of polling for an hour


class StepFailedError(RuntimeError):
    """A step did not end the way the product promises; the message says how."""


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """SIGALRM in the main thread; elsewhere (a test runner's worker thread) no limit."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(_signum: int, _frame: object) -> None:
        raise StepFailedError(f"the step took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class DemoResult:
    steps: list[Step]
    gh: LocalGitHub
    # Stacks per account at the checkpoints, read back from moto: "prd-before-approval", ...
    snapshots: dict[str, list[str]] = field(default_factory=dict)
    pr_number: int | None = None
    issue_number: int | None = None
    html: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(s.ok for s in self.steps)

    def document(self) -> dict[str, Any]:
        """The run as JSON-ready data (`infra-bot demo --json`): what tests and CI read."""
        threads = []
        for t in self.gh.threads.values():
            comments = [self.gh.comments[c] for c in t.comments]
            threads.append({
                "number": t.number, "title": t.title, "author": t.author, "body": t.body,
                "pull_request": t.pull is not None,
                "merged": bool(t.pull and t.pull.merged),
                "stickies": stickies(self.gh, t.number),
                "comments": [{"author": c.author, "bot": c.author_is_bot, "body": c.body}
                             for c in comments],
                "reviews": [{"author": r.author, "commit": r.commit_sha, "body": r.body}
                            for r in self.gh.reviews.get(t.number, [])],
            })  # fmt: skip
        return {
            "ok": self.ok,
            "error": self.error,
            "steps": [{"title": s.title, "ok": s.ok, "seconds": round(s.seconds, 2)}
                      for s in self.steps],
            "snapshots": self.snapshots,
            "threads": threads,
            "deployments": [{"environment": d.environment, "sha": d.sha, "state": d.state,
                             "approved_by": d.approved_by} for d in self.gh.deployments],
            "github_calls": len(self.gh.calls),
        }  # fmt: skip


Show = Callable[[Step, int, int, list[Said]], None]
Pause = Callable[[], None]


class Demo:
    def __init__(self, root: Path, show: Show, pause: Pause) -> None:
        self.root = root  # the default branch's checkout: the trusted workspace
        self.head = root.parent / "pr-head"  # a worktree for PR heads, read as data
        self.git = LocalGit(root)
        self.gh = LocalGitHub(self.git, REPOSITORY, dict(PEOPLE), teams=dict(TEAMS))
        self.watch = Watcher(self.gh)
        self.show, self.pause = show, pause
        self.summary = root.parent / "job-summary.md"
        self.output = root.parent / "job-output.txt"  # $GITHUB_OUTPUT
        self.prd_plan = ""
        self.result = DemoResult([], self.gh)

    # ------------------------------------------------------------ plumbing
    def handle(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        workspace: Path,
        env: str | None = None,
        run: str | None = None,
        actor: str = "",
        stage: str | None = None,
        plan: str | None = None,
    ) -> Outcome:
        """One workflow run: the event file, the Actions settings, `infra-bot handle`.
        A deploy's plan stage runs in a job without the environment (deploy.yml)."""
        from bot.commands.handle import run_handle
        from bot.settings import Settings

        event_path = self.root.parent / "event.json"
        event_path.write_text(json.dumps(payload), encoding="utf-8")
        settings = Settings(
            event_name=event, event_path=event_path, repository=REPOSITORY,
            workspace=self.root, step_summary=self.summary, actor=actor,
            bound_environment=None if stage == "plan" else env, write_pause=0.0,
            retry_backoff=0.0, output=self.output,
        )  # fmt: skip
        return run_handle(settings, api=self.gh, workspace=workspace, env=env, run=run,
                          stage=stage, plan=plan)  # fmt: skip

    def expect(self, outcome: Outcome, what: str) -> None:
        if outcome.exit_code != 0:
            raise StepFailedError(f"{what}: exit code {outcome.exit_code} ({outcome.note})")

    def comment(
        self, number: int, text: str, actor: str, *, on_pr: bool, workspace: Path, what: str = ""
    ) -> None:
        """`actor` comments `text` on issue or PR `number`; its workflow run must succeed."""
        comment = self.gh.user_comment(number, text, actor)
        payload = payloads.issue_comment(REPOSITORY, number, comment, on_pr=on_pr)
        outcome = self.handle("issue_comment", payload, workspace=workspace, actor=actor)
        self.expect(outcome, what or text)

    def checkout_main(self) -> str:
        sha = self.git.rev("main")
        self.git.run("update-ref", "refs/remotes/origin/main", sha)
        self.git.checkout(sha)
        return sha

    def checkout_head(self, pr: PullRequestInfo) -> Path:
        if not self.head.exists():
            self.git.run("worktree", "add", "--detach", str(self.head), pr.head_sha)
        else:
            LocalGit(self.head).checkout(pr.head_sha)
        return self.head

    def stacks_in(self, env: str) -> list[str]:
        """The stacks that exist in the environment's account, asked from moto over HTTP."""
        from bot.cloud.session import client, environment_session, target_for
        from bot.repo.model import Repository

        environment = Repository(self.root).environment(env)
        target = target_for(environment)
        cfn = client(environment_session(environment, target), "cloudformation", target)
        pages = cfn.get_paginator("list_stacks").paginate()
        return sorted(
            s["StackName"]
            for page in pages
            for s in page["StackSummaries"]
            # A stack in review holds a planned change set and no resources yet.
            if s["StackStatus"] not in {"DELETE_COMPLETE", "REVIEW_IN_PROGRESS"}
        )

    def snapshot(self, name: str, env: str) -> list[str]:
        stacks = self.stacks_in(env)
        self.result.snapshots[name] = stacks
        return stacks

    @property
    def pr(self) -> PullRequestInfo:
        assert self.result.pr_number is not None
        return self.gh.pull_request(self.result.pr_number)

    # --------------------------------------------------------------- steps
    def bootstrap(self) -> None:
        sha = self.checkout_main()
        outcome = self.handle("push", payloads.push(REPOSITORY, "0" * 40, sha, "carol"),
                              workspace=self.root, env="dev", actor="carol")  # fmt: skip
        self.expect(outcome, "deploying the foundation to dev")
        if len(self.snapshot("dev-foundation", "dev")) < 4:
            raise StepFailedError("the foundation stacks are not all in the dev account")

    def ask(self) -> None:
        self.checkout_main()
        issue = self.gh.open_issue(
            "ALB access logs bucket",
            "The ALB needs somewhere to write its access logs (SC-7 boundary monitoring).",
            "alice",
        )
        self.result.issue_number = issue
        self.comment(issue, REQUEST, "alice", on_pr=False, workspace=self.root,
                     what="/infra on the issue")  # fmt: skip
        pulls = [t.number for t in self.gh.threads.values() if t.pull is not None]
        if not pulls:
            raise StepFailedError("no pull request was opened")
        self.result.pr_number = pulls[-1]

    def pr_checks(self) -> None:
        pr = self.pr
        head = self.checkout_head(pr)
        payload = payloads.pull_request(REPOSITORY, "opened", pr)
        self.expect(self.handle("pull_request", payload, workspace=head), "validate")
        self.expect(self.handle("pull_request", payload, workspace=head, run="plan dev"), "plan")
        self.expect(self.handle("pull_request", payload, workspace=head, run="cost"), "cost")
        status = {s.context: s for s in self.gh.commit_statuses(pr.head_sha)}
        check = status.get("infra-bot/validate")
        if check is None or check.state != "success":
            raise StepFailedError(f"infra-bot/validate is {check.state if check else 'missing'}")

    def replan(self) -> None:
        pr = self.pr
        head = self.checkout_head(pr)
        self.comment(pr.number, "/infra plan dev", "bob", on_pr=True, workspace=head)
        self.no_duplicates()

    def merge(self) -> None:
        before = self.git.rev("main")
        merge_sha = self.gh.merge(self.pr.number, "carol")
        self.checkout_main()
        self.expect(self.handle("pull_request", payloads.pull_request(REPOSITORY, "closed",
                                                                      self.pr),
                                workspace=self.root), "pull_request closed")  # fmt: skip
        push = payloads.push(REPOSITORY, before, merge_sha, "carol")
        self.expect(self.handle("push", push, workspace=self.root, env="dev", actor="carol"),
                    "deploy dev")  # fmt: skip
        dev = self.snapshot("dev-after-merge", "dev")
        if not any("alb-access-logs" in s for s in dev):
            raise StepFailedError(f"the new stack is not in dev: {dev}")

    def promote_tst(self) -> None:
        push = payloads.push(REPOSITORY, "0" * 40, self.git.rev("main"), "carol")
        self.expect(self.handle("push", push, workspace=self.root, env="tst", actor="carol"),
                    "promote tst")  # fmt: skip
        tst = self.snapshot("tst-after-promotion", "tst")
        dev = self.result.snapshots["dev-after-merge"]
        if [s.replace("-tst-", "-dev-") for s in tst] != dev:
            raise StepFailedError(f"tst has {tst}, dev has {dev}")

    def prd_waits(self) -> None:
        push = payloads.push(REPOSITORY, "0" * 40, self.git.rev("main"), "carol")
        self.output.unlink(missing_ok=True)
        self.expect(self.handle("push", push, workspace=self.root, env="prd", actor="carol",
                                stage="plan"), "plan prd")  # fmt: skip
        lines = self.output.read_text(encoding="utf-8").splitlines()
        self.prd_plan = next(ln.removeprefix("plan=") for ln in lines if ln.startswith("plan="))
        self.deployment = self.gh.request_deployment("prd", self.git.rev("main"))
        prd = self.snapshot("prd-before-approval", "prd")
        if prd:
            raise StepFailedError(f"prd has stacks before anyone approved: {prd}")

    def prd_approved(self) -> None:
        self.gh.approve(self.deployment, "carol")
        push = payloads.push(REPOSITORY, "0" * 40, self.git.rev("main"), "carol")
        self.expect(self.handle("push", push, workspace=self.root, env="prd", actor="carol",
                                stage="execute", plan=self.prd_plan), "deploy prd")  # fmt: skip
        prd = self.snapshot("prd-after-approval", "prd")
        if len(prd) != len(self.result.snapshots["tst-after-promotion"]):
            raise StepFailedError(f"prd has {prd} after the approved deploy")

    def status(self) -> None:
        self.comment(self.pr.number, "/infra status", "alice", on_pr=True, workspace=self.root)
        self.no_duplicates()

    def no_duplicates(self) -> None:
        counts = stickies(self.gh, self.pr.number)
        twice = sorted(k for k, n in counts.items() if n > 1)
        if twice:
            raise StepFailedError(f"comments posted twice: {', '.join(twice)}")

    # ----------------------------------------------------------------- run
    def steps(self) -> list[tuple[str, Callable[[], None]]]:
        return [
            ("Deploy the foundation stacks (kms, iam, vpc, security-groups) to DEV",
             self.bootstrap),
            (f"alice comments `{REQUEST}` on a new issue", self.ask),
            ("The PR workflow runs on the new pull request: validate, plan dev, cost",
             self.pr_checks),
            ("bob comments `/infra plan dev`: the plan comment is edited in place", self.replan),
            ("carol merges; the deploy workflow's dev job deploys the merge commit",
             self.merge),
            ("The tst job promotes DEV's commit to TST", self.promote_tst),
            ("The prd plan job publishes PRD's change sets; the prd job waits for the "
             "prd environment's required reviewer", self.prd_waits),
            ("carol approves the prd deployment; the prd job executes exactly those",
             self.prd_approved),
            ("alice comments `/infra status`", self.status),
        ]  # fmt: skip

    def run(self) -> DemoResult:
        plan = self.steps()
        for index, (title, action) in enumerate(plan, 1):
            started = time.monotonic()
            error = None
            try:
                with time_limit(STEP_SECONDS):
                    action()
            except StepFailedError as exc:
                error = str(exc)
            step = Step(title, error is None, time.monotonic() - started)
            self.result.steps.append(step)
            self.show(step, index, len(plan), self.watch.news())
            if error is not None:
                self.result.error = f"step {index} ({title}): {error}"
                break
            if index < len(plan):
                self.pause()
        return self.result


def prepare(source: Path, work: Path, offline: bool) -> Path:
    """The demo's repository under `work`: the platform copy, committed on main."""
    root = work / "platform-infra"
    root.mkdir(parents=True)
    copy_platform(source, root)
    if offline:
        settings = root / ".github" / "infra-bot.yml"
        text = settings.read_text(encoding="utf-8") if settings.exists() else ""
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(text + "\n# The demo found no AWS credentials for Bedrock.\n"
                            "llm:\n  mode: offline\n", encoding="utf-8")  # fmt: skip
    git = LocalGit(root)
    git.run("init", "-q", "-b", "main")
    git.run("add", "-A")
    git.run("commit", "-q", "-m", "Platform foundation")
    return root


@contextmanager
def workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    path = Path(tempfile.mkdtemp(prefix="infra-bot-demo-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_demo(
    source: Path,
    show: Show,
    *,
    pause: Pause = lambda: None,
    offline: bool | None = None,
    keep: Path | None = None,
    on_start: Callable[[str, tuple[str, ...]], None] = lambda _s, _a: None,
) -> DemoResult:
    """Run every step; `offline=None` means: Bedrock if AWS credentials exist, else offline."""
    from bot.demo.transcript import render_html

    with workdir(keep) as work, moto_cloud() as cloud:
        use_offline = (not cloud.used_real_credentials) if offline is None else offline
        root = prepare(source, work, use_offline)
        generator = "offline blueprints" if use_offline else "Bedrock (your AWS credentials)"
        on_start(f"moto at {cloud.endpoint}; generator: {generator}; work dir {work}",
                 ADAPTATIONS)  # fmt: skip
        demo = Demo(root, show, pause)
        result = demo.run()
        result.html = render_html(demo.gh, result.steps)
        return result


"""The workflows a team copies: linted by actionlint and zizmor, plus the rules
DESIGN.md section 5 sets for them, checked on the parsed YAML."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = ROOT / ".venv" / "bin"
FILES = sorted(WORKFLOWS.glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
UNSAFE_IN_RUN = re.compile(r"\$\{\{[^}]*(github\.event\.|github\.head_ref|inputs\.)")


def load(path: Path) -> dict[str, Any]:
    # PyYAML reads the key `on` as True; keep it as the string GitHub means.
    data = yaml.load(path.read_text(), Loader=yaml.BaseLoader)
    return data


def jobs(path: Path) -> dict[str, Any]:
    return load(path)["jobs"]


def steps() -> list[tuple[str, str, dict[str, Any]]]:
    return [(p.name, name, step) for p in FILES for name, job in jobs(p).items()
            for step in job.get("steps", [])]  # fmt: skip


def tool(name: str) -> str:
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)  # a worktree shares one venv
    if found is None:
        pytest.fail(f"{name} is not installed in .venv (dev dependency)")
    return found


def test_the_five_workflows_exist():
    assert {p.name for p in FILES} >= {"pr.yml", "comment.yml", "deploy.yml", "drift.yml", "ci.yml"}


def test_actionlint_reports_nothing():
    proc = subprocess.run(
        [tool("actionlint"), *map(str, FILES)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_reports_nothing():
    proc = subprocess.run(
        [tool("zizmor"), "--offline", "--persona", "pedantic", "--no-progress", str(WORKFLOWS)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


def test_the_linters_do_catch_a_bad_workflow(tmp_path):
    """The two checks above can fail: a workflow with the classic mistakes."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: pull_request_target\n"
        "jobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
        "      - run: echo ${{ matrix.nope }}\n"
    )
    lint = subprocess.run(
        [tool("actionlint"), str(bad)], capture_output=True, text=True, check=False
    )
    assert lint.returncode != 0
    audit = subprocess.run([tool("zizmor"), "--offline", "--no-progress", str(bad.parent)],
                           capture_output=True, text=True, check=False)  # fmt: skip
    assert audit.returncode != 0
    for finding in ("template-injection", "unpinned-uses", "dangerous-triggers"):
        assert finding in audit.stdout, finding


@pytest.mark.parametrize("where,name,step", steps())
def test_actions_pinned_by_sha_with_version_comment(where, name, step):
    if "uses" not in step:
        return
    assert PINNED.match(step["uses"]), f"{where}:{name}: {step['uses']} is not pinned to a SHA"
    text = (WORKFLOWS / where).read_text()
    line = next(x for x in text.splitlines() if step["uses"] in x)
    assert re.search(r"# v\d+\.\d+\.\d+", line), f"{where}: no version comment on {line.strip()}"


@pytest.mark.parametrize("where,name,step", steps())
def test_no_event_data_interpolated_into_shell(where, name, step):
    if "run" in step:
        assert not UNSAFE_IN_RUN.search(step["run"]), f"{where}:{name}: {step['run']}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_least_privilege_per_job(path):
    data = load(path)
    assert data.get("permissions") in ({}, ""), "workflow-level permissions must be empty"
    for name, job in data["jobs"].items():
        assert "permissions" in job, f"{name} declares no permissions"
        perms = job["permissions"]
        assumes_aws = any("configure-aws-credentials" in s.get("uses", "") for s in job["steps"])
        assert (perms.get("id-token") == "write") == assumes_aws, name
        assert "write-all" not in str(perms)


def test_deploy_chain_is_bound_to_environments_and_never_cancelled():
    deploy = jobs(WORKFLOWS / "deploy.yml")
    assert list(deploy) == ["plan-dev", "dev", "plan-tst", "tst", "plan-prd", "prd"]
    assert deploy["plan-tst"]["needs"] == "dev" and deploy["plan-prd"]["needs"] == "tst"
    for env in ("dev", "tst", "prd"):
        job, plan = deploy[env], deploy[f"plan-{env}"]
        assert job["environment"] == env and job["needs"] == f"plan-{env}"
        assert job["concurrency"] == {"group": f"infra-bot-deploy-{env}",
                                      "cancel-in-progress": "false"}  # fmt: skip
        assert job["steps"][-1]["run"] == f"infra-bot handle --env {env} --stage execute"
        assert job["steps"][-1]["env"]["INFRA_BOT_ENVIRONMENT"] == env
        assert job["steps"][-1]["env"]["INFRA_BOT_PLAN"] == \
            f"${{{{ needs.plan-{env}.outputs.plan }}}}"  # fmt: skip
        # The plan job is not approved: no deploy environment, no deploy role, no bound
        # env. Its environment is infra-bot's, where the App key lives (no reviewers).
        assert plan["environment"] == "infra-bot"
        assert plan["concurrency"]["cancel-in-progress"] == "false"
        assert plan["steps"][-1]["run"] == f"infra-bot handle --env {env} --stage plan"
        assert "INFRA_BOT_ENVIRONMENT" not in plan["steps"][-1]["env"]
        assert "INFRA_BOT_PLAN_ROLE_ARN" in str(plan["steps"])
        assert "DEPLOY_ROLE" not in str(plan["steps"])
    on = load(WORKFLOWS / "deploy.yml")["on"]
    assert on["push"]["branches"] == ["main"]


def test_fork_prs_get_secret_less_validation_only():
    pr = jobs(WORKFLOWS / "pr.yml")
    same_repo = "github.event.pull_request.head.repo.full_name == github.repository"
    for name in ("plan", "cost"):
        assert pr[name]["if"] == f"github.event.action != 'closed' && {same_repo}"
    assert pr["cleanup"]["if"] == f"github.event.action == 'closed' && {same_repo}"
    assert pr["validate"]["if"] == "github.event.action != 'closed'"
    by_name = {s.get("name"): s for s in pr["validate"]["steps"]}
    handle, fork = by_name["Validate and review"], by_name["Validate (fork, annotations only)"]
    assert handle["if"] == same_repo and "infra-bot handle" in handle["run"]
    assert fork["if"] == same_repo.replace("==", "!=") and "GITHUB_TOKEN" not in str(fork)
    assert "id-token" not in pr["validate"]["permissions"]
    # No job of pr.yml reads a secret: the App key is an environment secret that
    # only the default branch may use (docs/trust-setup.md).
    assert "secrets." not in (WORKFLOWS / "pr.yml").read_text()


def test_comment_handler_runs_the_default_branch_bot_on_pr_data():
    (job,) = jobs(WORKFLOWS / "comment.yml").values()
    bot_checkout, pr_checkout = job["steps"][0], job["steps"][1]
    assert "ref" not in bot_checkout.get("with", {}), "the bot comes from the default branch"
    assert pr_checkout["with"]["path"] == "pr"
    assert all(s.get("with", {}).get("persist-credentials") == "false"
               for s in job["steps"] if "actions/checkout" in s.get("uses", ""))  # fmt: skip
    assert job["concurrency"]["cancel-in-progress"] == "false"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_python_cached_and_kubeconform_checksummed(path):
    text = path.read_text()
    for job in jobs(path).values():
        setup = [s for s in job["steps"] if "setup-python" in s.get("uses", "")]
        assert setup and setup[0]["with"]["cache"] == "pip"
    if "kubeconform" in text:
        assert re.search(r"KUBECONFORM_SHA256: [0-9a-f]{64}", text)
        assert "sha256sum -c -" in text and "KUBECONFORM_VERSION: v" in text


# --- the PR is data: privileged jobs never install or run the PR head ---------------

# Refs a checkout may name and still be the trusted tree (the default branch or the
# PR's base). Anything else is treated as PR data: an allowlist, not a denylist.
TRUSTED_REFS = frozenset({
    "${{ github.event.pull_request.base.sha }}",
    "${{ github.event.repository.default_branch }}",
})  # fmt: skip
PR_TRIGGERS = frozenset({"pull_request", "pull_request_target"})
# How a run step may name the PR folder: handing it to the bot or git as data.
DATA_USE = r'(--workspace|--root) "?{dir}"?(?=[\s;]|$)|git -C "?{dir}"? fetch '


def triggers(workflow: dict[str, Any]) -> set[str]:
    on = workflow["on"]
    return {on} if isinstance(on, str) else set(on)


def privileged(job: dict[str, Any]) -> bool:
    """A write token, an OIDC token or a secret: what a PR must never get to run with."""
    perms = job.get("permissions")
    if perms is None or isinstance(perms, str):  # the default token, or read-all/write-all
        return perms != "read-all"
    return "write" in perms.values() or "secrets." in str(job)


def checkout_problems(step: dict[str, Any], pr_trigger: bool) -> tuple[str | None, list[str]]:
    """(the folder of a PR-head checkout or None for the trusted one, problems)."""
    given = step.get("with", {})
    ref, path = given.get("ref", ""), given.get("path", "").strip("./")
    other_repo = given.get("repository", "${{ github.repository }}") != "${{ github.repository }}"
    # With no ref, a pull_request run checks out the merge commit: the PR's code.
    trusted = not other_repo and (ref in TRUSTED_REFS or (ref == "" and not pr_trigger))
    problems = []
    if given.get("persist-credentials") != "false":
        problems.append(f"checkout of {ref or 'the default ref'} keeps its credentials")
    if trusted:
        if path:
            problems.append(f"the trusted checkout must be the root, not {path}/")
        return None, problems
    if not path or path.startswith("/") or ".." in path.split("/"):
        problems.append(f"the PR head ({ref or 'merge commit'}) is checked out at the root")
        return "", problems
    return path, problems


def trust_problems(workflow: dict[str, Any]) -> list[str]:
    """What lets PR-head code run in a privileged job. Pure: parsed YAML in, text out."""
    pr_trigger = bool(triggers(workflow) & PR_TRIGGERS)
    problems: list[str] = []
    for name, job in workflow["jobs"].items():
        if not privileged(job):
            continue
        untrusted: list[str] = []
        roots = 0
        for step in job.get("steps", []):
            where = f"{name}: {step.get('name') or step.get('uses') or step.get('run', '')[:40]}"
            uses = step.get("uses", "")
            if uses.startswith("actions/checkout@"):
                folder, found = checkout_problems(step, pr_trigger)
                problems += [f"{where}: {p}" for p in found]
                if folder is None:
                    roots += 1
                else:
                    untrusted.append(folder)
                continue
            if uses.startswith("./") and any(
                uses[2:].rstrip("/") == d or uses[2:].startswith(d + "/") or not d
                for d in untrusted
            ):
                problems.append(f"{where}: runs an action from the PR head ({uses})")
            elif uses.startswith("./") and roots == 0:
                # `./` is the workspace: before the trusted checkout it is whatever the
                # runner or a PR-head checkout left there (the infra-bot action: ./).
                problems.append(f"{where}: runs a local action before the trusted checkout")
            if "run" in step:
                if roots == 0:
                    problems.append(f"{where}: runs before the trusted checkout")
                problems += [f"{where}: {p}" for p in run_problems(step, job, untrusted)]
        if untrusted and roots != 1:
            problems.append(f"{name}: {roots} trusted root checkout(s), expected one")
    return problems


def run_problems(step: dict[str, Any], job: dict[str, Any], untrusted: list[str]) -> list[str]:
    """A run step executes from the trusted root and names the PR folder only as data."""
    out = []
    cwd = step.get("working-directory") or job.get("defaults", {}).get("run", {}).get(
        "working-directory", ""
    )
    cwd = cwd.strip("./")
    for folder in untrusted:
        if not folder:
            out.append("the workspace root is the PR head: everything here runs its code")
            continue
        if cwd == folder or cwd.startswith(folder + "/"):
            out.append(f"runs inside the PR head ({cwd})")
        rest = re.sub(DATA_USE.format(dir=re.escape(folder)), "", step["run"])
        if re.search(rf"(?<![\w.-]){re.escape(folder)}(?![\w.-])", rest):
            out.append(f"uses {folder}/ other than as data: {step['run'].strip()[:80]}")
    return out


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_privileged_jobs_never_run_pr_head_code(path):
    assert trust_problems(load(path)) == []


def test_the_pr_is_checked_out_as_data_in_every_privileged_pr_job():
    """The rule above is not vacuous: these jobs hold privileges and read a PR head."""
    seen = set()
    for path in FILES:
        workflow = load(path)
        for name, job in workflow["jobs"].items():
            heads = [s for s in job.get("steps", []) if "actions/checkout" in s.get("uses", "")
                     and s.get("with", {}).get("path") == "pr"]  # fmt: skip
            if privileged(job) and heads:
                seen.add(f"{path.name}:{name}")
    assert seen >= {"pr.yml:validate", "pr.yml:plan", "pr.yml:cost", "pr.yml:cleanup",
                    "comment.yml:command"}  # fmt: skip


def test_pr_jobs_install_the_bot_from_the_base_commit():
    for name, job in jobs(WORKFLOWS / "pr.yml").items():
        first = job["steps"][0]
        assert first["with"]["ref"] == "${{ github.event.pull_request.base.sha }}", name
        assert "path" not in first["with"], name
        runs = [s["run"] for s in job["steps"] if "run" in s]
        assert any("pip install --no-deps ." in r for r in runs), name
        handle = [r for r in runs if "infra-bot handle" in r]
        assert handle and all("--workspace pr" in r for r in handle), name


def test_secrets_only_in_jobs_bound_to_a_default_branch_environment():
    """The App key is an environment secret; a job that reads it declares the environment
    (deploy.yml: dev/tst/prd, comment.yml and drift.yml: infra-bot)."""
    for path in FILES:
        for name, job in jobs(path).items():
            if "secrets." in str(job):
                assert job.get("environment"), f"{path.name}:{name} reads a secret without one"
    drift = jobs(WORKFLOWS / "drift.yml")["drift"]
    assert drift["if"] == "github.ref_name == github.event.repository.default_branch"


OLD_PR_YML = """\
on:
  pull_request:
permissions: {}
jobs:
  validate:
    runs-on: ubuntu-24.04
    permissions:
      contents: read
      pull-requests: write
      statuses: write
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          ref: ${{ github.event.pull_request.head.sha }}
          persist-credentials: false
      - run: python -m pip install --no-deps .
      - env:
          INFRA_BOT_APP_PRIVATE_KEY: ${{ secrets.INFRA_BOT_APP_PRIVATE_KEY }}
        run: infra-bot handle
"""
TRUSTED = (
    "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n"
    "        with:\n"
    "          ref: ${{ github.event.pull_request.base.sha }}\n"
    "          persist-credentials: false\n"
)
HEAD = (
    "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n"
    "        with:\n"
    "          ref: ${{ github.event.pull_request.head.sha }}\n"
    "          path: pr\n"
    "          persist-credentials: false\n"
)
GOOD_STEPS = (
    TRUSTED + HEAD + "      - run: python -m pip install --no-deps .\n"
    "      - run: infra-bot handle --workspace pr\n"
)


def with_steps(steps: str) -> dict[str, Any]:
    head, _, _ = OLD_PR_YML.partition("    steps:\n")
    return yaml.load(head + "    steps:\n" + steps, Loader=yaml.BaseLoader)


@pytest.mark.parametrize("steps,expected", [
    (OLD_PR_YML.partition("    steps:\n")[2], "checked out at the root"),
    (HEAD.replace("          path: pr\n", "") + "      - run: infra-bot handle\n",
     "checked out at the root"),
    (TRUSTED + HEAD + "      - run: python -m pip install ./pr\n", "other than as data"),
    (TRUSTED + HEAD + "      - run: cd pr && make\n", "other than as data"),
    (TRUSTED + HEAD + "      - run: bash pr/scripts/x.sh\n", "other than as data"),
    (TRUSTED + HEAD + "      - working-directory: pr\n        run: infra-bot handle\n",
     "runs inside the PR head"),
    (TRUSTED + HEAD + "      - uses: ./pr/.github/actions/setup\n", "action from the PR head"),
    (TRUSTED + HEAD.replace("          persist-credentials: false\n", ""), "keeps its credentials"),
    (TRUSTED.replace("base.sha", "head.sha") + "      - run: infra-bot handle\n",
     "checked out at the root"),
    # No ref in a pull_request run is the merge commit: the PR's code.
    (TRUSTED.replace("          ref: ${{ github.event.pull_request.base.sha }}\n", "")
     + "      - run: infra-bot handle\n", "checked out at the root"),
    (HEAD + TRUSTED + "      - run: infra-bot handle --workspace pr\n", ""),
    (GOOD_STEPS.replace("--workspace pr", "--workspace pr; pr/evil"), "other than as data"),
    # The infra-bot action (`uses: ./`, action.yml) is the root checkout's: trusted only
    # after that checkout, and never the PR head's copy.
    (HEAD + "      - uses: ./\n" + TRUSTED, "local action before the trusted checkout"),
    (TRUSTED + HEAD + "      - uses: ./pr\n        with:\n          step: validate\n",
     "action from the PR head"),
    (TRUSTED + HEAD + "      - uses: ./\n        with:\n          step: validate\n"
     "          working-directory: pr\n", ""),
])  # fmt: skip
def test_trust_rule_catches_pr_code_in_a_privileged_job(steps, expected):
    problems = trust_problems(with_steps(steps))
    if expected:
        assert any(expected in p for p in problems), problems
    else:
        assert problems == [], problems


def test_trust_rule_accepts_the_good_shape_and_unprivileged_jobs():
    assert trust_problems(with_steps(GOOD_STEPS)) == []
    unprivileged = with_steps(OLD_PR_YML.partition("    steps:\n")[2])
    job = unprivileged["jobs"]["validate"]
    job["permissions"] = {"contents": "read"}
    job["steps"] = job["steps"][:2]  # no secret either: ci.yml's shape
    assert trust_problems(unprivileged) == []


# --- the composite action (action.yml) adopters and init's workflows use -------------

ACTION = ROOT / "action.yml"


def test_action_installs_the_bot_from_its_own_ref_and_runs_one_step():
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    assert {"step", "environment", "working-directory", "stage"} <= set(action["inputs"])
    steps = action["runs"]["steps"]
    for step in steps:
        if "uses" in step:
            assert PINNED.match(step["uses"]), step["uses"]
        if "run" in step:
            # Inputs reach the shell through env only; the bot comes from the action's path.
            assert not re.search(r"\$\{\{[^}]*(inputs\.|github\.event\.)", step["run"]), step
    install = next(s for s in steps if "Install infra-bot" in s.get("name", ""))
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    assert (
        'pip install --quiet --require-hashes -r "$ACTION_PATH/requirements-runtime.lock"'
        in (install["run"])
    )
    assert '--no-deps --force-reinstall "$ACTION_PATH"' in install["run"]
    assert any("actions/cache@" in s.get("uses", "") for s in steps)


def test_action_lints_clean():
    proc = subprocess.run(
        [tool("zizmor"), "--offline", "--persona", "pedantic", "--no-progress", str(ACTION)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr

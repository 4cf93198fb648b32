"""The workflows a team copies: linted by actionlint and zizmor, plus the rules
DESIGN.md section 5 sets for them, checked on the parsed YAML."""

from __future__ import annotations

import re
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
    if not path.exists():
        pytest.fail(f"{name} is not installed in .venv (dev dependency)")
    return str(path)


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
        # The plan job is not approved: no environment, no deploy role, no bound env.
        assert "environment" not in plan and plan["concurrency"]["cancel-in-progress"] == "false"
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
    handle, fork = pr["validate"]["steps"][4], pr["validate"]["steps"][5]
    assert handle["if"] == same_repo and "infra-bot handle" in handle["run"]
    assert fork["if"] == same_repo.replace("==", "!=") and "GITHUB_TOKEN" not in str(fork)
    assert "id-token" not in pr["validate"]["permissions"]


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

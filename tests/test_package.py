"""The product as an adopter gets it: a built wheel (not editable) in a fresh virtualenv,
a scratch repository holding only templates, then init, validate and plan against
`infra-bot local-aws`. Every command through the installed console script.

The virtualenv is built once per session (pip's cache is warm after the first run).
It is most of the cost: the whole test took 4 min 18 s (and 8 min 12 s) on the shared 2-core machine
under a load of about 11 (docs/benchmarks.md), which is why it is marked slow. It is
never skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "adopt"
CORPUS = ROOT / ".infra-bot" / "corpus"

pytestmark = pytest.mark.slow


def run(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv: the runtime lock (hashes required), the wheel of this
    checkout with --no-deps, and moto for local-aws (the demo extra, from the dev lock)."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "install", "--require-hashes", "-r", str(ROOT / "requirements-runtime.lock")],
        check=True,
        timeout=900,
    )
    # Build from a copy: the wheel must come from the files, not from this worktree's state.
    src = tmp_path_factory.mktemp("src")
    for name in ("bot", "guard", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy2)(ROOT / name, src / name)
    subprocess.run([*pip, "install", "--no-deps", str(src)], check=True, timeout=600)
    # local-aws needs moto (the demo extra): the dev lock's versions, as constraints.
    pins = tmp_path_factory.mktemp("pins") / "constraints.txt"
    lock = (ROOT / "requirements.lock").read_text().splitlines()
    pins.write_text("\n".join(x.split(" ")[0] for x in lock if re.match(r"[\w.-]+==", x)) + "\n")
    subprocess.run(
        [*pip, "install", "-c", str(pins), "moto[server,cloudformation]"], check=True, timeout=900
    )
    return venv / "bin"


def scratch_repo(tmp: Path) -> Path:
    """A git repository with only templates in their own folders (and things to skip)."""
    repo = tmp / "platform-infra"
    shutil.copytree(FIXTURES, repo)
    (repo / "db").mkdir()
    shutil.copy2(CORPUS / "public__rds-cluster.yaml", repo / "db" / "rds-cluster.yaml")
    (repo / "node_modules" / "x").mkdir(parents=True)
    shutil.copy2(FIXTURES / "network" / "vpc.yaml", repo / "node_modules" / "x" / "vpc.yaml")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(
        [*git, "remote", "add", "origin", "https://github.com/acme/platform-infra.git"], check=True
    )
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "templates"], check=True)
    return repo


def test_installed_wheel_adopts_a_repository(installed: Path, tmp_path: Path) -> None:
    repo = scratch_repo(tmp_path)
    env = {
        "PATH": f"{installed}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "INFRA_BOT_CACHE": os.environ.get(
            "INFRA_BOT_CACHE", str(Path.home() / ".cache" / "infra-bot" / "tools")
        ),
    }
    bot = str(installed / "infra-bot")
    # The installed package holds its policy pack, price table and templates.
    where = run(
        [
            str(installed / "python"),
            "-c",
            "import bot, pathlib; print(pathlib.Path(bot.__file__).parent)",
        ],
        repo,
        env,
    ).stdout.strip()
    package = Path(where)
    assert "site-packages" in where
    assert {p.name for p in (package / "policy" / "rules").glob("*.guard")} >= {
        "sc28.guard",
        "cm.guard",
    }
    assert (package / "policy" / "kubernetes" / "k8s_workloads.guard").is_file()
    assert (package / "cost" / "prices.json").is_file() and (
        package / "llm" / "prompts" / "system.j2"
    ).is_file()

    init = run([bot, "init", "--yes"], repo, env)
    assert init.returncode == 0, init.stdout + init.stderr
    assert "repo:acme/platform-infra:environment:prd" in init.stdout
    assert "rds-cluster: DatabaseName (String)" in init.stdout
    assert (repo / "environments" / "dev" / "vpc.yaml").read_text().count(
        "template-file-path: network/vpc.yaml"
    ) == 1
    assert not (repo / "environments" / "dev" / "deployment.yaml").exists()  # the k8s manifest
    assert "node_modules" not in init.stderr
    again = run([bot, "init", "--yes"], repo, env)
    assert again.returncode == 0 and "Files written: 0" in again.stdout

    validate = run([bot, "validate", "--format", "json"], repo, env)
    assert validate.returncode == 1, validate.stdout + validate.stderr  # findings fail the run
    findings = json.loads(validate.stdout)["findings"]
    guard = [f for f in findings if str(f["check_id"]).startswith("guard/")]
    assert {"SC-7", "SC-28"} <= {f["nist_control"] for f in guard}, guard
    assert any(f["path"] == "platform/eks/cluster.yaml" for f in guard)

    # The corpus template's required parameters: fill them in, as the checklist says.
    for name in ("dev",):
        path = repo / "environments" / name / "rds-cluster.yaml"
        path.write_text(re.sub(r'  # (Database\w+): "".*', r"  \1: app", path.read_text()))
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "adopt infra-bot"], check=True)

    server = subprocess.Popen(
        [bot, "local-aws", "--port", "0"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        exports: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while "AWS_SESSION_TOKEN" not in exports and time.monotonic() < deadline:
            line = server.stdout.readline() if server.stdout else ""
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").strip().partition("=")
                exports[key] = value
            elif not line and server.poll() is not None:
                break
        assert exports.get("AWS_ENDPOINT_URL", "").startswith("http://127.0.0.1:"), exports
        plan = run([bot, "plan", "--env", "dev"], repo, {**env, **exports})
        assert plan.returncode == 0, plan.stdout + plan.stderr
        assert "3 of 3 stacks change" in plan.stdout
        assert "`platform-infra-dev-vpc` (CREATE)" in plan.stdout
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert "Traceback" not in err and "local-aws stopped" in err

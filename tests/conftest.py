"""Fixtures shared by every test module."""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.toolchain import Toolchain

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _findings_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Command-line runs in tests cache findings in a temporary folder, not ~/.cache."""
    os.environ["INFRA_BOT_FINDINGS_CACHE"] = str(tmp_path_factory.mktemp("findings-cache"))


@pytest.fixture(scope="session")
def tools() -> Toolchain:
    """The real binaries; `make test` installs them before pytest starts."""
    chain = Toolchain()
    for name in ("cfn-guard", "helm"):
        chain.install(name)
    return chain


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def git_commit(root: Path, message: str = "commit") -> str:
    def run(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    if not (root / ".git").exists():
        run("init", "-q", "-b", "main")
    run("add", "-A")
    run("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", message)
    return run("rev-parse", "HEAD")


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """A throwaway repository with the given files, committed once."""

    def make(files: dict[str, str]) -> Path:
        write_tree(tmp_path, files)
        git_commit(tmp_path, "initial")
        return tmp_path

    return make


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS credentials anywhere botocore looks, and no instance metadata probe: the
    cloud commands must answer what to configure without touching the network."""
    import os

    for key in [k for k in os.environ if k.startswith("AWS_") and k != "AWS_CA_BUNDLE"]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))

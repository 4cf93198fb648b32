"""A moto server on 127.0.0.1 for the CloudFormation tests (real HTTP, never real AWS).

Import the fixtures into a test module: `from tests.moto_fixtures import moto_endpoint`.
The moto gaps and their workarounds are the demo's (bot/demo/moto.py and
bot/demo/platform.py): tests and demo run the same stand-in.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.demo.moto import environ, patch_change_sets
from bot.demo.platform import FOUNDATION as DEMO_FOUNDATION
from bot.demo.platform import copy_platform

ACCOUNTS = {"dev": "111111111111", "tst": "222222222222", "prd": "333333333333"}
_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """URL of a moto server on 127.0.0.1 (a free port), with dummy credentials set."""
    from moto.server import ThreadedMotoServer

    with environ({**_AWS_ENV, "AWS_ENDPOINT_URL": None}):
        patch_change_sets()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


FOUNDATION = list(DEMO_FOUNDATION)


def git(root: Any, *args: str) -> str:
    import subprocess

    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def commit_all(root: Any, message: str) -> str:
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")


def make_platform_repo(dest: Any, stacks: list[str] = FOUNDATION) -> str:
    """Copy the platform's `stacks` (templates and deployment files of every environment)
    into `dest`, adapted to moto as the demo does, commit, and return the commit.

    Only these stacks are copied: every command builds the whole stack graph, and parsing
    all twelve platform templates per CLI call would dominate the test time."""
    from pathlib import Path

    src = Path(__file__).resolve().parent.parent
    copy_platform(src, Path(dest), tuple(stacks), keep=())
    git(dest, "init", "-q", "-b", "main")
    return commit_all(dest, "platform")


def reset_moto(endpoint: str) -> None:
    import requests

    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()

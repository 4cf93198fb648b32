"""Checks are found by walking bot.checks, in every fresh process, for every entry point.

The subprocess tests are the point: a check that only registered itself when
some other module happened to be imported would pass in-process and be missing
from `infra-bot validate` and `infra-bot handle`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from bot.checks.base import Check
from bot.checks.discovery import (
    CheckDefinitionError,
    UnknownCheckError,
    discover,
    registry,
    select,
)
from tests.conftest import ROOT
from tests.fakegithub import FakeGitHub
from tests.test_handle_events import BASE_TEMPLATE, HEAD_TEMPLATE, make_workspace

# Every check the bot ships. Adding one is a deliberate change to this set.
ALL_CHECKS = {"cfn-guard", "cfn-lint", "cross-stack", "kube", "load"}


def closed_port_url() -> str:
    """A 127.0.0.1 address nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def offline(chart_dir: Path) -> dict[str, str]:
    """An empty chart cache, and every request but those to 127.0.0.1 sent to a closed
    local port: the reference releases' public chart repositories stay out of reach."""
    closed = closed_port_url()
    return {"INFRA_BOT_CHART_DIR": str(chart_dir), "HTTPS_PROXY": closed, "HTTP_PROXY": closed,
            "NO_PROXY": "127.0.0.1"}  # fmt: skip


def bot_cli(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> Any:
    """`infra-bot ...` in a fresh interpreter: nothing imported beforehand."""
    dropped = ("AWS_", "GITHUB_", "NO_PROXY", "no_proxy", "https_proxy", "http_proxy")
    base = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], cwd=cwd, env={**base, **(env or {})},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


# --- discovery, in-process -------------------------------------------------------


def make_package(root: Path, name: str, modules: dict[str, str]) -> ModuleType:
    """A throwaway package of check modules (`root` must be on sys.path)."""
    import importlib

    folder = root / name
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    for module, text in modules.items():
        (folder / f"{module}.py").write_text(textwrap.dedent(text))
    return importlib.import_module(name)


CHECK_SOURCE = """
from bot.checks.base import Check

class {cls}(Check):
    id = "{id}"
    description = "test check"

    def run(self, ctx):
        return []
"""


def test_the_bots_own_checks_are_all_found() -> None:
    assert set(registry()) == ALL_CHECKS
    assert all(issubclass(cls, Check) and cls.id == i for i, cls in registry().items())


def test_a_check_imported_into_another_module_is_found_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    pkg = make_package(tmp_path, "pkg_reexport", {
        "first": CHECK_SOURCE.format(cls="First", id="first"),
        "second": "from pkg_reexport.first import First  # noqa\n"
                  + CHECK_SOURCE.format(cls="Second", id="second"),
    })  # fmt: skip
    found = discover(pkg)
    assert list(found) == ["first", "second"]
    assert found["first"].__module__ == "pkg_reexport.first"


def test_a_duplicate_id_is_an_error_naming_both_classes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    pkg = make_package(tmp_path, "pkg_dupe", {
        "a": CHECK_SOURCE.format(cls="One", id="same"),
        "b": CHECK_SOURCE.format(cls="Two", id="same"),
    })  # fmt: skip
    with pytest.raises(CheckDefinitionError) as raised:
        discover(pkg)
    assert "'same' is defined twice" in str(raised.value)
    assert "pkg_dupe.a.One" in str(raised.value) and "pkg_dupe.b.Two" in str(raised.value)


def test_a_check_without_an_id_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    source = CHECK_SOURCE.format(cls="Nameless", id="x").replace('    id = "x"\n', "")
    pkg = make_package(tmp_path, "pkg_noid", {"a": source})
    with pytest.raises(CheckDefinitionError, match="Nameless has no `id`"):
        discover(pkg)


def test_select_keeps_registry_order_and_refuses_unknown_ids() -> None:
    checks = registry()
    assert select(checks, None) == sorted(ALL_CHECKS)
    assert select(checks, ["load", "cfn-lint", "load"]) == ["cfn-lint", "load"]
    with pytest.raises(UnknownCheckError) as raised:
        select(checks, ["kube", "nosuch", "cfn-lnt"])
    assert raised.value.unknown == ["cfn-lnt", "nosuch"]
    assert str(raised.value).endswith("valid checks: " + ", ".join(sorted(ALL_CHECKS)))


def test_nothing_in_bot_registers_a_check_by_import_side_effect() -> None:
    # The old pattern: a `register` decorator filling a module-level dict.
    sources = "\n".join(p.read_text() for p in (ROOT / "bot" / "checks").rglob("*.py"))
    assert "@register" not in sources
    assert "REGISTRY" not in sources


# --- the production entry points, in fresh processes ------------------------------


def test_validate_runs_every_check_in_a_fresh_process(tmp_path: Path) -> None:
    proc = bot_cli("validate", "--format", "json", env=offline(tmp_path))
    assert "Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout)
    assert proc.returncode == (1 if any(f["severity"] == "error" for f in doc["findings"]) else 0)
    coverage = doc["coverage"]
    assert {c["check"] for c in coverage} == ALL_CHECKS
    by_id = {c["check"]: c for c in coverage}
    assert by_id["cfn-guard"]["status"] == "ran"
    assert by_id["cfn-guard"]["counts"]["templates"] == len(list((ROOT / "stacks").glob("*.yaml")))
    # No chart is reachable here, so the kube check says it skipped every release.
    releases = sorted(p.name for p in (ROOT / "helm-values").iterdir() if p.is_dir())
    assert by_id["kube"]["status"] == "skipped"
    assert sorted(s["item"] for s in by_id["kube"]["skipped"]) == releases


@pytest.mark.parametrize("name", ["nosuch", "kub"])
def test_unknown_check_is_a_usage_error_listing_the_valid_ids(name: str) -> None:
    proc = bot_cli("validate", "--check", "kube", "--check", name)
    assert proc.returncode == 2
    err = " ".join(proc.stderr.split())
    assert f"unknown check '{name}'" in err
    assert "valid checks: " + ", ".join(sorted(ALL_CHECKS)) in err
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_selected_check_alone_runs_and_says_so(tmp_path: Path) -> None:
    proc = bot_cli(
        "validate", "--check", "kube", "--format", "json", env=offline(tmp_path)
    )  # fmt: skip
    coverage = json.loads(proc.stdout)["coverage"]
    assert [c["check"] for c in coverage] == ["kube"]
    assert coverage[0]["counts"]["environments"] == 3


class _Bridge(BaseHTTPRequestHandler):
    """Real HTTP on 127.0.0.1 in front of the one fake GitHub, for a child process."""

    server: _FakeServer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        url = f"http://127.0.0.1:{self.server.server_port}{self.path}"
        request = requests.Request(self.command, url, headers=dict(self.headers), data=body)
        status, headers, text = self.server.fake._dispatch(request.prepare())
        data = text.encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # http.server looks handlers up by these names.
    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test output is the assertions, not an access log


class _FakeServer(ThreadingHTTPServer):
    fake: FakeGitHub


@pytest.fixture
def served_github() -> Iterator[FakeGitHub]:
    server = _FakeServer(("127.0.0.1", 0), _Bridge)
    fake = FakeGitHub(base_url=f"http://127.0.0.1:{server.server_port}/api/v3")
    server.fake = fake
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def test_handle_validates_a_pull_request_with_every_check(
    served_github: FakeGitHub, tmp_path: Path
) -> None:
    gh = served_github
    gh.add_user("alice", permission="write")
    gh.commit_files({"stacks/logs.yaml": BASE_TEMPLATE})
    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    workspace = make_workspace(tmp_path / "ws")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(gh.pull_request_event(pr["number"])))
    summary, sarif = tmp_path / "summary.md", tmp_path / "out.sarif"
    env = gh.environ("pull_request", str(event), GITHUB_STEP_SUMMARY=str(summary),
                     GITHUB_WORKSPACE=str(workspace), **offline(tmp_path))  # fmt: skip
    proc = bot_cli("handle", "--workspace", str(workspace), "--sarif", str(sarif), env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    runs = json.loads(sarif.read_text())["runs"]
    coverage = [c for run in runs for c in run.get("properties", {}).get("coverage", [])]
    assert {c["check"] for c in coverage} == ALL_CHECKS
    status = {c["check"]: c["status"] for c in coverage}
    # The PR has no Helm release, so kube says it skipped rather than passed.
    assert status == {"cfn-guard": "ran", "cfn-lint": "ran", "cross-stack": "ran",
                      "kube": "skipped", "load": "ran"}  # fmt: skip
    (review,) = gh.reviews_on(pr["number"])
    assert "kube — no releases" in review["body"]
    assert "cfn-lint: 1 template, 3 deployment files" in review["body"]
    assert "kube — no releases" in summary.read_text()
    (commit_status,) = gh.statuses[pr["head"]["sha"]]
    assert commit_status["description"].endswith(
        "; ran cfn-guard, cfn-lint, cross-stack, load; skipped kube"
    )

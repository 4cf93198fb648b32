"""Fixtures shared by every test module, and the CI rule that a skip needs a reason.

With CI=true, a test (or a module) that skips fails the run unless its node id is in
the allowlist (tests/skip_allowlist.txt, or the `skip_allowlist` ini option) with a
reason: on a fresh machine a skip is a test that never runs.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.toolchain import Toolchain
from tests import fakebedrock
from tests.fakebedrock import FakeBedrock

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _findings_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Command-line runs in tests cache findings in a temporary folder, not ~/.cache."""
    os.environ["INFRA_BOT_FINDINGS_CACHE"] = str(tmp_path_factory.mktemp("findings-cache"))


@pytest.fixture(scope="session")
def tools() -> Toolchain:
    """cfn-guard and helm as the product gets them: PATH, else the pinned wheels,
    fetched and unpacked into the tool cache once. The one way tests get tools."""
    chain = Toolchain()
    for name in ("cfn-guard", "helm"):
        chain.install(name)
    return chain


# ------------------------------------------------------------------ the CI skip gate

ALLOWLIST_INI = "skip_allowlist"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        ALLOWLIST_INI,
        "file of `<node id> | <reason>` lines: the skips CI=true accepts",
        default="tests/skip_allowlist.txt",
    )


def read_allowlist(path: Path) -> dict[str, str]:
    """Node id -> reason; a line without a reason is an error, not an entry."""
    if not path.is_file():
        return {}
    allowed: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        nodeid, _, reason = (part.strip() for part in line.partition("|"))
        if not nodeid or not reason:
            raise pytest.UsageError(f"{path}:{number}: want `<node id> | <reason>`, got {raw!r}")
        allowed[nodeid] = reason
    return allowed


class SkipGate:
    """Collects every skip of the run; at the end, one not on the allowlist fails it."""

    def __init__(self, allowlist: Path) -> None:
        self.allowlist = allowlist
        self.allowed = read_allowlist(allowlist)
        self.skipped: dict[str, str] = {}

    def note(self, report: pytest.CollectReport | pytest.TestReport) -> None:
        if not report.skipped or hasattr(report, "wasxfail"):  # an xfail is not a skip
            return
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        self.skipped[report.nodeid] = reason.removeprefix("Skipped: ")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.note(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self.note(report)

    def unlisted(self) -> dict[str, str]:
        return {k: v for k, v in self.skipped.items() if k not in self.allowed}

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.unlisted() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        unlisted = self.unlisted()
        if not unlisted:
            return
        terminalreporter.section("skips CI does not accept", sep="=", red=True, bold=True)
        terminalreporter.line(
            f"CI=true: {len(unlisted)} skipped test(s) not in {self.allowlist} "
            "(a skip is a test that never runs; fix the cause, or allowlist it with a reason):",
            red=True,
        )
        for nodeid, reason in sorted(unlisted.items()):
            terminalreporter.line(f"  SKIP NOT ALLOWED {nodeid}: {reason}", red=True)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    # `-q` hides pytest-randomly's header line; a failure that depends on the order
    # needs the seed to be replayed.
    seed = getattr(config.option, "randomly_seed", None)
    if isinstance(seed, int) and config.pluginmanager.has_plugin("randomly"):
        terminalreporter.write_line(
            f"test order: pytest-randomly, replay it with --randomly-seed={seed}"
        )


def pytest_configure(config: pytest.Config) -> None:
    # xdist workers send their reports to the controller, which decides.
    # GitHub Actions (and tools/fresh-machine-check) set CI=true.
    if hasattr(config, "workerinput") or os.environ.get("CI", "").lower() not in ("true", "1"):
        return
    allowlist = config.rootpath / str(config.getini(ALLOWLIST_INI))
    config.pluginmanager.register(SkipGate(allowlist), "infra-bot-skip-gate")


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


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBedrock]:
    """The fake Bedrock Converse endpoint, with dummy AWS credentials so botocore signs."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    yield from fakebedrock.running()

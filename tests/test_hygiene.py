"""The suite's own rules: CI refuses unexplained skips, tests get tools one way,
dependencies are declared as they are imported, and `make test` fails on no tests.

The skip gate is exercised the only honest way: a real pytest in a subprocess, on a
tiny test folder, with the gate from tests/conftest.py loaded as a plugin.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import read_allowlist

ROOT = Path(__file__).resolve().parent.parent

TINY = {
    "pytest.ini": "[pytest]\nskip_allowlist = allow.txt\n",
    "test_tiny.py": """
        import pytest

        def test_runs():
            assert 1 + 1 == 2

        def test_needs_a_widget():
            pytest.skip("no widget on this machine")
    """,
}


def run_tiny(
    tmp_path: Path, *args: str, ci: str | None = "true", files: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    for name, text in (files or TINY).items():
        (tmp_path / name).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = str(ROOT)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "-q", "-rs", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_ci_fails_a_skip_that_is_not_allowlisted(tmp_path: Path, workers: list[str]) -> None:
    proc = run_tiny(tmp_path, *workers)
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout + proc.stderr
    assert "1 passed, 1 skipped" in proc.stdout
    assert "skips CI does not accept" in proc.stdout
    assert (
        "SKIP NOT ALLOWED test_tiny.py::test_needs_a_widget: no widget on this machine"
        in proc.stdout
    )


def test_ci_accepts_an_allowlisted_skip(tmp_path: Path) -> None:
    (tmp_path / "allow.txt").write_text(
        "# node id | reason\ntest_tiny.py::test_needs_a_widget | widgets exist only in the lab\n"
    )
    proc = run_tiny(tmp_path)
    assert proc.returncode == pytest.ExitCode.OK, proc.stdout + proc.stderr
    assert "1 passed, 1 skipped" in proc.stdout
    assert "SKIP NOT ALLOWED" not in proc.stdout


def test_ci_fails_a_module_skipped_at_collection(tmp_path: Path) -> None:
    files = {
        **TINY,
        "test_other.py": "def test_runs():\n    assert True\n",
        "test_tiny.py": """
            import pytest

            pytest.importorskip("no_such_module_anywhere")

            def test_never_runs():
                assert False
        """,
    }
    proc = run_tiny(tmp_path, "-n", "2", files=files)
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout + proc.stderr
    assert "SKIP NOT ALLOWED test_tiny.py: could not import 'no_such_module_anywhere'" in (
        proc.stdout
    )


def test_outside_ci_a_skip_is_reported_but_does_not_fail(tmp_path: Path) -> None:
    proc = run_tiny(tmp_path, ci=None)
    assert proc.returncode == pytest.ExitCode.OK, proc.stdout + proc.stderr
    assert "SKIPPED" in proc.stdout and "no widget on this machine" in proc.stdout
    assert "SKIP NOT ALLOWED" not in proc.stdout


def test_an_allowlist_entry_without_a_reason_stops_the_run(tmp_path: Path) -> None:
    (tmp_path / "allow.txt").write_text("test_tiny.py::test_needs_a_widget\n")
    proc = run_tiny(tmp_path)
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert "allow.txt:1: want `<node id> | <reason>`" in proc.stderr


def test_allowlist_lines_map_node_ids_to_reasons_and_name_real_tests(tmp_path: Path) -> None:
    sample = tmp_path / "allow.txt"
    sample.write_text(
        "# comment\n\ntests/test_a.py::test_b[x-1] | needs a GPU | really\n"
        "  tests/test_c.py  |  lab only  \n"
    )
    assert read_allowlist(sample) == {
        "tests/test_a.py::test_b[x-1]": "needs a GPU | really",
        "tests/test_c.py": "lab only",
    }
    assert read_allowlist(tmp_path / "missing.txt") == {}
    # The project's own list: every entry names a test that exists, and says why.
    for nodeid, reason in read_allowlist(ROOT / "tests" / "skip_allowlist.txt").items():
        path = ROOT / nodeid.split("::", 1)[0]
        assert path.is_file(), f"allowlisted {nodeid} names no test file"
        name = nodeid.split("::")[-1].split("[", 1)[0]
        assert f"def {name}(" in path.read_text(encoding="utf-8"), nodeid
        assert len(reason) > 10, f"{nodeid}: say why it may skip"


# A tool found some other way than the shared `tools` fixture (PATH, /opt, a module's
# own fixture) is a test that skips on a fresh machine while the product would work.
OTHER_TOOL_LOOKUPS = re.compile(
    r"""which\(\s*["'](cfn-guard|helm|kubectl)["']|["']/opt/|^def tools\(|Toolchain\(\)\.find\(""",
    re.MULTILINE,
)


def test_tests_get_cfn_guard_and_helm_only_from_the_shared_fixture() -> None:
    offenders = []
    for path in sorted((ROOT / "tests").glob("**/*.py")):
        if path.name in ("conftest.py", Path(__file__).name):
            continue
        for match in OTHER_TOOL_LOOKUPS.finditer(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert offenders == [], "use the `tools` fixture from tests/conftest.py"


# --------------------------------------------------------------------------- dependencies


def deptry(*args: str, root: Path = ROOT) -> str:
    """deptry's report (it writes to stderr), and whether it found nothing."""
    proc = subprocess.run(
        [sys.executable, "-m", "deptry", "--no-ansi", *args],
        cwd=root, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    report = proc.stdout + proc.stderr
    assert proc.returncode == (0 if "No dependency issues found" in report else 1), report
    return report


def test_deptry_finds_bot_and_bench_dependencies_declared_and_used() -> None:
    # [tool.deptry] in pyproject.toml: the dev extra may only be imported by tests.
    report = deptry(".")
    assert "Success! No dependency issues found." in report, report


def test_deptry_finds_every_test_import_declared() -> None:
    # tests/ may import anything declared (the dev extra included) but nothing that only
    # arrives as someone else's dependency; "unused" and "dev-only" are bot/'s questions.
    report = deptry("tests", "--exclude", r"\.venv", "--ignore", "DEP002,DEP004")
    assert "Success! No dependency issues found." in report, report


def test_deptry_would_catch_an_undeclared_import(tmp_path: Path) -> None:
    """The check is live: the same configuration flags a module importing a transitive
    dependency (urllib3 comes only through requests and botocore)."""
    pkg = tmp_path / "bot"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import urllib3\n")
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    report = deptry(".", root=tmp_path)
    assert "bot/__init__.py:1:8: DEP003 'urllib3' imported but it is a transitive" in report


# --------------------------------------------------------------------------- make test


def test_make_test_calls_no_tests_a_failure(tmp_path: Path) -> None:
    """pytest's exit 5 (nothing collected) fails `make test`, and says so."""
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexit 5\n")
    fake.chmod(0o755)
    stamps = [tmp_path / "installed", tmp_path / "chromium"]
    for stamp in stamps:
        stamp.touch()
    proc = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "test", f"PY={fake}", f"STAMP={stamps[0]}",
         f"CHROMIUM={stamps[1]}", "-o", str(stamps[0]), "-o", str(stamps[1])],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "pytest collected no tests (exit 5)" in proc.stderr

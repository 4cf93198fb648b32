"""A hostile pull request against the kube check's charts.

The attack these tests stand for: a chart holding `env -> /proc/self/environ`
and a template `{{ fail (.Files.Get "env") }}`. helm follows the symlink, and
the failure message (the job's GITHUB_TOKEN, App key and AWS keys) would land
in a public review. The PR can serve such a chart from a repository it names,
or plant it where the bot once looked for cached charts (.infra-bot/charts in
the checkout). Every test runs real helm against the chart repository on
127.0.0.1 (tests/chartrepo.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.checks.engine import all_targets, run_checks
from bot.cloud.chartarchive import Limits, UnsafeChartError, unpack
from bot.cloud.helmenv import helm_env
from bot.findings import Severity
from bot.repo.model import Repository
from bot.toolchain import Toolchain
from tests.chartrepo import ChartRepo, chart_yaml, release_repo, serve_charts

CANARIES = {
    "GITHUB_TOKEN": "ghs_canaryGithubToken0000000000000000",
    "INFRA_BOT_APP_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----canaryAppKey",
    "AWS_ACCESS_KEY_ID": "AKIACANARYACCESSKEY0",
    "AWS_SECRET_ACCESS_KEY": "canarySecretAccessKey/0000000000000000000",
    "AWS_SESSION_TOKEN": "canarySessionToken0000",
}
LEAK_TEMPLATE = ("leaky/templates/leak.yaml", '{{ fail (.Files.Get "env") }}\n')


@pytest.fixture(scope="module")
def chart_repo(tools: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChartRepo]:
    with serve_charts(tools.require("helm").path, tmp_path_factory.mktemp("served")) as repo:
        yield repo


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def leaky_members(version: str, extra: tarfile.TarInfo) -> list[tarfile.TarInfo | tuple[str, str]]:
    return [("leaky/Chart.yaml", chart_yaml("leaky", version)), LEAK_TEMPLATE, extra]


def secret_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, **CANARIES, "INFRA_BOT_CHART_DIR": str(tmp_path / "cache"), **extra}


def validate(root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "validate", "--root", str(root),
         "--check", "kube", "--format", "json"],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip


def assert_no_canary(*texts: str) -> None:
    for text in texts:
        for name, value in CANARIES.items():
            assert value not in text, f"{name} leaked"


def test_the_attack_is_real_without_the_check(tmp_path: Path, tools: Toolchain) -> None:
    """Control: the same chart rendered by helm as an ordinary folder does leak. Without
    this, the tests below could pass because the attack never worked."""
    chart = tmp_path / "leaky"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(chart_yaml("leaky", "0.1.0"))
    (chart / "templates" / "leak.yaml").write_text(LEAK_TEMPLATE[1])
    (chart / "env").symlink_to("/proc/self/environ")
    proc = subprocess.run(
        [str(tools.require("helm").path), "template", "x", str(chart)],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **CANARIES},
    )  # fmt: skip
    assert proc.returncode != 0
    assert CANARIES["GITHUB_TOKEN"] in proc.stderr


def test_chart_with_a_symlink_to_proc_self_environ_is_refused_and_leaks_nothing(
    tmp_path: Path, chart_repo: ChartRepo
) -> None:
    chart_repo.publish(
        "leaky", "0.1.0", leaky_members("0.1.0", link("leaky/env", "/proc/self/environ"))
    )
    since = len(chart_repo.requests)
    root = release_repo(tmp_path / "repo", chart_repo.url,
                        release={"chart": "leaky", "version": "0.1.0"})  # fmt: skip
    proc = validate(root, secret_env(tmp_path))
    assert_no_canary(proc.stdout, proc.stderr)
    assert proc.returncode == 1, proc.stderr
    (finding,) = json.loads(proc.stdout)["findings"]
    assert finding["check_id"] == "kube/chart-refused"
    assert finding["severity"] == "error"
    assert finding["message"].startswith("release web was NOT checked: chart leaky 0.1.0")
    assert "'leaky/env' is a link (to '/proc/self/environ')" in finding["message"]
    assert "/leaky-0.1.0.tgz" in chart_repo.fetched(since)  # refused after the pull, by us
    assert not list((tmp_path / "cache").glob("leaky-*.tgz"))  # and never cached


@pytest.mark.parametrize(
    ("version", "member", "reason"),
    [
        ("0.2.0", link("leaky/env", "/proc/self/environ", tarfile.LNKTYPE), "is a link"),
        ("0.3.0", link("leaky/templates", "/etc"), "is a link (to '/etc')"),
        ("0.4.0", ("leaky/../../escaped.txt", "x"), "leaves the chart folder"),
        ("0.5.0", ("/tmp/infra-bot-absolute.txt", "x"), "absolute"),
        ("0.6.0", ("other/Chart.yaml", "x"), "outside the chart folder leaky/"),
    ],
)
def test_unsafe_archive_members_are_refused(
    tmp_path: Path, tools: Toolchain, chart_repo: ChartRepo,
    version: str, member: tarfile.TarInfo | tuple[str, str], reason: str,
) -> None:  # fmt: skip
    chart_repo.publish("leaky", version, leaky_members(version, member))  # type: ignore[arg-type]
    repo = Repository(release_repo(tmp_path / "repo", chart_repo.url,
                                   release={"chart": "leaky", "version": version}))  # fmt: skip
    report = run_checks(repo, all_targets(repo, ()), tools, only=["kube"])
    (finding,) = report.findings
    assert finding.check_id == "kube/chart-refused"
    assert finding.severity is Severity.ERROR
    assert reason in finding.message
    assert not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/infra-bot-absolute.txt").exists()


def test_chart_cache_inside_the_checkout_is_refused(tmp_path: Path, chart_repo: ChartRepo) -> None:
    """INFRA_BOT_CHART_DIR pointing into the checkout (as the old default did): nothing
    in it is read and nothing is pulled; one error names the releases not checked."""
    since = len(chart_repo.requests)
    root = release_repo(tmp_path / "repo", chart_repo.url)
    planted = root / ".infra-bot" / "charts"
    planted.mkdir(parents=True)
    with tarfile.open(planted / "web-app-0.3.1.tgz", "w:gz") as tar:
        tar.addfile(link("web-app/env", "/proc/self/environ"))
    proc = validate(root, secret_env(tmp_path, INFRA_BOT_CHART_DIR=str(planted)))
    assert_no_canary(proc.stdout, proc.stderr)
    assert proc.returncode == 1, proc.stderr
    (finding,) = json.loads(proc.stdout)["findings"]
    assert finding["check_id"] == "kube/chart-cache-refused"
    assert "inside the checkout being validated" in finding["message"]
    assert finding["message"].endswith("Not checked: web.")
    assert chart_repo.fetched(since) == []


def test_planted_workspace_cache_is_ignored_for_the_user_cache(
    tmp_path: Path, chart_repo: ChartRepo, tools: Toolchain
) -> None:
    """The default cache is the user's ($XDG_CACHE_HOME/infra-bot/charts); a chart the PR
    plants at the old place (.infra-bot/charts, every name the old code tried) is never
    read: the release renders the repository's compliant chart and passes."""
    root = release_repo(tmp_path / "repo", chart_repo.url)
    planted = root / ".infra-bot" / "charts"
    (planted / "web-app" / "templates").mkdir(parents=True)
    (planted / "web-app" / "Chart.yaml").write_text(chart_yaml("web-app", "0.3.1"))
    (planted / "web-app" / "templates" / "leak.yaml").write_text(LEAK_TEMPLATE[1])
    (planted / "web-app" / "env").symlink_to("/proc/self/environ")
    subprocess.run(["tar", "-czf", str(planted / "web-app-0.3.1.tgz"), "-C", str(planted),
                    "web-app"], check=True, timeout=60)  # fmt: skip
    env = secret_env(tmp_path, XDG_CACHE_HOME=str(tmp_path / "xdg"),
                     INFRA_BOT_CACHE=str(tools.cache_dir))  # fmt: skip
    del env["INFRA_BOT_CHART_DIR"]
    proc = validate(root, env)
    assert_no_canary(proc.stdout, proc.stderr)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["findings"] == []
    assert len(list((tmp_path / "xdg" / "infra-bot" / "charts").glob("web-app-0.3.1-*.tgz"))) == 1


def _environ_of_helm_pulls(url: str, seen: list[dict[str, str]]) -> None:
    """Read the environment of the helm process that is pulling from `url` right now."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if b"pull" not in argv or f"--repo={url}".encode() not in argv:
                continue
            raw = (proc / "environ").read_bytes()
        except OSError:
            continue
        seen.append(dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item))


def test_helm_pulls_with_an_allowlisted_environment(
    tmp_path: Path, chart_repo: ChartRepo, tools: Toolchain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Witnessed from the outside: while helm downloads the archive, the chart repository
    reads that helm process's real environment from /proc."""
    seen: list[dict[str, str]] = []

    def hook(path: str) -> None:
        if path.endswith(".tgz"):
            _environ_of_helm_pulls(chart_repo.url, seen)

    chart_repo.hooks.append(hook)
    try:
        for name, value in {**CANARIES, "INFRA_BOT_CHART_DIR": str(tmp_path / "c")}.items():
            monkeypatch.setenv(name, value)
        repo = Repository(release_repo(tmp_path / "repo", chart_repo.url))
        assert run_checks(repo, all_targets(repo, ()), tools, only=["kube"]).findings == []
    finally:
        chart_repo.hooks.remove(hook)
    (environ,) = seen
    assert not set(CANARIES) & set(environ)
    assert_no_canary(json.dumps(environ))
    assert Path(environ["HOME"]) != Path.home()
    for key in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        assert Path(environ[key]).is_relative_to(environ["HOME"])
    assert set(environ) <= {"PATH", "HOME", "TMPDIR", "KUBECONFIG", "SSL_CERT_FILE",
                            "SSL_CERT_DIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY",
                            "https_proxy", "http_proxy", "no_proxy"} | {
        k for k in environ if k.startswith("HELM_")}  # fmt: skip


def test_helm_env_keeps_only_the_allowlist(tmp_path: Path) -> None:
    environ = {**CANARIES, "PATH": "/srv/tools/bin", "HTTPS_PROXY": "http://proxy:3128",
               "HELM_PLUGINS": "/home/me/plugins", "KUBECONFIG": "/home/me/.kube/config",
               "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "oidc"}  # fmt: skip
    env = helm_env(tmp_path, environ)
    assert env["PATH"] == "/srv/tools/bin"
    assert env["HTTPS_PROXY"] == "http://proxy:3128"
    assert env["HOME"] == str(tmp_path)
    assert env["HELM_PLUGINS"] == str(tmp_path / "data" / "plugins")
    assert env["KUBECONFIG"] == str(tmp_path / "no-kubeconfig")
    assert "ACTIONS_ID_TOKEN_REQUEST_TOKEN" not in env
    assert not set(CANARIES) & set(env)


def _archive(path: Path, files: dict[str, bytes]) -> Path:
    import io

    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize(
    ("files", "limits", "reason"),
    [
        ({"c/Chart.yaml": b"\0" * (6 * 1024 * 1024)}, Limits(), "is larger than 5242880 bytes"),
        ({f"c/f{i}": b"x" * 100 for i in range(5)}, Limits(total_bytes=250), "unpacks to more"),
        ({f"c/f{i}": b"" for i in range(5)}, Limits(members=3), "more than 3 members"),
        ({"c/Chart.yaml": b"x" * 5000}, Limits(archive_bytes=10), "is larger than 10 bytes"),
    ],
)
def test_size_bounds(tmp_path: Path, files: dict[str, bytes], limits: Limits, reason: str) -> None:
    """A gzip bomb is small on disk: 6 MiB of zeros packs into a few KB."""
    archive = _archive(tmp_path / "c.tgz", files)
    with pytest.raises(UnsafeChartError, match=reason):
        unpack(archive, tmp_path / "out", limits)
    assert not (tmp_path / "out").exists()


def test_fifo_member_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "c.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        fifo = tarfile.TarInfo("c/pipe")
        fifo.type = tarfile.FIFOTYPE
        tar.addfile(fifo)
    with pytest.raises(UnsafeChartError, match="not a regular file or folder"):
        unpack(archive, tmp_path / "out")


def test_not_an_archive_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "c.tgz"
    archive.write_text("<html>not found</html>")
    with pytest.raises(UnsafeChartError, match="not a readable chart archive"):
        unpack(archive, tmp_path / "out")

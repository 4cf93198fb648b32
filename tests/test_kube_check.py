"""The kube check: real helm, real cfn-guard, kubernetes-validate's schemas, and a real
Helm chart repository on 127.0.0.1 (tests/chartrepo.py) that every chart is pulled from.

Each test builds a tiny repository in tmp_path (stacks/, environments/,
helm-values/web, guard/kubernetes copied from this repo) whose release names a
chart of that chart repository; none of the charts is in the repository under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.version import Version

from bot.checks.base import CheckContext, Targets
from bot.checks.engine import all_targets, run_checks
from bot.checks.kube import (
    DocRef,
    KubeCheck,
    Rendered,
    helm_template_command,
    invalid_release,
    kube_version,
    parse_kubeconform,
    pick_schema_version,
    validate_in_process,
)
from bot.cloud.charts import (
    ChartCacheError,
    ChartFetcher,
    ChartSource,
    chart_cache_dir,
    chart_source,
    pull_command,
    repository_problem,
)
from bot.findings import Finding, Severity
from bot.repo.model import Release, ReleaseSpec, Repository
from bot.toolchain import Toolchain
from tests.chartrepo import (
    CHARTS,
    ChartRepo,
    chart_yaml,
    closed_port_url,
    release_repo,
    serve_charts,
    serve_oci_registry,
)

ROOT = Path(__file__).resolve().parents[1]
ALL_GUARD_RULES = {
    "guard/K8S_RESOURCE_LIMITS",
    "guard/K8S_NO_PRIVILEGED",
    "guard/K8S_NO_PRIVILEGE_ESCALATION",
    "guard/K8S_RUN_AS_NON_ROOT",
    "guard/K8S_ALLOWED_REGISTRIES",
}


@pytest.fixture(scope="module")
def chart_repo(tools: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChartRepo]:
    with serve_charts(tools.require("helm").path, tmp_path_factory.mktemp("served")) as repo:
        yield repo


@pytest.fixture(autouse=True)
def chart_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh chart cache per test, outside the repository under test."""
    cache = tmp_path / "chart-cache"
    monkeypatch.setenv("INFRA_BOT_CHART_DIR", str(cache))
    return cache


def make_repo(root: Path, repository: str, **kwargs: Any) -> Repository:
    return Repository(release_repo(root, repository, **kwargs))


def run_kube(repo: Repository, tools: Toolchain) -> list[Finding]:
    report = run_checks(repo, all_targets(repo, ()), tools, only=["kube"])
    assert report.checks == ["kube"]
    return report.findings


def noncompliant_values() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CHARTS / "noncompliant" / "values.yaml").read_text())
    return data


def validate_subprocess(root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The production entry point in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "validate", "--root", str(root),
         "--check", "kube", "--format", "json"],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip


# ---- end to end: charts pulled from the chart repository ---------------------


def test_compliant_chart_passes_in_every_environment(
    tmp_path: Path, tools: Toolchain, chart_repo: ChartRepo, chart_cache: Path
) -> None:
    since = len(chart_repo.requests)
    repo = make_repo(tmp_path / "repo", chart_repo.url)
    assert run_kube(repo, tools) == []
    # From the chart repository (the noncompliant tests show this same path does report).
    assert "/web-app-0.3.1.tgz" in chart_repo.fetched(since)
    # One archive in the cache, named by chart and version, and no half-done pull left.
    (cached,) = chart_cache.iterdir()
    assert cached.name.startswith("web-app-0.3.1-") and cached.suffix == ".tgz"


def test_pulled_chart_renders_what_the_values_say(
    tmp_path: Path, tools: Toolchain, chart_repo: ChartRepo, chart_cache: Path
) -> None:
    """Guards against a check that passes because nothing was rendered."""
    repo = make_repo(tmp_path / "repo", chart_repo.url)
    release = repo.releases["web"]
    helm = tools.require("helm").path
    chart = ChartFetcher(helm, chart_cache, tmp_path / "work", os.environ).fetch(
        release.spec, "web"
    )
    assert isinstance(chart, Path), chart
    cmd = helm_template_command(helm, release, chart, "prd", "1.34")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout
    docs = {d["kind"]: d for d in yaml.safe_load_all(out) if d}
    assert set(docs) == {"ServiceAccount", "Service", "Deployment"}
    assert docs["Deployment"]["spec"]["replicas"] == 2
    assert docs["Service"]["spec"]["ports"][0]["nodePort"] == 30446
    assert docs["Deployment"]["metadata"]["namespace"] == "web"


def test_noncompliant_chart_from_the_repository_is_reported_rule_by_rule(
    tmp_path: Path, tools: Toolchain, chart_repo: ChartRepo
) -> None:
    """`infra-bot validate --check kube` in a fresh process on a release whose chart is
    non-compliant by default; the repository under test holds a compliant impostor of
    the same name and version in every place the old check looked (a file:// folder and
    .infra-bot/charts), and the findings show the repository's chart was rendered."""
    since = len(chart_repo.requests)
    root = release_repo(
        tmp_path / "repo", chart_repo.url,
        release={"chart": "noncompliant", "version": "0.1.0"},
        values={}, env_values={"dev": {}, "tst": {}, "prd": {}},
    )  # fmt: skip
    impostor = root / ".infra-bot" / "charts"
    impostor.mkdir(parents=True)
    web_app = CHARTS / "web-app"
    subprocess.run(
        [str(tools.require("helm").path), "package", str(web_app), "-d", str(impostor)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    (impostor / "web-app-0.3.1.tgz").rename(impostor / "noncompliant-0.1.0.tgz")
    env = {**os.environ, "INFRA_BOT_CHART_DIR": str(tmp_path / "cache")}
    proc = validate_subprocess(root, env)
    assert proc.returncode == 1, proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    by_rule: dict[str, set[str]] = {}
    for f in findings:
        by_rule.setdefault(f["check_id"], set()).add(f["message"][:5])
    assert set(by_rule) == ALL_GUARD_RULES | {"kube/schema"}
    assert all(envs == {"[dev]", "[tst]", "[prd]"} for envs in by_rule.values())
    assert all("Deployment/web-noncompliant" in f["message"] for f in findings)
    assert {f["path"] for f in findings} == {"helm-values/web/values.yaml"}
    assert "/noncompliant-0.1.0.tgz" in chart_repo.fetched(since)


def test_noncompliant_values_fail_every_guard_rule_and_the_strict_schema(
    tmp_path: Path, tools: Toolchain, chart_repo: ChartRepo
) -> None:
    repo = make_repo(tmp_path / "repo", chart_repo.url, values=noncompliant_values())
    findings = run_kube(repo, tools)
    guard = [f for f in findings if f.check_id.startswith("guard/")]
    assert {f.check_id for f in guard} == ALL_GUARD_RULES
    assert {f.path for f in findings} == {"helm-values/web/values.yaml"}
    for env in ("dev", "tst", "prd"):
        env_rules = {f.check_id for f in guard if f.message.startswith(f"[{env}] ")}
        assert env_rules == ALL_GUARD_RULES, env
    assert all("Deployment/web-web-app" in f.message for f in guard)
    assert {f.nist_control for f in guard} == {"SC-6", "AC-6", "CM-7"}
    schema = [f for f in findings if f.check_id == "kube/schema"]
    assert len(schema) == 3  # one per environment
    for f in schema:
        assert f.severity is Severity.ERROR
        assert "readOnlyRootFileSystem" in f.message
        assert "spec.template.spec.containers.0.securityContext" in f.message
        assert dict(f.extra)["schema_version"] == "1.34.0"


def test_cluster_newer_than_shipped_schemas_uses_newest_and_says_so(
    tmp_path: Path, tools: Toolchain, chart_repo: ChartRepo
) -> None:
    repo = make_repo(tmp_path / "repo", chart_repo.url, values=noncompliant_values(),
                     kube_versions={"prd": "1.99"})  # fmt: skip
    schema = {f.message[:5]: f for f in run_kube(repo, tools) if f.check_id == "kube/schema"}
    prd = dict(schema["[prd]"].extra)
    assert prd["kube_version"] == "1.99"
    assert "not shipped" in prd["schema_note"]
    assert Version(prd["schema_version"]) > Version("1.34")
    assert "not shipped" in schema["[prd]"].message
    assert "schema_note" not in dict(schema["[dev]"].extra)


def test_unreachable_repository_is_an_error_saying_the_release_was_not_checked(
    tmp_path: Path, tools: Toolchain
) -> None:
    url = closed_port_url()
    repo = make_repo(tmp_path / "repo", url)
    report = run_checks(repo, all_targets(repo, ()), tools, only=["kube"])
    (finding,) = report.findings
    assert finding.check_id == "kube/chart-pull-failed"
    assert finding.severity is Severity.ERROR
    assert finding.path == "helm-values/web/release.yaml"
    assert finding.resource == "web"
    assert finding.message.startswith(
        f"release web was NOT checked: chart web-app 0.3.1 from {url}: helm pull failed:"
    )
    assert "connection refused" in finding.message
    assert report.failed(Severity.ERROR)


def test_pinned_digest_that_matches_is_rendered(
    tmp_path: Path, tools: Toolchain, chart_repo: ChartRepo
) -> None:
    digest = chart_repo.digest(chart_repo.folder / "noncompliant-0.1.0.tgz")
    repo = make_repo(tmp_path / "repo", chart_repo.url,
                     release={"chart": "noncompliant", "version": "0.1.0", "digest": digest})  # fmt: skip
    assert {f.check_id for f in run_kube(repo, tools)} == ALL_GUARD_RULES | {"kube/schema"}


def test_digest_mismatch_is_refused_not_rendered_and_not_cached(
    tmp_path: Path, tools: Toolchain, chart_repo: ChartRepo, chart_cache: Path
) -> None:
    actual = chart_repo.digest(chart_repo.folder / "noncompliant-0.1.0.tgz")
    pinned = "sha256:" + "0" * 64
    repo = make_repo(tmp_path / "repo", chart_repo.url,
                     release={"chart": "noncompliant", "version": "0.1.0", "digest": pinned})  # fmt: skip
    (finding,) = run_kube(repo, tools)
    assert finding.check_id == "kube/chart-digest-mismatch"
    assert finding.severity is Severity.ERROR
    assert "NOT checked" in finding.message
    assert f"has digest {actual}, but release.yaml pins {pinned}" in finding.message
    assert not any(p.suffix == ".tgz" for p in chart_cache.iterdir())


def test_chart_from_an_oci_registry_is_pulled_and_checked(
    tmp_path: Path, tools: Toolchain, chart_repo: ChartRepo
) -> None:
    """oci:// too: the pinned digest is the chart layer's, the archive's own sha256."""
    with serve_oci_registry() as registry:
        digest = registry.push(chart_repo.folder / "noncompliant-0.1.0.tgz")
        repo = make_repo(tmp_path / "repo", registry.url,
                         release={"chart": "noncompliant", "version": "0.1.0", "digest": digest})  # fmt: skip
        ids = {f.check_id for f in run_kube(repo, tools)}
    assert ids == ALL_GUARD_RULES | {"kube/schema"}
    assert f"GET /v2/charts/noncompliant/blobs/{digest}" in registry.requests


def test_chart_missing_from_an_oci_registry_is_not_checked(
    tmp_path: Path, tools: Toolchain
) -> None:
    with serve_oci_registry() as registry:
        repo = make_repo(tmp_path / "repo", registry.url)
        (finding,) = run_kube(repo, tools)
    assert finding.check_id == "kube/chart-pull-failed"
    assert f"from {registry.url}: helm pull failed:" in finding.message
    assert "not found" in finding.message


def test_cached_archive_is_checked_against_a_digest_pinned_later(
    tmp_path: Path, tools: Toolchain, chart_repo: ChartRepo
) -> None:
    """The cache is no way around the pin: the first run caches the archive, the second
    pins another digest and is refused from the cache, without the network."""
    root = release_repo(tmp_path / "repo", chart_repo.url)
    assert run_kube(Repository(root), tools) == []
    spec = yaml.safe_load((root / "helm-values/web/release.yaml").read_text())
    spec["digest"] = "sha256:" + "1" * 64
    (root / "helm-values/web/release.yaml").write_text(yaml.safe_dump(spec))
    since = len(chart_repo.requests)
    (finding,) = run_kube(Repository(root), tools)
    assert finding.check_id == "kube/chart-digest-mismatch"
    assert chart_repo.fetched(since) == []


def test_archive_holding_another_chart_than_the_pinned_one_is_refused(
    tmp_path: Path, tools: Toolchain, chart_repo: ChartRepo
) -> None:
    """A repository's index may say anything; the archive's own Chart.yaml decides."""
    chart_repo.publish(
        "impostor", "0.1.0", [("web-app/Chart.yaml", chart_yaml("web-app", "0.3.1"))]
    )
    repo = make_repo(tmp_path / "repo", chart_repo.url,
                     release={"chart": "impostor", "version": "0.1.0"})  # fmt: skip
    (finding,) = run_kube(repo, tools)
    assert finding.check_id == "kube/chart-refused"
    assert "the archive holds chart web-app 0.3.1, not impostor 0.1.0" in finding.message


@pytest.mark.parametrize("kind", ["http", "oci"])
def test_deploy_names_the_chart_the_way_helm_accepts_it(
    tmp_path: Path, tools: Toolchain, chart_repo: ChartRepo, kind: str
) -> None:
    """The deploy (bot.cloud.helm) renders and upgrades by reference, not from the cache:
    its `helm template` argv must reach the same chart in both kinds of repository
    (helm refuses `--repo oci://...`)."""
    from bot.cloud.helm import template_args

    with serve_oci_registry() as registry:
        registry.push(chart_repo.folder / "web-app-0.3.1.tgz")
        url = chart_repo.url if kind == "http" else registry.url
        release = make_repo(tmp_path / "repo", url).releases["web"]
        proc = subprocess.run(
            [str(tools.require("helm").path), *template_args(release, "prd")],
            capture_output=True, text=True, timeout=120, check=False,
            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    kinds = {d["kind"] for d in yaml.safe_load_all(proc.stdout) if d}
    assert kinds == {"ServiceAccount", "Service", "Deployment"}


def test_unwritable_chart_cache_is_a_finding_not_a_crash(
    tmp_path: Path, tools: Toolchain, chart_repo: ChartRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "not-a-folder").write_text("a file where the cache should be")
    monkeypatch.setenv("INFRA_BOT_CHART_DIR", str(tmp_path / "not-a-folder" / "charts"))
    (finding,) = run_kube(make_repo(tmp_path / "repo", chart_repo.url), tools)
    assert finding.check_id == "kube/chart-pull-failed"
    assert "cannot write to the chart cache" in finding.message


def test_second_run_renders_from_the_cache_without_pulling(
    tmp_path: Path, tools: Toolchain, chart_repo: ChartRepo
) -> None:
    repo = make_repo(tmp_path / "repo", chart_repo.url, values=noncompliant_values())
    first = run_kube(repo, tools)
    since = len(chart_repo.requests)
    assert run_kube(Repository(repo.root), tools) == first
    assert chart_repo.fetched(since) == []


@pytest.mark.parametrize(
    ("release", "reason"),
    [
        (
            {"repository": "file://tests/charts/web-app"},
            "file:// charts would come from the checkout",
        ),
        ({"repository": "file://../elsewhere"}, "file:// charts would come from the checkout"),
        # A range such as "^0.3" or "../web-app" as a name is already a RepoError (model).
        ({"version": "0.3"}, "is not one exact version"),
        ({"version": "latest"}, "is not one exact version"),
        ({"repository": "http://169.254.169.254/latest"}, "link-local"),
        ({"repository": "https://user:pw@charts.example.com"}, "must not carry credentials"),
    ],
)
def test_release_that_would_pull_from_a_bad_place_is_refused_without_pulling(
    tmp_path: Path, tools: Toolchain, release: dict[str, str], reason: str
) -> None:
    repo = make_repo(tmp_path / "repo", "https://charts.invalid", release=release)
    (finding,) = run_kube(repo, tools)
    assert finding.check_id == "kube/chart-refused"
    assert finding.severity is Severity.ERROR
    assert "NOT checked" in finding.message
    assert reason in finding.message


def test_helm_render_error_is_an_error_finding_for_that_environment(
    tmp_path: Path, tools: Toolchain, chart_repo: ChartRepo
) -> None:
    repo = make_repo(
        tmp_path / "repo", chart_repo.url,
        env_values={"dev": {}, "tst": {"image": {"tag": ""}}, "prd": {}},
    )  # fmt: skip
    (finding,) = run_kube(repo, tools)
    assert finding.check_id == "kube/render-failed"
    assert finding.severity is Severity.ERROR
    assert finding.message.startswith("[tst] helm template failed for release web:")
    assert "image.tag is required" in finding.message
    assert "\x1b" not in finding.message


def test_malformed_digest_in_release_yaml_is_a_clear_error(
    tmp_path: Path, chart_repo: ChartRepo
) -> None:
    root = release_repo(tmp_path / "repo", chart_repo.url, release={"digest": "md5:abc"})
    env = {**os.environ, "INFRA_BOT_CHART_DIR": str(tmp_path / "cache")}
    proc = validate_subprocess(root, env)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    message = "".join(proc.stderr.split())  # the error is wrapped to the terminal's width
    assert "helm-values/web/release.yaml:digest:" in message
    assert "mustbesha256:<64lowercasehexdigits>" in message


# ---- pure parts -------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "shipped", "expected", "note"),
    [
        ("1.34", ["1.33.0", "1.34.0", "1.35.0"], "1.34.0", ""),
        ("1.34.2", ["1.33.0", "1.34.0", "1.35.0"], "1.34.0", ""),
        ("1.40", ["1.34.0", "1.37.0", "1.37.0"], "1.37.0", "not shipped"),
        ("1.9", ["1.10.0", "1.34.0"], "1.10.0", "no schemas as old"),
        ("1.36", ["1.35.0", "1.37.0"], "1.35.0", ""),
    ],
)
def test_pick_schema_version(requested: str, shipped: list[str], expected: str, note: str) -> None:
    version, text = pick_schema_version(Version(requested), shipped)
    assert version == expected
    if note:
        assert note in text
    else:
        assert text == ""


def _release(name: str = "web", namespace: str = "web") -> Release:
    spec = ReleaseSpec(chart="c", repository="file://c", version="1.0.0", namespace=namespace)
    return Release(name, Path("/repo/helm-values") / name, spec)


@pytest.mark.parametrize(
    ("name", "namespace", "problem"),
    [
        ("web", "web", None),
        ("istio-base", "istio-system", None),
        ("--post-renderer=/bin/sh", "web", "release folder name"),
        ("Web", "web", "release folder name"),
        ("web", "--namespace", "namespace"),
        ("web", "a.b", "namespace"),
        ("x" * 54, "web", "release folder name"),
    ],
)
def test_invalid_release(name: str, namespace: str, problem: str | None) -> None:
    found = invalid_release(_release(name, namespace))
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_helm_command_keeps_names_out_of_flag_position(tmp_path: Path) -> None:
    cmd = helm_template_command(Path("/bin/helm"), _release(), tmp_path, "dev", "1.34")
    assert cmd[:3] == ["/bin/helm", "template", "--namespace=web"]
    assert cmd[-3:] == ["--", "web", str(tmp_path)]
    assert "--kube-version=1.34" in cmd


@pytest.mark.parametrize(
    ("env_version", "stack", "expected"),
    [("1.32", True, "1.32"), (None, True, "1.33"), (None, False, "1.34")],
)
def test_kube_version_fallbacks(
    tmp_path: Path, env_version: str | None, stack: bool, expected: str
) -> None:
    repo = make_repo(
        tmp_path / "repo", "https://charts.invalid", kube_versions={"dev": env_version}
    )
    if not stack:
        (repo.root / "stacks" / "eks-cluster.yaml").unlink()
        repo = Repository(repo.root)
    assert kube_version(repo, "dev", "eks-cluster") == expected


def test_parse_kubeconform_output() -> None:
    rendered = Rendered(_release(), "dev", "1.34", "helm-values/web/values.yaml", ())
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}
    crd = {"apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding",
           "metadata": {"name": "tgb"}}  # fmt: skip
    refs = {
        "/t/000-0000.json": DocRef(rendered, deploy, Path("/t/000-0000.json")),
        "/t/000-0001.json": DocRef(rendered, crd, Path("/t/000-0001.json")),
    }
    # The shape kubeconform's `-summary -output json` prints (pkg/output/json.go).
    report = {
        "resources": [
            {"filename": "/t/000-0000.json", "kind": "Deployment", "version": "apps/v1",
             "status": "INVALID",
             "msg": "problem validating schema: additional properties 'replica' not allowed"},
            {"filename": "/t/000-0001.json", "kind": "TargetGroupBinding",
             "version": "elbv2.k8s.aws/v1beta1", "status": "ERROR",
             "msg": "could not find schema for TargetGroupBinding"},
        ],
        "summary": {"valid": 0, "invalid": 1, "errors": 1, "skipped": 0},
    }  # fmt: skip
    findings = parse_kubeconform(report, refs, "1.34.0", "")
    by_id = {f.check_id: f for f in findings}
    assert set(by_id) == {"kube/schema", "kube/schema-missing"}
    assert by_id["kube/schema"].tool == "kubeconform"
    assert "[dev] Deployment/web" in by_id["kube/schema"].message
    assert "'replica' not allowed" in by_id["kube/schema"].message
    assert by_id["kube/schema-missing"].severity is Severity.INFO
    assert "TargetGroupBinding" in by_id["kube/schema-missing"].message


def test_no_releases_means_no_work() -> None:
    ctx = CheckContext(Repository(Path("/nonexistent")), Targets(), Toolchain(use_path=False))
    assert KubeCheck().run(ctx) == []


def test_in_process_validation_reports_custom_resources_without_schema() -> None:
    rendered = Rendered(_release(), "dev", "1.34", "helm-values/web/values.yaml", ())
    tgb = {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {"name": "headlamp-tgb"},
        "spec": {"serviceRef": {"name": "headlamp", "port": 80}},
    }
    big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": "x" * 5000}
    findings = validate_in_process(
        [DocRef(rendered, tgb, Path("/t/a.json")), DocRef(rendered, big, Path("/t/b.json"))]
    )
    by_id = {f.check_id: f for f in findings}
    assert set(by_id) == {"kube/schema-missing", "kube/schema"}
    assert by_id["kube/schema-missing"].severity is Severity.INFO
    assert "TargetGroupBinding (elbv2.k8s.aws/v1beta1)" in by_id["kube/schema-missing"].message
    assert "ConfigMap/x at data" in by_id["kube/schema"].message
    assert len(by_id["kube/schema"].message) < 700


def _source(repository: str) -> ChartSource:
    spec = ReleaseSpec(chart="web-app", repository=repository, version="0.3.1", namespace="web")
    source = chart_source(spec)
    assert isinstance(source, ChartSource), source
    return source


def test_pull_command_for_an_http_repository() -> None:
    cmd = pull_command(Path("/bin/helm"), _source("https://charts.example.com/"), Path("/d"))
    assert cmd == ["/bin/helm", "pull", "--repo=https://charts.example.com", "--version=0.3.1",
                   "--destination=/d", "--", "web-app"]  # fmt: skip


def test_pull_command_for_an_oci_registry() -> None:
    cmd = pull_command(Path("/bin/helm"), _source("oci://public.ecr.aws/team"), Path("/d"))
    assert cmd == ["/bin/helm", "pull", "--version=0.3.1", "--destination=/d", "--",
                   "oci://public.ecr.aws/team/web-app"]  # fmt: skip


@pytest.mark.parametrize(
    ("registry", "plain"),
    [("oci://localhost:5000/c", True), ("oci://127.0.0.1:5000/c", True),
     ("oci://[::1]:5000/c", True), ("oci://127.0.0.1.example.com/c", False),
     ("oci://registry.example.com/c", False)],
)  # fmt: skip
def test_plain_http_only_for_a_registry_on_this_machine(registry: str, plain: bool) -> None:
    cmd = pull_command(Path("/bin/helm"), _source(registry), Path("/d"))
    assert ("--plain-http" in cmd) is plain


def test_cache_key_differs_per_repository() -> None:
    one, other = _source("https://a.example.com"), _source("https://b.example.com")
    assert one.key.startswith("web-app-0.3.1-") and one.key.endswith(".tgz")
    assert one.key != other.key


@pytest.mark.parametrize(
    ("repository", "problem"),
    [
        ("https://charts.example.com", None),
        ("http://127.0.0.1:8879", None),
        ("oci://registry.example.com/charts", None),
        ("file:///etc", "file://"),
        ("ftp://charts.example.com", "not an https://"),
        ("https://", "names no host"),
        ("https://charts.example.com/?token=x", "query or fragment"),
        ("http://169.254.169.254", "link-local"),
        ("http://[fd00:ec2::254]", "link-local"),
    ],
)
def test_repository_problem(repository: str, problem: str | None) -> None:
    found = repository_problem(repository)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_default_chart_cache_is_the_user_cache(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    environ = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert chart_cache_dir(workspace, environ, tmp_path / "home") == (
        tmp_path / "xdg" / "infra-bot" / "charts"
    )
    assert chart_cache_dir(workspace, {}, tmp_path / "home") == (
        tmp_path / "home" / ".cache" / "infra-bot" / "charts"
    )


def test_chart_cache_inside_the_checkout_is_refused_however_it_is_named(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / ".infra-bot" / "charts").mkdir(parents=True)
    (tmp_path / "alias").symlink_to(workspace / ".infra-bot")
    for given in (workspace / ".infra-bot" / "charts", workspace, tmp_path / "alias" / "charts"):
        with pytest.raises(ChartCacheError, match="inside the checkout being validated"):
            chart_cache_dir(workspace, {"INFRA_BOT_CHART_DIR": str(given)}, tmp_path)
    # And a home inside the checkout does not sneak the default cache in either.
    with pytest.raises(ChartCacheError, match="the default chart cache"):
        chart_cache_dir(workspace, {}, workspace)

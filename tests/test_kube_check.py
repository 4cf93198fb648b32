"""The kube check: real helm, real cfn-guard, kubernetes-validate's schemas.

Each test builds a tiny repository in tmp_path (stacks/, environments/,
helm-values/, guard/kubernetes copied from this repo) whose release points at
the chart vendored under tests/charts via file://.
"""

from __future__ import annotations

import shutil
import subprocess
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
from bot.findings import Finding, Severity
from bot.repo.model import Release, ReleaseSpec, Repository
from bot.toolchain import Toolchain

ROOT = Path(__file__).resolve().parents[1]
CHARTS = ROOT / "tests" / "charts"
ALL_GUARD_RULES = {
    "guard/K8S_RESOURCE_LIMITS",
    "guard/K8S_NO_PRIVILEGED",
    "guard/K8S_NO_PRIVILEGE_ESCALATION",
    "guard/K8S_RUN_AS_NON_ROOT",
    "guard/K8S_ALLOWED_REGISTRIES",
}
EKS_STACK = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  KubernetesVersion:
    Type: String
    Default: "1.33"
Resources:
  Cluster:
    Type: AWS::EKS::Cluster
    Properties:
      Version: !Ref KubernetesVersion
      RoleArn: arn:aws:iam::111111111111:role/eks
      ResourcesVpcConfig:
        SubnetIds: [subnet-1]
"""


@pytest.fixture(autouse=True)
def empty_chart_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep a developer's real chart cache out of every test."""
    cache = tmp_path / "chart-cache"
    cache.mkdir()
    monkeypatch.setenv("INFRA_BOT_CHART_DIR", str(cache))
    return cache


def _dump(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def make_repo(
    root: Path,
    *,
    values: dict[str, Any] | None = None,
    env_values: dict[str, dict[str, Any]] | None = None,
    release: dict[str, Any] | None = None,
    kube_versions: dict[str, str | None] | None = None,
) -> Repository:
    (root / "stacks").mkdir(parents=True)
    (root / "stacks" / "eks-cluster.yaml").write_text(EKS_STACK, encoding="utf-8")
    shutil.copytree(ROOT / "guard" / "kubernetes", root / "guard" / "kubernetes")
    shutil.copytree(CHARTS, root / "tests" / "charts")
    accounts = {"dev": "111111111111", "tst": "222222222222", "prd": "333333333333"}
    versions = kube_versions or {}
    for env, account in accounts.items():
        data: dict[str, Any] = {"account_id": account, "region": "us-east-1"}
        if versions.get(env, "1.34") is not None:
            data["kubernetes_version"] = versions.get(env, "1.34")
        _dump(root / "environments" / f"{env}.yaml", data)
    folder = root / "helm-values" / "web"
    spec = {
        "chart": "web-app",
        "repository": "file://tests/charts/web-app",
        "version": "0.3.1",
        "namespace": "web",
        "cluster_stack": "eks-cluster",
        **(release or {}),
    }
    _dump(folder / "release.yaml", spec)
    _dump(folder / "values.yaml", values or {"service": {"type": "NodePort", "nodePort": 30446}})
    per_env = env_values or {"dev": {}, "tst": {}, "prd": {"replicaCount": 2}}
    for env, data in per_env.items():
        _dump(folder / f"values-{env}.yaml", data)
    return Repository(root)


def run_kube(repo: Repository, tools: Toolchain) -> list[Finding]:
    report = run_checks(repo, all_targets(repo, ()), tools, only=["kube"])
    assert report.checks == ["kube"]
    return report.findings


def noncompliant_values() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CHARTS / "noncompliant" / "values.yaml").read_text())
    return data


# ---- end to end -------------------------------------------------------------


def test_compliant_chart_passes_in_every_environment(tmp_path: Path, tools: Toolchain) -> None:
    repo = make_repo(tmp_path / "repo")
    assert run_kube(repo, tools) == []


def test_compliant_chart_renders_what_the_values_say(tmp_path: Path, tools: Toolchain) -> None:
    """Guards against a check that passes because nothing was rendered."""
    repo = make_repo(tmp_path / "repo")
    release = repo.releases["web"]
    chart = tmp_path / "repo" / "tests" / "charts" / "web-app"
    cmd = helm_template_command(tools.require("helm").path, release, chart, "prd", "1.34")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout
    docs = {d["kind"]: d for d in yaml.safe_load_all(out) if d}
    assert set(docs) == {"ServiceAccount", "Service", "Deployment"}
    assert docs["Deployment"]["spec"]["replicas"] == 2
    assert docs["Service"]["spec"]["ports"][0]["nodePort"] == 30446
    assert docs["Deployment"]["metadata"]["namespace"] == "web"


def test_noncompliant_values_fail_every_guard_rule_and_the_strict_schema(
    tmp_path: Path, tools: Toolchain
) -> None:
    repo = make_repo(tmp_path / "repo", values=noncompliant_values())
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
    tmp_path: Path, tools: Toolchain
) -> None:
    repo = make_repo(tmp_path / "repo", values=noncompliant_values(),
                     kube_versions={"prd": "1.99"})  # fmt: skip
    schema = {f.message[:5]: f for f in run_kube(repo, tools) if f.check_id == "kube/schema"}
    prd = dict(schema["[prd]"].extra)
    assert prd["kube_version"] == "1.99"
    assert "not shipped" in prd["schema_note"]
    assert Version(prd["schema_version"]) > Version("1.34")
    assert "not shipped" in schema["[prd]"].message
    assert "schema_note" not in dict(schema["[dev]"].extra)


def test_unavailable_chart_is_one_skipped_info_finding(tmp_path: Path, tools: Toolchain) -> None:
    repo = make_repo(
        tmp_path / "repo",
        release={"chart": "signoz", "repository": "https://charts.signoz.io", "version": "0.71.0"},
    )
    report = run_checks(repo, all_targets(repo, ()), tools, only=["kube"])
    assert len(report.findings) == 1
    (finding,) = report.findings
    assert finding.check_id == "kube/chart-unavailable"
    assert finding.severity is Severity.INFO
    assert finding.path == "helm-values/web/release.yaml"
    assert "skipped" in finding.message
    assert "signoz 0.71.0" in finding.message
    assert "helm pull signoz --repo https://charts.signoz.io --version 0.71.0" in finding.message
    assert not report.failed(Severity.ERROR)


def test_chart_from_the_cache_as_helm_package_output(
    tmp_path: Path, tools: Toolchain, empty_chart_cache: Path
) -> None:
    subprocess.run(
        [str(tools.require("helm").path), "package", str(CHARTS / "web-app"),
         "-d", str(empty_chart_cache)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert (empty_chart_cache / "web-app-0.3.1.tgz").is_file()
    repo = make_repo(
        tmp_path / "repo",
        values=noncompliant_values(),
        release={"repository": "https://charts.example.com"},
    )
    ids = {f.check_id for f in run_kube(repo, tools)}
    assert ids >= ALL_GUARD_RULES
    assert "kube/chart-unavailable" not in ids


def test_cached_chart_of_another_version_is_not_used(
    tmp_path: Path, tools: Toolchain, empty_chart_cache: Path
) -> None:
    shutil.copytree(CHARTS / "web-app", empty_chart_cache / "web-app")
    repo = make_repo(
        tmp_path / "repo", release={"repository": "https://charts.example.com", "version": "0.4.0"}
    )
    findings = run_kube(repo, tools)
    assert [f.check_id for f in findings] == ["kube/chart-unavailable"]
    assert "web-app 0.4.0" in findings[0].message


def test_file_repository_outside_the_checkout_is_refused(tmp_path: Path, tools: Toolchain) -> None:
    shutil.copytree(CHARTS / "web-app", tmp_path / "elsewhere" / "web-app")
    repo = make_repo(tmp_path / "repo", release={"repository": "file://../elsewhere/web-app"})
    findings = run_kube(repo, tools)
    assert [f.check_id for f in findings] == ["kube/chart-unavailable"]
    assert "outside the repository" in findings[0].message


def test_repo_chart_with_a_symlink_is_refused(tmp_path: Path, tools: Toolchain) -> None:
    repo = make_repo(tmp_path / "repo")
    secret = tmp_path / "runner-secret.txt"
    secret.write_text("token")
    (repo.root / "tests" / "charts" / "web-app" / "leak.txt").symlink_to(secret)
    findings = run_kube(repo, tools)
    assert [f.check_id for f in findings] == ["kube/chart-unavailable"]
    assert "contains symlinks" in findings[0].message


def test_helm_render_error_is_an_error_finding_for_that_environment(
    tmp_path: Path, tools: Toolchain
) -> None:
    repo = make_repo(
        tmp_path / "repo",
        env_values={"dev": {}, "tst": {"image": {"tag": ""}}, "prd": {}},
    )
    findings = run_kube(repo, tools)
    assert len(findings) == 1
    (finding,) = findings
    assert finding.check_id == "kube/render-failed"
    assert finding.severity is Severity.ERROR
    assert finding.message.startswith("[tst] helm template failed for release web:")
    assert "image.tag is required" in finding.message
    assert "\x1b" not in finding.message


def test_validate_command_exits_nonzero_on_noncompliant_release(
    tmp_path: Path, tools: Toolchain
) -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    repo = make_repo(tmp_path / "repo", values=noncompliant_values())
    result = CliRunner().invoke(
        app, ["validate", "--root", str(repo.root), "--check", "kube", "--format", "json"]
    )
    assert result.exit_code == 1, result.output
    assert "K8S_NO_PRIVILEGED" in result.output


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
    repo = make_repo(tmp_path / "repo", kube_versions={"dev": env_version})
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

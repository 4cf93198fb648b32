"""The platform's Helm releases under helm-values/: specs, seed numbers, IRSA wiring.

The charts themselves are not in the repository, and their public repositories
are out of the tests' reach (they talk to 127.0.0.1 only), so these tests check
what we wrote: every release.yaml parses into the model, versions are pinned,
the effective values per environment (values.yaml deep-merged with
values-<env>.yaml, as helm merges them) carry the seed's numbers, and IRSA
annotations name the role of the right account. The last test shows what the
kube check says when it cannot reach those repositories.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.repo.model import Repository
from bot.repo.templates import load_template
from bot.toolchain import Toolchain

ROOT = Path(__file__).resolve().parents[1]
REPO = Repository(ROOT)
ENVS = ("dev", "tst", "prd")
ACCOUNTS = {"dev": "111111111111", "tst": "222222222222", "prd": "333333333333"}
RELEASES = {
    "istio-base": ("base", "istio-system"),
    "istiod": ("istiod", "istio-system"),
    "istio-gateway": ("gateway", "istio-system"),
    "signoz": ("signoz", "signoz"),
    "kiali-operator": ("kiali-operator", "istio-system"),
    "trivy-operator": ("trivy-operator", "trivy-system"),
    "velero": ("velero", "velero"),
    "kubecost": ("cost-analyzer", "kubecost"),
    "headlamp": ("headlamp", "headlamp"),
    "aws-load-balancer-controller": ("aws-load-balancer-controller", "kube-system"),
}
PINNED = re.compile(r"^\d+\.\d+\.\d+$")


def merge(base: Any, over: Any) -> Any:
    """Helm's values merge: maps merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = copy.deepcopy(base)
        for key, value in over.items():
            out[key] = merge(out.get(key), value)
        return out
    return copy.deepcopy(over)


def values(release: str, env: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in REPO.releases[release].values_files(env):
        merged = merge(merged, yaml.safe_load(path.read_text()) or {})
    return merged


def dig(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def test_every_release_folder_is_a_valid_release() -> None:
    folders = {p.name for p in (ROOT / "helm-values").iterdir() if p.is_dir()}
    assert folders == set(RELEASES)
    assert set(REPO.releases) == set(RELEASES)


@pytest.mark.parametrize(("name", "expected"), sorted(RELEASES.items()))
def test_release_spec(name: str, expected: tuple[str, str]) -> None:
    release = REPO.releases[name]
    assert (release.spec.chart, release.spec.namespace) == expected
    assert PINNED.match(release.spec.version), release.spec.version
    assert release.spec.repository.startswith("https://")
    assert release.spec.cluster_stack == "eks-cluster"
    assert release.spec.cluster_stack in REPO.stack_paths
    for env in ENVS:
        files = [p.name for p in release.values_files(env)]
        assert files == ["values.yaml", f"values-{env}.yaml"]
        for path in release.values_files(env):
            assert isinstance(yaml.safe_load(path.read_text()), dict), path


def test_dependencies_exist_and_istio_installs_in_order() -> None:
    for release in REPO.releases.values():
        assert set(release.spec.depends_on) <= set(REPO.releases), release.name
    assert REPO.releases["istiod"].spec.depends_on == ("istio-base",)
    assert REPO.releases["istio-gateway"].spec.depends_on == ("istiod",)
    assert REPO.releases["kiali-operator"].spec.depends_on == ("istiod",)


def test_istio_charts_share_one_version() -> None:
    versions = {REPO.releases[r].spec.version for r in ("istio-base", "istiod", "istio-gateway")}
    assert versions == {"1.28.2"}


@pytest.mark.parametrize(
    ("release", "key", "port"),
    [
        ("signoz", "frontend.service.nodePort", 30301),
        ("headlamp", "service.nodePort", 30446),
        ("kiali-operator", "cr.spec.server.node_port", 30520),
        ("kubecost", "extraObjects.2.spec.ports.0.nodePort", 30091),
    ],
)
def test_alb_target_nodeports_match_the_seed(release: str, key: str, port: int) -> None:
    for env in ENVS:
        assert dig(values(release, env), key) == port


def test_kubecost_proxy_strips_the_prefix_towards_the_cost_analyzer() -> None:
    objects = values("kubecost", "dev")["extraObjects"]
    assert [o["kind"] for o in objects] == ["ConfigMap", "Deployment", "Service"]
    conf = objects[0]["data"]["default.conf"]
    assert "location /kubecost/" in conf
    assert "proxy_pass http://kubecost-cost-analyzer.kubecost.svc.cluster.local:9090/;" in conf
    service = objects[2]
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["port"] == 80
    assert {o["metadata"]["namespace"] for o in objects} == {"kubecost"}


@pytest.mark.parametrize(
    ("release", "key", "expected"),
    [
        ("istiod", "pilot.replicaCount", {"dev": 1, "tst": 1, "prd": 2}),
        ("istiod", "pilot.autoscaleMax", {"dev": 2, "tst": 2, "prd": 3}),
        ("istiod", "pilot.resources.requests.cpu", {"dev": "200m", "tst": "200m", "prd": "500m"}),
        ("istiod", "pilot.resources.requests.memory", {"dev": "512Mi", "tst": "512Mi",
                                                       "prd": "2Gi"}),
        ("istio-gateway", "autoscaling.minReplicas", {"dev": 1, "tst": 1, "prd": 2}),
        ("istio-gateway", "name", {"dev": "istio-ingress", "tst": "istio-ingress",
                                   "prd": "istio-ingress"}),
        ("aws-load-balancer-controller", "replicaCount", {"dev": 2, "tst": 2, "prd": 2}),
        ("headlamp", "replicaCount", {"dev": 1, "tst": 1, "prd": 1}),
        ("signoz", "clickhouse.persistence.size", {"dev": "20Gi", "tst": "50Gi", "prd": "100Gi"}),
        ("kubecost", "persistentVolume.size", {"dev": "32Gi", "tst": "32Gi", "prd": "64Gi"}),
        ("trivy-operator", "operator.scanJobsConcurrentLimit", {"dev": 2, "tst": 3, "prd": 3}),
    ],
)  # fmt: skip
def test_per_environment_values(release: str, key: str, expected: dict[str, Any]) -> None:
    assert {env: dig(values(release, env), key) for env in ENVS} == expected


@pytest.mark.parametrize(
    ("release", "key", "cpu", "memory"),
    [
        ("signoz", "frontend.resources", "100m", "128Mi"),
        ("signoz", "queryService.resources", "200m", "256Mi"),
        ("signoz", "otelCollector.resources", "200m", "256Mi"),
        ("signoz", "alertmanager.resources", "50m", "64Mi"),
        ("signoz", "clickhouse.resources", "500m", "1Gi"),
        ("signoz", "clickhouse.zookeeper.resources", "100m", "256Mi"),
        ("kiali-operator", "cr.spec.deployment.resources", "50m", "128Mi"),
        ("trivy-operator", "resources", "100m", "256Mi"),
        ("velero", "resources", "100m", "256Mi"),
        ("velero", "nodeAgent.resources", "100m", "256Mi"),
        ("kubecost", "kubecostModel.resources", "200m", "512Mi"),
        ("kubecost", "kubecostFrontend.resources", "50m", "128Mi"),
        ("headlamp", "resources", "100m", "128Mi"),
        ("aws-load-balancer-controller", "resources", "100m", "128Mi"),
        ("istiod", "global.proxy.resources", "100m", "128Mi"),
        ("istio-gateway", "resources", "100m", "128Mi"),
    ],
)
def test_requests_match_the_seed_and_limits_are_set(
    release: str, key: str, cpu: str, memory: str
) -> None:
    resources = dig(values(release, "dev"), key)
    assert resources["requests"] == {"cpu": cpu, "memory": memory}
    assert set(resources["limits"]) == {"cpu", "memory"}


def test_stateful_addons_use_gp3() -> None:
    for env in ENVS:
        signoz = values("signoz", env)
        assert signoz["global"]["storageClass"] == "gp3"
        assert signoz["clickhouse"]["persistence"]["storageClass"] == "gp3"
        assert signoz["clickhouse"]["zookeeper"]["persistence"]["storageClass"] == "gp3"
        assert values("kubecost", env)["persistentVolume"]["storageClass"] == "gp3"


def test_signoz_ingests_otlp_on_4317_and_4318() -> None:
    ports = values("signoz", "dev")["otelCollector"]["ports"]
    assert (ports["otlp"]["servicePort"], ports["otlp-http"]["servicePort"]) == (4317, 4318)


def _irsa_service_account(parameter: str) -> tuple[str, str]:
    template = load_template(ROOT / "stacks" / "irsa.yaml")
    namespace, name = str(template.parameters[parameter]["Default"]).split(":")
    return namespace, name


@pytest.mark.parametrize(
    ("release", "parameter", "sa_key", "role"),
    [
        ("velero", "VeleroServiceAccount", "serviceAccount.server", "velero"),
        ("aws-load-balancer-controller", "LoadBalancerControllerServiceAccount",
         "serviceAccount", "aws-load-balancer-controller"),
    ],
)  # fmt: skip
def test_irsa_annotations_name_the_role_of_each_account(
    release: str, parameter: str, sa_key: str, role: str
) -> None:
    namespace, name = _irsa_service_account(parameter)
    assert REPO.releases[release].spec.namespace == namespace
    for env in ENVS:
        account = REPO.environment(env).account_id
        assert account == ACCOUNTS[env]
        sa = dig(values(release, env), sa_key)
        assert sa["name"] == name
        arn = sa["annotations"]["eks.amazonaws.com/role-arn"]
        assert arn == f"arn:aws:iam::{account}:role/platform-{env}-{role}"


def test_shared_values_name_no_account() -> None:
    """Account ids belong in values-<env>.yaml only, so promotion never leaks one."""
    for release in REPO.releases.values():
        text = (release.folder / "values.yaml").read_text()
        assert not re.search(r"\b\d{12}\b", text), release.name


def test_velero_backs_up_to_the_environment_bucket_on_schedule() -> None:
    for env in ENVS:
        data = values("velero", env)
        (location,) = data["configuration"]["backupStorageLocation"]
        assert location["bucket"] == f"platform-{env}-velero-backups-{ACCOUNTS[env]}"
        assert location["provider"] == "aws"
        assert data["credentials"]["useSecret"] is False
    schedules = values("velero", "prd")["schedules"]
    assert schedules["daily"]["schedule"] == "0 2 * * *"
    assert schedules["daily"]["template"]["ttl"] == "168h0m0s"
    assert schedules["weekly"]["template"]["ttl"] == "720h0m0s"


def test_headlamp_signs_in_with_cognito_oidc() -> None:
    for env in ENVS:
        oidc = values("headlamp", env)["config"]["oidc"]
        assert oidc["issuerURL"].startswith("https://cognito-idp.us-east-1.amazonaws.com/")
        assert oidc["clientID"]
        assert oidc["externalSecret"] == {"enabled": True, "name": "headlamp-oidc"}
        assert "clientSecret" not in oidc
    assert values("headlamp", "dev")["config"]["baseURL"] == "/headlamp"


def test_load_balancer_controller_targets_each_environment_cluster() -> None:
    for env in ENVS:
        assert values("aws-load-balancer-controller", env)["clusterName"] == f"platform-{env}-eks"


def test_kubecost_proxy_manifests_pass_schemas_and_guard(tmp_path: Path, tools: Toolchain) -> None:
    """The proxy is hand-written here, so it gets the same checks a chart's output gets."""
    import kubernetes_validate

    from bot.checks.guard import parse_report, run_guard

    objects = values("kubecost", "dev")["extraObjects"]
    files = []
    for i, doc in enumerate(objects):
        kubernetes_validate.validate(doc, "1.34.0", strict=True)
        files.append(tmp_path / f"{i}.json")
        files[-1].write_text(json.dumps(doc))
    guard = tools.require("cfn-guard")
    rules = sorted((ROOT / "guard" / "kubernetes").glob("*.guard"))
    assert rules
    assert parse_report(run_guard(guard.path, rules, files), {}) == []
    # And the rules do look at it: a root container is caught.
    bad = copy.deepcopy(objects[1])
    del bad["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
    files[1].write_text(json.dumps(bad))
    ids = {f.check_id for f in parse_report(run_guard(guard.path, rules, [files[1]]), {})}
    assert ids == {"guard/K8S_RUN_AS_NON_ROOT"}


def test_validate_reports_unreachable_platform_charts_as_not_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The platform's releases point at public chart repositories. Tests reach only
    127.0.0.1, so every https request goes to a proxy there that refuses connections:
    the same answer a runner without network gets. Each release must then fail the run
    as NOT checked, naming its repository, rather than pass or vanish as skipped."""
    from typer.testing import CliRunner

    from bot.cli import app
    from tests.chartrepo import closed_port_url

    for name in ("NO_PROXY", "no_proxy", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", closed_port_url())
    monkeypatch.setenv("INFRA_BOT_CHART_DIR", str(tmp_path))  # an empty chart cache
    result = CliRunner().invoke(
        app, ["validate", "--root", str(ROOT), "--check", "kube", "--format", "json"]
    )
    assert result.exit_code == 1, result.output
    findings = json.loads(result.output)["findings"]
    assert sorted(f["path"] for f in findings) == sorted(
        f"helm-values/{name}/release.yaml" for name in RELEASES
    )
    assert {(f["check_id"], f["severity"]) for f in findings} == {
        ("kube/chart-pull-failed", "error")
    }
    for f in findings:
        spec = REPO.releases[f["resource"]].spec
        assert f["message"].startswith(
            f"release {f['resource']} was NOT checked: chart {spec.chart} {spec.version} "
            f"from {spec.repository}: helm pull failed: "
        )
        assert "proxyconnect" in f["message"]
        assert f["extra"]["repository"] == spec.repository
    assert list(tmp_path.iterdir()) == []  # nothing half-pulled is left in the cache

"""The offline generator: catalogue requests become files the checks pass, on the reference platform."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.checks.engine import run_checks, targets_for_paths
from bot.findings import Finding, Severity
from bot.llm.checking import related_paths
from bot.llm.loop import generate
from bot.llm.offline import (
    OFFLINE_MODEL,
    EnvFacts,
    OfflineProposer,
    OutsideCatalogueError,
    RepoFacts,
    catalogue_answer,
    plan,
    read_facts,
)
from bot.repo.model import Repository
from bot.toolchain import Toolchain
from tests.chartrepo import closed_port_url
from tests.conftest import ROOT

CATALOGUE = {
    "add an encrypted S3 bucket for ALB access logs": [
        "stacks/alb-access-logs-bucket.yaml",
        "environments/dev/alb-access-logs-bucket.yaml",
        "environments/tst/alb-access-logs-bucket.yaml",
        "environments/prd/alb-access-logs-bucket.yaml",
    ],
    "add an SQS queue for order events": [
        "stacks/order-events-queue.yaml",
        "environments/dev/order-events-queue.yaml",
        "environments/tst/order-events-queue.yaml",
        "environments/prd/order-events-queue.yaml",
    ],
    "add an encrypted S3 bucket for audit exports to the velero-backup stack": [
        "stacks/velero-backup.yaml"
    ],
    "allow tcp 8443 from 10.20.0.0/16 to the node security group": ["stacks/security-groups.yaml"],
    "add an IRSA role for service account payments/api": ["stacks/irsa.yaml"],
    "scale the prd node group to 6 nodes": ["environments/prd/eks-nodegroup.yaml"],
    "bump the velero chart to 11.1.0": ["helm-values/velero/release.yaml"],
    "set headlamp replicas to 2 in prd": ["helm-values/headlamp/values-prd.yaml"],
}


def copy_platform(dest: Path) -> Path:
    for top in ("stacks", "environments", "guard", "helm-values"):
        if (ROOT / top).is_dir():
            shutil.copytree(ROOT / top, dest / top)
    return dest


EXPECTED_WARNINGS = {
    "add an encrypted S3 bucket for ALB access logs": ("a policy suppression was added",),
}


def no_checks(root: Path, changed: list[str]) -> list[Finding]:
    return []


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """request -> files written; every request starts from the same pristine platform
    (generation edits a scratch copy, never the root it reads)."""
    out: dict[str, dict[str, str]] = {}
    root = copy_platform(tmp_path_factory.mktemp("platform"))
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    repo = Repository(root)  # one index shared by the proposer and the loop
    for request in CATALOGUE:
        proposal, ws = generate(
            request, root, OfflineProposer.for_repo(root, repo), no_checks, repo=repo
        )
        ws.remove()
        assert proposal.error is None, proposal.error
        assert proposal.model_id == OFFLINE_MODEL and proposal.usage.calls == 0
        # Only the log bucket weakens a rule (SSE-S3, SC-28 suppressed) and the PR says so.
        expected = EXPECTED_WARNINGS.get(request, ())
        assert [w.rsplit(": ", 1)[-1] for w in proposal.warnings] == list(expected), (
            proposal.warnings
        )
        out[request] = {c.path: c.new for c in proposal.changes}
    assert before == {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    return out


@pytest.mark.parametrize("request_text", list(CATALOGUE))
def test_each_request_writes_the_expected_files(
    generated: dict[str, dict[str, str]], request_text: str
) -> None:
    assert sorted(generated[request_text]) == sorted(CATALOGUE[request_text])


def test_every_catalogue_change_passes_every_check(
    generated: dict[str, dict[str, str]], tmp_path: Path, tools: Toolchain,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """All catalogue changes together on one copy (they touch different files), one engine run."""
    # The two releases' charts live in public repositories, out of the tests' reach:
    # a refusing proxy on 127.0.0.1 makes that certain, and they are reported as not checked.
    for name in ("NO_PROXY", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", closed_port_url())
    monkeypatch.setenv("INFRA_BOT_CHART_DIR", str(tmp_path.with_name(f"{tmp_path.name}-charts")))
    root = copy_platform(tmp_path)
    for files in generated.values():
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
    changed = sorted({p for files in generated.values() for p in files})
    repo = Repository(root)
    paths = [root / p for p in related_paths(root, changed)]
    report = run_checks(repo, targets_for_paths(repo, paths, ()), tools)
    not_checked = {f.resource for f in report.findings if f.check_id == "kube/chart-pull-failed"}
    assert not_checked == {"headlamp", "velero"}
    blocking = [
        f for f in report.findings
        if f.severity >= Severity.WARNING and f.check_id != "kube/chart-pull-failed"
    ]  # fmt: skip
    assert blocking == [], "\n".join(
        f"{f.path}:{f.line} {f.check_id} {f.message}" for f in blocking
    )
    assert len(report.targets.templates) >= 4 and len(report.targets.releases) == 2


def test_edits_keep_comments_and_only_touch_what_was_asked(
    generated: dict[str, dict[str, str]],
) -> None:
    before = (ROOT / "environments/prd/eks-nodegroup.yaml").read_text().splitlines()
    after = generated["scale the prd node group to 6 nodes"][
        "environments/prd/eks-nodegroup.yaml"
    ].splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [("  DesiredSize: 3", "  DesiredSize: 6")]
    irsa = generated["add an IRSA role for service account payments/api"]["stacks/irsa.yaml"]
    assert "system:serviceaccount:${PaymentsApiServiceAccount}" in irsa
    assert (ROOT / "stacks/irsa.yaml").read_text().splitlines()[:5] == irsa.splitlines()[:5]


FACTS = RepoFacts(
    environments=(
        EnvFacts("dev", "platform", nodegroup={"MinSize": 2, "DesiredSize": 3, "MaxSize": 10}),
        EnvFacts(
            "prd", "platform", nodegroup={"MinSize": "2", "DesiredSize": "3", "MaxSize": "10"}
        ),
    ),
    stacks=frozenset({"kms", "security-groups", "irsa", "data-bucket", "legacy"}),
    security_groups=("AlbSecurityGroup", "NodeSecurityGroup", "BastionSecurityGroup"),
    irsa_resources=frozenset({"VeleroRole"}),
    releases={"web": {"release.yaml": "chart: web\n", "values.yaml": "app:\n  replicas: 1\n"}},
    stack_parameters={
        "kms": frozenset({"ProjectName", "Environment", "Owner", "SecurityLevel", "IaCVersion"}),
        "legacy": frozenset({"Env"}),
    },
)


@pytest.mark.parametrize(
    ("text", "title", "edits"),
    [
        (
            "create a bucket for invoices",
            "Add an encrypted S3 bucket for invoices",
            [
                "stacks/invoices-bucket.yaml",
                "environments/dev/invoices-bucket.yaml",
                "environments/prd/invoices-bucket.yaml",
            ],
        ),
        (
            "we need an sqs queue",
            "Add an encrypted SQS queue for application messages",
            [
                "stacks/application-messages-queue.yaml",
                "environments/dev/application-messages-queue.yaml",
                "environments/prd/application-messages-queue.yaml",
            ],
        ),
        (
            "allow udp 53 from 10.0.0.0/8 to the node security group",
            "Allow udp 53 from 10.0.0.0/8 to NodeSecurityGroup",
            ["stacks/security-groups.yaml"],
        ),
        (
            "open ports 30000-30100 from the alb security group to the nodes",
            "Allow tcp 30000-30100 from AlbSecurityGroup to NodeSecurityGroup",
            ["stacks/security-groups.yaml"],
        ),
        (
            "allow tcp 443 from 0.0.0.0/0 to the alb security group",
            "Allow tcp 443 from 0.0.0.0/0 to AlbSecurityGroup",
            ["stacks/security-groups.yaml"],
        ),
        (
            "IRSA role for the service account reports in namespace finance",
            "Add an IRSA role for finance/reports",
            ["stacks/irsa.yaml"],
        ),
        (
            "resize the production node group: max 20",
            "Resize the prd node group",
            ["environments/prd/eks-nodegroup.yaml"],
        ),
        (
            "set dev and prd nodes to m6i.2xlarge",
            "Resize the dev, prd node group",
            ["environments/dev/eks-nodegroup.yaml", "environments/prd/eks-nodegroup.yaml"],
        ),
        (
            "bump the web chart to v2.3.4-rc.1",
            "Bump the web chart to 2.3.4-rc.1",
            ["helm-values/web/release.yaml"],
        ),
        (
            "set web replicas to 4 in dev",
            "Set web replicas to 4 in dev",
            ["helm-values/web/values-dev.yaml"],
        ),
    ],
)
def test_request_parsing(text: str, title: str, edits: list[str]) -> None:
    proposal = plan(text, FACTS)
    assert proposal.title == title
    assert [e.path for e in proposal.edits] == edits


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("make me a sandwich", "outside the offline catalogue"),
        ("add a bucket for x to the nope stack", "there is no stack 'nope'"),
        ("add a bucket for x to the legacy stack", "lacks the parameters"),
        ("add a bucket for data", "exists already"),
        ("allow tcp 22 from 0.0.0.0/0 to the bastion security group", "SC7_NO_OPEN_INGRESS"),
        (
            "allow tcp 8080 from 10.0.0.0/8 to the database security group",
            "Known: AlbSecurityGroup",
        ),
        ("allow tcp 8080 from somewhere to the node security group", "CIDR"),
        ("scale the node group to 5", "which environment"),
        ("scale the dev node group to 3 nodes", "already has that size"),
        ("add an IRSA role for velero", "<namespace>/<name>"),
        ("bump the chart to 1.2.3", "exactly one Helm release"),
        ("set web replicas", "replica count"),
    ],
)
def test_outside_the_catalogue_is_said_plainly(text: str, message: str) -> None:
    with pytest.raises(OutsideCatalogueError, match=message):
        plan(text, FACTS)


def test_resize_keeps_bounds_consistent_and_types() -> None:
    proposal = plan("scale prd nodes to 14", FACTS)
    ops = {tuple(o.key_path): o.value for o in proposal.edits[0].yaml_ops}
    # desired above max drags max along; quoted numbers stay quoted
    assert ops == {("parameters", "DesiredSize"): "14", ("parameters", "MaxSize"): "14"}
    proposal = plan("set the dev node group min size to 1 and max size to 4", FACTS)
    ops = {tuple(o.key_path): o.value for o in proposal.edits[0].yaml_ops}
    assert ops == {("parameters", "MinSize"): 1, ("parameters", "MaxSize"): 4}  # desired 3 fits


def test_offline_proposer_answers_outside_requests_with_the_catalogue(tmp_path: Path) -> None:
    root = copy_platform(tmp_path)
    proposal, ws = generate(
        "migrate everything to Kubernetes 2.0", root, OfflineProposer.for_repo(root), no_checks
    )
    ws.remove()
    assert not proposal.changes
    assert proposal.error is not None and "I can only do" in proposal.error
    assert catalogue_answer().count("\n- ") == 7


def test_read_facts_on_the_reference_platform() -> None:
    facts = read_facts(Repository(ROOT))
    assert {e.name for e in facts.environments} == {"dev", "tst", "prd"}
    assert "NodeSecurityGroup" in facts.security_groups
    assert all(e.nodegroup for e in facts.environments)

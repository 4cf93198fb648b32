"""The pure decisions of bot.cloud, table-tested: identity, refusals, policy, helm, locks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cloud.deployer import Result, already_deployed, find_plan, verify_change_set
from bot.cloud.drift import DriftState, StackDrift
from bot.cloud.events import Ending, ending
from bot.cloud.helm import (
    HelmError,
    HelmRun,
    MissingHelm,
    ReleaseState,
    ReleaseStatus,
    deploy_releases,
    helm_time,
    list_args,
    list_releases,
    release_order,
    release_states,
    upgrade_args,
)
from bot.cloud.lock import LockError, LockRecord, acquire, busy_stacks, release, unlock
from bot.cloud.policy import (
    Check,
    StatusRow,
    age,
    checks_passed_check,
    destroy_refusal,
    drift_check,
    promotion_allowed,
    protection_refusal,
    stack_checks,
)
from bot.cloud.preview import change_set_type, is_no_changes, stack_state_advice
from bot.cloud.runs import RunRefused, rollback_target
from bot.cloud.spec import (
    StackSpec,
    build_spec,
    capabilities,
    change_set_name,
    parse_description,
)
from bot.render.changeset import checks_markdown, status_markdown
from bot.repo.model import Release, ReleaseSpec, RepoError, Repository
from bot.repo.templates import load_template

C1 = "1" * 40
C2 = "2" * 40
H1 = "a" * 64


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


TEMPLATE = """\
# a comment
Parameters:
  Environment: {Type: String}
  IaCVersion: {Type: String, Default: unset}
  Size: {Type: Number, Default: 1}
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub "${Environment}-topic"
"""
DEPLOYMENT = """\
template-file-path: stacks/topic.yaml
parameters:
  Environment: dev
  Size: 2
tags:
  Owner: platform-team
"""
ENV = "name: dev\naccount_id: '111111111111'\nproject: p\n"


def repo_with(tmp_path: Path, template: str = TEMPLATE, deployment: str = DEPLOYMENT) -> Repository:
    return Repository(write(tmp_path, {
        "stacks/topic.yaml": template,
        "environments/dev.yaml": ENV,
        "environments/dev/topic.yaml": deployment,
    }))  # fmt: skip


def spec_of(repo: Repository, commit: str = C1) -> StackSpec:
    return build_spec(repo, repo.environment("dev"), repo.deployments("dev")["topic"], commit)


def test_spec_identity(tmp_path: Path) -> None:
    spec = spec_of(repo_with(tmp_path))
    assert spec.stack_name == "p-dev-topic"
    assert dict(spec.parameters) == {"Environment": "dev", "IaCVersion": C1, "Size": "2"}
    assert spec.change_set_name == f"infra-bot-{C1[:12]}-{spec.template_hash[:8]}"
    assert parse_description(spec.description) == (C1, spec.template_hash)
    assert spec.all_tags()["infra-bot:commit"] == C1
    assert spec.all_tags()["Owner"] == "platform-team"
    assert '"Fn::Sub"' in spec.body  # short-form tags sent in long form


@pytest.mark.parametrize(
    ("template", "deployment", "same_hash"),
    [
        (TEMPLATE.replace("# a comment", "# another comment"), DEPLOYMENT, True),
        (TEMPLATE.replace("-topic", "-topic2"), DEPLOYMENT, False),
        (TEMPLATE, DEPLOYMENT.replace("Size: 2", "Size: 3"), False),
        (TEMPLATE, DEPLOYMENT.replace("platform-team", "other-team"), False),
    ],
)
def test_hash_follows_what_deploys(
    tmp_path: Path, template: str, deployment: str, same_hash: bool
) -> None:
    base = spec_of(repo_with(tmp_path / "a")).template_hash
    other = spec_of(repo_with(tmp_path / "b", template, deployment)).template_hash
    assert (base == other) is same_hash


def test_hash_differs_per_commit_through_iac_version(tmp_path: Path) -> None:
    repo = repo_with(tmp_path)
    assert spec_of(repo, C1).template_hash != spec_of(repo, C2).template_hash


@pytest.mark.parametrize(
    ("deployment", "message"),
    [
        (DEPLOYMENT.replace("Size: 2", "Nope: 2"), "not declared in stacks/topic.yaml: Nope"),
        (DEPLOYMENT.replace("  Environment: dev\n", ""), "no value for parameters: Environment"),
        (
            DEPLOYMENT.replace("topic.yaml", "missing.yaml"),
            "template stacks/missing.yaml not found",
        ),
    ],
)
def test_bad_deployment_files_are_clear_errors(
    tmp_path: Path, deployment: str, message: str
) -> None:
    with pytest.raises(RepoError, match=message):
        spec_of(repo_with(tmp_path, deployment=deployment))


def test_commit_must_be_a_sha(tmp_path: Path) -> None:
    with pytest.raises(RepoError, match="not a git commit id"):
        spec_of(repo_with(tmp_path), "HEAD; rm -rf /")


@pytest.mark.parametrize(
    ("resources", "extra", "expected"),
    [
        ("Topic: {Type: AWS::SNS::Topic}", "", ()),
        ("Role: {Type: AWS::IAM::Role}", "", ("CAPABILITY_NAMED_IAM",)),
        ("Fn: {Type: AWS::Serverless::Function}", "Transform: AWS::Serverless-2016-10-31\n",
         ("CAPABILITY_AUTO_EXPAND",)),
        ("Role: {Type: AWS::IAM::ManagedPolicy}", "Transform: X\n",
         ("CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")),
    ],
)  # fmt: skip
def test_capabilities(tmp_path: Path, resources: str, extra: str, expected: tuple[str]) -> None:
    path = write(tmp_path, {"t.yaml": f"{extra}Resources:\n  {resources}\n"}) / "t.yaml"
    assert capabilities(load_template(path)) == expected


@pytest.mark.parametrize(
    ("status", "plannable", "needle"),
    [
        (None, True, ""),
        ("REVIEW_IN_PROGRESS", True, ""),
        ("CREATE_COMPLETE", True, ""),
        ("UPDATE_ROLLBACK_COMPLETE", True, ""),
        ("ROLLBACK_COMPLETE", False, "deletes the empty stack"),
        ("ROLLBACK_FAILED", False, "delete-stack"),
        ("UPDATE_ROLLBACK_FAILED", False, "--continue-rollback"),
        ("UPDATE_IN_PROGRESS", False, "busy"),
        ("DELETE_FAILED", False, "failed to delete"),
        ("IMPORT_ROLLBACK_FAILED", False, "repair it"),
    ],
)
def test_stack_state_advice(status: str | None, plannable: bool, needle: str) -> None:
    advice = stack_state_advice("s", status)
    assert (advice is None) is plannable
    assert needle in (advice or "")


@pytest.mark.parametrize(
    ("status", "kind"),
    [(None, "CREATE"), ("REVIEW_IN_PROGRESS", "CREATE"), ("UPDATE_COMPLETE", "UPDATE")],
)
def test_change_set_type(status: str | None, kind: str) -> None:
    assert change_set_type(status) == kind


@pytest.mark.parametrize(
    ("desc", "empty"),
    [
        ({"Status": "FAILED", "StatusReason": "The submitted information didn't contain "
          "changes. Submit different information to create a change set."}, True),
        ({"Status": "FAILED", "StatusReason": "No updates are to be performed."}, True),
        ({"Status": "FAILED", "StatusReason": "No export named x found"}, False),
        ({"Status": "CREATE_COMPLETE"}, False),
    ],
)  # fmt: skip
def test_no_changes(desc: dict[str, str], empty: bool) -> None:
    assert is_no_changes(desc) is empty


@pytest.mark.parametrize(
    ("status", "end"),
    [("CREATE_COMPLETE", Ending.SUCCEEDED), ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", None),
     ("UPDATE_ROLLBACK_COMPLETE", Ending.ROLLED_BACK), ("ROLLBACK_COMPLETE", Ending.ROLLED_BACK),
     ("UPDATE_ROLLBACK_FAILED", Ending.FAILED), ("DELETE_COMPLETE", Ending.DELETED)],
)  # fmt: skip
def test_ending(status: str, end: Ending | None) -> None:
    assert ending(status) is end


def _spec(commit: str = C1, digest: str = H1) -> StackSpec:
    return StackSpec("dev", "vpc", "p-dev-vpc", "stacks/vpc.yaml", "{}", (), (), (), commit, digest)


def _stack(status: str, commit: str | None, digest: str | None) -> dict[str, Any]:
    tags = [{"Key": "infra-bot:commit", "Value": commit}] if commit else []
    tags += [{"Key": "infra-bot:template-sha256", "Value": digest}] if digest else []
    return {"StackStatus": status, "Tags": tags}


@pytest.mark.parametrize(
    ("stack", "noop"),
    [
        (None, None),
        (_stack("UPDATE_COMPLETE", C1, H1), "already deployed"),
        (_stack("UPDATE_COMPLETE", C2, H1), "same template and parameters"),
        (_stack("UPDATE_COMPLETE", C1, "b" * 64), None),
        (_stack("UPDATE_ROLLBACK_COMPLETE", C1, H1), None),
    ],
)
def test_already_deployed(stack: dict[str, Any] | None, noop: str | None) -> None:
    got = already_deployed(_spec(), stack)
    assert (got is None) is (noop is None)
    assert noop is None or noop in (got or "")


@pytest.mark.parametrize(
    ("names", "result"),
    [
        ([change_set_name(C1, H1)], None),
        ([change_set_name(C1, "c" * 64)], Result.STALE_PLAN),
        ([change_set_name(C2, H1)], Result.NOT_PLANNED),
        ([], Result.NOT_PLANNED),
    ],
)
def test_find_plan(names: list[str], result: Result | None) -> None:
    got = find_plan(_spec(), [{"ChangeSetName": n} for n in names])
    assert (got[0] if got else None) is result


@pytest.mark.parametrize(
    ("desc", "ok"),
    [
        ({"Description": f"infra-bot commit={C1} sha256={H1}", "Status": "CREATE_COMPLETE",
          "ExecutionStatus": "AVAILABLE"}, True),
        ({"Description": f"infra-bot commit={C1} sha256={'c' * 64}", "Status": "CREATE_COMPLETE",
          "ExecutionStatus": "AVAILABLE"}, False),
        ({"Description": "hand-made", "Status": "CREATE_COMPLETE",
          "ExecutionStatus": "AVAILABLE"}, False),
        ({"Description": f"infra-bot commit={C1} sha256={H1}", "Status": "CREATE_COMPLETE",
          "ExecutionStatus": "OBSOLETE"}, False),
    ],
)  # fmt: skip
def test_verify_change_set(desc: dict[str, str], ok: bool) -> None:
    assert (verify_change_set(_spec(), desc) is None) is ok


@pytest.mark.parametrize(
    ("env", "bound", "override", "refused"),
    [("dev", None, False, False), ("prd", None, False, True), ("prd", "tst", False, True),
     ("prd", "prd", False, False), ("prd", None, True, False)],
)  # fmt: skip
def test_protection(env: str, bound: str | None, override: bool, refused: bool) -> None:
    assert (protection_refusal(env, bound, override) is not None) is refused


@pytest.mark.parametrize(
    ("env", "confirm", "refused"),
    [("dev", "DELETE DEV", False), ("dev", "delete dev", True), ("dev", None, True),
     ("tst", "DELETE DEV", True), ("prd", "DELETE PRD", True)],
)  # fmt: skip
def test_destroy_confirmation(env: str, confirm: str | None, refused: bool) -> None:
    assert (destroy_refusal(env, confirm) is not None) is refused


def test_stack_checks_need_one_commit() -> None:
    described = {"a": _stack("CREATE_COMPLETE", C1, H1), "b": _stack("UPDATE_COMPLETE", C1, H1)}
    checks, commit = stack_checks(["a", "b"], described)
    assert commit == C1 and all(c.ok for c in checks)
    described["b"] = _stack("UPDATE_COMPLETE", C2, H1)
    checks, commit = stack_checks(["a", "b"], described)
    assert commit is None and checks[-1].ok is False and C2[:12] in checks[-1].detail
    checks, commit = stack_checks(["a", "c"], {**described, "c": None})
    assert commit is None and Check("c deployed", False, "not deployed") in checks
    checks, _ = stack_checks(["a"], {"a": _stack("UPDATE_ROLLBACK_COMPLETE", C1, H1)})
    assert checks[0].ok is False


def test_drift_and_checks_passed_verdicts() -> None:
    drifted = StackDrift("sg", "p-dev-sg", DriftState.DRIFTED)
    unsupported = StackDrift("vpc", "p-dev-vpc", DriftState.UNSUPPORTED)
    assert drift_check([drifted, unsupported]).ok is False
    assert drift_check([unsupported]).ok is None
    assert drift_check([StackDrift("vpc", "p-dev-vpc", DriftState.IN_SYNC)]).ok is True
    assert promotion_allowed([drift_check([unsupported]), checks_passed_check(None)])
    assert not promotion_allowed([checks_passed_check(False)])
    md = checks_markdown("Pre-promotion checks", [Check("x", True, "fine"), drift_check([drifted])])
    assert md.splitlines() == [
        "Pre-promotion checks:", "", "- ✓ x: fine", "- ✗ no drift: drifted: sg"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("tags", "status", "to", "expected"),
    [
        ({"infra-bot:commit": C2, "infra-bot:previous-commit": C1}, "UPDATE_COMPLETE", None,
         (C2, C1)),
        ({"infra-bot:commit": C1}, "UPDATE_ROLLBACK_COMPLETE", None, (C1, C1)),
        ({"infra-bot:commit": C2}, "UPDATE_COMPLETE", C1[:7], (C2, C1[:7])),
        ({"infra-bot:commit": C2}, "UPDATE_COMPLETE", None, None),
    ],
)  # fmt: skip
def test_rollback_target(
    tags: dict[str, str], status: str, to: str | None, expected: tuple[str, str] | None
) -> None:
    desc = {"StackStatus": status, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
    if expected is None:
        with pytest.raises(RunRefused, match="pass --to"):
            rollback_target(desc, to)
    else:
        assert rollback_target(desc, to) == expected


def test_age_and_status_markdown() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert [age(now - d, now) for d in (timedelta(seconds=5), timedelta(minutes=3),
            timedelta(hours=5), timedelta(days=2))] == ["5s", "3m", "5h", "2d"]  # fmt: skip
    rows = [StatusRow("vpc", "p-dev-vpc", "UPDATE_COMPLETE", C1, now - timedelta(hours=1), ""),
            StatusRow("alb", "p-dev-alb", "NOT_DEPLOYED", None, None, "")]  # fmt: skip
    unknown = ReleaseStatus("eks-cluster", {"istio": "1.2.3", "lgtm": "2.0.0"}, {},
                            "no cluster connection in this run")  # fmt: skip
    md = status_markdown("dev", rows, [unknown], now)
    assert f"| `p-dev-vpc` | UPDATE_COMPLETE | `{C1[:12]}` | 1h |" in md
    assert "| `p-dev-alb` | NOT_DEPLOYED | — | - |" in md
    assert md.endswith("\n\nHelm releases `istio`, `lgtm` (cluster stack `eks-cluster`): "
                       "state unknown, no cluster connection in this run\n")  # fmt: skip
    assert "| release |" not in md
    assert status_markdown("dev", rows, [], now) == md.split("\n\nHelm")[0] + "\n"


def test_status_lists_release_states(tmp_path: Path) -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    web = ReleaseState("web", "web", "1.0.0", "deployed", "3", now - timedelta(hours=2))
    odd = ReleaseState("api", "api", "0.9.0", "pending-upgrade", "7", None)
    known = ReleaseStatus("eks-cluster", {"api": "1.0.0", "db": "4.0.0", "web": "1.0.0"},
                          {"web": web, "api": odd})  # fmt: skip
    md = status_markdown("dev", [], [known], now)
    assert "| release | chart version | status | revision | last deployed |" in md
    assert "| `web` | 1.0.0 | deployed | 3 | 2026-11-23 10:00 UTC (2h ago) |" in md
    assert "| `api` | 0.9.0 (repository pins 1.0.0) | pending-upgrade | 7 | — |" in md
    assert "| `db` | — (repository pins 4.0.0) | not installed | — | — |" in md
    assert md.index("`api`") < md.index("`db`") < md.index("`web`")


def test_helm_list_parsing() -> None:
    assert list_args(["web", "a.b"]) == ["list", "--all-namespaces", "--all", "--filter",
                                         r"^(a\.b|web)$", "--output", "json"]  # fmt: skip
    assert helm_time("2026-11-22 12:00:00.5 +0100 CET") == datetime(2026, 11, 22, 11, 0,
                                                                     tzinfo=UTC)  # fmt: skip
    assert helm_time("2026-11-23 10:00:00 +0000 UTC m=+0.01") == datetime(2026, 11, 23, 10,
                                                                         tzinfo=UTC)  # fmt: skip
    assert helm_time("yesterday") is None and helm_time("") is None
    folder = Path("/nowhere")
    releases = {"web": make_release("web", [], folder), "api": make_release("api", [], folder),
                "db": make_release("db", [], folder)}  # fmt: skip
    releases["web"] = Release("web", folder, releases["web"].spec.model_copy(
        update={"version": "1.0.0"}))  # fmt: skip
    states = release_states(HELM_LIST.read_text(), releases)
    assert sorted(states) == ["api", "web"]  # db: not installed
    assert states["web"] == ReleaseState("web", "web", "1.0.0", "deployed", "3",
                                         datetime(2026, 11, 23, 10, 0, tzinfo=UTC))  # fmt: skip
    assert (states["api"].chart_version, states["api"].status) == ("0.9.0", "pending-upgrade")
    with pytest.raises(HelmError, match="did not answer with JSON"):
        release_states("Error: no kubeconfig", releases)
    with pytest.raises(HelmError, match="JSON list"):
        release_states("{}", releases)


def test_helm_list_failures_are_one_line(tmp_path: Path) -> None:
    releases = {"web": make_release("web", [], tmp_path)}
    with pytest.raises(HelmError, match=r"^helm is not installed: helm is not available"):
        list_releases(MissingHelm("helm is not available (not found); run x"), releases, None)

    def forbidden(_args: list[str]) -> HelmRun:
        return HelmRun(1, "", "Error: secrets is forbidden: User cannot list\nmore\n")

    with pytest.raises(HelmError, match=r"^helm list failed: Error: secrets is forbidden: User "
                                        r"cannot list$"):  # fmt: skip
        list_releases(forbidden, releases, Path("/k"))
    helm = RecordingHelm(listed=HELM_LIST.read_text())
    assert list(list_releases(helm, releases, Path("/k"))) == ["web"]
    assert helm.calls[0][-2:] == ["--kubeconfig", "/k"]


def make_release(
    name: str, depends: list[str], folder: Path, cluster: str = "eks-cluster"
) -> Release:
    spec = ReleaseSpec(chart=name, repository="https://charts.example.com", version="1.2.3",
                       namespace=name, cluster_stack=cluster, depends_on=depends)  # fmt: skip
    return Release(name, folder / name, spec)


HELM_LIST = Path(__file__).parent / "recorded" / "helm" / "list_all_namespaces.json"


class RecordingHelm:
    """Stands in for the helm binary (no cluster here): records argv, answers per verb;
    `list` answers `listed` (JSON, as `helm list -o json` prints it)."""

    def __init__(self, fail_upgrade: str | None = None, listed: str = "[]") -> None:
        self.calls: list[list[str]] = []
        self.fail_upgrade = fail_upgrade
        self.listed = listed

    def __call__(self, args: list[str]) -> HelmRun:
        self.calls.append(args)
        if args[0] == "list":
            return HelmRun(0, self.listed, "")
        if args[0] == "template":
            return HelmRun(0, f"kind: Deployment\nname: {args[1]}\nreplicas: 2\n", "")
        if args[0] == "get":
            return HelmRun(0, f"kind: Deployment\nname: {args[2]}\nreplicas: 1\n", "")
        failed = args[0] == "upgrade" and args[2] == self.fail_upgrade
        return HelmRun(1 if failed else 0, "", "timed out waiting" if failed else "")


def test_helm_order_diff_and_upgrade_commands(tmp_path: Path) -> None:
    write(tmp_path, {"istio/values.yaml": "a: 1\n", "istio/values-dev.yaml": "b: 2\n",
                     "lgtm/values.yaml": "c: 3\n"})  # fmt: skip
    releases = {"lgtm": make_release("lgtm", ["istio"], tmp_path),
                "istio": make_release("istio", [], tmp_path)}  # fmt: skip
    assert release_order(releases) == ["istio", "lgtm"]
    helm = RecordingHelm()
    results = deploy_releases(helm, releases, "dev", {"eks-cluster"}, kubeconfig=Path("/k"))
    assert [r.release for r in results] == ["istio", "lgtm"] and all(r.ok for r in results)
    assert [c[0] for c in helm.calls] == ["template", "get", "upgrade"] * 2
    upgrade = helm.calls[2]
    assert upgrade[:4] == ["upgrade", "--install", "istio", "istio"]
    assert "--rollback-on-failure" in upgrade and "--wait=watcher" in upgrade
    values = [upgrade[i + 1] for i, a in enumerate(upgrade) if a == "--values"]
    assert values == [str(tmp_path / "istio/values.yaml"), str(tmp_path / "istio/values-dev.yaml")]
    assert upgrade[-2:] == ["--kubeconfig", "/k"]
    assert "-replicas: 1" in results[0].diff and "+replicas: 2" in results[0].diff


def test_helm_stops_at_failure(tmp_path: Path) -> None:
    releases = {"a": make_release("a", [], tmp_path), "b": make_release("b", ["a"], tmp_path)}
    results = deploy_releases(RecordingHelm(fail_upgrade="a"), releases, "dev", {"eks-cluster"})
    assert [(r.release, r.ok) for r in results] == [("a", False)]  # b never started
    assert "timed out waiting" in results[0].message


def test_helm_skips_release_whose_cluster_did_not_deploy(tmp_path: Path) -> None:
    helm = RecordingHelm()
    releases = {"c": make_release("c", [], tmp_path, cluster="other-cluster")}
    results = deploy_releases(helm, releases, "dev", {"eks-cluster"})
    assert [(r.release, r.ok) for r in results] == [("c", False)]
    assert "other-cluster is not deployed" in results[0].message and helm.calls == []


def test_helm3_flags_and_cycles(tmp_path: Path) -> None:
    args = upgrade_args(make_release("a", [], tmp_path), "dev", helm_major=3)
    assert "--atomic" in args and "--wait" in args
    with pytest.raises(HelmError, match="cycle"):
        release_order(
            {"a": make_release("a", ["b"], tmp_path), "b": make_release("b", ["a"], tmp_path)}
        )


class MemoryStore:
    """LockStore over a dict: the SSM adapter's contract, tested against moto elsewhere."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.data.get(name)

    def create(self, name: str, value: str) -> bool:
        return self.data.setdefault(name, value) == value

    def delete(self, name: str) -> None:
        self.data.pop(name, None)


def test_lock_lifecycle() -> None:
    store, now = MemoryStore(), datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    acquire(store, "/l", "run-1", now)
    with pytest.raises(LockError, match="locked by run-1"):
        acquire(store, "/l", "run-2", now)
    with pytest.raises(LockError, match="not stale"):
        unlock(store, "/l", now + timedelta(minutes=5))
    release(store, "/l", "run-2")  # not the owner: kept
    assert store.get("/l") is not None
    assert "released" in unlock(store, "/l", now + timedelta(hours=3))
    assert unlock(store, "/l", now) == "no lock record; nothing to release"
    assert LockRecord.decode("garbage").owner == "garbage"
    assert busy_stacks({"a": "UPDATE_IN_PROGRESS", "b": "REVIEW_IN_PROGRESS", "c": None}) == ["a"]


def test_changed_since_takes_dependents(tmp_path: Path) -> None:
    from bot.cloud.targets import ordered_stacks
    from tests.moto_fixtures import FOUNDATION, make_platform_repo

    make_platform_repo(tmp_path, FOUNDATION)
    repo = Repository(tmp_path)
    assert ordered_stacks(repo, "dev") == FOUNDATION
    vpc = tmp_path / "stacks" / "vpc.yaml"
    vpc.write_text(vpc.read_text() + "\n# touched\n")
    assert ordered_stacks(repo, "dev", changed_since="HEAD") == ["vpc", "security-groups"]
    assert ordered_stacks(repo, "dev", ["iam", "vpc"], changed_since="HEAD") == ["vpc"]
    with pytest.raises(RepoError, match="no deployment file for nope"):
        ordered_stacks(repo, "dev", ["nope"])


def test_import_nobody_exports_is_an_error_before_anything_runs(tmp_path: Path) -> None:
    from bot.cloud.targets import ordered_stacks
    from bot.repo.graph import GraphError

    dangling = TEMPLATE + "      DisplayName: !ImportValue nobody-exports-this\n"
    with pytest.raises(GraphError, match="imports 'nobody-exports-this', which no stack exports"):
        ordered_stacks(repo_with(tmp_path, dangling), "dev")


def test_long_change_tables_fold_but_warnings_stay_visible() -> None:
    from bot.cloud.preview import Outcome, ResourceChange, StackPreview
    from bot.render.changeset import stack_preview_md

    adds = tuple(ResourceChange("Add", f"Subnet{i}", "AWS::EC2::Subnet") for i in range(50))
    gone = ResourceChange("Remove", "Logs", "AWS::Logs::LogGroup")
    preview = StackPreview("dev", "vpc", "p-dev-vpc", Outcome.CHANGES, "cs", "UPDATE",
                           changes=(*adds, gone))  # fmt: skip
    md = stack_preview_md(preview)
    assert "<details open><summary>51 resource changes</summary>" in md
    assert md.index("Stateful resources will be deleted or replaced: `Logs`") < md.index("<details")
    first_row = next(line for line in md.splitlines() if line.startswith("| Remove"))
    assert md.index(first_row) < md.index("| Add |")  # destructive rows first


@pytest.mark.parametrize(
    ("reason", "needle"),
    [
        ("No export named platform-dev-VpcId found", "Missing export"),
        ("User: arn:aws:sts::1:assumed-role/deploy is not authorized to perform: "
         "iam:CreateRole", "Missing IAM permission"),
        ("logs-bucket already exists in stack arn:aws:cloudformation:…", "already exists"),
        ("BucketAlreadyExists: The requested bucket name is not available", "Name taken"),
        ("VpcID vpc-1 does not exist", "does not exist in this account"),
        ("Rate exceeded", "throttled"),
    ],
)  # fmt: skip
def test_advice_for_common_causes(reason: str, needle: str) -> None:
    from bot.cloud.advice import advice_for

    [advice] = advice_for([reason])
    assert needle in advice


def test_advice_for_status_and_unknown_reasons() -> None:
    from bot.cloud.advice import advice_for

    assert advice_for(["something new"]) == ()
    [only] = advice_for(["something new"], "ROLLBACK_COMPLETE")
    assert "deletes the empty stack and creates it again" in only
    # One piece per cause, the first failure's first.
    twice = advice_for(["No export named a", "No export named b", "x does not exist"])
    assert len(twice) == 2 and twice[0].startswith("Missing export")


def test_content_checks_accept_unchanged_stacks_and_say_since_when() -> None:
    from bot.cloud.policy import content_checks

    H2 = "b" * 64  # noqa: N806 - named like the module constants beside it

    described = {"a": _stack("UPDATE_COMPLETE", C1, H1), "b": _stack("UPDATE_COMPLETE", C2, H2)}
    checks = content_checks(["a", "b"], described, C2, {"a": (C1, H1), "b": (C2, H2)})
    same = checks[-1]
    assert same.ok and same.detail == f"at {C2[:12]}: b; a (unchanged since {C1[:12]})"
    refused = content_checks(["a", "b"], described, C2, {"a": (C2, "f" * 64), "b": (C2, H2)})
    assert refused[-1].ok is False
    assert (
        refused[-1].detail == f"not what {C2[:12]} deploys: a (runs {C1[:12]}, "
        f"{C2[:12]} deploys {C2[:12]})"
    )


def test_translate_botocore_errors() -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError
    from botocore.parsers import ResponseParserError

    from bot.cloud.adapter import (
        ApiError,
        EndpointError,
        ServiceError,
        ThrottledError,
        UnreadableAnswerError,
        translate,
    )

    def client_error(code: str, status: int) -> ClientError:
        response: Any = {"Error": {"Code": code, "Message": "m"},
                         "ResponseMetadata": {"HTTPStatusCode": status}}  # fmt: skip
        return ClientError(response, "ExecuteChangeSet")

    assert isinstance(translate(client_error("Throttling", 400), "x"), ThrottledError)
    five = translate(client_error("InternalFailure", 503), "x")
    assert isinstance(five, ServiceError) and "ExecuteChangeSet: AWS failed on its side" in str(
        five
    )
    plain = translate(client_error("ValidationError", 400), "x")
    assert isinstance(plain, ApiError) and str(plain) == \
        "ExecuteChangeSet failed: ValidationError: m"  # fmt: skip
    parse = translate(ResponseParserError("Unable to parse\n<html>"), "describe_stacks")
    assert isinstance(parse, UnreadableAnswerError) and str(parse).startswith("DescribeStacks:")
    down = translate(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "get_template")
    assert isinstance(down, EndpointError) and "could not be reached" in str(down)
    # Outside a client call a KeyError is our bug: it is not translated.
    assert translate(KeyError("k"), "describe_stacks") is None
    assert isinstance(translate(KeyError("k"), "describe_stacks", in_client=True),
                      UnreadableAnswerError)  # fmt: skip


def test_long_waits_show_a_line_every_30_seconds_then_time_out_clearly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cloud.waiting import Clock, WaitTimeoutError, poll_until
    from bot.commands.cloud import WaitReporter

    monkeypatch.setenv("GITHUB_ACTIONS", "true")  # Actions logs: plain lines
    now = [0.0]

    def tick() -> float:
        now[0] += 5.0
        return now[0]

    clock = Clock(sleep=lambda _s: None, monotonic=tick, poll_seconds=0, progress=WaitReporter())
    with pytest.raises(WaitTimeoutError, match="gave up waiting for deletion of s after 120 s"):
        poll_until(lambda: None, lambda _d: False, clock, 120, "deletion of s")
    lines = capsys.readouterr().err.splitlines()
    seconds = [int(line.rsplit(": ", 1)[1].removesuffix(" s")) for line in lines]
    assert lines and all(line.startswith("still waiting for deletion of s: ") for line in lines)
    assert all(b - a >= 30 for a, b in zip([0, *seconds], seconds, strict=False))
    assert seconds == [30, 60, 90, 120]  # each poll takes 5 s of the fake clock

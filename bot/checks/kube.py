"""The Kubernetes check: render every Helm release per environment, then validate it.

For each release and environment: find the chart locally (never download it
here: a PR must not make the bot fetch arbitrary URLs), `helm template` it with
the shared and the environment's values, then check every rendered document
against the Kubernetes JSON schemas (strict: unknown fields are errors) and the
guard rules under guard/kubernetes. A chart that is not available locally is
reported as skipped (INFO), never passed silently.

Findings point at the release's values.yaml: the rendered manifests exist only
in a temp dir, and the values file is where a reviewer would fix them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from packaging.version import Version

from bot.checks.base import Check, CheckContext, Input
from bot.checks.guard import parse_report, run_guard
from bot.findings import Finding, Severity
from bot.render.text import strip_controls
from bot.repo.model import Release, Repository
from bot.repo.safeyaml import UnsafeYamlError, load_all_data, load_data
from bot.subproc import tool_env
from bot.toolchain import Tool

CHART_DIR_ENV = "INFRA_BOT_CHART_DIR"
DEFAULT_CHART_DIR = Path(".infra-bot") / "charts"
K8S_RULES_DIR = Path("guard") / "kubernetes"
DEFAULT_KUBE_VERSION = "1.34"
HELM_TIMEOUT = 120.0
KUBECONFORM_TIMEOUT = 300.0
STDERR_LIMIT = 1500
PROBLEM_LIMIT = 400
HELP_URL = "https://helm.sh/docs/helm/helm_template/"
SCHEMA_HELP_URL = "https://kubernetes.io/docs/reference/kubernetes-api/"

# Helm's own rules for release names and Kubernetes' for namespaces. Checked
# before anything reaches helm's argv: a folder named "--post-renderer=..."
# must never be read as a flag.
_RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_KUBE_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$")


# ---- pure decisions ---------------------------------------------------------


@dataclass(frozen=True)
class ChartLookup:
    """Where a release's chart is, or why it is not there."""

    path: Path | None
    reason: str = ""


def values_path(release: Release, repo: Repository) -> str:
    return repo.rel(release.folder / "values.yaml")


def pull_hint(release: Release) -> str:
    spec = release.spec
    if spec.repository.startswith("oci://"):
        ref = f"{spec.repository.rstrip('/')}/{spec.chart}"
        return f"`helm pull {ref} --version {spec.version} -d {DEFAULT_CHART_DIR}`"
    return (
        f"`helm pull {spec.chart} --repo {spec.repository} --version {spec.version} "
        f"-d {DEFAULT_CHART_DIR}`"
    )


def unavailable_finding(release: Release, repo: Repository, reason: str) -> Finding:
    spec = release.spec
    return Finding(
        path=repo.rel(release.folder / "release.yaml"),
        line=0,
        column=0,
        check_id="kube/chart-unavailable",
        severity=Severity.INFO,
        message=(
            f"skipped: chart {spec.chart} {spec.version} is not available locally "
            f"({reason}); to check this release, run {pull_hint(release)} "
            f"(or point {CHART_DIR_ENV} at a folder holding {spec.chart}-{spec.version}.tgz)"
        ),
        tool="helm",
        help_url=HELP_URL,
        resource=release.name,
    )


def _chart_version(chart_yaml: Path) -> str | None:
    try:
        data = load_data(chart_yaml)
    except (UnsafeYamlError, OSError):
        return None
    return str(data.get("version")) if isinstance(data, dict) else None


def _within(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def locate_chart(release: Release, repo_root: Path, cache_dir: Path) -> ChartLookup:
    """A local chart for the release: a file:// folder in the repo, or the chart cache."""
    if release.spec.repository.startswith("file://"):
        return _repo_chart(release, repo_root)
    return _cached_chart(release, cache_dir, repo_root)


def _repo_chart(release: Release, repo_root: Path) -> ChartLookup:
    spec = release.spec
    base = repo_root / spec.repository.removeprefix("file://")
    # The path comes from a PR: it may only point inside the checkout.
    if not _within(base, repo_root):
        return ChartLookup(None, f"{spec.repository} points outside the repository")
    for folder in (base, base / spec.chart):
        if (folder / "Chart.yaml").is_file():
            # helm follows symlinks into .Files, and rendered values can end up in
            # finding messages: a chart from a PR must not reach outside itself.
            if folder.is_symlink() or any(p.is_symlink() for p in folder.rglob("*")):
                return ChartLookup(None, f"{_rel(folder, repo_root)} contains symlinks")
            found = _chart_version(folder / "Chart.yaml")
            if found == spec.version:
                return ChartLookup(folder.resolve())
            return ChartLookup(None, f"{_rel(folder, repo_root)} has version {found}")
    return ChartLookup(None, f"no Chart.yaml under {spec.repository}")


def _cached_chart(release: Release, cache_dir: Path, repo_root: Path) -> ChartLookup:
    spec = release.spec
    packed = cache_dir / f"{spec.chart}-{spec.version}.tgz"
    if packed.is_file() and tarfile.is_tarfile(packed):
        return ChartLookup(packed.resolve())
    unpacked = cache_dir / spec.chart
    # A missing Chart.yaml reads as version None, which never matches.
    if _chart_version(unpacked / "Chart.yaml") == spec.version:
        return ChartLookup(unpacked.resolve())
    return ChartLookup(None, f"not in the chart cache {_rel(cache_dir, repo_root)}")


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def invalid_release(release: Release) -> str | None:
    """Why the release's name or namespace must not reach helm's command line."""
    if not _RELEASE_NAME.match(release.name) or len(release.name) > 53:
        return f"release folder name {release.name!r} is not a valid Helm release name"
    if not _NAMESPACE.match(release.spec.namespace) or len(release.spec.namespace) > 63:
        return f"namespace {release.spec.namespace!r} is not a valid Kubernetes namespace name"
    return None


def kube_version(repo: Repository, env: str, cluster_stack: str) -> str:
    """environments/<env>.yaml, else the cluster stack's EKS Version (or its default)."""
    configured = repo.environments.get(env)
    if configured and configured.kubernetes_version:
        return str(configured.kubernetes_version)
    if cluster_stack in repo.stack_paths:
        template = repo.stack_template(cluster_stack)
        for resource in template.resources.values():
            if not isinstance(resource, dict) or resource.get("Type") != "AWS::EKS::Cluster":
                continue
            version = (resource.get("Properties") or {}).get("Version")
            if isinstance(version, dict) and isinstance(version.get("Ref"), str):
                param = template.parameters.get(version["Ref"]) or {}
                version = param.get("Default") if isinstance(param, dict) else None
            if isinstance(version, (str, int, float)):
                return str(version)
    return DEFAULT_KUBE_VERSION


def parse_kube_version(text: str) -> Version | None:
    match = _KUBE_VERSION.match(text.strip())
    if not match:
        return None
    return Version(f"{match.group(1)}.{match.group(2)}.{match.group(3) or 0}")


def pick_schema_version(requested: Version, shipped: Iterable[str]) -> tuple[str, str]:
    """The newest shipped schema set not newer than `requested`'s minor, and a note.

    A cluster newer than the newest shipped schemas is validated against the
    newest ones, and the finding says so instead of failing the run.
    """
    versions = sorted({Version(v) for v in shipped})
    if not versions:
        raise RuntimeError("kubernetes-validate ships no schemas")
    want = (requested.major, requested.minor)
    fitting = [v for v in versions if (v.major, v.minor) <= want]
    if not fitting:
        oldest = versions[0]
        return str(oldest), f"no schemas as old as {want[0]}.{want[1]}; used {oldest}"
    best = fitting[-1]
    if (best.major, best.minor) < want and best == versions[-1]:
        return str(best), (
            f"schemas for Kubernetes {want[0]}.{want[1]} are not shipped by "
            f"kubernetes-validate; validated against the newest it has, {best}"
        )
    return str(best), ""


def helm_template_command(
    helm: Path, release: Release, chart: Path, env: str, version: str
) -> list[str]:
    cmd = [str(helm), "template", f"--namespace={release.spec.namespace}"]
    cmd += [f"--values={p.resolve()}" for p in release.values_files(env)]
    cmd += [f"--kube-version={version}", "--", release.name, str(chart)]
    return cmd


def describe(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    return f"{doc.get('kind', '?')}/{(meta or {}).get('name', '?')}"


# ---- rendering --------------------------------------------------------------


@dataclass(frozen=True)
class RenderJob:
    """One `helm template` run: a release's chart for one environment."""

    release: Release
    chart: Path
    env: str
    kube_version: str
    values_path: str


# eq=False: each render is its own identity (and its dict docs are unhashable).
@dataclass(frozen=True, eq=False)
class Rendered:
    release: Release
    env: str
    kube_version: str
    values_path: str
    docs: tuple[dict[str, Any], ...]


def render(helm: Path, job: RenderJob) -> Rendered | Finding:
    """Run `helm template` (argv, no shell, bounded time); an error becomes a Finding."""
    release, env, values = job.release, job.env, job.values_path
    cmd = helm_template_command(helm, release, job.chart, env, job.kube_version)
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=HELM_TIMEOUT, check=False, env=tool_env()
        )
    except subprocess.TimeoutExpired:
        return _render_error(
            release, env, values, f"helm template timed out after {HELM_TIMEOUT:.0f}s"
        )
    if proc.returncode != 0:
        return _render_error(release, env, values, proc.stderr or proc.stdout)
    try:
        docs = load_all_data(proc.stdout)
    except (UnsafeYamlError, ValueError) as exc:
        return _render_error(release, env, values, f"rendered output is not YAML: {exc}")
    kept = tuple(d for d in docs if isinstance(d, dict))
    return Rendered(release, env, job.kube_version, values, kept)


def _render_error(release: Release, env: str, values: str, stderr: str) -> Finding:
    text = " ".join(strip_controls(stderr).split())
    if len(text) > STDERR_LIMIT:
        text = text[:STDERR_LIMIT] + " …"
    return Finding(
        path=values,
        line=0,
        column=0,
        check_id="kube/render-failed",
        severity=Severity.ERROR,
        message=f"[{env}] helm template failed for release {release.name}: {text or 'no output'}",
        tool="helm",
        help_url=HELP_URL,
        resource=release.name,
    )


# ---- schema validation ------------------------------------------------------


@dataclass(frozen=True)
class DocRef:
    """One rendered document written to disk, and where it came from."""

    rendered: Rendered
    doc: dict[str, Any]
    file: Path


def _schema_finding(ref: DocRef, where: str, problem: str, schema: str, note: str) -> Finding:
    extra = [("schema_version", schema), ("kube_version", ref.rendered.kube_version)]
    if note:
        extra.append(("schema_note", note))
    suffix = f" ({note})" if note else ""
    at = f" at {where}" if where else ""
    # jsonschema quotes the offending value, which may be a whole ConfigMap.
    if len(problem) > PROBLEM_LIMIT:
        problem = problem[:PROBLEM_LIMIT] + " …"
    return Finding(
        path=ref.rendered.values_path,
        line=0,
        column=0,
        check_id="kube/schema",
        severity=Severity.ERROR,
        message=(
            f"[{ref.rendered.env}] {describe(ref.doc)}{at}: {problem} "
            f"(Kubernetes {schema} schema, strict){suffix}"
        ),
        tool="kubernetes-validate",
        help_url=SCHEMA_HELP_URL,
        resource=describe(ref.doc),
        extra=tuple(extra),
    )


def _missing_schema_finding(rendered: Rendered, kinds: list[str], tool: str) -> Finding:
    return Finding(
        path=rendered.values_path,
        line=0,
        column=0,
        check_id="kube/schema-missing",
        severity=Severity.INFO,
        message=(
            f"[{rendered.env}] release {rendered.release.name}: no schema for "
            f"{', '.join(sorted(set(kinds)))} (custom resources?); those documents were not "
            f"schema-checked"
        ),
        tool=tool,
        help_url=SCHEMA_HELP_URL,
        resource=rendered.release.name,
    )


def validate_in_process(refs: list[DocRef]) -> list[Finding]:
    """kubernetes-validate: the same JSON schemas kubeconform uses, offline, in-process."""
    import kubernetes_validate
    from kubernetes_validate.utils import all_versions

    shipped = all_versions()
    findings: list[Finding] = []
    missing: dict[Rendered, list[str]] = {}
    for ref in refs:
        requested = parse_kube_version(ref.rendered.kube_version) or Version(DEFAULT_KUBE_VERSION)
        schema, note = pick_schema_version(requested, shipped)
        if not isinstance(ref.doc.get("apiVersion"), str) or not isinstance(
            ref.doc.get("kind"), str
        ):
            findings.append(_schema_finding(ref, "", "apiVersion or kind missing", schema, note))
            continue
        try:
            kubernetes_validate.validate(ref.doc, schema, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            missing.setdefault(ref.rendered, []).append(
                f"{ref.doc['kind']} ({ref.doc['apiVersion']})"
            )
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.absolute_path)
            findings.append(_schema_finding(ref, where, exc.message, schema, note))
    for rendered, kinds in missing.items():
        findings.append(_missing_schema_finding(rendered, kinds, "kubernetes-validate"))
    return findings


def schema_location() -> Path:
    """kubernetes-validate's schema folder, for kubeconform to read offline."""
    import kubernetes_validate

    return Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"


def kubeconform_command(binary: Path, schema: str, files: list[Path]) -> list[str]:
    location = schema_location() / f"v{schema}-local-strict"
    return [
        str(binary), "-strict", "-kubernetes-version", schema, "-summary",
        "-output", "json",
        "-schema-location", f"{location}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
        *[str(f) for f in files],
    ]  # fmt: skip


def parse_kubeconform(
    report: Any, refs: dict[str, DocRef], schema: str, note: str
) -> list[Finding]:
    """Map kubeconform's `-output json` resources onto Findings."""
    findings: list[Finding] = []
    missing: dict[Rendered, list[str]] = {}
    resources = report.get("resources") if isinstance(report, dict) else None
    for item in resources or []:
        if not isinstance(item, dict) or item.get("status") in ("VALID", "SKIPPED", None):
            continue
        ref = refs.get(str(item.get("filename")))
        if ref is None:
            continue
        msg = " ".join(strip_controls(str(item.get("msg") or "")).split())
        if "could not find schema" in msg:
            missing.setdefault(ref.rendered, []).append(str(item.get("kind") or "?"))
            continue
        finding = _schema_finding(ref, "", msg or str(item.get("status")), schema, note)
        findings.append(replace(finding, tool="kubeconform"))
    for rendered, kinds in missing.items():
        findings.append(_missing_schema_finding(rendered, kinds, "kubeconform"))
    return findings


def validate_with_kubeconform(binary: Path, refs: list[DocRef]) -> list[Finding]:
    from kubernetes_validate.utils import all_versions

    shipped = all_versions()
    groups: dict[tuple[str, str], list[DocRef]] = {}
    for ref in refs:
        requested = parse_kube_version(ref.rendered.kube_version) or Version(DEFAULT_KUBE_VERSION)
        groups.setdefault(pick_schema_version(requested, shipped), []).append(ref)
    findings: list[Finding] = []
    for (schema, note), group in groups.items():
        cmd = kubeconform_command(binary, schema, [r.file for r in group])
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=KUBECONFORM_TIMEOUT, check=False,
            env=tool_env(),
        )  # fmt: skip
        # Exit 1 means "some resource is invalid", the normal case for findings.
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"kubeconform exited {proc.returncode}: {proc.stderr[:500]}")
        report = json.loads(proc.stdout or "{}")
        findings += parse_kubeconform(report, {str(r.file): r for r in group}, schema, note)
    return findings


# ---- guard rules ------------------------------------------------------------


def guard_findings(binary: Path, rules: list[Path], refs: list[DocRef]) -> list[Finding]:
    """cfn-guard over every rendered document, mapped back to the release's values."""
    if not refs:
        return []
    report = run_guard(binary, rules, [r.file for r in refs])
    by_file = {str(r.file): r for r in refs}
    out: list[Finding] = []
    for finding in parse_report(report, {}):
        ref = by_file.get(finding.path)
        if ref is None:
            continue
        out.append(
            replace(
                finding,
                path=ref.rendered.values_path,
                line=0,
                column=0,
                message=f"[{ref.rendered.env}] {describe(ref.doc)}: {finding.message}",
                resource=describe(ref.doc),
                extra=(("release", ref.rendered.release.name), ("env", ref.rendered.env)),
            )
        )
    return out


def write_docs(rendered: list[Rendered], folder: Path) -> list[DocRef]:
    """One JSON file per document: cfn-guard and kubeconform report per data file."""
    refs: list[DocRef] = []
    for i, item in enumerate(rendered):
        for j, doc in enumerate(item.docs):
            path = folder / f"{i:03d}-{j:04d}.json"
            path.write_text(json.dumps(doc, default=str), encoding="utf-8")
            refs.append(DocRef(item, doc, path))
    return refs


def _no_rules_finding() -> Finding:
    return Finding(
        path=K8S_RULES_DIR.as_posix(),
        line=0,
        column=0,
        check_id="kube/guard-rules-missing",
        severity=Severity.WARNING,
        message=(
            f"no *.guard files under {K8S_RULES_DIR.as_posix()}/; rendered manifests "
            f"were schema-checked only"
        ),
    )


# ---- the check --------------------------------------------------------------


def chart_cache_dir(repo_root: Path, environ: dict[str, str] | os._Environ[str]) -> Path:
    explicit = environ.get(CHART_DIR_ENV)
    return Path(explicit) if explicit else repo_root / DEFAULT_CHART_DIR


def plan_release(
    repo: Repository, release: Release, cache: Path, envs: tuple[str, ...]
) -> tuple[list[RenderJob], list[Finding]]:
    """The renders one release needs, or the findings that say why it cannot render."""
    values = values_path(release, repo)
    if problem := invalid_release(release):
        return [], [_render_error(release, "all", values, problem)]
    lookup = locate_chart(release, repo.root, cache)
    if lookup.path is None:
        return [], [unavailable_finding(release, repo, lookup.reason)]
    jobs: list[RenderJob] = []
    problems: list[Finding] = []
    for env in envs:
        version = kube_version(repo, env, release.spec.cluster_stack)
        if parse_kube_version(version) is None:
            problems.append(
                _render_error(release, env, values, f"kubernetes_version {version!r} is invalid")
            )
        else:
            jobs.append(RenderJob(release, lookup.path, env, version, values))
    return jobs, problems


SchemaValidator = Callable[[list[DocRef]], list[Finding]]


def schema_validator(find: Callable[[str], Tool | None]) -> SchemaValidator:
    kubeconform = find("kubeconform")
    if kubeconform is not None:
        binary = kubeconform.path
        return lambda refs: validate_with_kubeconform(binary, refs)
    return validate_in_process


class KubeCheck(Check):
    id: ClassVar[str] = "kube"
    inputs: ClassVar[frozenset[Input]] = frozenset({Input.RELEASES})
    description: ClassVar[str] = (
        "helm template per environment, Kubernetes schemas (strict) and guard/kubernetes rules"
    )

    def run(self, ctx: CheckContext) -> list[Finding]:
        if not ctx.targets.releases:
            return []
        # Trusted: the cache of the checkout the bot runs from, never the PR's.
        cache = ctx.repo.policy.chart_cache(os.environ)
        envs = ctx.targets.environments or tuple(ctx.repo.environments)
        findings: list[Finding] = []
        jobs: list[RenderJob] = []
        for release in ctx.targets.releases:
            release_jobs, problems = plan_release(ctx.repo, release, cache, envs)
            jobs += release_jobs
            findings += problems
        if not jobs:
            return findings
        helm = ctx.tools.require("helm").path
        # Charts render independently and helm is a subprocess: a few at a time.
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda job: render(helm, job), jobs))
        findings += [r for r in results if isinstance(r, Finding)]
        rendered = [r for r in results if isinstance(r, Rendered)]
        return findings + self._validate(ctx, rendered)

    @staticmethod
    def _validate(ctx: CheckContext, rendered: list[Rendered]) -> list[Finding]:
        rules = ctx.repo.policy.kubernetes_rule_files()  # the pack + the trusted copy
        findings: list[Finding] = []
        with tempfile.TemporaryDirectory(prefix="infra-bot-kube-") as tmp:
            refs = write_docs(rendered, Path(tmp))
            findings += schema_validator(ctx.tools.find)(refs)
            if rules:
                findings += guard_findings(ctx.tools.require("cfn-guard").path, rules, refs)
            elif refs:
                findings.append(_no_rules_finding())
        return findings

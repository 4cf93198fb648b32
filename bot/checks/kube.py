"""The Kubernetes check: render every Helm release per environment, then validate it.

For each release: pull its pinned chart from its repository into a cache
outside the checkout (bot.cloud.charts; never from the checkout itself, which
is the pull request), then per environment `helm template` it with the shared
and the environment's values and check every rendered document against the
Kubernetes JSON schemas (strict: unknown fields are errors) and the guard rules
under guard/kubernetes. helm runs with an allowlisted environment
(bot.cloud.helmenv). A chart that cannot be pulled, fails its pinned digest or
is refused (symlinks, unsafe archive) is an ERROR saying the release was NOT
checked: an unchecked release must not let a pull request through as if it
had passed.

Findings point at the release's values.yaml: the rendered manifests exist only
in a temp dir, and the values file is where a reviewer would fix them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from packaging.version import Version

from bot.checks.base import Check, CheckContext, Input
from bot.checks.guard import parse_report, run_guard
from bot.cloud.charts import ChartCacheError, ChartFetcher, ChartProblem, chart_cache_dir
from bot.cloud.helmenv import helm_env, prepare_home
from bot.findings import Finding, Severity
from bot.render.text import strip_controls
from bot.repo.model import Release, Repository
from bot.repo.safeyaml import UnsafeYamlError, load_all_data
from bot.subproc import tool_env
from bot.toolchain import Tool

K8S_RULES_DIR = Path("guard") / "kubernetes"
DEFAULT_KUBE_VERSION = "1.34"
HELM_TIMEOUT = 120.0
KUBECONFORM_TIMEOUT = 300.0
STDERR_LIMIT = 1500
PROBLEM_LIMIT = 400
HELP_URL = "https://helm.sh/docs/helm/helm_template/"
PULL_HELP_URL = "https://helm.sh/docs/helm/helm_pull/"
SCHEMA_HELP_URL = "https://kubernetes.io/docs/reference/kubernetes-api/"

# Helm's own rules for release names and Kubernetes' for namespaces. Checked
# before anything reaches helm's argv: a folder named "--post-renderer=..."
# must never be read as a flag.
_RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_KUBE_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$")


# ---- pure decisions ---------------------------------------------------------


def values_path(release: Release, repo: Repository) -> str:
    return repo.rel(release.folder / "values.yaml")


def not_checked_finding(release: Release, repo: Repository, problem: ChartProblem) -> Finding:
    """A release whose chart was not rendered: an error, so "not checked" never reads as passed."""
    spec = release.spec
    return Finding(
        path=repo.rel(release.folder / "release.yaml"),
        line=0,
        column=0,
        check_id=f"kube/chart-{problem.kind.value}",
        severity=Severity.ERROR,
        message=(
            f"release {release.name} was NOT checked: chart {spec.chart} {spec.version} "
            f"from {spec.repository}: {problem.reason}"
        ),
        tool="helm",
        help_url=PULL_HELP_URL,
        resource=release.name,
        extra=(("repository", spec.repository), ("reason", problem.kind.value)),
    )


def cache_refused_finding(releases: Iterable[Release], reason: str) -> Finding:
    names = ", ".join(sorted(r.name for r in releases))
    return Finding(
        path="",
        line=0,
        column=0,
        check_id="kube/chart-cache-refused",
        severity=Severity.ERROR,
        message=f"{reason} Not checked: {names}.",
        tool="infra-bot",
        help_url=PULL_HELP_URL,
    )


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


def render(helm: Path, job: RenderJob, helm_environ: dict[str, str]) -> Rendered | Finding:
    """Run `helm template` (argv, no shell, bounded time, allowlisted environment);
    an error becomes a Finding."""
    release, env, values = job.release, job.env, job.values_path
    cmd = helm_template_command(helm, release, job.chart, env, job.kube_version)
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=HELM_TIMEOUT, check=False,
            env=helm_environ,
        )  # fmt: skip
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


ChartFetch = Callable[[Release], Path | ChartProblem]


def plan_release(
    repo: Repository, release: Release, fetch: ChartFetch, envs: tuple[str, ...]
) -> tuple[list[RenderJob], list[Finding]]:
    """The renders one release needs, or the findings that say why it cannot render."""
    values = values_path(release, repo)
    if problem := invalid_release(release):
        return [], [_render_error(release, "all", values, problem)]
    chart = fetch(release)
    if isinstance(chart, ChartProblem):
        return [], [not_checked_finding(release, repo, chart)]
    jobs: list[RenderJob] = []
    problems: list[Finding] = []
    for env in envs:
        version = kube_version(repo, env, release.spec.cluster_stack)
        if parse_kube_version(version) is None:
            problems.append(
                _render_error(release, env, values, f"kubernetes_version {version!r} is invalid")
            )
        else:
            jobs.append(RenderJob(release, chart, env, version, values))
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
        try:
            cache = chart_cache_dir(ctx.repo.root, os.environ, Path.home())
        except ChartCacheError as exc:
            return [cache_refused_finding(ctx.targets.releases, str(exc))]
        envs = ctx.targets.environments or tuple(ctx.repo.environments)
        helm = ctx.tools.require("helm").path
        # Pulled charts, helm's homes and rendered files live only as long as this run.
        with tempfile.TemporaryDirectory(prefix="infra-bot-kube-") as tmp:
            work = Path(tmp)
            fetcher = ChartFetcher(helm, cache, work, os.environ)
            jobs, findings = self._plan(ctx, envs, lambda r: fetcher.fetch(r.spec, r.name))
            if not jobs:
                return findings
            environ = helm_env(prepare_home(work / "render-home"), os.environ)
            # Charts render independently and helm is a subprocess: a few at a time.
            with ThreadPoolExecutor(max_workers=4) as pool:
                results = list(pool.map(lambda job: render(helm, job, environ), jobs))
        findings += [r for r in results if isinstance(r, Finding)]
        rendered = [r for r in results if isinstance(r, Rendered)]
        return findings + self._validate(ctx, rendered)

    @staticmethod
    def _plan(
        ctx: CheckContext, envs: tuple[str, ...], fetch: ChartFetch
    ) -> tuple[list[RenderJob], list[Finding]]:
        # Pulls wait on the network, not the CPU: a few at a time.
        with ThreadPoolExecutor(max_workers=4) as pool:
            planned = list(
                pool.map(lambda r: plan_release(ctx.repo, r, fetch, envs), ctx.targets.releases)
            )
        jobs = [job for release_jobs, _ in planned for job in release_jobs]
        return jobs, [f for _, problems in planned for f in problems]

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

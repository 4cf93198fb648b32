"""Getting a release's pinned chart: `helm pull` into a cache outside the checkout.

A release names a repository (https://, http:// or oci://), a chart and an
exact version, and may pin the archive's sha256 (`digest:`, the same value a
repository's index.yaml lists and an OCI registry stores as the chart layer).
Charts never come from the checkout being validated: the checkout is the pull
request, and a "cached" chart there would be whatever its author wanted
rendered. The cache lives under the user's cache folder (or
INFRA_BOT_CHART_DIR) and is refused when it resolves into the checkout.

Each fetch answers with the unpacked chart folder or a ChartProblem; nothing
here raises for what a pull request wrote.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from bot.cloud.chartarchive import (
    UnsafeChartError,
    chart_identity,
    symlinks_in,
    unpack,
)
from bot.cloud.helmenv import helm_env, prepare_home
from bot.render.text import strip_controls
from bot.repo.model import ReleaseSpec

CHART_DIR_ENV = "INFRA_BOT_CHART_DIR"
PULL_TIMEOUT = 120.0
STDERR_LIMIT = 600
SCHEMES = ("https", "http", "oci")
# Helm's chart names allow more than Kubernetes names; these stay safe as file names.
_CHART_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# An exact SemVer: a range ("^1.2", ">=1") would let the repository choose.
_EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


class ProblemKind(StrEnum):
    """Why a release's chart was not rendered; each maps to one finding id."""

    # Unreachable, unknown chart or version, refused login: helm's message says which.
    PULL_FAILED = "pull-failed"
    REFUSED = "refused"
    DIGEST = "digest-mismatch"


@dataclass(frozen=True)
class ChartProblem:
    kind: ProblemKind
    reason: str


@dataclass(frozen=True)
class ChartSource:
    """A validated reference to one pinned chart."""

    repository: str
    chart: str
    version: str
    digest: str | None

    @property
    def is_oci(self) -> bool:
        return self.repository.startswith("oci://")

    @property
    def key(self) -> str:
        """The cache file name: readable, and unique per repository, chart and version."""
        text = f"{self.repository}\n{self.chart}\n{self.version}"
        return f"{self.chart}-{self.version}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.tgz"


class ChartCacheError(ValueError):
    """The chart cache is somewhere charts must not be read from."""


# ---- pure decisions ---------------------------------------------------------


def _host_problem(host: str) -> str | None:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    # Link-local holds cloud instance metadata (169.254.169.254, fd00:ec2::254):
    # a PR must not make the runner fetch from there.
    if address.is_link_local or str(address) == "fd00:ec2::254":
        return f"{host} is a link-local (instance metadata) address"
    return None


def repository_problem(repository: str) -> str | None:
    """Why the bot will not pull from `repository` (None when it will). Pure."""
    parts = urlsplit(repository)
    if parts.scheme == "file":
        return "file:// charts would come from the checkout; charts are pulled from a repository"
    if parts.scheme not in SCHEMES:
        return f"repository {repository!r} is not an https://, http:// or oci:// URL"
    if parts.username or parts.password:
        return "repository URLs must not carry credentials (they would show in the review)"
    if not parts.hostname:
        return f"repository {repository!r} names no host"
    if parts.query or parts.fragment:
        return f"repository {repository!r} has a query or fragment"
    return _host_problem(parts.hostname)


def chart_source(spec: ReleaseSpec) -> ChartSource | ChartProblem:
    """The release's chart reference, checked before any of it reaches helm's argv. Pure."""
    refused = ProblemKind.REFUSED
    if problem := repository_problem(spec.repository):
        return ChartProblem(refused, problem)
    if not _CHART_NAME.match(spec.chart):
        return ChartProblem(refused, f"chart name {spec.chart!r} is not a plain chart name")
    if not _EXACT_VERSION.match(spec.version):
        return ChartProblem(refused, f"version {spec.version!r} is not one exact version")
    return ChartSource(spec.repository.rstrip("/"), spec.chart, spec.version, spec.digest)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def pull_command(helm: Path, source: ChartSource, dest: Path) -> list[str]:
    """`helm pull` of exactly the pinned version; values in `--flag=value` form."""
    common = [f"--version={source.version}", f"--destination={dest}"]
    if source.is_oci:
        # helm speaks only TLS to a registry unless told otherwise. A registry on this
        # machine (registry:2 on localhost:5000) rarely has a certificate, and TLS over
        # loopback protects nothing; anything else stays TLS-only.
        if is_loopback(urlsplit(source.repository).hostname or ""):
            common.append("--plain-http")
        return [str(helm), "pull", *common, "--", f"{source.repository}/{source.chart}"]
    return [str(helm), "pull", f"--repo={source.repository}", *common, "--", source.chart]


def chart_reference(spec: ReleaseSpec) -> list[str]:
    """How `helm upgrade`/`helm template` name a release's chart (the deploy's argv): an
    OCI reference, which helm refuses behind --repo, or the chart name with --repo. Pure."""
    repository = spec.repository.rstrip("/")
    if repository.startswith("oci://"):
        plain = ["--plain-http"] if is_loopback(urlsplit(repository).hostname or "") else []
        return [f"{repository}/{spec.chart}", *plain]
    return [spec.chart, "--repo", spec.repository]


def default_chart_dir(environ: Mapping[str, str], home: Path) -> Path:
    base = environ.get("XDG_CACHE_HOME") or str(home / ".cache")
    return Path(base) / "infra-bot" / "charts"


def chart_cache_dir(workspace: Path, environ: Mapping[str, str], home: Path) -> Path:
    """INFRA_BOT_CHART_DIR or the user cache; ChartCacheError when it is inside `workspace`."""
    explicit = environ.get(CHART_DIR_ENV)
    cache = Path(explicit) if explicit else default_chart_dir(environ, home)
    resolved, checkout = cache.resolve(), workspace.resolve()
    if resolved == checkout or checkout in resolved.parents:
        origin = CHART_DIR_ENV if explicit else "the default chart cache"
        raise ChartCacheError(
            f"{origin} ({cache}) is inside the checkout being validated ({workspace}); "
            f"charts are never read from the checkout, so no release was checked. "
            f"Point {CHART_DIR_ENV} at a folder outside it."
        )
    return resolved


def clean_stderr(text: str) -> str:
    flat = " ".join(strip_controls(text).split())
    return flat[:STDERR_LIMIT] + " …" if len(flat) > STDERR_LIMIT else flat or "no output"


def pull_failure(proc: subprocess.CompletedProcess[str] | None, files: int) -> str | None:
    """Why a `helm pull` (None: timed out) did not leave exactly one archive. Pure."""
    if proc is None:
        return f"no answer in {PULL_TIMEOUT:.0f}s"
    if proc.returncode != 0:
        return clean_stderr(proc.stderr or proc.stdout)
    return None if files == 1 else f"helm pull left {files} files instead of one archive"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 16):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


# ---- the shell: pull, verify, cache, unpack ---------------------------------


@dataclass(frozen=True)
class ChartFetcher:
    """Fetches charts with `helm` into `cache`; unpacks them under `workdir` (one run's)."""

    helm: Path
    cache: Path
    workdir: Path
    environ: Mapping[str, str]

    def fetch(self, spec: ReleaseSpec, label: str) -> Path | ChartProblem:
        """The unpacked chart folder for `spec`, or why it was not checked. `label` names
        the unpack folder (the release name: unique within a run)."""
        source = chart_source(spec)
        if isinstance(source, ChartProblem):
            return source
        cached = self.cache / source.key
        fresh = not cached.is_file()
        archive = self._pull(source) if fresh else cached
        if isinstance(archive, ChartProblem):
            return archive
        try:
            folder = self._verified(source, archive, self.workdir / "charts" / label)
            # Only an archive that passed every check is kept for the next run.
            if fresh and isinstance(folder, Path):
                os.replace(archive, cached)
            return folder
        finally:
            if fresh:
                shutil.rmtree(archive.parent, ignore_errors=True)

    def _pull(self, source: ChartSource) -> Path | ChartProblem:
        try:
            self.cache.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Into a private folder of the cache: the move into place is then one rename.
            landing = Path(tempfile.mkdtemp(prefix=".pull-", dir=self.cache))
        except OSError as exc:
            reason = f"cannot write to the chart cache {self.cache}: {exc.strerror}"
            return ChartProblem(ProblemKind.PULL_FAILED, reason)
        # One home per pull: concurrent pulls must not share helm's repository cache files.
        home = prepare_home(self.workdir / "helm-home" / landing.name)
        cmd = pull_command(self.helm, source, landing)
        env = helm_env(home, self.environ)
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=PULL_TIMEOUT, check=False, env=env
            )
        except subprocess.TimeoutExpired:
            proc = None
        files = list(landing.iterdir())
        if problem := pull_failure(proc, len(files)):
            shutil.rmtree(landing, ignore_errors=True)
            return ChartProblem(ProblemKind.PULL_FAILED, f"helm pull failed: {problem}")
        return files[0]

    def _verified(self, source: ChartSource, archive: Path, dest: Path) -> Path | ChartProblem:
        if source.digest is not None:
            found = sha256_of(archive)
            if found != source.digest:
                return ChartProblem(
                    ProblemKind.DIGEST,
                    f"{source.chart} {source.version} from {source.repository} has digest "
                    f"{found}, but release.yaml pins {source.digest}",
                )
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True, mode=0o700)
        try:
            folder = unpack(archive, dest)
            name, version = chart_identity(folder)
        except UnsafeChartError as exc:
            return ChartProblem(ProblemKind.REFUSED, str(exc))
        if name != source.chart or version.removeprefix("v") != source.version.removeprefix("v"):
            return ChartProblem(
                ProblemKind.REFUSED,
                f"the archive holds chart {name} {version}, not {source.chart} {source.version}",
            )
        if links := symlinks_in(folder):
            return ChartProblem(ProblemKind.REFUSED, f"the chart contains symlinks: {links[:5]}")
        return folder

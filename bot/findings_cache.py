"""Findings cached by content, so re-validating an unchanged repository costs almost nothing.

One entry holds what one check found over one run's targets. Its key is a
sha256 over everything the result can depend on:

- the check id and this cache's format;
- the tools: Python, the cfn-lint distribution, the cfn-guard binary's version,
  and the bytes of infra-bot's own code and data (a changed check is a new key);
- where the repository is, and the targets (paths and bytes of every template
  and deployment file);
- the bytes of every file that says how strictly to check: everything under
  stacks/, environments/, guard/ and helm-values/, `.cfnlintrc` and
  `.github/infra-bot.yml`, of the repository and of the trusted policy checkout
  (bot.repo.policy) when that is another one; the same for the base checkout of
  `--changed-since`, and the changed paths.

The Kubernetes check also reads charts (from the chart cache, or file://
folders anywhere in the repository) and runs helm and kubeconform, so its key
adds those tools' versions, the bytes of every file of the repository (but
.git, .infra-bot, .venv, __pycache__) and of the chart cache.

So a hit is exactly what a miss would compute. What is not cached: a check not
in CACHED_CHECKS (a new check joins it once its key covers what it reads), and a
result that holds a crash finding (a missing tool is not a property of the
content). An entry that cannot be read or decoded is a miss, and is overwritten.

An entry holds the check's coverage record next to its findings: coverage is a
function of the same inputs (the key), and recomputing it would mean decoding
the templates again. When every check of a run is a hit, `cached_report`
answers without the engine, so an unchanged repository is not even parsed
(nor cfn-lint imported). Otherwise the engine asks `wrap` for the function that
runs one check; it is the plain function unless a caller (the command line)
opened a cache with `using`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.findings import Finding, Severity
from bot.repo.rulepack import pack_root

if TYPE_CHECKING:
    from bot.checks.base import Check, CheckContext, Count, Coverage
    from bot.checks.discovery import Registry
    from bot.checks.engine import Report
    from bot.repo.model import Repository

FORMAT = 2  # 2: the entry holds the coverage record
CACHED_CHECKS = frozenset({"cfn-lint", "cfn-guard", "cross-stack", "load", "kube"})
INPUT_DIRS = ("stacks", "environments", "guard", "helm-values")
INPUT_FILES = (".cfnlintrc", ".cfnlintrc.yaml", ".cfnlintrc.yml", ".github/infra-bot.yml")
SKIPPED_DIRS = frozenset({".git", ".infra-bot", ".venv", "__pycache__"})
PACKAGE_ROOT = Path(__file__).resolve().parent

RunOne = Callable[["type[Check]", "CheckContext"], "tuple[list[Finding], Coverage]"]


def default_dir() -> Path:
    """Outside the workspace: the user cache dir, next to the pinned tools."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "infra-bot" / "findings"


def _file_digest(path: Path) -> str:
    with path.open("rb") as fh:  # streamed: a huge file in stacks/ is refused, not loaded
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _tree(root: Path) -> Iterator[tuple[str, str]]:
    """(relative path, sha256) of the input files under root, in a stable order."""
    for rel in INPUT_FILES:
        path = root / rel
        if path.is_file():
            yield rel, _file_digest(path)
    for top in INPUT_DIRS:
        for folder, dirs, files in os.walk(root / top):
            dirs.sort()
            for name in sorted(files):
                path = Path(folder, name)
                if path.is_file():
                    yield path.relative_to(root).as_posix(), _file_digest(path)


def _everything(root: Path) -> Iterator[tuple[str, str]]:
    """(relative path, sha256) of every file under root but SKIPPED_DIRS."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(files):
            path = Path(folder, name)
            if path.is_file():
                yield path.relative_to(root).as_posix(), _file_digest(path)


def _kube_inputs(ctx: CheckContext) -> dict[str, Any]:
    from bot.cloud.charts import ChartCacheError, chart_cache_dir

    try:
        charts = chart_cache_dir(ctx.repo.root, os.environ, Path.home())
    except ChartCacheError as exc:
        return {"chart_cache_refused": str(exc)}
    helm, kubeconform = ctx.tools.find("helm"), ctx.tools.find("kubeconform")
    return {
        "helm": helm.version if helm else None,
        "kubeconform": kubeconform.version if kubeconform else None,
        "kubernetes-validate": _dist_version("kubernetes-validate"),
        "repository": list(_everything(ctx.repo.root)),
        "chart_cache": [str(charts), *_everything(charts)] if charts.is_dir() else str(charts),
    }


@cache
def _code_digest() -> str:
    """infra-bot's own code and data files: a new version of a check is a new key."""
    digest = hashlib.sha256()
    for rel, file_digest in _everything(PACKAGE_ROOT):
        digest.update(f"{rel} {file_digest}\n".encode())
    return digest.hexdigest()


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _paths(repo: Repository, paths: Iterable[Path]) -> list[tuple[str, str]]:
    return [(repo.rel(p), _file_digest(p)) for p in paths if p.is_file()]


def inputs(ctx: CheckContext) -> dict[str, Any]:
    """What every check's result depends on (the same for all checks of one run)."""
    guard = ctx.tools.find("cfn-guard")
    targets = ctx.targets
    return {
        "format": FORMAT,
        "python": sys.version,
        "cfn-lint": _dist_version("cfn-lint"),
        "cfn-guard": guard.version if guard else None,
        "code": _code_digest(),
        # Where the checkout is: a tool's message may name an absolute path.
        "root": str(ctx.repo.root.resolve()),
        "templates": _paths(ctx.repo, targets.templates),
        "deployment_files": _paths(ctx.repo, targets.deployment_files),
        "releases": [r.name for r in targets.releases],
        "environments": list(targets.environments),
        "inputs": list(_tree(ctx.repo.root)),
        # The default policy pack: inside the package when installed (then "code" covers
        # it too), guard/ of the source checkout the bot runs from otherwise.
        "pack": list(_everything(pack_root())),
        # The trusted checkout the rules come from, when it is not the repository.
        "policy": [str(ctx.repo.policy.root.resolve()), *_tree(ctx.repo.policy.root)]
        if ctx.repo.trusted
        else None,
        "base": list(_tree(ctx.base_repo.root)) if ctx.base_repo else None,
        "changed": sorted(ctx.changed_paths),
    }


def cache_key(check_id: str, ctx: CheckContext, common: dict[str, Any] | None = None) -> str:
    parts = {**(common if common is not None else inputs(ctx)), "check": check_id}
    if check_id == "kube":
        parts["kube"] = _kube_inputs(ctx)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def encode(findings: list[Finding]) -> list[dict[str, Any]]:
    out = []
    for f in findings:
        data = f.to_dict()
        data["severity"] = int(f.severity)
        data["extra"] = [list(pair) for pair in f.extra]
        out.append(data)
    return out


def _str(data: dict[str, Any], name: str, *, optional: bool = False) -> Any:
    value = data[name]
    if isinstance(value, str) or (optional and value is None):
        return value
    raise TypeError(name)


def _int(data: dict[str, Any], name: str) -> int:
    value = data[name]
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(name)


def decode(items: object) -> list[Finding]:
    """The findings of an entry; raises on anything that is not exactly what encode wrote."""
    if not isinstance(items, list):
        raise TypeError("findings")
    out = []
    for data in items:
        if not isinstance(data, dict):
            raise TypeError("finding")
        extra = data["extra"]
        if not isinstance(extra, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
            for p in extra
        ):
            raise TypeError("extra")
        out.append(
            Finding(
                path=_str(data, "path"),
                line=_int(data, "line"),
                column=_int(data, "column"),
                check_id=_str(data, "check_id"),
                severity=Severity(_int(data, "severity")),
                message=_str(data, "message"),
                tool=_str(data, "tool"),
                nist_control=_str(data, "nist_control", optional=True),
                help_url=_str(data, "help_url", optional=True),
                resource=_str(data, "resource", optional=True),
                extra=tuple((k, v) for k, v in extra),
            )
        )
    return out


def encode_coverage(coverage: Coverage) -> dict[str, Any]:
    data = coverage.to_dict()
    data["counts"] = [[c.noun, c.n] for c in coverage.counts]  # ordered, as rendered
    return data


def decode_coverage(data: object) -> Coverage:
    """The coverage of an entry; raises on anything that is not what encode_coverage wrote."""
    from bot.checks.base import Coverage, Skip, Status

    if not isinstance(data, dict):
        raise TypeError("coverage")
    counts, skipped = data["counts"], data["skipped"]
    if not isinstance(counts, list) or not isinstance(skipped, list):
        raise TypeError("coverage")
    if not all(isinstance(x, dict) for x in skipped):
        raise TypeError("skipped")
    return Coverage(
        check=_str(data, "check"),
        status=Status(_str(data, "status")),
        counts=tuple(_count(c) for c in counts),
        reason=_str(data, "reason"),
        skipped=tuple(Skip(_str(x, "item"), _str(x, "reason")) for x in skipped),
    )


def _count(item: object) -> Count:
    from bot.checks.base import Count

    if isinstance(item, list) and len(item) == 2:
        noun, n = item
        if isinstance(noun, str) and isinstance(n, int) and not isinstance(n, bool):
            return Count(noun, n)
    raise TypeError("counts")


Entry = tuple[list[Finding], "Coverage"]


@dataclass(frozen=True)
class FindingsCache:
    """Entries as JSON files under `root`, one per key."""

    root: Path

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str, check_id: str) -> Entry | None:
        try:
            entry = json.loads(self._path(key).read_text(encoding="utf-8"))
            if entry["format"] != FORMAT or entry["key"] != key or entry["check"] != check_id:
                return None
            coverage = decode_coverage(entry["coverage"])
            if coverage.check != check_id:
                return None
            return decode(entry["findings"]), coverage
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None  # missing or corrupt: a miss, overwritten below

    def put(self, key: str, check_id: str, findings: list[Finding], coverage: Coverage) -> None:
        path = self._path(key)
        entry = {
            "format": FORMAT,
            "key": key,
            "check": check_id,
            "findings": encode(findings),
            "coverage": encode_coverage(coverage),
        }
        with contextlib.suppress(OSError):  # a cache that cannot be written is no cache
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(entry), encoding="utf-8")
            tmp.replace(path)  # a concurrent reader sees the old entry or the new one

    def run(
        self, check: type[Check], ctx: CheckContext, run_one: RunOne
    ) -> tuple[list[Finding], Coverage]:
        if check.id not in CACHED_CHECKS:
            return run_one(check, ctx)
        key = cache_key(check.id, ctx)
        if (hit := self.get(key, check.id)) is not None:
            return hit
        found, coverage = run_one(check, ctx)
        if not any(f.check_id.endswith("/crashed") for f in found):
            self.put(key, check.id, found, coverage)
        return found, coverage


_ACTIVE: ContextVar[FindingsCache | None] = ContextVar("findings_cache", default=None)


@contextlib.contextmanager
def using(findings_cache: FindingsCache | None) -> Iterator[None]:
    """Checks run by the engine inside this block go through `findings_cache` (None: off)."""
    token = _ACTIVE.set(findings_cache)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active() -> FindingsCache | None:
    """The cache opened by `using` in this context, if any."""
    return _ACTIVE.get()


def wrap(run_one: RunOne) -> RunOne:
    """`run_one` through the cache opened by `using`, if any.

    Called in the engine's thread, so the cache is read before the check moves
    to a worker thread (a ContextVar does not follow a job into a thread pool).
    """
    active = _ACTIVE.get()
    if active is None:
        return run_one

    def run(check: type[Check], ctx: CheckContext) -> tuple[list[Finding], Coverage]:
        return active.run(check, ctx, run_one)

    return run


def cached_report(
    ctx: CheckContext, checks: Registry, ids: list[str], findings_cache: FindingsCache
) -> Report | None:
    """The engine's report for `ids`, if every one of them is a hit; else None.

    The key is computed once for the run (`inputs`), so this reads each input
    file once and decodes no template.
    """
    from bot.checks.engine import Report

    common = inputs(ctx)
    found: list[Finding] = []
    coverage: list[Coverage] = []
    for check_id in ids:
        if check_id not in CACHED_CHECKS:
            return None
        hit = findings_cache.get(cache_key(check_id, ctx, common), checks[check_id].id)
        if hit is None:
            return None
        found += hit[0]
        coverage.append(hit[1])
    return Report(sorted(set(found)), ctx.targets, ids, coverage)

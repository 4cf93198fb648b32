"""What the repository holds, as typed objects: environments, deployments, releases."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from bot.repo.policy import Policy
from bot.repo.safeyaml import UnsafeYamlError, load_data
from bot.repo.templates import Template, load_template

STACKS_DIR = "stacks"
ENVIRONMENTS_DIR = "environments"
HELM_DIR = "helm-values"
GUARD_DIR = "guard"
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json", ".template")
# arn:<partition>:iam::<account>:role/<optional path/><name>
SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}")


# Chart names and versions end up in cache paths and on helm's command line.
CHART_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
CHART_VERSION = re.compile(r"v?[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}")

M = TypeVar("M", bound=BaseModel)


# Tag keys a deployment file may not set: the bot's own, and what AWS reserves.
RESERVED_TAG_PREFIXES = ("infra-bot:", "aws:")


class RepoError(ValueError):
    """The repository's own files are inconsistent (not a finding in a template)."""


class CostThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_monthly_increase_usd: float | None = None
    max_monthly_increase_percent: float | None = None


class Environment(BaseModel):
    """`environments/<env>.yaml`.

    `role_arn` is the deploy role (executes change sets, holds the deploy lock);
    `plan_role_arn` the change-set/read role that plan, drift, status, clean-up and
    promotion pre-checks use (bot.cloud.session.role_for). Both live in the
    environment's own account.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str
    account_id: str
    region: str = "us-east-1"
    role_arn: str | None = None
    plan_role_arn: str | None = None
    next: str | None = None
    kubernetes_version: str | None = None
    project: str = "platform"
    cost: CostThresholds = Field(default_factory=CostThresholds)

    @field_validator("role_arn", "plan_role_arn")
    @classmethod
    def _role_in_account(cls, arn: str | None, info: ValidationInfo) -> str | None:
        problem = role_arn_problem(arn, str(info.data.get("account_id", "")))
        if problem:
            raise ValueError(problem)
        return arn

    def stack_name(self, stack: str) -> str:
        return f"{self.project}-{self.name}-{stack}"


def role_arn_problem(arn: str | None, account_id: str) -> str | None:
    """Why `arn` is not an IAM role of `account_id` (None when it is, or is unset). Pure."""
    if arn is None:
        return None
    match = ROLE_ARN.fullmatch(arn)
    if match is None:
        return f"{arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
    if match.group(1) != account_id:
        return f"{arn!r} is in account {match.group(1)}, not the environment's {account_id}"
    return None


def relative_path_problem(path: str) -> str | None:
    """Why `path` (read from a file in the repository) is not a plain relative path
    inside it, or None. Pure; symlinks are checked on disk by `Repository.inside`."""
    if not path.strip() or "\x00" in path:
        return "is empty"
    if path.startswith(("/", "~")) or "\\" in path or re.match(r"^[A-Za-z]:", path):
        return f"{path!r} must be a repository-relative path with forward slashes"
    if any(part in ("..", "") for part in path.split("/")):
        return f"{path!r} must not contain '..' or empty segments"
    return None


class DeploymentFile(BaseModel):
    """A CloudFormation Git sync deployment file: `environments/<env>/<stack>.yaml`."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, coerce_numbers_to_str=True
    )
    template_file_path: str = Field(alias="template-file-path")
    parameters: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("parameters", "tags", mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        """`parameters:` with only commented-out entries (what `infra-bot init` writes
        for a template whose parameters are all required) is YAML null: none given."""
        return {} if value is None else value

    @field_validator("template_file_path")
    @classmethod
    def _relative(cls, path: str) -> str:
        problem = relative_path_problem(path)
        if problem:
            raise ValueError(f"template-file-path {problem}")
        return path

    @field_validator("tags")
    @classmethod
    def _not_reserved(cls, tags: dict[str, str]) -> dict[str, str]:
        # The bot's identity and rollback tags (infra-bot:commit, :previous-commit ...)
        # are its own: a deployment file choosing them would choose the rollback target.
        taken = sorted(k for k in tags if k.lower().startswith(RESERVED_TAG_PREFIXES))
        if taken:
            raise ValueError(f"tags {', '.join(taken)} use a reserved prefix "
                             f"({', '.join(RESERVED_TAG_PREFIXES)})")  # fmt: skip
        return tags


@dataclass(frozen=True)
class Deployment:
    env: str
    stack: str
    path: Path
    spec: DeploymentFile


class ReleaseSpec(BaseModel):
    """`helm-values/<release>/release.yaml`."""

    model_config = ConfigDict(extra="allow", frozen=True)
    chart: str
    repository: str
    version: str
    namespace: str
    cluster_stack: str = "eks-cluster"
    # A tuple keeps the spec hashable: Targets holds releases in a set.
    depends_on: tuple[str, ...] = ()
    # sha256 of the chart archive (index.yaml's `digest`, an OCI chart layer's
    # digest): when set, the kube check renders only an archive that matches it.
    digest: str | None = None

    @field_validator("digest")
    @classmethod
    def _sha256(cls, digest: str | None) -> str | None:
        if digest is not None and not SHA256_DIGEST.fullmatch(digest):
            raise ValueError("must be sha256:<64 lowercase hex digits> (the chart archive's)")
        return digest

    @field_validator("chart")
    @classmethod
    def _chart_name(cls, chart: str) -> str:
        if not CHART_NAME.fullmatch(chart):
            raise ValueError(f"{chart!r} is not a chart name (letters, digits, '.', '_', '-')")
        return chart

    @field_validator("version")
    @classmethod
    def _chart_version(cls, version: str) -> str:
        if not CHART_VERSION.fullmatch(version):
            raise ValueError(f"{version!r} is not a chart version")
        return version


@dataclass(frozen=True)
class Release:
    name: str
    folder: Path
    spec: ReleaseSpec

    def values_files(self, env: str) -> list[Path]:
        files = [self.folder / "values.yaml", self.folder / f"values-{env}.yaml"]
        return [f for f in files if f.is_file()]


def parse_model(model: type[M], path: Path, **extra: Any) -> M:
    try:
        data = load_data(path)
    except (UnsafeYamlError, OSError) as exc:
        raise RepoError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise RepoError(f"{path}: expected a mapping at the top level")
    try:
        return model.model_validate({**data, **extra})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise RepoError(f"{path}: {problems}") from None


def promotion_order(envs: dict[str, Environment]) -> list[str]:
    """Each chain of `next` from its start, then anything left (a cycle). Pure."""
    targets = {e.next for e in envs.values() if e.next}
    out: list[str] = []
    for start in (n for n in envs if n not in targets):
        name: str | None = start
        while name is not None and name in envs and name not in out:
            out.append(name)
            name = envs[name].next
    return out + [n for n in envs if n not in out]


@dataclass
class Repository:
    """An index of a checkout. Files are read lazily and cached per instance.

    `trusted` is where the environment definitions and the other rules come from
    (bot.repo.policy): for a PR workspace, the checkout the bot was installed from.
    Unset, the checkout is its own policy (the default branch, a local run).
    """

    root: Path
    _templates: dict[Path, Template] = field(default_factory=dict, repr=False)
    trusted: Policy | None = None

    @property
    def policy(self) -> Policy:
        return self.trusted or Policy(self.root)

    def sibling(self, root: Path) -> Repository:
        """Another tree of this repository (an older commit), judged by the same policy."""
        return Repository(root, trusted=self.trusted)

    def inside(self, path: Path, what: str, *, root: Path | None = None) -> Path:
        """`path` resolved (symlinks followed); RepoError if that leaves the checkout
        (`root`: the tree the file belongs to, when it is the trusted one)."""
        root = (root or self.root).resolve()
        resolved = path.resolve()
        if resolved != root and root not in resolved.parents:
            symlink = ".." not in path.parts and path.absolute() != resolved
            via = " through a symlink" if symlink else ""
            raise RepoError(f"{what} points outside the checkout{via}")
        return resolved

    def rel(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return path.as_posix()

    @cached_property
    def stack_paths(self) -> dict[str, Path]:
        """Stack name -> template: every file under stacks/, then the templates the
        deployment files name elsewhere in the checkout (`template-file-path:
        infra/network/vpc.yaml`; a repository adopting the bot keeps its layout),
        named after the deployment file."""
        folder = self.root / STACKS_DIR
        out: dict[str, Path] = {}
        if folder.is_dir():
            out = {
                p.stem: p
                for p in sorted(folder.iterdir())
                if p.is_file() and p.suffix in TEMPLATE_SUFFIXES and not p.is_symlink()
            }
        for stack, path in self._deployed_templates():
            if stack not in out and path not in out.values():
                out[stack] = path
        return out

    def _deployed_templates(self) -> list[tuple[str, Path]]:
        """(stack, template) from every deployment file whose template lies inside the
        checkout outside stacks/. An unreadable deployment file is skipped here: the
        checks and the plan report it where it is read."""
        found: list[tuple[str, Path]] = []
        root = self.root.resolve()
        for dep in self.deployment_paths():
            try:
                spec = parse_model(DeploymentFile, dep)
            except RepoError:
                continue
            path = self.root / spec.template_file_path
            try:
                inside = path.resolve().relative_to(root)
            except ValueError:
                continue
            if (
                inside.parts
                and inside.parts[0] != STACKS_DIR
                and path.suffix in TEMPLATE_SUFFIXES
                and path.is_file()
                and not path.is_symlink()
            ):
                found.append((dep.stem, path))
        return found

    def template(self, path: Path) -> Template:
        key = path.resolve()
        if key not in self._templates:
            self._templates[key] = load_template(path)
        return self._templates[key]

    def stack_template(self, stack: str) -> Template:
        try:
            return self.template(self.stack_paths[stack])
        except KeyError:
            raise RepoError(f"no stack named {stack!r} under {STACKS_DIR}/") from None

    @cached_property
    def environments(self) -> dict[str, Environment]:
        # The trusted copy: a PR cannot point an environment at another account or
        # role, add one, or loosen its cost thresholds.
        folder = self.policy.environments_dir
        envs: dict[str, Environment] = {}
        if folder.is_dir():
            for p in sorted(folder.glob("*.y*ml")):
                if p.stem == "usage" or p.stem.startswith("usage-"):
                    continue
                # The definitions live in the trusted tree: they must stay inside it.
                self.inside(p, f"{ENVIRONMENTS_DIR}/{p.name}", root=folder.parent)
                envs[p.stem] = parse_model(Environment, p, name=p.stem)
        # Promotion order (dev, tst, prd), not file-name order: every report that
        # lists environments reads top to bottom the way changes travel.
        return {name: envs[name] for name in promotion_order(envs)}

    def environment(self, name: str) -> Environment:
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(self.environments) or "none"
            raise RepoError(f"unknown environment {name!r} (known: {known})") from None

    def deployments(self, env: str) -> dict[str, Deployment]:
        folder = self.root / ENVIRONMENTS_DIR / env
        out: dict[str, Deployment] = {}
        if folder.is_dir():
            for p in sorted(folder.glob("*.y*ml")):
                rel = f"{ENVIRONMENTS_DIR}/{env}/{p.name}"
                self.inside(p, rel)
                spec = parse_model(DeploymentFile, p)
                # The template is read by cfn-lint, guard and the deploy: never outside.
                self.inside(self.root / spec.template_file_path, f"{rel}: template-file-path")
                out[p.stem] = Deployment(env, p.stem, p, spec)
        return out

    def deployment_paths(self) -> list[Path]:
        folder = self.root / ENVIRONMENTS_DIR
        paths = sorted(p for p in folder.glob("*/*.y*ml") if p.is_file()) if folder.is_dir() else []
        for p in paths:
            self.inside(p, f"{ENVIRONMENTS_DIR}/{p.parent.name}/{p.name}")
        return paths

    @cached_property
    def releases(self) -> dict[str, Release]:
        folder = self.root / HELM_DIR
        out: dict[str, Release] = {}
        if folder.is_dir():
            for spec_path in sorted(folder.glob("*/release.yaml")):
                rel = f"{HELM_DIR}/{spec_path.parent.name}"
                self.inside(spec_path.parent, rel)
                # helm reads every values file it is given: none may lead out.
                for values in sorted(spec_path.parent.glob("*.y*ml")):
                    self.inside(values, f"{rel}/{values.name}")
                spec = parse_model(ReleaseSpec, spec_path)
                out[spec_path.parent.name] = Release(spec_path.parent.name, spec_path.parent, spec)
        return out

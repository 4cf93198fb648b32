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
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}")


M = TypeVar("M", bound=BaseModel)


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
                spec = parse_model(DeploymentFile, p)
                out[p.stem] = Deployment(env, p.stem, p, spec)
        return out

    def deployment_paths(self) -> list[Path]:
        folder = self.root / ENVIRONMENTS_DIR
        return sorted(p for p in folder.glob("*/*.y*ml") if p.is_file()) if folder.is_dir() else []

    @cached_property
    def releases(self) -> dict[str, Release]:
        folder = self.root / HELM_DIR
        out: dict[str, Release] = {}
        if folder.is_dir():
            for spec_path in sorted(folder.glob("*/release.yaml")):
                spec = parse_model(ReleaseSpec, spec_path)
                out[spec_path.parent.name] = Release(spec_path.parent.name, spec_path.parent, spec)
        return out

"""Find what an existing repository already holds: CloudFormation templates wherever
they are, and Helm values files. Reading only; nothing here writes."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.repo.model import TEMPLATE_SUFFIXES
from bot.repo.templates import load_template

# Folders that never hold the repository's own templates.
SKIP_DIRS = frozenset({
    ".git", "node_modules", ".venv", "venv", ".tox", ".infra-bot", "cdk.out", ".aws-sam",
    ".terraform", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", "dist",
    "build", ".github", "environments", "guard",
})  # fmt: skip
MAX_BYTES = 1_000_000  # CloudFormation's own template limit is 1 MB (S3)
_HINT = re.compile(rb"AWSTemplateFormatVersion|Resources\s*[\"']?\s*:")
_NAME = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    default: str | None  # None: no Default in the template, a value is required
    description: str = ""


@dataclass(frozen=True)
class FoundTemplate:
    path: str  # relative to the repository, POSIX
    stack: str  # the stack name infra-bot gives it (the deployment file's name)
    parameters: tuple[Parameter, ...]

    @property
    def required(self) -> tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if p.default is None)


def is_cloudformation(body: Any) -> bool:
    """A CloudFormation template: a format version, or Resources of AWS::/Custom:: types,
    and not a Kubernetes manifest (apiVersion + kind). Pure."""
    if not isinstance(body, dict) or ("apiVersion" in body and "kind" in body):
        return False
    if "AWSTemplateFormatVersion" in body:
        return True
    resources = body.get("Resources")
    return isinstance(resources, dict) and any(
        isinstance(r, dict) and str(r.get("Type", "")).startswith(("AWS::", "Custom::"))
        for r in resources.values()
    )


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def parameters_of(body: dict[str, Any]) -> tuple[Parameter, ...]:
    params = body.get("Parameters")
    if not isinstance(params, dict):
        return ()
    out = []
    for name, raw in params.items():
        spec = raw if isinstance(raw, dict) else {}
        default = _text(spec["Default"]) if "Default" in spec else None
        description = " ".join(str(spec.get("Description", "")).split())
        out.append(Parameter(str(name), str(spec.get("Type", "String")), default, description))
    return tuple(out)


def candidate_files(root: Path) -> list[Path]:
    """Template-looking files under `root`, skipping tool and vendored folders. Sorted."""
    out: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        here = Path(folder)
        if here != root and here.relative_to(root).parts[0] == "helm-values":
            continue
        for name in sorted(files):
            path = here / name
            if path.suffix in TEMPLATE_SUFFIXES and not path.is_symlink():
                out.append(path)
    return out


def stack_name(path: str, taken: set[str]) -> str:
    """A stack name from the file name (lower-case, dashes); the folder joins it when two
    templates share a file name. Pure."""
    parts = Path(path).with_suffix("").parts
    base = _NAME.sub("-", parts[-1].lower()).strip("-") or "stack"
    name = base
    for folder in reversed(parts[:-1]):
        if name not in taken:
            break
        name = f"{_NAME.sub('-', folder.lower()).strip('-')}-{name}"
    counter = 2
    while name in taken:
        name, counter = f"{base}-{counter}", counter + 1
    return name


def find_templates(root: Path) -> list[FoundTemplate]:
    found: list[FoundTemplate] = []
    taken: set[str] = set()
    for path in candidate_files(root):
        try:
            if path.stat().st_size > MAX_BYTES or not _HINT.search(path.read_bytes()):
                continue
        except OSError:
            continue
        template = load_template(path)
        if template.body is None or not is_cloudformation(template.body):
            continue
        rel = path.relative_to(root).as_posix()
        name = stack_name(rel, taken)
        taken.add(name)
        found.append(FoundTemplate(rel, name, parameters_of(template.body)))
    return found


def find_helm_values(root: Path) -> list[str]:
    """values*.yaml files next to a Chart.yaml or under helm-values/, relative. Sorted."""
    out = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        for name in files:
            if re.fullmatch(r"values([-.][\w.-]+)?\.ya?ml", name):
                here = Path(folder)
                rel = here.relative_to(root)
                if (here / "Chart.yaml").is_file() or rel.parts[:1] == ("helm-values",):
                    out.add((rel / name).as_posix())
    return sorted(out)

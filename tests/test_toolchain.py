"""Tool discovery and the pinned-wheel install path, with a wheel built here."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.toolchain import Toolchain, ToolMissingError, WheelSource

SCRIPT = b"#!/bin/sh\necho 'cfn-guard 9.9.9-test'\n"


def fake_wheel(script: bytes = SCRIPT) -> bytes:
    """A wheel holding a .tgz holding the binary, laid out like the real one."""
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as tf:
        info = tarfile.TarInfo("package/bin/ubuntu/x86_64/cfn-guard")
        info.size = len(script)
        tf.addfile(info, io.BytesIO(script))
    whl = io.BytesIO()
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr("cdklabs/cdk_validator_cfnguard/_jsii/cdk-validator-cfnguard@0.0.62.jsii.tgz",
                    tgz.getvalue())  # fmt: skip
    return whl.getvalue()


def chain_with(tmp_path: Path, blob: bytes, pinned: str) -> tuple[Toolchain, list[str]]:
    calls: list[str] = []

    def fetch(wheel: WheelSource) -> bytes:
        calls.append(wheel.package)
        return blob

    chain = Toolchain(tmp_path / "cache", use_path=False, arch="x86_64", fetch=fetch)
    spec = chain.specs["cfn-guard"]
    assert spec.wheel is not None
    chain.specs["cfn-guard"] = replace(spec, wheel=replace(spec.wheel, sha256=pinned))
    return chain, calls


def test_install_unpacks_once_and_verifies_version(tmp_path: Path) -> None:
    blob = fake_wheel()
    chain, calls = chain_with(tmp_path, blob, hashlib.sha256(blob).hexdigest())
    tool = chain.install("cfn-guard")
    assert tool.version == "cfn-guard 9.9.9-test"
    assert tool.source == "pypi:cdklabs-cdk-validator-cfnguard==0.0.62"
    # A second toolchain finds the cached binary without fetching again.
    again, calls2 = chain_with(tmp_path, blob, hashlib.sha256(blob).hexdigest())
    assert again.install("cfn-guard").path == tool.path
    assert calls == ["cdklabs-cdk-validator-cfnguard"] and calls2 == []


def test_hash_mismatch_is_refused_and_nothing_is_unpacked(tmp_path: Path) -> None:
    chain, _ = chain_with(tmp_path, fake_wheel(), "0" * 64)
    with pytest.raises(ToolMissingError, match="sha256 mismatch"):
        chain.install("cfn-guard")
    assert not (tmp_path / "cache").exists()


def test_binary_that_fails_its_version_check_is_not_used(tmp_path: Path) -> None:
    blob = fake_wheel(b"#!/bin/sh\nexit 3\n")
    chain, _ = chain_with(tmp_path, blob, hashlib.sha256(blob).hexdigest())
    with pytest.raises(ToolMissingError, match="--version"):
        chain.install("cfn-guard")


def test_missing_tool_message_names_the_fix(tmp_path: Path) -> None:
    chain = Toolchain(tmp_path, use_path=False)
    with pytest.raises(ToolMissingError, match=r"infra-bot tools --install"):
        chain.require("helm")


def test_real_pins_match_the_installed_tools(tools: Toolchain) -> None:
    """`make test` installed the real wheels through the same code path."""
    assert tools.require("cfn-guard").version.startswith("cfn-guard 3.")
    assert "v4." in tools.require("helm").version


def test_tools_command_lists_every_tool(tools: Toolchain) -> None:
    result = CliRunner().invoke(app, ["tools"])
    for name in ("cfn-guard", "helm", "kubectl", "kubeconform"):
        assert name in result.stdout
    assert result.exit_code == 0

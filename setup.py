"""Build step only: copy this repository's guard/ into the package as bot/policy/.

guard/ stays the one source of the NIST 800-53 rules (their cfn-guard tests, the
rules-change review and the docs all point at it); the wheel carries a copy so an
installed infra-bot enforces the same rules in a repository that has no guard/.
Everything else about the package is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PACK = {"rules": "*.guard", "kubernetes": "*.guard", "tests": "*.yaml"}


class BuildWithPolicyPack(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "bot" / "policy"
        source = HERE / "guard"
        if not (source / "rules").is_dir():
            raise SystemExit(f"{source}/rules is missing: the policy pack cannot be built")
        for folder, pattern in PACK.items():
            (target / folder).mkdir(parents=True, exist_ok=True)
            for path in sorted((source / folder).glob(pattern)):
                shutil.copyfile(path, target / folder / path.name)
        shutil.copyfile(source / "README.md", target / "README.md")


setup(cmdclass={"build_py": BuildWithPolicyPack})

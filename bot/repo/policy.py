"""What decides who, where and how strictly: read from the trusted checkout only.

A pull request is data. Its templates, Helm values and deployment files are what
the checks look at; the files named here decide how the bot treats them (which
account and role an environment is, the cost thresholds and usage assumptions,
the guard rules, cfn-lint's configuration, who may run what). Charts come from
neither checkout: bot.cloud.charts pulls them into a cache outside both.
A PR is never judged by its own copy of them: `Policy` points at the checkout
the bot was installed from (the default branch, or a PR's base commit), and the
PR workspace's `Repository` carries it (bot.repo.model.Repository.trusted).

`rules_files` classifies a PR's changed paths against the same list, so the
review can say which of them the PR changes (bot.github.rules_changes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.repo import rulepack

CFNLINT_NAMES = (".cfnlintrc", ".cfnlintrc.yaml", ".cfnlintrc.yml")

# (pattern over a repository-relative path, what the file decides). Order matters:
# the first match names the file.
RULES_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), what)
    for pattern, what in (
        (r"environments/usage(-[^/]+)?\.ya?ml", "usage assumptions the cost estimate prices"),
        (r"environments/[^/]+\.ya?ml", "an environment: account, region, roles, cost limits"),
        (r"guard/rules/.+", "cfn-guard rules"),
        (r"guard/kubernetes/.+", "guard rules for rendered Kubernetes manifests"),
        (r"guard/tests/.+", "tests of the guard rules"),
        (r"\.github/infra-bot\.ya?ml", "who may run which command, where"),
        (r"\.github/infra-bot-baseline\.json", "the baseline: findings not reported as new"),
        (r"\.cfnlintrc(\.ya?ml)?", "cfn-lint's configuration"),
        (r"\.infra-bot/.+", "the chart cache"),
        # GitHub runs a pull_request workflow from the PR's merge commit: the one rules
        # file whose base copy this PR's own checks may not have used.
        (
            r"\.github/workflows/.+",
            "the workflows that run the bot; a pull_request run uses the PR's copy, "
            "so review this file before trusting this PR's checks",
        ),
        (r"(bot/.+|pyproject\.toml|requirements\.lock)", "the bot's own code"),
    )
)


@dataclass(frozen=True)
class RulesFile:
    """A changed path that is policy, and what it decides."""

    path: str
    what: str
    status: str = ""  # GitHub's file status (added, removed, modified, renamed), if known


def rules_files(paths: Iterable[str], statuses: Mapping[str, str] | None = None) -> list[RulesFile]:
    """The paths (repository-relative) that are policy, sorted. Pure."""
    out: dict[str, RulesFile] = {}
    for path in paths:
        for pattern, what in RULES_PATTERNS:
            if pattern.fullmatch(path):
                out[path] = RulesFile(path, what, (statuses or {}).get(path, ""))
                break
    return [out[p] for p in sorted(out)]


@dataclass(frozen=True)
class Policy:
    """Where the bot reads its rules: one trusted checkout (`root`)."""

    root: Path

    @property
    def environments_dir(self) -> Path:
        """environments/<env>.yaml and environments/usage*.yaml (not the deployment files)."""
        return self.root / "environments"

    @property
    def guard_rules_dir(self) -> Path:
        """This checkout's own rules (additions and overrides of the packaged pack)."""
        return self.root / "guard" / "rules"

    @property
    def kubernetes_rules_dir(self) -> Path:
        return self.root / "guard" / "kubernetes"

    def guard_rule_files(self) -> list[Path]:
        """The CloudFormation rules to enforce: the packaged NIST 800-53 pack with this
        checkout's guard/rules merged over it (bot.repo.rulepack). Never empty in an
        installed bot: a repository without guard/ is checked with the pack."""
        return rulepack.rule_files(rulepack.pack_root() / "rules", self.guard_rules_dir)

    def kubernetes_rule_files(self) -> list[Path]:
        """The same for rendered Kubernetes manifests (guard/kubernetes)."""
        return rulepack.rule_files(rulepack.pack_root() / "kubernetes", self.kubernetes_rules_dir)

    @property
    def guard_tests_dir(self) -> Path:
        return self.root / "guard" / "tests"

    @property
    def bot_config(self) -> Path:
        return self.root / ".github" / "infra-bot.yml"

    @property
    def baseline(self) -> Path:
        """The committed baseline (bot.baseline); may not exist."""
        return self.root / ".github" / "infra-bot-baseline.json"

    @property
    def cfnlint_config(self) -> Path:
        """The trusted cfn-lint configuration. The path may not exist: cfn-lint is then
        run with an empty one, never with whatever `.cfnlintrc` the working directory
        (a PR head, in the old workflow layout) holds."""
        for name in CFNLINT_NAMES:
            if (self.root / name).is_file():
                return self.root / name
        return self.root / CFNLINT_NAMES[0]

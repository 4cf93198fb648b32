"""Bounds: what a pull request can make the bot parse, read or review.

Deep nesting and alias bombs are refused before a parser sees them; every path
read from a file stays inside the checkout; the files a review is about come
from git and agree with GitHub's (capped) list. Each case runs through
`infra-bot validate` in a fresh process or `run_handle` against the fake GitHub,
and ends in a clear finding or error: no traceback, no crash.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.commands.handle import run_handle
from bot.settings import Settings
from tests.fakegithub import FakeGitHub

ROOT = Path(__file__).resolve().parents[2]
GOOD_TEMPLATE = (
    'AWSTemplateFormatVersion: "2010-09-09"\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n'
)
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)


def repo_with(root: Path, files: dict[str, str]) -> Path:
    for env in ("dev",):
        (root / "environments" / env).mkdir(parents=True, exist_ok=True)
        text = (ROOT / "environments" / f"{env}.yaml").read_text()
        (root / "environments" / f"{env}.yaml").write_text(text)
    (root / "stacks").mkdir(parents=True, exist_ok=True)
    (root / "stacks" / "topic.yaml").write_text(GOOD_TEMPLATE)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def validate(root: Path) -> subprocess.CompletedProcess[str]:
    """`infra-bot validate` in a fresh process, as a developer or CI runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "validate", "--root", str(root), "--format", "json"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode in (0, 1, 2), f"crashed with {proc.returncode}: {proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr and "RecursionError" not in proc.stdout + proc.stderr
    return proc


def flat(text: str) -> str:
    """The text with the console's line wrapping undone."""
    return " ".join(text.split())


def messages(proc: subprocess.CompletedProcess[str]) -> str:
    if proc.returncode == 2:  # the repository's own files are refused: one clear error
        return flat(proc.stderr)
    return "\n".join(f["message"] for f in json.loads(proc.stdout)["findings"])


DEEP = 100_000


@pytest.mark.parametrize(
    ("name", "rel", "text"),
    [
        ("flow sequences", "stacks/deep.yaml", "[" * DEEP),
        ("flow mappings", "stacks/deep.yaml", "{a: " * DEEP),
        ("block sequences", "stacks/deep.yaml", "Resources:\n  " + "- " * DEEP + "x\n"),
        ("block mappings", "stacks/deep.yaml",
         "".join(" " * i + "a:\n" for i in range(1_000)) + " " * 1_000 + "b: 1\n"),
        ("comment hiding a block scalar", "stacks/deep.yaml", "a: # |\n  " + "- " * DEEP + "x\n"),
        ("JSON", "stacks/deep.json", '{"a": ' * DEEP + "1" + "}" * DEEP),
        ("a deployment file", "environments/dev/deep.yaml", "[" * DEEP),
        ("a quote inside a plain scalar", "stacks/deep.yaml", "a: x 'y\nb: " + "[" * DEEP),
        ("JSON the YAML parser rejects", "stacks/deep.json", '\t{"a": ' * DEEP + "1"),
    ],
)  # fmt: skip
def test_deep_nesting_is_refused_before_parsing(
    tmp_path: Path, name: str, rel: str, text: str
) -> None:
    proc = validate(repo_with(tmp_path, {rel: text}))
    assert "nests more than 100 levels deep" in messages(proc), name


def test_an_alias_bomb_is_refused(tmp_path: Path) -> None:
    proc = validate(repo_with(tmp_path, {"stacks/bomb.yaml": "Resources:\n  " + BOMB}))
    assert "alias" in messages(proc)


def test_ordinary_nesting_still_parses(tmp_path: Path) -> None:
    nested = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Metadata:\n" + "".join(
        " " * (6 + 2 * i) + f"k{i}:\n" for i in range(40)
    ) + " " * 86 + "v: [[1, 2], {a: [3]}]\n"  # fmt: skip
    proc = validate(
        repo_with(
            tmp_path, {"stacks/nested.yaml": 'AWSTemplateFormatVersion: "2010-09-09"\n' + nested}
        )
    )
    assert "nests more than" not in messages(proc)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the checkout that must never be read: the runner's secrets, say."""
    secret = tmp_path / "outside" / "secret.yaml"
    secret.parent.mkdir()
    secret.write_text("replicaCount: s3cr3t-from-the-runner\nResources: {}\n")
    return secret


@pytest.mark.parametrize(
    ("name", "path", "expected"),
    [
        ("dot-dot", "../outside/secret.yaml", "must not contain '..'"),
        ("absolute", "{outside}", "must be a repository-relative path"),
        ("home", "~/secret.yaml", "must be a repository-relative path"),
        ("symlink out", "stacks/link.yaml", "points outside the checkout through a symlink"),
    ],
)
def test_template_file_path_stays_in_the_checkout(
    tmp_path: Path, outside: Path, name: str, path: str, expected: str
) -> None:
    root = repo_with(tmp_path / "repo", {
        "environments/dev/evil.yaml":
            f"template-file-path: {path.format(outside=outside)}\nparameters: {{}}\n",
    })  # fmt: skip
    (root / "stacks" / "link.yaml").symlink_to(outside)
    proc = validate(root)
    text = flat(proc.stdout + proc.stderr)
    assert expected in text, name
    assert "environments/dev/evil.yaml" in text and "s3cr3t" not in text


@pytest.mark.parametrize(
    "link",
    ["helm-values/web/values-dev.yaml", "helm-values/web/release.yaml", "environments/dev/x.yaml"],
)
def test_a_symlink_out_of_the_checkout_is_refused(tmp_path: Path, outside: Path, link: str) -> None:
    root = repo_with(tmp_path / "repo", {
        "helm-values/web/release.yaml": "chart: web-app\nrepository: file://charts/web-app\n"
                                        "version: 0.3.1\nnamespace: web\n",
        "helm-values/web/values.yaml": "{}\n",
    })  # fmt: skip
    (root / link).unlink(missing_ok=True)
    (root / link).symlink_to(outside)
    proc = validate(root)
    assert f"{link} points outside the checkout through a symlink" in messages(proc)
    assert "s3cr3t" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("field", "value"), [("chart", "../../../../tmp/evil"), ("version", "1.0/../../x")]
)
def test_chart_names_cannot_walk_out_of_the_chart_cache(
    tmp_path: Path, field: str, value: str
) -> None:
    spec = {"chart": "web-app", "repository": "https://charts.example", "version": "0.3.1",
            "namespace": "web", field: value}  # fmt: skip
    root = repo_with(tmp_path, {"helm-values/web/release.yaml": json.dumps(spec)})
    proc = validate(root)
    assert (
        proc.returncode == 2
        and f"{field}:" in proc.stderr
        and "is not a chart" in flat(proc.stderr)
    )


# ---------------------------------------------------------- through run_handle


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def gh() -> Any:
    with FakeGitHub() as fake:
        fake.add_user("alice", permission="write")
        fake.commit_files({"stacks/topic.yaml": GOOD_TEMPLATE})
        yield fake


def handle_pr(gh: FakeGitHub, tmp_path: Path, number: int, workspace: Path) -> None:
    event = tmp_path / f"event-{number}.json"
    event.write_text(json.dumps(gh.pull_request_event(number)))
    run_handle(Settings.from_env(gh.environ("pull_request", str(event))), workspace=workspace)


def test_a_change_github_does_not_list_fails_the_review(gh: FakeGitHub, tmp_path: Path) -> None:
    ws = repo_with(tmp_path / "ws", {})
    git(ws, "init", "-qb", "main")
    main = commit(ws, "main")
    git(ws, "update-ref", "refs/remotes/origin/main", main)
    # The checkout has two changed templates; GitHub's list (capped, or stale) has one.
    (ws / "stacks" / "topic.yaml").write_text(
        GOOD_TEMPLATE + "  Other:\n    Type: AWS::SNS::Topic\n"
    )
    (ws / "stacks" / "hidden.yaml").write_text("Resources:\n  X:\n    Type: AWS::Nope::Nope\n")
    commit(ws, "head")
    pr = gh.add_pull_request({"stacks/topic.yaml": (ws / "stacks/topic.yaml").read_text()})

    handle_pr(gh, tmp_path, pr["number"], ws)

    (review,) = gh.reviews_on(pr["number"])
    assert "GitHub's file list differ" in review["body"]
    assert "only in git: stacks/hidden.yaml" in review["body"]
    (status,) = gh.statuses[pr["head"]["sha"]]
    assert status["state"] == "failure"


def test_a_pull_request_at_githubs_file_cap_fails_loudly(gh: FakeGitHub, tmp_path: Path) -> None:
    files = {f"docs/n{i:04}.md": "x\n" for i in range(3_000)}
    pr = gh.add_pull_request(files)
    ws = repo_with(tmp_path / "ws", {})

    handle_pr(gh, tmp_path, pr["number"], ws)

    (review,) = gh.reviews_on(pr["number"])
    assert "GitHub lists at most 3,000" in review["body"]
    assert gh.statuses[pr["head"]["sha"]][-1]["state"] == "failure"


@pytest.mark.parametrize("first", ["/infra help\n", "/infra "])
def test_a_five_megabyte_comment_gets_a_bounded_answer(
    gh: FakeGitHub, tmp_path: Path, first: str
) -> None:
    issue = gh.add_issue(author="alice")
    comment = gh.add_comment(issue["number"], first + "A" * 5_000_000, author="alice")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(gh.comment_event(comment)))

    outcome = run_handle(Settings.from_env(gh.environ("issue_comment", str(event))))

    assert outcome.exit_code in (0, 1)
    (reply,) = [c for c in gh.comments_on(issue["number"]) if c["id"] != comment["id"]]
    assert len(reply["body"]) < 10_000


def test_a_deep_file_the_model_edits_is_refused_not_recursed_into() -> None:
    from bot.llm.yamledit import YamlEditError, apply_ops

    with pytest.raises(YamlEditError, match="nests more than 100 levels"):
        apply_ops("a: " + "[" * DEEP, [])

"""GitHub API requests per handled event: a fixed budget, not one per finding.

Run with `-s` to print the table that docs/benchmarks.md quotes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.fakegithub import FakeGitHub
from tests.test_handle_events import (
    BASE_TEMPLATE,
    CLEAN_CONFIG,
    HEAD_TEMPLATE,
    handle,
    make_workspace,
)

# scenario -> most requests it may use
BUDGET = {
    "pull_request opened (validate, 11 findings)": 6,
    "pull_request synchronize (new review, old one outdated)": 7,
    "pull_request synchronize (unchanged re-run)": 5,
    "issue_comment /infra validate": 10,
    "issue_comment /infra help": 3,
    "issue_comment /infra plan dev by a read user (denied)": 5,
    "issue_comment /infra approve-cost dev": 8,
    "issue_comment by a bot / edited / not a command": 0,
    "push to a feature branch": 0,
    "unknown event": 0,
}


@pytest.fixture
def gh() -> Any:
    with FakeGitHub() as fake:
        fake.add_user("alice", permission="write")
        fake.add_user("rita", permission="read")
        fake.commit_files(
            {"stacks/logs.yaml": BASE_TEMPLATE, ".github/infra-bot.yml": CLEAN_CONFIG}
        )
        yield fake


def test_request_budget_per_event(gh, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    measured: dict[str, tuple[int, Counter[str]]] = {}

    def run(label: str, name: str, payload: dict[str, Any], **kw: Any) -> None:
        start = len(gh.requests)
        handle(gh, tmp_path, name, payload, ws, **kw)
        measured[label] = (len(gh.requests) - start, Counter(gh.request_summary()[start:]))

    pr = gh.add_pull_request({"stacks/logs.yaml": HEAD_TEMPLATE})
    n = pr["number"]
    run("pull_request opened (validate, 11 findings)", "pull_request", gh.pull_request_event(n))
    gh.push_to_pull_request(n, {"stacks/logs.yaml": HEAD_TEMPLATE + "# more\n"})
    (ws / "stacks/logs.yaml").write_text(HEAD_TEMPLATE + "# more\n")
    sync = gh.pull_request_event(n, "synchronize")
    run("pull_request synchronize (new review, old one outdated)", "pull_request", sync)
    run("pull_request synchronize (unchanged re-run)", "pull_request", sync)
    gh.push_to_pull_request(n, {"stacks/logs.yaml": HEAD_TEMPLATE + "# again\n"})
    (ws / "stacks/logs.yaml").write_text(HEAD_TEMPLATE + "# again\n")
    run("issue_comment /infra validate", "issue_comment",
        gh.comment_event(gh.add_comment(n, "/infra validate")))  # fmt: skip
    run("issue_comment /infra help", "issue_comment",
        gh.comment_event(gh.add_comment(n, "/infra help")))  # fmt: skip
    run("issue_comment /infra plan dev by a read user (denied)", "issue_comment",
        gh.comment_event(gh.add_comment(n, "/infra plan dev", author="rita")))  # fmt: skip
    run("issue_comment /infra approve-cost dev", "issue_comment",
        gh.comment_event(gh.add_comment(n, "/infra approve-cost dev")))  # fmt: skip
    gh.add_user("renovate[bot]", bot=True)
    quiet = [
        gh.comment_event(gh.add_comment(n, "/infra apply dev", author="renovate[bot]")),
        gh.comment_event(gh.add_comment(n, "/infra apply dev"), action="edited"),
        gh.comment_event(gh.add_comment(n, "thanks!")),
    ]
    start = len(gh.requests)
    for payload in quiet:
        handle(gh, tmp_path, "issue_comment", payload, ws)
    measured["issue_comment by a bot / edited / not a command"] = (len(gh.requests) - start,
                                                                   Counter())  # fmt: skip
    gh.commit_files({"x": "1"}, branch="feature")
    run("push to a feature branch", "push", gh.push_event(branch="feature"))
    run("unknown event", "watch", {"action": "started"})

    print("\n| event | GitHub API requests | of which |\n|---|---:|---|")
    for label, (count, kinds) in measured.items():
        detail = ", ".join(f"{k} x{v}" if v > 1 else k for k, v in sorted(kinds.items()))
        print(f"| {label} | {count} | {detail} |")
    for label, limit in BUDGET.items():
        assert measured[label][0] <= limit, (label, measured[label])
    assert measured["pull_request opened (validate, 11 findings)"][0] >= 4, "it did the work"

"""`infra-bot demo` end to end, as a user runs it: a subprocess, moto, LocalGitHub.

One run serves every test here: the conversation it leaves (JSON), the stacks it
read back from moto at each checkpoint, and its HTML transcript, which headless
Chromium loads and photographs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The flags Debian's chromium needs here: root, no GPU, and no calls home (the network
# is closed; without these it retries Google's hosts at every start).
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
]  # fmt: skip
WIDTH, HEIGHT = 1280, 3200


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GITHUB_"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--offline", "--quiet",
         "--html", str(out / "demo.html"), "--json", str(out / "demo.json")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc: dict[str, Any] = json.loads((out / "demo.json").read_text())
    doc["_html"] = out / "demo.html"
    doc["_stdout"] = proc.stdout
    return doc


def _thread(doc: dict[str, Any], pull_request: bool) -> dict[str, Any]:
    (thread,) = [t for t in doc["threads"] if t["pull_request"] is pull_request]
    return thread


def test_every_step_ran_and_printed_a_progress_line(demo):
    assert demo["ok"] and demo["error"] is None
    assert len(demo["steps"]) == 9 and all(s["ok"] for s in demo["steps"])
    for index, step in enumerate(demo["steps"], 1):
        assert f"[{index}/9]" in demo["_stdout"]
        assert step["title"].split()[0] in demo["_stdout"]
    assert "demo finished: 9 steps" in demo["_stdout"]


def test_the_issue_gets_one_reply_linking_the_generated_pr(demo):
    issue, pr = _thread(demo, False), _thread(demo, True)
    assert [c["body"] for c in issue["comments"] if not c["bot"]] == [
        "/infra add an encrypted S3 bucket for ALB access logs"
    ]
    (reply,) = [c for c in issue["comments"] if c["bot"]]
    assert f"/pull/{pr['number']}" in reply["body"]
    assert f"Closes #{issue['number']}" in pr["body"]
    assert pr["author"] == "infra-bot[bot]" and pr["merged"]


def test_pr_conversation_has_each_comment_once_after_reruns(demo):
    pr = _thread(demo, True)
    # plan was posted by the workflow and re-run by `/infra plan dev`: still one comment.
    assert pr["stickies"] == {
        "plan": 1, "cost": 1, "deploy-dev": 1, "deploy-tst": 1, "deploy-plan-prd": 1,
        "deploy-prd": 1, "status": 1,
    }  # fmt: skip
    plan = next(c["body"] for c in pr["comments"] if "infra-bot:plan " in c["body"])
    assert "for `bob`" in plan, "the re-run did not edit the plan comment"
    assert "platform-dev-alb-access-logs-bucket" in plan and "AWS::S3::Bucket" in plan
    cost = next(c["body"] for c in pr["comments"] if "infra-bot:cost " in c["body"])
    assert re.search(r"Monthly estimate for DEV increases by \$\d+\.\d\d", cost)
    (review,) = pr["reviews"]
    assert "found nothing on this commit" in review["body"]
    humans = [c["body"] for c in pr["comments"] if not c["bot"]]
    assert humans == ["/infra plan dev", "/infra status"]


def test_stacks_reach_tst_and_prd_only_after_approval(demo):
    snaps = demo["snapshots"]
    dev = snaps["dev-after-merge"]
    assert "platform-dev-alb-access-logs-bucket" in dev and len(dev) == 5
    assert snaps["tst-after-promotion"] == [s.replace("-dev-", "-tst-") for s in dev]
    assert snaps["prd-before-approval"] == []
    assert snaps["prd-after-approval"] == [s.replace("-dev-", "-prd-") for s in dev]
    prd = [d for d in demo["deployments"] if d["environment"] == "prd"]
    # The plan job's record (what the approver reviews), then the approval of the job.
    assert prd[0]["state"] == "queued"
    assert prd[1]["state"] == "approved" and prd[1]["approved_by"] == "carol"


def test_status_shows_each_stack_at_the_commit_that_last_changed_it(demo):
    # The one-bucket PR deploys only the bucket stack: it is at the PR's commit, the
    # foundation stacks stay at the commit that created them, alike in every environment.
    pr = _thread(demo, True)
    status = next(c["body"] for c in pr["comments"] if "infra-bot:status " in c["body"])
    rows = re.findall(r"`platform-(dev|tst|prd)-([a-z-]+)` \| [A-Z_]+_COMPLETE \| `([0-9a-f]{12})`",
                      status)  # fmt: skip
    by_env: dict[str, dict[str, str]] = {}
    for env, stack, commit in rows:
        by_env.setdefault(env, {})[stack] = commit
    assert by_env["dev"] == by_env["tst"] == by_env["prd"], status
    dev = by_env["dev"]
    foundation = {c for s, c in dev.items() if s != "alb-access-logs-bucket"}
    assert len(foundation) == 1 and dev["alb-access-logs-bucket"] not in foundation, status
    for env in ("dev", "tst", "prd"):
        assert f"platform-{env}-alb-access-logs-bucket" in status


# ------------------------------------------------------------------ Chromium
def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines()
            if "CONSOLE" in line or "Uncaught" in line or "Refused to" in line]  # fmt: skip


def _decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGBA rows of a non-interlaced 8-bit RGB(A) PNG (Chromium's)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 4
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and color in (2, 6)
            channels = 4 if color == 6 else 3
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, stride, rows = zlib.decompress(idat), width * channels, []
    prev = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line) if channels == 3 else bytes(
            v for j in range(0, stride, 4) for v in line[j : j + 3]))  # fmt: skip
        prev = line
    return width, height, rows


def _colors_in(rows: list[bytes], box: dict[str, float]) -> set[tuple[int, int, int]]:
    top, left = int(box["top"]), int(box["left"])
    bottom, right = int(box["top"] + box["height"]), int(box["left"] + box["width"])
    out = set()
    for y in range(max(top, 0), min(bottom, len(rows)), 2):
        row = rows[y]
        for x in range(max(left, 0), min(right, len(row) // 3), 2):
            out.add((row[3 * x], row[3 * x + 1], row[3 * x + 2]))
    return out


PROBE = """<script>
window.addEventListener('load', () => {
  const box = (el) => { if (!el) return null; const r = el.getBoundingClientRect();
    return {top: r.top, left: r.left, width: r.width, height: r.height, text: el.innerText}; };
  const pr = document.querySelector('section[id^="pull-request-"]');
  const tables = [...document.querySelectorAll('table')];
  const cost = tables.find(t => t.innerText.includes('Before') && t.innerText.includes('Delta'));
  const out = {title: box(pr && pr.querySelector('h1')), review: box(document.querySelector('.review')),
               cost: box(cost)};
  const pre = document.createElement('pre'); pre.id = 'probe';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")
def test_transcript_loads_in_chromium_and_shows_pr_review_and_cost(demo, tmp_path):
    page = demo["_html"]
    # The page as written: it must load with no console error and no CSP violation.
    loaded = _chromium("--dump-dom", page.as_uri(), tmp=tmp_path)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert "<table>" in loaded.stdout and "infra-bot validate" in loaded.stdout
    assert _console_errors(loaded.stderr) == []
    # Where the PR title, the review and the cost table are laid out (a copy with a
    # probe script and without the CSP, which would rightly block it).
    html = page.read_text(encoding="utf-8")
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(re.sub(r"<meta http-equiv=\"Content-Security-Policy\"[^>]*>", "", html)
                          .replace("</body>", PROBE + "</body>"), encoding="utf-8")  # fmt: skip
    probed = _chromium(f"--window-size={WIDTH},{HEIGHT}", "--dump-dom", probe_page.as_uri(),
                       tmp=tmp_path)  # fmt: skip
    boxes = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', probed.stdout, re.S)[1]  # type: ignore[index]
                       .replace("&quot;", '"').replace("&amp;", "&"))  # fmt: skip
    pr = _thread(demo, True)
    assert boxes["title"]["text"] == f"{pr['title']} #{pr['number']}"
    assert "found nothing on this commit" in boxes["review"]["text"]
    assert "alb-access-logs-bucket" in boxes["cost"]["text"] and "$" in boxes["cost"]["text"]
    for name in ("title", "review", "cost"):
        box = boxes[name]
        assert box["height"] > 10 and box["top"] + box["height"] < HEIGHT, (name, box)
    # The screenshot: each of the three regions holds rendered pixels, not blank page.
    shot = tmp_path / "shot.png"
    taken = _chromium(f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shot}", page.as_uri(),
                      tmp=tmp_path)  # fmt: skip
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    width, height, rows = _decode_png(shot.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    for name in ("title", "review", "cost"):
        colors = _colors_in(rows, boxes[name])
        dark = [c for c in colors if sum(c) < 200]
        assert len(colors) > 5 and dark, f"{name} region is blank in the screenshot"
    border = (0xD0, 0xD7, 0xDE)  # the tables' cell borders
    assert border in _colors_in(rows, boxes["cost"])
    review_edge = dict(boxes["review"], width=6)
    assert (0x09, 0x69, 0xDA) in _colors_in(rows, review_edge)  # the review's blue edge

"""The demo's conversation as one static HTML page that reads like GitHub.

Bot comments may carry the small HTML subset GitHub renders (`<details>`,
`<summary>`, `<code>`); everything people wrote is rendered with raw HTML
switched off, as GitHub's sanitizer would leave it harmless.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from markdown_it import MarkdownIt

from bot.demo.localgithub import LocalGitHub, Thread, deployment_lines

_BOT_MD = MarkdownIt("commonmark", {"html": True}).enable("table")
_USER_MD = MarkdownIt("commonmark", {"html": False}).enable("table")

# Nothing on the page may load or run anything: it shows text people typed.
CSP = (
    '<meta http-equiv="Content-Security-Policy" '
    "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
)
CSS = """
body{font:14px/1.5 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;background:#f6f8fa;
 color:#1f2328;margin:0}
header{background:#24292f;color:#fff;padding:12px 24px;font-weight:600}
main{max-width:980px;margin:24px auto;padding:0 16px}
.thread{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:0 0 32px;
 padding:16px 20px}
.thread h1{font-size:24px;font-weight:400;margin:0 0 4px}
.thread h1 .num{color:#59636e}
.state{display:inline-block;border-radius:2em;padding:2px 10px;color:#fff;font-size:12px;
 font-weight:600;margin-right:6px}
.open{background:#1f883d}.merged{background:#8250df}.closed{background:#cf222e}
.draft{background:#59636e}
.event{border:1px solid #d0d7de;border-radius:6px;margin:16px 0;background:#fff}
.event .who{background:#f6f8fa;border-bottom:1px solid #d0d7de;padding:6px 12px;
 border-radius:6px 6px 0 0;color:#59636e}
.event .who b{color:#1f2328}.bot{color:#0969da}
.event .body{padding:8px 16px}
.review{border-left:4px solid #0969da}
.inline{margin:8px 16px;border:1px solid #d0d7de;border-radius:6px}
.inline .path{font-family:monospace;background:#f6f8fa;padding:4px 8px;font-size:12px}
.inline .body{padding:6px 10px}
.status{font-family:monospace;font-size:13px;margin:2px 0}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #d0d7de;padding:4px 10px}
th{background:#f6f8fa}pre{background:#f6f8fa;padding:8px;overflow:auto;border-radius:6px}
code{font-family:ui-monospace,monospace;font-size:90%}
details{margin:6px 0}summary{cursor:pointer}
.deploy{font-size:13px;color:#59636e;margin:4px 0}
blockquote{margin:8px 0;padding:0 12px;color:#59636e;border-left:4px solid #d0d7de}
.alert{color:#1f2328}.alert-title{display:inline-block;margin-bottom:4px}
.alert.caution{border-color:#cf222e}.alert.caution .alert-title{color:#cf222e}
.alert.warning{border-color:#9a6700}.alert.warning .alert-title{color:#9a6700}
.alert.note{border-color:#0969da}.alert.note .alert-title{color:#0969da}
"""


@dataclass(frozen=True)
class Step:
    """One line of the demo's progress, shown at the top of the page."""

    title: str
    ok: bool
    seconds: float


# The shortcodes the bot writes, as GitHub shows them; reactions use the same names.
EMOJI = {
    "white_check_mark": "\u2705", "warning": "\u26a0\ufe0f", "x": "\u274c",
    "moneybag": "\U0001f4b0", "information_source": "\u2139\ufe0f", "eyes": "\U0001f440",
    "rocket": "\U0001f680", "confused": "\U0001f615", "+1": "\U0001f44d",
}  # fmt: skip
_SHORTCODE = re.compile(r":([a-z_+1]+):")


def emoji(text: str) -> str:
    return _SHORTCODE.sub(lambda m: EMOJI.get(m[1], m[0]), text)


# Code spans first, so a shortcode inside one stays as typed.
_CODE_OR_SHORTCODE = re.compile(r"(<code>.*?</code>)|" + _SHORTCODE.pattern, re.S)


# GitHub's alert blockquotes ("> [!CAUTION]") as GitHub draws them: a coloured edge
# and a title instead of the literal marker.
_ALERT = re.compile(r"<blockquote>\s*<p>\[!(NOTE|TIP|IMPORTANT|WARNING|CAUTION)\]\s*")


def _render(body: str, *, from_bot: bool) -> str:
    # Shortcodes become characters after rendering: inside code they stay as typed.
    rendered = str((_BOT_MD if from_bot else _USER_MD).render(body))
    rendered = _CODE_OR_SHORTCODE.sub(lambda m: m[1] or EMOJI.get(m[2], m[0]), rendered)
    if not from_bot:
        return rendered
    return _ALERT.sub(
        lambda m: f'<blockquote class="alert {m[1].lower()}"><p>'
        f'<b class="alert-title">{m[1].title()}</b><br>',
        rendered,
    )


def _inline_code(text: str) -> str:
    """Escaped text with `backticks` as code, as the step titles write commands."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _who(name: str, is_bot: bool, what: str) -> str:
    cls = ' class="bot"' if is_bot else ""
    return f'<div class="who"><b{cls}>{html.escape(name)}</b> {html.escape(what)}</div>'


def _thread(gh: LocalGitHub, thread: Thread) -> str:
    parts = []
    pull = thread.pull
    if pull is None:
        state = f'<span class="state {thread.state}">{thread.state.capitalize()}</span>'
        kind = "issue"
    else:
        label = "Merged" if pull.merged else ("Draft" if pull.draft else "Open")
        state = f'<span class="state {label.lower()}">{label}</span>'
        kind = "pull request"
    parts.append(
        f'<section class="thread" id="{kind.replace(" ", "-")}-{thread.number}">'
        f'<h1>{html.escape(thread.title)} <span class="num">#{thread.number}</span></h1>'
        f"<div>{state}{html.escape(thread.author)} opened this {kind}</div>"
    )
    author_is_bot = thread.author.endswith("[bot]")
    parts.append(
        f'<div class="event">{_who(thread.author, author_is_bot, "wrote")}'
        f'<div class="body">{_render(thread.body, from_bot=author_is_bot)}</div></div>'
    )
    # Comments and reviews share one id sequence in LocalGitHub: by id is by time.
    events: list[tuple[int, str]] = []
    for cid in thread.comments:
        c = gh.comments[cid]
        reactions = " ".join(emoji(f":{r}:") for r in gh.reactions.get(cid, []))
        what = "commented" + (f" · reactions {reactions}" if reactions else "")
        events.append((cid,
            f'<div class="event" id="comment-{cid}">{_who(c.author, c.author_is_bot, what)}'
            f'<div class="body">{_render(c.body, from_bot=c.author_is_bot)}</div></div>'
        ))  # fmt: skip
    for review in gh.reviews.get(thread.number, []):
        inline = [rc for rc in gh.review_comments.get(thread.number, [])
                  if rc.review_id == review.id]  # fmt: skip
        notes = "".join(
            f'<div class="inline"><div class="path">{html.escape(rc.path)}:{rc.line}</div>'
            f'<div class="body">{_render(rc.body, from_bot=True)}</div></div>'
            for rc in inline
        )
        what = f"reviewed commit {review.commit_sha[:7]}"
        events.append((review.id,
            f'<div class="event review">{_who(review.author, True, what)}'
            f'<div class="body">{_render(review.body, from_bot=True)}</div>{notes}</div>'
        ))  # fmt: skip
    parts += [text for _, text in sorted(events)]
    if pull is not None:
        for status in gh.statuses.get(pull.head_sha, {}).values():
            parts.append(
                f'<div class="status">{html.escape(status.state)} · '
                f"{html.escape(status.context)} · {html.escape(status.description)}</div>"
            )
    parts.append("</section>")
    return "".join(parts)


def render_html(gh: LocalGitHub, steps: list[Step], title: str = "infra-bot demo") -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    progress = "".join(
        f'<li>{"&#10003;" if s.ok else "&#10007;"} {_inline_code(s.title)} '
        f"({s.seconds:.1f} s)</li>"
        for s in steps
    )
    deployments = "".join(
        f'<div class="deploy">deployment to <b>{html.escape(env)}</b> at {sha}: '
        f"{html.escape(state)}" + (f" ({n} stacks)" if n > 1 else "") + "</div>"
        for env, sha, state, n in deployment_lines(gh.deployments)
    )
    # The pull requests first, as their own page on GitHub would show them; the
    # issues they came from after.
    ordered = sorted(gh.threads.values(), key=lambda t: (t.pull is None, t.number))
    threads = "".join(_thread(gh, t) for t in ordered)
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8>{CSP}"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header>{html.escape(gh.repository)} · {html.escape(title)} · {when}</header><main>"
        f'<section class="thread"><h1>Steps</h1><ol>{progress}</ol>{deployments}</section>'
        f"{threads}</main></body></html>"
    )

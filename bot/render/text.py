"""Text hygiene for anything the bot writes back to GitHub."""

from __future__ import annotations

import re

_MENTION = re.compile(r"@(?=[A-Za-z0-9-])")
_ISSUE_REF = re.compile(r"(?<![\w&])#(?=\d)")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip_controls(text: str) -> str:
    """Drop ANSI escapes and control characters (keeps tab and newlines)."""
    return _CONTROL.sub("", _ANSI.sub("", text))


def escape_md(text: str) -> str:
    """HTML-escape text that goes into Markdown, so tags in it render as text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quote_untrusted(text: str) -> str:
    """Defuse @mentions and #refs so echoing user text pings nobody and links nothing."""
    text = strip_controls(text)
    text = _MENTION.sub("@\u200b", text)
    return _ISSUE_REF.sub("#\u200b", text)


def blockquote(text: str, limit: int = 2000) -> str:
    """User text shown back as a Markdown quote, cut to `limit` characters."""
    text = quote_untrusted(escape_md(text))
    if len(text) > limit:
        text = text[:limit] + " …"
    return "\n".join(f"> {line}" for line in text.splitlines() or [""])

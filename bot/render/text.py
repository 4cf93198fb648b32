"""Text hygiene for anything the bot writes back to GitHub."""

from __future__ import annotations

import re

_MENTION = re.compile(r"@(?=[A-Za-z0-9-])")
_ISSUE_REF = re.compile(r"(?<![\w&])#(?=\d)")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Bidi embeddings, overrides, isolates and marks: they make text read differently
# from what it is (Trojan Source, CVE-2021-42574) in a comment, a PR title or a log.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def strip_controls(text: str) -> str:
    """Drop ANSI escapes, control characters (keeps tab and newlines) and bidi controls."""
    return _BIDI.sub("", _CONTROL.sub("", _ANSI.sub("", text)))


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

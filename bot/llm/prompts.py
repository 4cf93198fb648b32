"""Rendering the jinja2 prompt files; every variable must be given (StrictUndefined)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

PROMPTS_DIR = Path(__file__).parent / "prompts"


def fence(text: Any, tag: str) -> str:
    """Data inside <tag>...</tag> cannot close the tag early (a classic injection)."""
    return re.sub(rf"</\s*{re.escape(tag)}", f"<\\\\/{tag}", str(text), flags=re.IGNORECASE)


@cache
def _env() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(PROMPTS_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - prompts are plain text, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fence"] = fence
    return env


def render(name: str, **values: Any) -> str:
    return str(_env().get_template(name).render(**values))

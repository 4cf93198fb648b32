"""The default policy pack, and a repository's own guard rules merged over it.

The pack is the NIST 800-53 rule set this project keeps in its own `guard/`
(rules/, kubernetes/, tests/). `pip install` puts a copy inside the package
(`bot/policy/`, written by setup.py at build time), so an adopting repository
gets every rule without copying a file. A repository's own `guard/rules/*.guard`
(and `guard/kubernetes/*.guard`) then add rules, or replace a pack rule of the
same name: `rule SC28_S3_ENCRYPTED ...` in the repository's file wins over the
pack's, which is cut out of the pack file before cfn-guard sees it.

cfn-guard evaluates each rules file on its own, so a replacement lives in the
repository's file with whatever `let` variables it needs; a pack rule that named
the replaced rule as a condition would lose it (none of the pack's rules do).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

RULE_START = re.compile(r"^rule\s+([A-Za-z_]\w*)", re.MULTILINE)


class RulePackError(ValueError):
    """A rules file whose rule blocks cannot be told apart (unbalanced braces)."""


def pack_root() -> Path:
    """Where the installed pack lives: bot/policy in a built package, else guard/ of the
    source checkout the package runs from (an editable install, PYTHONPATH)."""
    package = Path(__file__).resolve().parents[1]
    built = package / "policy"
    return built if (built / "rules").is_dir() else package.parent / "guard"


def _block_end(text: str, start: int) -> int:
    """The index just past the `}` closing the rule block that starts at `start`."""
    depth = 0
    quote = ""
    i = start
    opened = False
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch == "#":
            newline = text.find("\n", i)
            i = len(text) if newline < 0 else newline
            continue
        elif ch in "\"'":
            quote = ch
        elif ch == "{":
            depth += 1
            opened = True
        elif ch == "}":
            depth -= 1
            if opened and depth == 0:
                return i + 1
        i += 1
    raise RulePackError(f"rule block at offset {start} has no closing brace")


def rule_blocks(text: str) -> dict[str, tuple[int, int]]:
    """{rule name: (start, end)} of each top-level rule block. Pure."""
    out: dict[str, tuple[int, int]] = {}
    for match in RULE_START.finditer(text):
        out[match.group(1)] = (match.start(), _block_end(text, match.end()))
    return out


def without_rules(text: str, names: set[str]) -> str:
    """`text` with the named top-level rules cut out. Pure."""
    spans = sorted(span for name, span in rule_blocks(text).items() if name in names)
    kept, last = [], 0
    for start, end in spans:
        kept.append(text[last:start])
        kept.append("# rule replaced by the repository's own guard rules\n")
        last = end
    kept.append(text[last:])
    return "".join(kept)


def merge(pack: Mapping[str, str], own: Mapping[str, str]) -> dict[str, str]:
    """{file name: text} cfn-guard runs: the pack minus what `own` replaces, plus `own`.

    A pack file the repository holds byte for byte (this project's own guard/ is
    the pack) is the repository's; a pack file left without rules is dropped. Pure.
    """
    replaced = {name for text in own.values() for name in rule_blocks(text)}
    own_texts = set(own.values())
    out: dict[str, str] = {}
    for name, text in sorted(pack.items()):
        if text in own_texts:
            continue
        kept = without_rules(text, replaced)
        if rule_blocks(kept):
            out[f"pack-{name}"] = kept
    for name, text in sorted(own.items()):
        out[f"repo-{name}"] = text
    return out


def _read(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {p.name: p.read_text() for p in sorted(folder.glob("*.guard")) if p.is_file()}


def rule_files(pack_dir: Path, own_dir: Path) -> list[Path]:
    """The rule files for one run: the repository's own when it adds nothing to the pack
    or overrides nothing, else the merged set written once to a content-named folder."""
    pack, own = _read(pack_dir), _read(own_dir)
    own_files = sorted(own_dir.glob("*.guard")) if own else []
    if not pack:
        return own_files
    merged = merge(pack, own)
    if not any(name.startswith("pack-") for name in merged):
        return own_files
    if not own:
        return sorted(pack_dir.glob("*.guard"))
    digest = hashlib.sha256(repr(sorted(merged.items())).encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"infra-bot-rules-{digest}"
    if not folder.is_dir():
        staging = Path(tempfile.mkdtemp(prefix="infra-bot-rules-"))
        for name, text in merged.items():
            (staging / name).write_text(text)
        try:
            os.replace(staging, folder)
        except OSError:  # another process wrote the same folder first
            for p in staging.iterdir():
                p.unlink()
            staging.rmdir()
    return sorted(folder / name for name in merged)

"""Unpacking a chart archive (`helm package` output) without trusting it.

helm follows symlinks when it loads a chart folder, and `.Files.Get` hands
their targets to templates: a chart holding `env -> /proc/self/environ` and a
`fail` template would print the job's environment into a public review. So
only regular files and folders are written, every name must stay inside the
chart's one top folder, and the sizes are bounded (a gzip bomb is a few KB).
The limits follow helm's own loader defaults (5 MiB a file, 100 MiB a chart).
"""

from __future__ import annotations

import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bot.repo.safeyaml import UnsafeYamlError, load_data

MAX_ARCHIVE_BYTES = 20 * 1024 * 1024
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_TOTAL_BYTES = 100 * 1024 * 1024
MAX_MEMBERS = 10_000
_CHUNK = 64 * 1024
_SAFE_PART = re.compile(r"^[^\x00-\x1f/\\]+$")


class UnsafeChartError(ValueError):
    """The archive is not a chart the bot will render; the message says why."""


@dataclass(frozen=True)
class Limits:
    archive_bytes: int = MAX_ARCHIVE_BYTES
    file_bytes: int = MAX_FILE_BYTES
    total_bytes: int = MAX_TOTAL_BYTES
    members: int = MAX_MEMBERS


def member_path(name: str, top: str | None) -> PurePosixPath:
    """The member's path if it is a plain relative path under `top` (or any one top). Pure."""
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts:
        raise UnsafeChartError(f"archive member {name!r} has an absolute or empty path")
    for part in path.parts:
        if part in (".", "..") or not _SAFE_PART.match(part):
            raise UnsafeChartError(f"archive member {name!r} leaves the chart folder")
    if top is not None and path.parts[0] != top:
        raise UnsafeChartError(f"archive member {name!r} is outside the chart folder {top}/")
    return path


def _kind_problem(member: tarfile.TarInfo) -> str | None:
    if member.issym() or member.islnk():
        return f"archive member {member.name!r} is a link (to {member.linkname!r})"
    if not (member.isfile() or member.isdir()):
        return f"archive member {member.name!r} is not a regular file or folder"
    return None


def unpack(archive: Path, dest: Path, limits: Limits = Limits()) -> Path:
    """Unpack `archive` into the empty folder `dest`; the chart's folder, or UnsafeChartError."""
    if archive.is_symlink() or not archive.is_file():
        raise UnsafeChartError(f"{archive.name} is not a regular file")
    if archive.stat().st_size > limits.archive_bytes:
        raise UnsafeChartError(f"{archive.name} is larger than {limits.archive_bytes} bytes")
    try:
        top = _unpack_members(archive, dest, limits)
    except (tarfile.TarError, EOFError, OSError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise UnsafeChartError(f"{archive.name} is not a readable chart archive: {exc}") from None
    except UnsafeChartError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest / top


def _unpack_members(archive: Path, dest: Path, limits: Limits) -> str:
    top: str | None = None
    total = 0
    count = 0
    with tarfile.open(archive, mode="r:gz") as tar:
        # Streamed member by member: listing them first would read a bomb whole.
        for member in tar:
            count += 1
            if count > limits.members:
                raise UnsafeChartError(f"{archive.name} has more than {limits.members} members")
            if problem := _kind_problem(member):
                raise UnsafeChartError(problem)
            path = member_path(member.name, top)
            top = path.parts[0]
            target = dest.joinpath(*path.parts)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True, mode=0o755)
                continue
            if member.size > limits.file_bytes:
                raise UnsafeChartError(f"{member.name} is larger than {limits.file_bytes} bytes")
            total += member.size
            if total > limits.total_bytes:
                raise UnsafeChartError(f"{archive.name} unpacks to more than {limits.total_bytes}")
            _write(tar, member, target)
    if top is None:
        raise UnsafeChartError(f"{archive.name} is empty")
    return top


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    source = tar.extractfile(member)
    if source is None:
        raise UnsafeChartError(f"archive member {member.name!r} has no content")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    if target.exists():
        raise UnsafeChartError(f"archive member {member.name!r} appears twice")
    # Modes from the archive are ignored: nothing in a chart is meant to run.
    with source, open(target, "xb") as out:
        while chunk := source.read(_CHUNK):
            out.write(chunk)
    target.chmod(0o644)


def symlinks_in(folder: Path) -> list[str]:
    """Every symlink in or at `folder`, relative to it: a second look before helm reads it."""
    found = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_symlink()]
    return (["."] if folder.is_symlink() else []) + sorted(found)


def chart_identity(folder: Path) -> tuple[str, str]:
    """The (name, version) a chart folder's Chart.yaml declares, or UnsafeChartError."""
    try:
        data = load_data(folder / "Chart.yaml")
    except (UnsafeYamlError, OSError) as exc:
        raise UnsafeChartError(f"the archive has no readable Chart.yaml: {exc}") from None
    if not isinstance(data, dict):
        raise UnsafeChartError("Chart.yaml is not a mapping")
    return str(data.get("name")), str(data.get("version"))

"""A corpus of CloudFormation templates infra-bot has never seen.

cfn-lint's source distribution on PyPI carries a few hundred real templates
(public ones, integration fixtures, good and bad resource examples). We fetch
that sdist once, pinned by version and sha256, and unpack only the templates.
`make test` runs this before the tests; the tests and benchmarks read the
unpacked folder and never touch the network.

Run: python -m bench.corpus [DEST]
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "cfn-lint"
VERSION = "1.58.0"
SHA256 = "ba02cd7f7e06c8bc160936051a03ec931af52943fcc9cc72ad2748caa0f2a103"
FOLDERS = ("public", "integration", "good/resources", "bad/resources")
DEFAULT_DEST = Path(__file__).resolve().parent.parent / ".infra-bot" / "corpus"


def _wanted(name: str) -> str | None:
    prefix = f"cfn_lint-{VERSION}/test/fixtures/templates/"
    if not name.startswith(prefix) or not name.endswith((".yaml", ".json")):
        return None
    rest = name[len(prefix) :]
    if not any(rest.startswith(folder + "/") for folder in FOLDERS):
        return None
    # Flatten to one folder so a corpus file's name says where it came from.
    return rest.replace("/", "__")


def ensure_corpus(dest: Path = DEFAULT_DEST) -> Path:
    marker = dest / f".{PACKAGE}-{VERSION}"
    if marker.is_file():
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--no-binary", ":all:", "--disable-pip-version-check",
             "-d", tmp, f"{PACKAGE}=={VERSION}"],
            check=True, capture_output=True,
        )  # fmt: skip
        (sdist,) = Path(tmp).glob("*.tar.gz")
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        if digest != SHA256:
            raise SystemExit(f"corpus sdist sha256 mismatch: {digest}")
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdist) as tf:
            for member in tf.getmembers():
                target = _wanted(member.name)
                handle = tf.extractfile(member) if target and member.isfile() else None
                if handle is not None and target:
                    (dest / target).write_bytes(handle.read())
    marker.write_text(SHA256)
    return dest


def corpus_files(dest: Path = DEFAULT_DEST, limit: int | None = None) -> list[Path]:
    files = sorted(p for p in dest.iterdir() if p.suffix in (".yaml", ".json"))
    return files[:limit] if limit else files


def folder_of(path: Path) -> str:
    """The corpus folder a flattened file name came from ("good/resources", "public")."""
    return next(f for f in FOLDERS if path.name.startswith(f.replace("/", "__") + "__"))


def sample(dest: Path = DEFAULT_DEST, size: int = 40) -> list[Path]:
    """A deterministic sample that spans every folder of the corpus.

    Every public template is taken (they are the real-world ones, and few); the
    rest of the sample is shared out over the other folders in proportion to
    their size (largest remainder), and each folder's share is spread evenly
    over its sorted file list, so the sample is the same on every machine.
    """
    by_folder = {f: [p for p in corpus_files(dest) if folder_of(p) == f] for f in FOLDERS}
    take = {"public": min(size, len(by_folder["public"]))}
    rest = [f for f in FOLDERS if f != "public"]
    left, pool = size - take["public"], sum(len(by_folder[f]) for f in rest)
    exact = {f: left * len(by_folder[f]) / pool for f in rest}
    take |= {f: int(exact[f]) for f in rest}
    for f in sorted(rest, key=lambda f: int(exact[f]) - exact[f])[
        : left - sum(take[f] for f in rest)
    ]:
        take[f] += 1
    chosen: list[Path] = []
    for folder, files in by_folder.items():
        n = min(take[folder], len(files))
        chosen += [files[(i * len(files)) // n] for i in range(n)] if n else []
    return chosen


if __name__ == "__main__":
    where = ensure_corpus(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DEST)
    print(f"{len(corpus_files(where))} templates in {where}")

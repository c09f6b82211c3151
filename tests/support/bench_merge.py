"""The chartship side of the index-merge benchmark, as the process it times.

``python tests/support/bench_merge.py OLD ARCHIVE OUT URL`` reads the index
OLD, merges the entry of ARCHIVE (served under URL) and writes OUT. It imports
chartship and nothing of the test support, so that the time and memory
:mod:`tests.support.bench_index` measures for it are chartship's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

from chartship.artifacts import Artifact
from chartship.channels.classic.entry import entry_for
from chartship.channels.classic.merge import merge


def merge_once(old_index: Path, archive: Path, output: Path, url: str) -> None:
    name, version = archive.name.removesuffix(".tgz").rsplit("-", 1)
    artifact = Artifact.read(archive, name, version)
    text = old_index.read_text(encoding="utf-8")
    merged, result = merge(text, [entry_for(artifact, f"{url}/{archive.name}")])
    if result.added != ((name, version),) or result.rewritten:
        raise RuntimeError(f"chartship merge did not add {name} {version} in place: {result}")
    output.write_text(merged, encoding="utf-8")


if __name__ == "__main__":
    old, made, out, url = sys.argv[1:]
    merge_once(Path(old), Path(made), Path(out), url)

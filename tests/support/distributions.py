"""chartship's own sdist and wheel, built from this checkout as a release would build them.

The build runs on a copy of the files git would commit (tracked ones plus new
files not ignored), so it neither writes ``build/`` or ``*.egg-info`` into the
checkout nor picks up anything a clean clone would lack.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: ``python -m build`` makes an isolated environment and installs setuptools into it.
BUILD_TIMEOUT = 600


@dataclass(frozen=True)
class Distributions:
    source: Path
    sdist: Path
    wheel: Path


def committable_files(repo: Path) -> list[str]:
    """Paths, relative to ``repo``, that a commit of the work tree would hold."""
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    # A tracked file deleted in the work tree is still listed until the deletion is staged.
    return sorted({p for p in listed.split("\0") if p and (repo / p).is_file()})


def source_tree(repo: Path, dest: Path) -> Path:
    """A copy of ``repo``'s committable files under ``dest``."""
    for relative in committable_files(repo):
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / relative, target)
    return dest


def build(source: Path, outdir: Path) -> Distributions:
    """``python -m build`` (sdist, then the wheel from that sdist) of ``source``."""
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(outdir), str(source)],
        capture_output=True,
        text=True,
        check=False,
        timeout=BUILD_TIMEOUT,
    )
    if proc.returncode != 0:
        raise AssertionError(f"python -m build failed:\n{proc.stdout}\n{proc.stderr}")
    sdists = sorted(outdir.glob("*.tar.gz"))
    wheels = sorted(outdir.glob("*.whl"))
    built = sorted(p.name for p in outdir.iterdir())
    assert len(sdists) == 1, built
    assert len(wheels) == 1, built
    return Distributions(source, sdists[0], wheels[0])

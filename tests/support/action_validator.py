"""``action-validator`` (npm ``@action-validator/cli``): action.yml and workflows
checked against SchemaStore's schemas for GitHub's action metadata and workflow
syntax, offline.

Installed with npm on first use into ``.tools/`` (git-ignored), pinned by version;
npm checks the tarball against the registry's integrity hash.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "@action-validator/cli"
VERSION = "0.6.0"
NPM_TIMEOUT = 300
HOW = (
    f"the tests validate GitHub Action files with the npm package {PACKAGE}@{VERSION}; "
    "they install it with npm, which needs Node.js 18 or later "
    "(as root: `apt-get update && apt-get install -y nodejs npm`)"
)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    #: The validator's JSON report (errors by schema path) when not ok.
    report: str


def install(tools_dir: Path) -> Path:
    """The ``action-validator`` command under ``tools_dir``, installed if missing.

    Installs into a scratch directory beside the target and renames it into
    place, so parallel test workers never see half an install.
    """
    home = tools_dir / "action-validator" / VERSION
    binary = home / "node_modules" / ".bin" / "action-validator"
    if binary.is_file():
        return binary
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError(f"npm or node is not on PATH: {HOW}")
    home.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{VERSION}-", dir=home.parent))
    try:
        proc = subprocess.run(
            [npm, "install", "--prefix", str(scratch), "--no-audit", "--no-fund",
             "--no-save", "--loglevel=error", f"{PACKAGE}@{VERSION}"],
            capture_output=True,
            text=True,
            check=False,
            timeout=NPM_TIMEOUT,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"npm install {PACKAGE}@{VERSION} failed:\n{proc.stderr}\n{HOW}")
        try:
            os.rename(scratch, home)
        except OSError:
            if not binary.is_file():  # not another worker's complete install
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return binary


def validate(binary: Path, path: Path) -> Verdict:
    """Run the validator on one action.yml or workflow file."""
    proc = subprocess.run(
        [str(binary), str(path)], capture_output=True, text=True, check=False, timeout=120
    )
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"action-validator failed on {path}: {proc.stdout}{proc.stderr}")
    report = (proc.stdout + proc.stderr).strip()
    if proc.returncode == 1:
        # The report must be the validator's own JSON, not a crash message.
        json.loads(report)
    return Verdict(proc.returncode == 0, report)

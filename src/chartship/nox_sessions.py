"""Registering chartship's nox sessions in a consumer's noxfile.

nox has no plugin mechanism, so a noxfile calls :func:`register` explicitly::

    import chartship.nox_sessions
    chartship.nox_sessions.register()

Each session installs chartship into its own environment and runs the
``chartship`` command line there, so the noxfile itself needs nothing but nox
and this module (which imports only nox and the standard library). Arguments
after ``--`` reach the command: ``nox -s package -- --dev``,
``nox -s lint -- metallb --set lint.workers=2``.

By default a session installs exactly the chartship the noxfile imported, as
its installer recorded it (PEP 610 ``direct_url.json``): the same editable
checkout, local wheel, directory or archive, or VCS commit; a chartship
installed from an index is installed again at the same version.
"""

from __future__ import annotations

import importlib.metadata
import json
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chartship
from chartship.errors import ConfigError

DIST_NAME = "chartship"


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
        "Classic to OCI: nox -s {name} -- status|backfill|repair|accept VERSION ...|verify|"
        "deprecate|phase PHASE.",
        False,
    ),
    SessionSpec(
        "bump",
        ("bump",),
        "Stamp release versions (nox -s {name} -- --version X.Y.Z | --patch | --minor | "
        "--major [--pre ID] CHART...).",
        False,
    ),
    SessionSpec(
        "sandbox",
        ("sandbox",),
        "Rehearse on local services: nox -s {name} -- [--classic-from DIR] [--report FILE] "
        "[--keep] [--run CMD]...",
        False,
    ),
)


def _local_path(url: str) -> str:
    parsed = urllib.parse.urlparse(url)
    return urllib.request.url2pathname(urllib.parse.unquote(parsed.path))


def _archive_hash(info: Mapping[str, Any]) -> str:
    hashes = info.get("hashes")
    if isinstance(hashes, Mapping) and isinstance(hashes.get("sha256"), str):
        return f"sha256={hashes['sha256']}"
    # The older single "hash" key, "<algorithm>=<hex>", that PEP 610 still allows.
    legacy = info.get("hash")
    return legacy if isinstance(legacy, str) and "=" in legacy else ""


def requirement_for(direct_url: Mapping[str, Any], version: str) -> list[str]:
    """``pip install`` arguments for what a PEP 610 ``direct_url.json`` records.

    Raises ConfigError for a record this function cannot turn into one.
    """
    url = direct_url.get("url")
    if not isinstance(url, str) or not url:
        raise ConfigError(f"direct_url.json of {DIST_NAME} {version} has no url")
    subdirectory = direct_url.get("subdirectory")
    subdirectory = subdirectory if isinstance(subdirectory, str) and subdirectory else ""
    local = url.startswith("file:")
    vcs_info = direct_url.get("vcs_info")
    if isinstance(vcs_info, Mapping):
        vcs, commit = vcs_info.get("vcs"), vcs_info.get("commit_id")
        if not isinstance(vcs, str) or not isinstance(commit, str) or not commit:
            raise ConfigError(f"direct_url.json of {DIST_NAME} {version}: vcs_info lacks a commit")
        fragment = f"#subdirectory={subdirectory}" if subdirectory else ""
        # The commit, not the requested branch or tag: exactly what was installed. A
        # bare URL, not "chartship @ URL": older pips reject file:// in that form.
        return [f"{vcs}+{url}@{commit}{fragment}"]
    dir_info = direct_url.get("dir_info")
    if isinstance(dir_info, Mapping):
        if not local:
            raise ConfigError(f"direct_url.json of {DIST_NAME} {version}: directory {url}")
        path = str(Path(_local_path(url), subdirectory)) if subdirectory else _local_path(url)
        return ["-e", path] if dir_info.get("editable") is True else [path]
    archive_info = direct_url.get("archive_info")
    if isinstance(archive_info, Mapping):
        if local:
            return [_local_path(url)]
        digest = _archive_hash(archive_info)
        # pip checks the download against the hash in the fragment.
        return [url + (f"#{digest}" if digest else "")]
    raise ConfigError(
        f"direct_url.json of {DIST_NAME} {version} records none of vcs_info, dir_info, archive_info"
    )


def _imported_from(dist: importlib.metadata.Distribution, module_file: Path) -> bool:
    """Whether ``module_file`` (chartship/__init__.py as imported) belongs to ``dist``."""
    direct = _direct_url(dist) or {}
    dir_info = direct.get("dir_info")
    if isinstance(dir_info, Mapping) and dir_info.get("editable") is True:
        # An editable install imports from its source tree, outside site-packages.
        return module_file.is_relative_to(Path(_local_path(str(direct.get("url", "")))).resolve())
    installed = Path(str(dist.locate_file(f"{DIST_NAME}/__init__.py"))).resolve()
    return installed == module_file


def _direct_url(dist: importlib.metadata.Distribution) -> dict[str, Any] | None:
    text = dist.read_text("direct_url.json")
    if text is None:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"direct_url.json of {DIST_NAME} {dist.version}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"direct_url.json of {DIST_NAME} {dist.version} is not an object")
    return data


def default_install(
    dist: importlib.metadata.Distribution | None = None,
    *,
    module_file: Path | str | None = None,
) -> list[str]:
    """``session.install`` arguments for exactly the chartship imported here.

    ``dist`` defaults to the installed distribution, ``module_file`` to
    ``chartship.__file__``. A chartship imported from anywhere but that
    distribution (a source tree on sys.path, another environment) cannot be
    told apart from a different one: that is a ConfigError asking for ``install=``.
    """
    imported = Path(module_file if module_file is not None else chartship.__file__).resolve()
    if dist is None:
        try:
            dist = importlib.metadata.distribution(DIST_NAME)
        except importlib.metadata.PackageNotFoundError:
            raise ConfigError(
                f"chartship is imported from {imported.parent} but not installed, so the "
                "sessions cannot install the same one; pass "
                "chartship.nox_sessions.register(install=[...]) what pip should install"
            ) from None
    if not _imported_from(dist, imported):
        raise ConfigError(
            f"the chartship imported ({imported.parent}) is not the installed distribution "
            f"{DIST_NAME} {dist.version} ({dist.locate_file('')}); pass "
            "chartship.nox_sessions.register(install=[...]) what pip should install"
        )
    direct = _direct_url(dist)
    if direct is None:
        # Installed from an index (or by a tool that records nothing): the same version.
        return [f"{DIST_NAME}=={dist.version}"]
    return requirement_for(direct, dist.version)


def _make(
    spec: SessionSpec,
    name: str,
    install: Sequence[str] | str,
    before: Sequence[Sequence[str]],
) -> Callable[[Any], None]:
    def session(session: Any) -> None:
        if isinstance(install, str):
            # Why the default install could not be worked out; `nox -l` still lists.
            session.error(install)
            return
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

    ``install`` is what ``session.install`` gets (default: exactly the
    chartship imported here, :func:`default_install`); ``before`` are commands
    run in the session before chartship's own (e.g. installing pinned helm
    binaries); ``prefix`` keeps the names apart from the noxfile's own
    sessions (``chart-`` gives ``chart-lint``).
    """
    import nox

    packages: list[str] | str
    if install is not None:
        packages = list(install)
    else:
        try:
            packages = default_install()
        except ConfigError as exc:
            packages = str(exc)
    names = []
    for spec in SESSIONS:
        name = prefix + spec.name
        nox.session(name=name, python=python, reuse_venv=reuse_venv, default=spec.default)(
            _make(spec, name, packages, before)
        )
        names.append(name)
    return names

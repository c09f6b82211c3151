"""Finding charts and reading their Chart.yaml.

A chart is trusted only as far as it stays inside the repository: its
directory, every file helm would package from it (links resolved), and its
``file://`` dependencies. And its name is one helm's rule allows, since it
becomes a file name, an OCI repository, a git tag and a GitHub Actions output.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chartship import versions
from chartship.config import ChartSettings, Settings
from chartship.errors import ChartError, ConfigError, UsageError, VersionError
from chartship.safetext import shown
from chartship.yamlfiles import CHART, REQUIREMENTS, YamlDocument, load_yaml

CHART_FILE = "Chart.yaml"
LOCK_FILE = "Chart.lock"
#: Where an apiVersion v1 (helm 2) chart declares its dependencies and locks them.
REQUIREMENTS_FILE = "requirements.yaml"
REQUIREMENTS_LOCK = "requirements.lock"
#: helm's chart-name rule (``helm create``, pkg/chart/v2/util/create.go): these
#: characters, 1 to 250 of them; helm's metadata check also refuses "." and "..".
NAME_PATTERN = re.compile(r"[a-zA-Z0-9._-]+")
MAX_NAME_LENGTH = 250


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a chart's name, or None when it can."""
    text = "" if name is None else str(name)
    if not text:
        return "name is missing"
    if len(text) > MAX_NAME_LENGTH or not NAME_PATTERN.fullmatch(text) or text in (".", ".."):
        return (
            f"name {shown(text)} is not a chart name: helm allows letters, digits, '.', '_' "
            f"and '-', at most {MAX_NAME_LENGTH} of them, and not '.' or '..'"
        )
    return None


def within(path: Path, root: Path, *, resolved_root: Path | None = None) -> bool:
    """Whether ``path``, every link resolved, is ``root`` or lies under it.

    ``resolved_root`` is ``root`` already resolved, for a caller asking of many paths.
    """
    return path.resolve().is_relative_to(resolved_root or root.resolve())


def escaping_files(directory: Path) -> list[tuple[Path, str]]:
    """Every entry under a chart ``directory`` helm must not package, with the reason.

    helm follows links when it packages: a link to a file outside the chart
    would put that file's content into the archive. Links inside the chart are
    fine. Anything but a file, a directory or such a link (a FIFO, a socket, a
    device) is refused too: reading one blocks or never ends.
    """
    found: list[tuple[Path, str]] = []
    root = directory.resolve()
    for parent, dirs, files in os.walk(directory):
        for name in sorted([*dirs, *files]):
            path = Path(parent) / name
            try:
                mode = path.lstat().st_mode
            except OSError as exc:
                found.append((path, f"cannot be read: {exc.strerror or exc}"))
                continue
            if stat.S_ISLNK(mode):
                target = Path(os.readlink(path))
                resolved = path.resolve()
                if not resolved.is_relative_to(root):
                    found.append(
                        (
                            path,
                            f"is a link to {shown(str(target), 300)}, which is outside the chart; "
                            "helm would package that file (copy it into the chart instead)",
                        )
                    )
                elif not resolved.exists():
                    found.append(
                        (path, f"is a link to {shown(str(target), 300)}, which is missing")
                    )
            elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                found.append((path, "is not a regular file, a directory or a link"))
    return found


@dataclass(frozen=True)
class ChartDir:
    """A chart found on disk, before its Chart.yaml is trusted."""

    name: str
    directory: Path
    settings: ChartSettings

    @property
    def chart_yaml(self) -> Path:
        return self.directory / CHART_FILE


@dataclass(frozen=True)
class Dependency:
    name: str
    version: str | None
    repository: str | None
    alias: str | None
    condition: str | None
    position: int

    @property
    def is_local(self) -> bool:
        """Declared without a repository: helm expects it in the chart's charts/."""
        return not self.repository

    @property
    def is_http(self) -> bool:
        return bool(self.repository) and str(self.repository).startswith(("http://", "https://"))


@dataclass(frozen=True)
class Chart:
    """A chart whose Chart.yaml parsed and names a name and a version.

    ``requirements`` is its requirements.yaml when helm reads its dependencies
    from there (:func:`read_requirements`); every reader of the dependencies,
    their lines and their lock goes through :attr:`declared` and :attr:`lock_file`.
    """

    where: ChartDir
    doc: YamlDocument
    requirements: YamlDocument | None = None

    @property
    def name(self) -> str:
        return str(self.doc.data["name"])

    @property
    def directory(self) -> Path:
        return self.where.directory

    @property
    def chart_yaml(self) -> Path:
        return self.where.chart_yaml

    @property
    def settings(self) -> ChartSettings:
        return self.where.settings

    @property
    def version(self) -> str:
        return str(self.doc.data["version"])

    @property
    def app_version(self) -> str | None:
        value = self.doc.data.get("appVersion")
        return None if value is None else str(value)

    @property
    def archive_name(self) -> str:
        return f"{self.name}-{self.version}.tgz"

    @property
    def is_v1(self) -> bool:
        """helm 2's format; helm takes a chart without apiVersion for one too."""
        return is_v1(self.doc.data)

    @property
    def declared(self) -> YamlDocument:
        """The document whose ``dependencies`` helm reads: requirements.yaml or Chart.yaml."""
        return self.requirements if self.requirements is not None else self.doc

    @property
    def declared_file(self) -> Path:
        return self.declared.path

    @property
    def raw_dependencies(self) -> Any:
        """``dependencies`` as written in :attr:`declared`, for helm's lock digest."""
        return _raw_dependencies(self.declared)

    def dependency_line(self, *keys: str | int) -> int | None:
        """The line of ``dependencies[keys...]`` in :attr:`declared_file`."""
        return self.declared.line("dependencies", *keys)

    @property
    def lock_file(self) -> Path:
        """Where helm locks the dependencies: requirements.lock for a v1 chart, else Chart.lock
        (``helm dependency update`` writes the one its loader reads back)."""
        return self.directory / (REQUIREMENTS_LOCK if self.is_v1 else LOCK_FILE)

    @property
    def dependencies(self) -> list[Dependency]:
        return parse_dependencies(self.raw_dependencies)

    def with_dependencies(self, items: list[Any]) -> Chart:
        """This chart with :attr:`declared`'s ``dependencies`` replaced (its lines kept)."""
        declared = self.declared
        data = {**declared.data, "dependencies": items}
        doc = YamlDocument(declared.path, data, declared.lines, declared.duplicate_keys)
        if self.requirements is not None:
            return dataclasses.replace(self, requirements=doc)
        return dataclasses.replace(self, doc=doc)


def _raw_dependencies(doc: YamlDocument) -> Any:
    return doc.data.get("dependencies") if isinstance(doc.data, dict) else None


def is_v1(chart_data: Any) -> bool:
    """Whether Chart.yaml data is apiVersion v1 as helm's loader sees it (unset means v1)."""
    return isinstance(chart_data, dict) and chart_data.get("apiVersion") in (None, "", "v1")


def read_requirements(directory: Path) -> YamlDocument | None:
    """The chart's requirements.yaml when it declares ``dependencies``, else None.

    helm's loader (pkg/chart/loader/load.go, v3.19 and v4) reads requirements.yaml
    into the chart's metadata whatever the apiVersion: its ``dependencies``
    replace Chart.yaml's. For a v2 chart helm warns about it, and lint does too.
    Bounded and refused on a repeated key, as every other YAML chartship reads;
    a malformed one is a :class:`ChartError` naming it.
    """
    path = directory / REQUIREMENTS_FILE
    if not path.exists() and not path.is_symlink():
        return None
    doc = load_yaml(path, REQUIREMENTS)
    if doc.data is None:
        return None
    if not isinstance(doc.data, dict):
        raise ChartError("must be a mapping", path=path, line=1)
    return doc if "dependencies" in doc.data else None


def parse_dependencies(raw: Any) -> list[Dependency]:
    if not isinstance(raw, list):
        return []
    deps = []
    for position, item in enumerate(raw):
        if not isinstance(item, dict) or not item.get("name"):
            continue
        deps.append(
            Dependency(
                name=str(item["name"]),
                version=None if item.get("version") is None else str(item["version"]),
                repository=str(item["repository"]) if item.get("repository") else None,
                alias=None if item.get("alias") is None else str(item["alias"]),
                condition=None if item.get("condition") is None else str(item["condition"]),
                position=position,
            )
        )
    return deps


def dependencies_in(directory: Path) -> list[Dependency]:
    """The dependencies of the chart in ``directory`` (not one of the repository's own: a
    ``file://`` target), read as :func:`load` reads them."""
    requirements = read_requirements(directory)
    declared = (
        requirements if requirements is not None else load_yaml(directory / CHART_FILE, CHART)
    )
    return parse_dependencies(_raw_dependencies(declared))


def discover(settings: Settings, names: Sequence[str] = ()) -> list[ChartDir]:
    """Charts of the repository, or the named ones, sorted by name.

    Every chart directory must lie inside the repository (``settings.root``),
    links resolved: a release publishes what the repository holds, nothing else.
    """
    found: dict[str, ChartDir] = {}
    root = settings.root
    real_root = root.resolve()
    if not within(settings.charts_path, root, resolved_root=real_root):
        raise ConfigError(
            f"{settings.charts_path} is outside the repository {root}",
            path=settings.source,
            key="charts_dir",
        )
    for name, chart_settings in settings.charts.items():
        key = f"charts.{name}.path" if chart_settings.path else f"charts.{name}"
        problem = name_problem(name)
        if problem is not None:
            raise ConfigError(problem, path=settings.source, key=f"charts.{shown(name)}")
        directory = (
            settings.resolve(chart_settings.path)
            if chart_settings.path
            else (settings.charts_path / name)
        )
        if not within(directory, root, resolved_root=real_root):
            raise ConfigError(
                f"{directory} is outside the repository {root}", path=settings.source, key=key
            )
        if not (directory / CHART_FILE).is_file():
            raise ConfigError(f"no {CHART_FILE} in {directory}", path=settings.source, key=key)
        found[name] = ChartDir(name, directory, chart_settings)
    if settings.charts_path.is_dir():
        for child in sorted(settings.charts_path.iterdir()):
            if (child / CHART_FILE).is_file() and child.name not in found:
                # The charts directory lies inside the repository, so only a link can
                # lead a chart out of it; resolving every chart's path costs a stat
                # per component.
                if child.is_symlink() and not within(child, root, resolved_root=real_root):
                    raise ChartError(
                        f"is a link to {child.resolve()}, outside the repository {root}",
                        path=child,
                    )
                found[child.name] = ChartDir(child.name, child, settings.chart(child.name))
    if names:
        unknown = [n for n in names if n not in found]
        if unknown:
            known = ", ".join(sorted(found)) or "none"
            raise UsageError(f"unknown chart {', '.join(unknown)} (charts here: {known})")
        return [found[n] for n in names]
    if not found:
        raise UsageError(f"no charts found in {settings.charts_path}")
    return [found[n] for n in sorted(found)]


#: Chart.yaml documents read in this run (:func:`reading_once`): path -> (stat identity, doc).
_READ: contextvars.ContextVar[dict[Path, tuple[tuple[int, ...], YamlDocument]] | None] = (
    contextvars.ContextVar("chartship_chart_yaml_read", default=None)
)


@contextlib.contextmanager
def reading_once() -> Iterator[None]:
    """Within it, each Chart.yaml is parsed once however many steps read it.

    A command run is one such scope (usable as a decorator), nested runs share
    the outer one, and it ends with the run: a library caller outside a run
    always reads the file as it is. A file whose stat identity changed is read
    again; a writer within the run also calls :func:`written`, since a rewrite
    of the same size inside one timestamp tick keeps that identity.
    """
    if _READ.get() is not None:
        yield
        return
    token = _READ.set({})
    try:
        yield
    finally:
        _READ.reset(token)


def written(path: Path) -> None:
    """``path`` (a Chart.yaml) was just written: the next read parses it again."""
    read = _READ.get()
    if read is not None:
        read.pop(path.absolute(), None)


def read_document(path: Path) -> YamlDocument:
    """A Chart.yaml parsed, its repeated keys kept (:attr:`YamlDocument.duplicate_keys`)."""
    read = _READ.get()
    if read is None:
        return load_yaml(path, CHART, keep_duplicates=True)
    key = path.absolute()
    try:
        info = path.stat()
    except OSError:
        return load_yaml(path, CHART, keep_duplicates=True)  # says what is wrong with it
    identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    known = read.get(key)
    if known is not None and known[0] == identity:
        return known[1]
    doc = load_yaml(path, CHART, keep_duplicates=True)
    read[key] = (identity, doc)
    return doc


def load(where: ChartDir) -> Chart:
    """Read Chart.yaml; raise :class:`ChartError` unless chartship can trust what it names.

    A duplicate key, a name that is not the chart's, or a dependency without a
    name would make chartship and helm read two different charts from one file.
    """
    path = where.chart_yaml
    doc = read_document(path)
    for twice in doc.duplicate_keys:
        raise ChartError(twice.describe(), path=path, line=twice.line)
    if not isinstance(doc.data, dict):
        raise ChartError("must be a mapping", path=path, line=1)
    for key in ("name", "version"):
        if doc.data.get(key) in (None, ""):
            raise ChartError(f"{key} is missing", path=path)
    name = str(doc.data["name"])
    problem = name_problem(name)
    if problem is not None:
        raise ChartError(problem, path=path, line=doc.line("name"))
    if name != where.name:
        known_as = (
            f"its directory {shown(where.name)}"
            if where.directory.name == where.name
            else f"{shown(where.name)}, its key under charts in chartship.yaml"
        )
        raise ChartError(
            f"name {shown(name)} differs from {known_as}", path=path, line=doc.line("name")
        )
    chart = Chart(where, doc, read_requirements(where.directory))
    declared = chart.declared
    raw_deps = chart.raw_dependencies
    if raw_deps is not None and not isinstance(raw_deps, list):
        raise ChartError(
            "dependencies must be a list", path=declared.path, line=chart.dependency_line()
        )
    for position, item in enumerate(raw_deps or []):
        if not isinstance(item, dict) or not item.get("name"):
            raise ChartError(
                f"dependency #{position + 1} has no name",
                path=declared.path,
                line=chart.dependency_line(position),
            )
    return chart


def outside_dependencies(chart: Chart, root: Path) -> list[tuple[Path, str, int | None]]:
    """(file, message, line) of each ``file://`` dependency outside the repository, the file
    being the one that declares it (Chart.yaml or requirements.yaml)."""
    found: list[tuple[Path, str, int | None]] = []
    for dep in chart.dependencies:
        if dep.repository and dep.repository.startswith("file://"):
            target = chart.directory / dep.repository[len("file://") :]
            if not within(target, root):
                found.append(
                    (
                        chart.declared_file,
                        f"dependency {shown(dep.name)}: {shown(dep.repository, 300)} is outside "
                        f"the repository {root}",
                        chart.dependency_line(dep.position, "repository"),
                    )
                )
    return found


def require_contained(chart: Chart, root: Path) -> None:
    """Refuse a chart with a file helm must not package (:func:`escaping_files`) or a
    dependency outside the repository (:func:`outside_dependencies`)."""
    problems: list[tuple[Path, str, int | None]] = [
        (path, message, None) for path, message in escaping_files(chart.directory)
    ]
    problems += outside_dependencies(chart, root)
    if problems:
        path, message, line = problems[0]
        more = f" (and {len(problems) - 1} more; lint lists them)" if len(problems) > 1 else ""
        raise ChartError(message + more, path=path, line=line)


def require_semver(chart: Chart) -> None:
    """Refuse a version that is not strict SemVer 2, naming Chart.yaml and its line."""
    try:
        versions.parse(chart.version, what=f"chart {chart.name} version")
    except VersionError as exc:
        raise VersionError(
            exc.message, path=chart.chart_yaml, line=chart.doc.line("version")
        ) from None


def load_all(wheres: Sequence[ChartDir]) -> list[Chart]:
    return [load(w) for w in wheres]

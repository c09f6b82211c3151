"""Finding charts and reading their Chart.yaml."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chartship import versions
from chartship.config import ChartSettings, Settings
from chartship.errors import ChartError, ConfigError, UsageError, VersionError
from chartship.yamlfiles import YamlDocument, load_yaml

CHART_FILE = "Chart.yaml"


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
    """A chart whose Chart.yaml parsed and names a name and a version."""

    where: ChartDir
    doc: YamlDocument

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
    def dependencies(self) -> list[Dependency]:
        return parse_dependencies(self.doc.data.get("dependencies"))


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


def discover(settings: Settings, names: Sequence[str] = ()) -> list[ChartDir]:
    """Charts of the repository, or the named ones, sorted by name."""
    found: dict[str, ChartDir] = {}
    for name, chart_settings in settings.charts.items():
        directory = (
            settings.resolve(chart_settings.path)
            if chart_settings.path
            else (settings.charts_path / name)
        )
        if not (directory / CHART_FILE).is_file():
            raise ConfigError(
                f"no {CHART_FILE} in {directory}", path=settings.source, key=f"charts.{name}"
            )
        found[name] = ChartDir(name, directory, chart_settings)
    if settings.charts_path.is_dir():
        for child in sorted(settings.charts_path.iterdir()):
            if (child / CHART_FILE).is_file() and child.name not in found:
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


def load(where: ChartDir) -> Chart:
    """Read Chart.yaml; raise :class:`ChartError` unless chartship can trust what it names.

    A duplicate key, a name that is not the chart's, or a dependency without a
    name would make chartship and helm read two different charts from one file.
    """
    path = where.chart_yaml
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise ChartError("must be a mapping", path=path, line=1)
    if doc.duplicate_keys:
        keys, line = doc.duplicate_keys[0]
        raise ChartError(f"key {'.'.join(map(str, keys))} appears twice", path=path, line=line)
    for key in ("name", "version"):
        if doc.data.get(key) in (None, ""):
            raise ChartError(f"{key} is missing", path=path)
    name = str(doc.data["name"])
    if name != where.name:
        known_as = (
            f"its directory {where.name!r}"
            if where.directory.name == where.name
            else f"{where.name!r}, its key under charts in chartship.yaml"
        )
        raise ChartError(f"name {name!r} differs from {known_as}", path=path, line=doc.line("name"))
    raw_deps = doc.data.get("dependencies")
    if raw_deps is not None and not isinstance(raw_deps, list):
        raise ChartError("dependencies must be a list", path=path, line=doc.line("dependencies"))
    for position, item in enumerate(raw_deps or []):
        if not isinstance(item, dict) or not item.get("name"):
            raise ChartError(
                f"dependency #{position + 1} has no name",
                path=path,
                line=doc.line("dependencies", position),
            )
    return Chart(where, doc)


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

"""Sibling charts: which charts of this repository depend on which others.

A chart depends on a sibling when one of its dependencies is another chart of
the repository: by path (``repository: file://../base``) or by name from this
repository's own classic or OCI channel (``repository:`` the pages site or
``channels.oci.repository``, ``name:`` a chart in charts_dir). Every command
takes that graph from :func:`graph`: lint and release include the charts that
depend on the ones asked for, package builds dependencies first and vendors
a fresh archive of each sibling, bump keeps the dependents' constraints and
Chart.lock in step with the sibling's new version (requirements.yaml and
requirements.lock for an apiVersion v1 chart, :attr:`Chart.declared_file`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from chartship import charts as chartfiles
from chartship import versions
from chartship.charts import Chart, Dependency
from chartship.config import Settings
from chartship.errors import ChartError, ChartshipError
from chartship.helm import Helm
from chartship.yamlfiles import LOCK, load_yaml

Via = Literal["file", "classic", "oci"]
T = TypeVar("T", bound=Chart)


@dataclass(frozen=True)
class Link:
    """``dependent`` declares ``dependency``, which is the chart ``sibling``."""

    dependent: str
    sibling: str
    dependency: Dependency
    via: Via

    @property
    def constraint(self) -> str | None:
        return self.dependency.version


@dataclass(frozen=True)
class Stale:
    """A dependent's file that no longer agrees with its sibling, and what to run."""

    path: Path
    line: int | None
    message: str


def _channel_urls(settings: Settings) -> dict[str, Via]:
    urls: dict[str, Via] = {}
    pages = settings.channels.pages
    if pages is not None:
        base = pages.index_url.rstrip("/")
        base = base.removesuffix("/index.yaml")
        urls[base.rstrip("/")] = "classic"
    if settings.channels.oci is not None:
        urls[settings.channels.oci.repository.rstrip("/")] = "oci"
    return urls


def _file_target(chart: Chart, repository: str) -> Path:
    return (chart.directory / repository[len("file://") :]).resolve()


@dataclass(frozen=True)
class Graph:
    #: Every chart of the repository whose Chart.yaml loaded, by name.
    charts: Mapping[str, Chart]
    links: tuple[Link, ...]
    #: The repository's root, for paths in messages.
    root: Path

    def siblings_of(self, name: str) -> list[Link]:
        """The links on which chart ``name`` is the dependent."""
        return [link for link in self.links if link.dependent == name]

    def dependents_of(self, name: str) -> list[Link]:
        """The links on which chart ``name`` is the sibling depended on."""
        return [link for link in self.links if link.sibling == name]

    def link(self, dependent: str, dependency: Dependency) -> Link | None:
        for one in self.siblings_of(dependent):
            if one.dependency.position == dependency.position:
                return one
        return None

    def channel_sibling(self, directory: Path, dependency: Dependency) -> Path | None:
        """The directory of the sibling a chart in ``directory`` takes from the own channel."""
        for link in self.links:
            dependent = self.charts[link.dependent]
            if (
                link.via != "file"
                and link.dependency.position == dependency.position
                and link.dependency.name == dependency.name
                and dependent.directory.resolve() == directory.resolve()
            ):
                return self.charts[link.sibling].directory
        return None

    def with_dependents(self, names: Sequence[str]) -> dict[str, str]:
        """``names`` and, transitively, every chart that depends on one of them.

        Maps each chart to why it is there: "" for a chart asked for, else
        ``depends on base`` (``depends on app, which depends on base``).
        """
        found: dict[str, str] = {name: "" for name in names}
        queue = list(names)
        while queue:
            current = queue.pop(0)
            for link in sorted(self.dependents_of(current), key=lambda one: one.dependent):
                if link.dependent in found:
                    continue
                why = f"depends on {current}"
                if found[current]:
                    why += f", which {found[current]}"
                found[link.dependent] = why
                queue.append(link.dependent)
        return found

    def inputs(self, name: str) -> list[Path]:
        """Directories whose files end up in the chart's archive: its own and its siblings'."""
        seen: list[str] = []
        queue = [name]
        while queue:
            current = queue.pop(0)
            if current in seen or current not in self.charts:
                continue
            seen.append(current)
            queue.extend(link.sibling for link in self.siblings_of(current))
        return [self.charts[n].directory for n in seen]

    def build_order(self, charts: Iterable[T]) -> list[T]:
        """``charts`` with every sibling before the charts that depend on it.

        Otherwise in the order given; a cycle is an error naming it, since helm
        would vendor each chart of it into the other without end.
        """
        given = list(charts)
        by_name = {c.name: c for c in given}
        ordered: list[T] = []
        state: dict[str, str] = {}

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == "done":
                return
            if state.get(name) == "visiting":
                cycle = [*path[path.index(name) :], name]
                raise ChartError(
                    "sibling charts depend on each other in a cycle: " + " -> ".join(cycle),
                    path=self.charts[name].declared_file,
                )
            state[name] = "visiting"
            for link in self.siblings_of(name):
                visit(link.sibling, [*path, name])
            state[name] = "done"
            if name in by_name:
                ordered.append(by_name[name])

        for chart in given:
            visit(chart.name, [])
        return ordered

    def stale(self, chart: Chart) -> list[Stale]:
        """Where ``chart`` disagrees with its siblings' current versions.

        Both make helm fail with a message about the dependency alone; this
        says which sibling moved and what to run.
        """
        found: list[Stale] = []
        locked = locked_versions(chart)
        for link in self.siblings_of(chart.name):
            sibling = self.charts[link.sibling]
            version = sibling.version
            if not versions.is_valid(version):
                continue  # lint reports the sibling's own version
            bump = f"`chartship bump --version {version} {sibling.name}`"
            constraint = link.constraint
            admitted = (
                not constraint
                or not versions.is_valid_constraint(constraint)
                or versions.satisfies(version, constraint)
            )
            if not admitted:
                found.append(
                    Stale(
                        chart.declared_file,
                        chart.dependency_line(link.dependency.position, "version"),
                        f"dependency {link.dependency.name}: constraint {constraint!r} does "
                        f"not admit {sibling.name} {version}, the version in "
                        f"{self.shown(sibling.chart_yaml)}; run {bump} to update it, "
                        "or edit it",
                    )
                )
                continue
            entry = locked.get(link.dependency.name)
            if link.via == "file" and entry is not None and entry[0] != version:
                found.append(
                    Stale(
                        chart.lock_file,
                        entry[1],
                        f"pins {link.dependency.name} {entry[0]}, but {sibling.name} is now "
                        f"{version}; run {bump} to refresh it (or `helm dependency update "
                        f"{self.shown(chart.directory)}`)",
                    )
                )
        return found

    def shown(self, path: Path) -> str:
        # Relative to the repository where it can be: a path to paste into a shell.
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)

    def require_current(self, chart: Chart) -> None:
        problems = self.stale(chart)
        if problems:
            first = problems[0]
            raise ChartError(first.message, path=first.path, line=first.line)

    def needs_build(self, chart: Chart, vendored: Mapping[str, Path]) -> list[str]:
        """Repositories ``helm dependency build`` needs for the chart; none: no build.

        A sibling with an archive at hand (``vendored``) is copied in instead,
        and one from this repository's own channel is packaged from its
        directory rather than fetched, as the channel may not have the version
        being released yet. helm fetches every dependency once it builds, so
        when something else needs a build the channel's URL is among them.
        """
        needed: list[str] = []
        channel: list[str] = []
        for dep in chart.dependencies:
            if not dep.repository:
                continue
            link = self.link(chart.name, dep)
            if link is not None and link.via != "file":
                channel.append(dep.repository)
            elif link is None or link.sibling not in vendored:
                needed.append(dep.repository)
        return [*needed, *channel] if needed else []

    def vendor(
        self, chart: Chart, helm: Helm, target: Path, vendored: Mapping[str, Path]
    ) -> list[Path]:
        """Put a fresh archive of each sibling of ``chart`` into ``target``/charts/.

        The archive just packaged (``vendored``, by chart name) is copied, so
        the dependent carries the very bytes released; otherwise the sibling's
        directory is packaged. A ``file://`` sibling without one is left to
        ``helm dependency build``, which packages it from its directory too.
        Any other version of the sibling in charts/ is removed: helm would
        load both.
        """
        charts_dir = target / "charts"
        placed = []
        for link in self.siblings_of(chart.name):
            sibling = self.charts[link.sibling]
            if link.via == "file" and sibling.name not in vendored:
                continue
            charts_dir.mkdir(exist_ok=True)
            for old in _archives_of(charts_dir, sibling.name):
                old.unlink()
            destination = charts_dir / sibling.archive_name
            if sibling.name in vendored:
                shutil.copyfile(vendored[sibling.name], destination)
            else:
                try:
                    helm.package(sibling.directory, charts_dir, sibling.archive_name)
                except ChartshipError as exc:
                    raise ChartError(
                        f"cannot package sibling {sibling.name} to vendor it into "
                        f"{chart.name}: {exc.message} (package {sibling.name} together with "
                        f"{chart.name} to vendor the archive built for it)",
                        path=sibling.chart_yaml,
                    ) from None
            placed.append(destination)
        return placed


def _archives_of(charts_dir: Path, name: str) -> list[Path]:
    if not charts_dir.is_dir():
        return []
    return [
        p
        for p in charts_dir.glob(f"{name}-*.tgz")
        if versions.is_valid(p.name[len(name) + 1 : -len(".tgz")])
    ]


def locked_version(chart: Chart, name: str) -> str | None:
    """The version the chart's lock pins dependency ``name`` to, if the chart has a lock."""
    entry = locked_versions(chart).get(name)
    return entry[0] if entry is not None else None


def locked_versions(chart: Chart) -> dict[str, tuple[str, int | None]]:
    """{dependency name: (version, line)} from the chart's lock (:attr:`Chart.lock_file`)."""
    lock = chart.lock_file
    if not lock.is_file():
        return {}
    try:
        doc = load_yaml(lock, LOCK)
    except ChartError:
        return {}  # lint reports a malformed lock where it checks the lock
    entries = doc.data.get("dependencies") if isinstance(doc.data, dict) else None
    found: dict[str, tuple[str, int | None]] = {}
    for position, entry in enumerate(entries if isinstance(entries, list) else []):
        if isinstance(entry, dict) and entry.get("name") and entry.get("version") is not None:
            found[str(entry["name"])] = (
                str(entry["version"]),
                doc.line("dependencies", position, "version"),
            )
    return found


def graph(settings: Settings) -> Graph:
    """The sibling graph of every chart of the repository.

    A chart whose Chart.yaml does not load takes no part: the command that
    reads it reports why.
    """
    loaded: dict[str, Chart] = {}
    for where in chartfiles.discover(settings):
        try:
            loaded[where.name] = chartfiles.load(where)
        except ChartError:
            continue
    by_directory = {chart.directory.resolve(): name for name, chart in loaded.items()}
    channels = _channel_urls(settings)
    links = []
    for name, chart in loaded.items():
        for dep in chart.dependencies:
            # An alias configured to this repository's own channel is that channel.
            repository = settings.dependencies.url_for(dep.repository or "") or ""
            sibling: str | None = None
            via: Via | None = None
            if repository.startswith("file://"):
                sibling, via = by_directory.get(_file_target(chart, repository)), "file"
            elif repository.rstrip("/") in channels and dep.name in loaded:
                sibling, via = dep.name, channels[repository.rstrip("/")]
            if sibling is not None and via is not None and sibling != name:
                links.append(Link(name, sibling, dep, via))
    return Graph(loaded, tuple(links), settings.root)

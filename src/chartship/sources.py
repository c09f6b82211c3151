"""What each archive in dist/ was packaged from, and where its bytes are published.

``dist/SOURCES.json`` sits beside SHA256SUMS. For every archive it holds the
sha256 of the archive it describes, a fingerprint of the chart's files as
``helm package`` saw them (each file's sha256, by its name in the chart; the
.helmignore rules applied the way helm applies them), and the places the
release found or put those exact bytes. ``package`` compares a chart with the
fingerprint of its archive before keeping the archive, so an archive whose
chart changed since is never published as if it were current.

Two kinds of file in a chart's ``charts/`` are made from something else, and
are fingerprinted as that something instead:

* the archive ``helm dependency build`` makes of a ``file://`` dependency
  (helm 3 gives it other bytes on every build): the files of that chart
  directory stand in for it, under ``file://<path>/``;
* the archive of a dependency from a repository, which Chart.lock (or
  requirements.lock) pins by
  name and version: it is fingerprinted when present, and its absence (a
  fresh clone that has not built its dependencies yet) is no change.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chartship import helmignore, versions
from chartship.charts import CHART_FILE, Chart, Dependency, dependencies_in
from chartship.errors import ChartError
from chartship.jsonfiles import load_json
from chartship.yamlfiles import Bounds

log = logging.getLogger("chartship")

RECORD_FILE = "SOURCES.json"
#: One entry per archive in dist/: far below this even for hundreds of charts.
_RECORD = Bounds("dist/SOURCES.json", 16 * 2**20)
_FORMAT = 1
_FILE_SCHEME = "file://"


@dataclass(frozen=True)
class Fingerprint:
    """The files of a chart as the package sees them: name -> sha256 of the content."""

    files: Mapping[str, str]
    #: Archives of repository dependencies, fetched again from Chart.lock when absent.
    fetched: frozenset[str] = frozenset()

    @property
    def digest(self) -> str:
        text = "".join(f"{name}\0{self.files[name]}\n" for name in sorted(self.files))
        return hashlib.sha256(text.encode("utf-8", errors="surrogateescape")).hexdigest()

    def changes_since(self, then: Fingerprint) -> list[str]:
        """Names of the files that differ from ``then``: changed, added or removed."""
        refetched = self.fetched | then.fetched
        differ = {
            n for n in self.files.keys() & then.files.keys() if self.files[n] != then.files[n]
        }
        added = {n for n in self.files.keys() - then.files.keys() if n not in refetched}
        removed = {n for n in then.files.keys() - self.files.keys() if n not in refetched}
        return sorted(differ | added | removed)


def _archive_of(name: str, deps: Sequence[Dependency]) -> Dependency | None:
    """The dependency whose packaged archive ``name`` (``<chart>-<version>.tgz``) is."""
    if not name.endswith(".tgz"):
        return None
    stem = name[: -len(".tgz")]
    for dep in deps:
        prefix = f"{dep.name}-"
        if stem.startswith(prefix) and versions.is_valid(stem[len(prefix) :]):
            return dep
    return None


#: The directory of the repository's own chart a dependency of the chart in a
#: directory is, when it comes by name from the repository's own channel.
SiblingOf = Callable[[Path, Dependency], Path | None]


def _no_siblings(directory: Path, dep: Dependency) -> Path | None:
    return None


def fingerprint(
    chart: Chart, directory: Path | None = None, *, sibling_of: SiblingOf = _no_siblings
) -> Fingerprint:
    """The fingerprint of ``chart``'s files in ``directory`` (default: its own directory).

    A dependency ``sibling_of`` names (a sibling chart from the repository's
    own channel, :meth:`chartship.siblings.Graph.channel_sibling`) is vendored
    from that chart's directory on every build, so its files stand in for its
    archive, as a ``file://`` dependency's do.
    """
    return _fingerprint(directory or chart.directory, chart.dependencies, frozenset(), sibling_of)


def _fingerprint(
    directory: Path, deps: Sequence[Dependency], seen: frozenset[Path], sibling_of: SiblingOf
) -> Fingerprint:
    targets: dict[str, tuple[Dependency, Path]] = {}
    for dep in deps:
        if dep.repository and dep.repository.startswith(_FILE_SCHEME):
            prefix = dep.repository.rstrip("/") + "/"
            targets[prefix] = (dep, (directory / dep.repository[len(_FILE_SCHEME) :]).resolve())
        elif dep.repository and (sibling := sibling_of(directory, dep)) is not None:
            targets[f"{dep.repository.rstrip('/')}/{dep.name}/"] = (dep, sibling.resolve())
    local = [dep for dep, _ in targets.values()]
    remote = [d for d in deps if d.repository and d not in local]
    files: dict[str, str] = {}
    fetched: set[str] = set()
    for name, path in helmignore.chart_files(directory):
        if name.startswith("charts/"):
            inside = name[len("charts/") :]
            # helm's loader skips charts/_x and charts/.x, except provenance files.
            if inside[:1] in ("_", ".") and not name.endswith(".prov"):
                continue
            if "/" not in inside:
                if _archive_of(inside, local) is not None:
                    continue
                if _archive_of(inside, remote) is not None:
                    fetched.add(name)
        files[name] = hashlib.sha256(helmignore.read_chart_file(path)).hexdigest()
    here = directory.resolve()
    for prefix, (_dep, target) in targets.items():
        if target in seen or target == here or not (target / CHART_FILE).is_file():
            # A cycle or a missing chart: helm refuses it when building, lint names it.
            continue
        inner = _fingerprint(target, dependencies_in(target), seen | {here}, sibling_of)
        files.update({prefix + n: digest for n, digest in inner.files.items()})
        fetched.update(prefix + n for n in inner.fetched)
    return Fingerprint(files, frozenset(fetched))


# --------------------------------------------------------------------------- dist/SOURCES.json


@dataclass
class Entry:
    """What one archive in dist/ is: its bytes, its sources, where it is published."""

    chart: str
    version: str
    sha256: str
    #: None when chartship did not package these bytes itself (adopted before any record).
    sources: Fingerprint | None
    published: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "chart": self.chart,
            "version": self.version,
            "sha256": self.sha256,
            "fingerprint": self.sources.digest if self.sources else None,
            "files": dict(sorted(self.sources.files.items())) if self.sources else None,
            "fetched": sorted(self.sources.fetched) if self.sources else [],
            "published": list(self.published),
        }


def _entry(name: str, raw: Any, path: Path) -> Entry:
    def bad(what: str) -> ChartError:
        return ChartError(
            f"archives.{name}: {what}; remove the file to repackage every chart", path=path
        )

    if not isinstance(raw, dict):
        raise bad("must be a mapping")
    for key in ("chart", "version", "sha256"):
        if not isinstance(raw.get(key), str):
            raise bad(f"{key} must be a string")
    files = raw.get("files")
    published = raw.get("published", [])
    fetched = raw.get("fetched", [])
    if files is not None and not (
        isinstance(files, dict) and all(isinstance(v, str) for v in files.values())
    ):
        raise bad("files must map file names to sha256 digests")
    if not isinstance(published, list) or not all(isinstance(p, str) for p in published):
        raise bad("published must be a list of strings")
    if not isinstance(fetched, list) or not all(isinstance(p, str) for p in fetched):
        raise bad("fetched must be a list of strings")
    sources = Fingerprint(dict(files), frozenset(fetched)) if files is not None else None
    return Entry(raw["chart"], raw["version"], raw["sha256"], sources, list(published))


@dataclass
class Record:
    """dist/SOURCES.json in memory; :meth:`write` replaces the file atomically."""

    entries: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def read(cls, dist: Path) -> Record:
        path = dist / RECORD_FILE
        if not path.is_file():
            return cls()
        try:
            data = load_json(path, _RECORD)
        except ChartError as exc:
            raise ChartError(
                f"{exc.message}; remove the file to repackage every chart",
                path=path,
                line=exc.line,
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("archives"), dict):
            raise ChartError(
                "has no archives mapping; remove the file to repackage every chart", path=path
            )
        if data.get("format") != _FORMAT:
            raise ChartError(
                f"format {data.get('format')!r} is not {_FORMAT}, the one this chartship "
                "writes; remove the file to repackage every chart",
                path=path,
            )
        return cls({n: _entry(n, raw, path) for n, raw in data["archives"].items()})

    def text(self) -> str:
        body = {
            "format": _FORMAT,
            "about": "what each archive here was packaged from (chartship package)",
            "archives": {n: self.entries[n].to_json() for n in sorted(self.entries)},
        }
        return json.dumps(body, indent=2, sort_keys=False) + "\n"

    def write(self, dist: Path) -> None:
        path = dist / RECORD_FILE
        text = self.text()
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            return
        tmp = dist / f".{RECORD_FILE}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)


def _add_place(known: list[str], place: str) -> None:
    """Add ``place`` ("<channel title> [where]") unless it says no more than a known one."""
    if any(q == place or q.startswith(f"{place} ") for q in known):
        return
    # A bare channel title is superseded by the same channel with its address.
    known[:] = [q for q in known if not place.startswith(f"{q} ")]
    known.append(place)


def record_published(
    dist: Path,
    archive: str,
    *,
    chart: str,
    version: str,
    sha256: str,
    places: Iterable[str],
    previous_sha256: str | None = None,
) -> None:
    """Note that ``archive``'s bytes (``sha256``) are published at ``places``.

    ``previous_sha256`` is the digest of the bytes the archive replaced with
    the same files (adoption keeps the sources; other bytes do not).
    """
    try:
        record = Record.read(dist)
        entry = record.entries.get(archive)
        if entry is None or entry.sha256 not in (sha256, previous_sha256):
            entry = Entry(chart, version, sha256, None)
        entry.sha256 = sha256
        for place in places:
            _add_place(entry.published, place)
        record.entries[archive] = entry
        record.write(dist)
    except (ChartError, OSError) as exc:
        # The bytes are published whatever the record says; failing now would
        # report a publication that happened as one that did not.
        log.warning(
            "warning: could not record in %s that %s is published: %s",
            dist / RECORD_FILE, archive, exc,
        )  # fmt: skip

"""Version stamping: what MetalLB's release task did with sed, done YAML-aware.

A round-trip YAML library locates each scalar (line and column); the edit then
replaces exactly that token in the original text, so comments, quoting, key
order and indentation stay byte-for-byte as they were.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chartship import charts as chartfiles
from chartship import dependencies, siblings, versions, yamlfiles
from chartship.charts import Chart
from chartship.config import Settings
from chartship.errors import ChartError, UsageError, VersionError
from chartship.gitrepo import Git, release_tags, released_version
from chartship.helm import Helm
from chartship.runner import Runner

log = logging.getLogger("chartship")


@dataclass(frozen=True)
class Edit:
    path: Path
    key: str
    old: str
    new: str


@dataclass
class BumpResult:
    chart: str
    version: str
    edits: list[Edit] = field(default_factory=list)
    lock_refreshed: bool = False
    #: For a chart that was not asked for: the sibling it depends on that moved.
    because: str | None = None
    #: What was left alone on purpose, and why (an appVersion kept, a lock to refresh later).
    notes: list[str] = field(default_factory=list)
    #: Chart.lock will be (in a dry run: would be) refreshed.
    lock_planned: bool = False
    #: The lock file's name: Chart.lock, or requirements.lock for an apiVersion v1 chart.
    lock_name: str = chartfiles.LOCK_FILE

    @property
    def changed(self) -> bool:
        return bool(self.edits) or self.lock_refreshed


def _token_end(line: str, col: int, flow: bool = False) -> int:
    """End (exclusive) of the YAML scalar token starting at ``col``.

    ``flow``: the scalar is a value in a flow mapping (``{name: x, version: 1}``),
    where a plain scalar also ends at a flow indicator.
    """
    quote = line[col] if col < len(line) else ""
    if quote in ("'", '"'):
        i = col + 1
        while i < len(line):
            if quote == "'" and line[i] == "'":
                if i + 1 < len(line) and line[i + 1] == "'":
                    i += 2
                    continue
                return i + 1
            if quote == '"' and line[i] == "\\":
                i += 2
                continue
            if quote == '"' and line[i] == '"':
                return i + 1
            i += 1
        raise ChartError("unterminated quoted scalar")
    end = len(line)
    comment = line.find(" #", col)
    if comment != -1:
        end = comment
    if flow:
        end = min([end, *(i for i in map(line.find, ",]}", [col] * 3) if i != -1)])
    return col + len(line[col:end].rstrip())


def _render_like(old_token: str, new: str) -> str:
    """The new value written with the old token's quoting."""
    if old_token[:1] == '"':
        return '"' + new.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if old_token[:1] == "'":
        return "'" + new.replace("'", "''") + "'"
    return new


class _Document:
    """One YAML file being edited in place."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = yamlfiles.read_text(path, yamlfiles.CHART)
        # ruamel has no bound of its own: the bounded reader sees the text first.
        yamlfiles.parse_yaml(self.text, path, yamlfiles.CHART)
        # Imported here: only a bump that edits YAML needs the round-trip library.
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        yaml = YAML(typ="rt")
        try:
            self.tree: Any = yaml.load(io.StringIO(self.text))
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ChartError(
                f"malformed YAML: {getattr(exc, 'problem', exc)}",
                path=path,
                line=mark.line + 1 if mark is not None else None,
            ) from None
        if not hasattr(self.tree, "lc"):
            raise ChartError("must be a mapping", path=path, line=1)
        self.lines = self.text.splitlines(keepends=True)
        self.edits: list[Edit] = []

    def set(self, container: Any, key: str, new: str, label: str) -> Edit | None:
        """Stamp ``new`` over the value of ``key``; the edit, or None when it is already so."""
        if key not in container:
            raise ChartError(f"{label} is missing", path=self.path)
        old = container[key]
        if str(old) == new and isinstance(old, str):
            return None
        line, col = container.lc.value(key)
        text = self.lines[line]
        end = _token_end(text, col, flow=bool(container.fa.flow_style()))
        token = text[col:end]
        if token[:1] in ("|", ">", "&", "*", "!", "{", "["):
            raise ChartError(
                f"{label} is not a plain scalar; cannot stamp it", path=self.path, line=line + 1
            )
        self.lines[line] = text[:col] + _render_like(token, new) + text[end:]
        edit = Edit(self.path, label, str(old), new)
        self.edits.append(edit)
        return edit

    def save(self) -> None:
        if self.edits:
            self.path.write_text("".join(self.lines), encoding="utf-8")
            chartfiles.written(self.path)


class _Documents:
    """Each file opened once: a chart bumped and updated as a dependent shares its edits."""

    def __init__(self) -> None:
        self.open: dict[Path, _Document] = {}

    def __call__(self, path: Path) -> _Document:
        if path not in self.open:
            self.open[path] = _Document(path)
        return self.open[path]


def _app_version(
    doc: _Document,
    old_version: str,
    version: str,
    chart: Chart,
    explicit: str | None,
    required: bool,
) -> tuple[Edit | None, str | None]:
    """The appVersion edit the chart's policy asks for, or the note saying it was kept."""
    prefix = chart.settings.app_version_prefix
    policy = chart.settings.app_version
    if "appVersion" not in doc.tree:
        if required and (explicit is not None or policy == "follow"):
            raise ChartError("appVersion is missing", path=doc.path)
        return None, None
    current = str(doc.tree["appVersion"])
    if explicit is not None:
        wanted = explicit
    elif policy == "follow" or (policy == "auto" and current == prefix + old_version):
        wanted = prefix + version
    else:
        if current == prefix + version:
            return None, None
        if policy == "keep":
            why = " (app_version: keep)"
        else:
            why = (
                f": it is not {prefix}{old_version}, so the app is versioned apart "
                "(app_version: auto; set app_version: follow, or give --app-version)"
            )
        whose = "" if doc.path == chart.chart_yaml else f"{doc.path.parent.name}'s "
        return None, f"kept {whose}appVersion {current}{why}"
    return doc.set(doc.tree, "appVersion", wanted, "appVersion"), None


def _plan(
    chart: Chart, version: str, app_version: str | None, documents: _Documents
) -> tuple[list[Edit], list[str]]:
    parent = documents(chart.chart_yaml)
    edits: list[Edit | None] = []
    notes: list[str | None] = []
    old = str(parent.tree.get("version"))
    edits.append(parent.set(parent.tree, "version", version, "version"))
    edit, note = _app_version(parent, old, version, chart, app_version, required=True)
    edits.append(edit)
    notes.append(note)
    declared = documents(chart.declared_file)
    deps = declared.tree.get("dependencies") or []
    for sub in chart.settings.lockstep:
        entry = next((d for d in deps if hasattr(d, "get") and d.get("name") == sub), None)
        if entry is None:
            raise ChartError(
                f"lockstep subchart {sub} is not among the dependencies", path=chart.declared_file
            )
        edits.append(declared.set(entry, "version", version, f"dependencies[{sub}].version"))
        sub_doc = documents(chart.directory / "charts" / sub / chartfiles.CHART_FILE)
        sub_old = str(sub_doc.tree.get("version"))
        edits.append(sub_doc.set(sub_doc.tree, "version", version, "version"))
        edit, note = _app_version(sub_doc, sub_old, version, chart, app_version, required=False)
        edits.append(edit)
        notes.append(note)
    return [e for e in edits if e is not None], [n for n in notes if n is not None]


def _next_version(chart: Chart, increment: versions.Increment, released: dict[str, str]) -> str:
    current = chart.version
    counted = list(released)
    if not versions.is_placeholder(current):
        chartfiles.require_semver(chart)
        counted.append(current)
    base = versions.highest(counted)
    if base is None:
        raise VersionError(
            f"{increment.flags()} has no version to count from: {chart.name} carries the "
            f"placeholder {versions.PLACEHOLDER} and has no release tag; give --version X.Y.Z",
            path=chart.chart_yaml,
            line=chart.doc.line("version"),
        )
    try:
        return versions.next_version(base, increment.level, increment.pre, taken=released)
    except VersionError as exc:
        raise VersionError(f"{chart.name}: {exc.message}", path=chart.chart_yaml) from None


def _follow_sibling(
    link: siblings.Link, version: str, graph: siblings.Graph, documents: _Documents
) -> Edit | None:
    """Move the dependent's constraint on the sibling so it admits ``version``, if it must."""
    dependent = graph.charts[link.dependent]
    constraint = link.constraint
    line = dependent.dependency_line(link.dependency.position, "version")
    if not constraint:
        return None
    try:
        if versions.satisfies(version, constraint):
            return None
    except VersionError as exc:
        raise VersionError(exc.message, path=dependent.declared_file, line=line) from None
    moved = versions.retarget(constraint, version)
    if moved is None:
        raise VersionError(
            f"{dependent.name} depends on {link.sibling} with the constraint {constraint!r}, "
            f"which does not admit {version}; bump moves only a one-term floor "
            "(1.2.3, =1.2.3, ~1.2, ^1.2.3, 1.2.x, >=1.2): edit it to admit "
            f"{version}, then bump again",
            path=dependent.declared_file,
            line=line,
        )
    doc = documents(dependent.declared_file)
    entry = doc.tree["dependencies"][link.dependency.position]
    return doc.set(entry, "version", moved, f"dependencies[{link.dependency.name}].version")


def bump(
    settings: Settings,
    version: str | versions.Increment,
    names: Sequence[str] = (),
    *,
    app_version: str | None = None,
    dry_run: bool = False,
    helm: Helm | None = None,
    runner: Runner | None = None,
) -> list[BumpResult]:
    """Stamp a version into the named charts (all when only one exists).

    ``version`` is the version itself or an :class:`versions.Increment`, which gives
    each chart its own next version. ``app_version`` sets appVersion whatever
    the chart's ``app_version`` policy says. Every chart that depends on a
    bumped one (:mod:`chartship.siblings`) has its constraint moved when it
    no longer admits the new version (in requirements.yaml for an apiVersion
    v1 chart), and its lock refreshed; a
    constraint bump cannot move is refused before anything is written.
    """
    if isinstance(version, str):
        versions.parse(version, what="version")
    if app_version is not None and (not app_version.strip() or "\n" in app_version):
        raise UsageError("--app-version must be one non-empty line")
    runner = runner or Runner()
    wheres = chartfiles.discover(settings, names)
    if not names and len(wheres) > 1:
        raise UsageError(
            "name the chart(s) to bump; this repository has " + ", ".join(w.name for w in wheres)
        )
    git = Git(settings.root, runner)
    checkout = git.checkout()
    tags = list(checkout.tags) if checkout is not None else []
    loaded = chartfiles.load_all(wheres)
    graph = siblings.graph(settings)
    documents = _Documents()
    results: dict[str, BumpResult] = {}
    stamped: dict[str, str] = {}
    # Charts whose Chart.lock would resolve a new sibling version against this
    # repository's own channel, which does not have it before the release.
    deferred: set[str] = set()
    for chart in loaded:
        released_tags = release_tags(tags, settings.release.tag, chart.name)
        target = (
            version if isinstance(version, str) else _next_version(chart, version, released_tags)
        )
        edits, notes = _plan(chart, target, app_version, documents)
        if edits:
            released = released_version(tags, settings.release.tag, chart.name)
            if released is not None and versions.parse(target) <= versions.parse(released.version):
                raise VersionError(
                    f"{target} is not higher than the released {released.version} "
                    f"(tag {released.tag})",
                    path=chart.chart_yaml,
                )
        results[chart.name] = BumpResult(chart.name, target, edits, notes=notes)
        stamped[chart.name] = target
    for name, target in stamped.items():
        for link in graph.dependents_of(name):
            dependent = graph.charts[link.dependent]
            result = results.setdefault(
                dependent.name,
                BumpResult(dependent.name, dependent.version, because=f"depends on {name}"),
            )
            edit = _follow_sibling(link, target, graph, documents)
            if edit is not None:
                result.edits.append(edit)
            pinned = siblings.locked_version(dependent, link.dependency.name)
            if pinned is not None and pinned != target and link.via != "file":
                deferred.add(dependent.name)
                where = graph.shown(dependent.directory)
                result.notes.append(
                    f"{dependent.lock_file.name} pins {link.dependency.name} {pinned} from "
                    f"{link.dependency.repository}; run `helm dependency update {where}` "
                    f"once {name} {target} is published there"
                )
            elif pinned is not None and pinned != target:
                result.lock_planned = True
    lock_of = {name: graph.charts[name].lock_file for name in results}
    for name, result in results.items():
        chart = graph.charts[name]
        result.lock_name = chart.lock_file.name
        if name in deferred:
            result.lock_planned = False
        elif result.edits and chart.dependencies and lock_of[name].exists():
            result.lock_planned = True
    helm = helm or Helm(settings.helm_binary, runner=runner)
    if dry_run:
        return list(results.values())
    # Everything written so far, to put back if a later step fails: a stamped
    # Chart.yaml with a stale Chart.lock would fail every later build.
    originals: dict[Path, bytes] = {}
    archive_dirs: list[Path] = []
    try:
        for doc in documents.open.values():
            if doc.edits:
                originals[doc.path] = doc.text.encode("utf-8")
        for name, result in results.items():
            if result.lock_planned:
                originals[lock_of[name]] = lock_of[name].read_bytes()
                # Refreshing may fetch archives into charts/ and drop outdated ones.
                charts_dir = graph.charts[name].directory / "charts"
                archive_dirs.append(charts_dir)
                for archive in sorted(charts_dir.glob("*.tgz")):
                    originals[archive] = archive.read_bytes()
        for doc in documents.open.values():
            doc.save()
        # Siblings first: a dependent's lock refresh archives the sibling as it now is.
        for chart in graph.build_order(graph.charts[name] for name in results):
            if results[chart.name].lock_planned:
                results[chart.name].lock_refreshed = dependencies.refresh_lock(
                    chartfiles.load(chart.where), settings, helm=helm
                )
    except BaseException:
        for directory in archive_dirs:
            for archive in directory.glob("*.tgz"):
                if archive not in originals:
                    archive.unlink()
        for path, data in originals.items():
            path.write_bytes(data)
            chartfiles.written(path)
        raise
    return list(results.values())

"""A chart's dependencies: vendored archives, mirrors, offline runs and scratch copies.

Real repositories commit their remote dependencies: MetalLB keeps
``charts/metallb/charts/frr-k8s-<version>.tgz`` beside Chart.lock, and plain
``helm lint`` works offline with it. ``helm dependency build`` would download
it again regardless, so chartship decides itself, per dependency:

- a local subchart (no repository) is the chart's own; nothing to do;
- a ``file://`` chart is archived from its directory, as helm does (no network);
- a remote one (``http(s)://``, ``oci://``) whose archive is in charts/ at the
  version Chart.lock pins, admitted by Chart.yaml's constraint, is *vendored*
  and used as it is: no repository is contacted for it;
- any other remote one is fetched with helm, through ``dependencies.mirrors``,
  into a scratch directory; with ``dependencies.offline`` that is an error;
- a repository named by alias (``@name``, ``alias:name``) is first replaced by
  its URL (:class:`Repositories`), as helm's resolveRepoNames does before it
  locks, hashes or fetches anything, and is then remote like any other.

lint and package work on a scratch copy of the chart (:func:`prepared`), so the
chart's directory is never written by them. Only bump (:func:`refresh_lock`)
writes: Chart.lock and the fetched archives, exactly as ``helm dependency
update`` would, with the original repository URLs (a mirror never shows up in
Chart.yaml, Chart.lock or a packaged chart).

Chart.lock's ``digest`` is computed as helm computes it (``HashReq`` in helm's
internal/resolver: sha256 of the JSON of ``[Chart.yaml's dependencies,
Chart.lock's dependencies]`` with Go's encoding rules), so a lock written here
is one helm accepts, and a lock out of sync is found without helm.

An apiVersion v1 chart declares its dependencies in requirements.yaml and
locks them in requirements.lock (:attr:`Chart.declared_file`,
:attr:`Chart.lock_file`); everything here reads and names those files for it,
as helm does. helm also accepts a v1 lock whose digest is helm 2's
(``HashV2Req``: the requirements alone), which is what repositories that
started on helm 2 still commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import yaml

from chartship import gojson, safetar, siblings, versions, yamlfiles
from chartship.charts import CHART_FILE, LOCK_FILE, Chart, Dependency
from chartship.config import MirrorSettings, Settings, alias_name, credentials_problem
from chartship.errors import ChartError, DependencyError, ToolError, VersionError
from chartship.helm import Helm
from chartship.safetext import shown
from chartship.yamlfiles import load_yaml

REMOTE_SCHEMES = ("http://", "https://", "oci://")

#: ``sibling``: a chart of this repository, archived fresh by :mod:`chartship.siblings`.
Kind = Literal["local", "file", "remote", "alias", "sibling"]


def kind_of(dep: Dependency) -> Kind:
    repository = dep.repository or ""
    if not repository:
        return "local"
    if repository.startswith("file://"):
        return "file"
    if repository.startswith(REMOTE_SCHEMES):
        return "remote"
    return "alias"


# --------------------------------------------------------------------------- repository aliases


_OWN_CREDENTIALS = "`helm repo add --username ... --password-stdin` keeps them out of it"


class Repositories:
    """What ``@name`` and ``alias:name`` stand for: ``dependencies.repositories``
    (ct.yaml's ``chart-repos`` when unset), then, with ``repository_config: helm``,
    the repositories of the user's own helm config, read once and only when a
    name is not configured (finding the file takes a ``helm env``)."""

    def __init__(self, settings: Settings, helm: Helm | None) -> None:
        self.settings = settings
        self.helm = helm
        self._own: dict[str, str] | None = None
        self._lock = threading.Lock()

    def url_for(self, repository: str) -> str | None:
        """The URL ``repository`` stands for; None for an alias nothing names."""
        url = self.settings.dependencies.url_for(repository)
        name = alias_name(repository)
        if url is not None or name is None or self.helm is None:
            return url
        if self.settings.dependencies.repository_config != "helm":
            return None
        own = self._own_repositories(self.helm).get(name)
        problem = None if own is None else credentials_problem(own, _OWN_CREDENTIALS)
        if problem is not None:
            # Messages name the URL an alias stands for: it must hold no secret.
            raise DependencyError(f"your helm repository {shown(name)}: its URL {problem}")
        return own

    def _own_repositories(self, helm: Helm) -> dict[str, str]:
        with self._lock:
            if self._own is None:
                own = Path(_helm_env_paths(helm).get("HELM_REPOSITORY_CONFIG", ""))
                entries = _read_repository_config(own) if own.is_file() else []
                self._own = dict(reversed(entries))  # helm takes the first of a name
            return self._own

    def unresolved(self, chart: Chart) -> list[Dependency]:
        """The dependencies of ``chart`` naming an alias nothing resolves."""
        return [
            dep
            for dep in chart.dependencies
            if alias_name(dep.repository or "") is not None
            and self.url_for(dep.repository or "") is None
        ]

    def problem(self, dep: Dependency) -> str:
        """Why ``dep``'s alias does not resolve, and the setting that makes it."""
        name = alias_name(dep.repository or "") or ""
        searched = "dependencies.repositories (ct.yaml: chart-repos)"
        if self.settings.dependencies.repository_config == "helm":
            searched += " nor your helm repositories"
        return (
            f"dependency {dep.name} names its repository {shown(dep.repository)} by alias, and "
            f"neither {searched} names a repository {shown(name)}; add `{name}: <url>` under "
            f"dependencies.repositories in chartship.yaml (or `{name}=<url>` to chart-repos "
            "in ct.yaml)"
        )


def resolved(chart: Chart, repositories: Repositories) -> Chart:
    """``chart`` with each repository alias replaced by its URL.

    helm's resolveRepoNames rewrites the dependencies this way before anything
    else, so Chart.lock records the URL, its digest covers the URL, and mirrors
    are keyed by it. An alias nothing resolves is left as it is (kind ``alias``).
    """
    raw = chart.raw_dependencies
    if not isinstance(raw, list):
        return chart
    items: list[Any] = []
    for item in raw:
        repository = item.get("repository") if isinstance(item, dict) else None
        if isinstance(repository, str) and alias_name(repository) is not None:
            url = repositories.url_for(repository)
            if url is not None:
                item = {**item, "repository": url}
        items.append(item)
    if items == raw:
        return chart
    return chart.with_dependencies(items)


def _admits(version: str, constraint: str) -> bool:
    """Whether helm takes ``version`` for ``constraint``; an unreadable one admits nothing
    (lint reports a bad constraint or version where it checks Chart.yaml)."""
    try:
        return versions.satisfies(version, constraint)
    except VersionError:
        return False


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1].removeprefix("Error: ") if lines else "no output"


# --------------------------------------------------------------------------- helm's digest

#: Fields of helm's chart.Dependency in declaration order: (key, kind, omitempty).
_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("name", "string", False),
    ("version", "string", True),
    ("repository", "string", False),
    ("condition", "string", True),
    ("tags", "strings", True),
    ("enabled", "bool", True),
    ("import-values", "any", True),
    ("alias", "string", True),
)
#: Fields helm's Dependency.Validate passes through sanitizeString when Chart.yaml is loaded.
_SANITIZED = frozenset({"name", "version", "repository", "condition", "tags"})


def _go_scalar(value: Any) -> str:
    """A YAML scalar as helm's YAML reader turns it into a Go string field."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _sanitize(text: str) -> str:
    """helm's sanitizeString: whitespace becomes a space, unprintable runes go."""
    out = []
    for char in text:
        if char.isspace():
            out.append(" ")
        elif char.isprintable():
            out.append(char)
    return "".join(out)


def _go_any(value: Any) -> Any:
    """A value as it round-trips through Go's ``any`` (maps sorted, integral floats bare)."""
    if isinstance(value, dict):
        return {str(k): _go_any(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_go_any(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _go_dependency(item: Any, *, sanitize: bool) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        return None
    out: dict[str, Any] = {}
    for key, kind, omitempty in _FIELDS:
        raw = item.get(key)
        value: Any
        if kind == "string":
            value = _go_scalar(raw)
            if sanitize and key in _SANITIZED:
                value = _sanitize(value)
        elif kind == "strings":
            value = [_go_scalar(v) for v in raw] if isinstance(raw, list) else []
            if sanitize:
                value = [_sanitize(v) for v in value]
        elif kind == "bool":
            value = raw is True
        else:
            value = _go_any(raw) if isinstance(raw, list) else []
        if omitempty and not value:
            continue
        out[key] = value
    return out


def lock_digest(requested: Any, locked: Any) -> str:
    """helm's ``HashReq(req, lock)``: what Chart.lock's ``digest`` must be.

    ``requested`` is Chart.yaml's ``dependencies`` as parsed (sanitized as
    helm's loader does), ``locked`` Chart.lock's (taken as they are).
    """

    return _digest([_listing(requested, sanitize=True), _listing(locked, sanitize=False)])


def helm2_lock_digest(requested: Any) -> str:
    """helm's ``HashV2Req(req)``: the digest helm 2 wrote into requirements.lock."""
    return _digest({"dependencies": _listing(requested, sanitize=True)})


def _listing(raw: Any, *, sanitize: bool) -> list[Any] | None:
    if not isinstance(raw, list):
        return None
    return [_go_dependency(item, sanitize=sanitize) for item in raw]


def _digest(value: Any) -> str:
    """helm's provenance.Digest of the value as Go's encoding/json writes it."""
    return "sha256:" + hashlib.sha256(gojson.dumps(value).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- Chart.lock


@dataclass(frozen=True)
class Lock:
    path: Path
    entries: list[dict[str, Any]]
    digest: str | None

    def version_for(self, dep: Dependency) -> str | None:
        """The version locked for ``dep``: its entry by position, else by name and repository."""
        candidates = []
        if dep.position < len(self.entries):
            candidates.append(self.entries[dep.position])
        candidates += self.entries
        for entry in candidates:
            if str(entry.get("name")) == dep.name and _go_scalar(entry.get("repository")).rstrip(
                "/"
            ) == (dep.repository or "").rstrip("/"):
                version = _go_scalar(entry.get("version"))
                return version or None
        return None


def read_lock(chart: Chart) -> Lock | None:
    """The lock of ``chart`` (:attr:`Chart.lock_file`), or None when it has none; malformed
    is a :class:`ChartError`."""
    path = chart.lock_file
    if not path.is_file():
        return None
    doc = load_yaml(path, yamlfiles.LOCK)
    data = doc.data
    if not isinstance(data, dict):
        raise ChartError("must be a mapping", path=path, line=1)
    raw = data.get("dependencies")
    if raw is None:
        raw = []
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise ChartError(
            "dependencies must be a list of mappings", path=path, line=doc.line("dependencies")
        )
    digest = data.get("digest")
    return Lock(path, list(raw), None if digest is None else str(digest))


def lock_in_sync(chart: Chart, lock: Lock) -> bool:
    requested = chart.raw_dependencies
    if lock.digest == lock_digest(requested, lock.entries):
        return True
    # helm checks a v1 chart's lock against helm 2's digest too (helm/helm#7233).
    return chart.is_v1 and lock.digest == helm2_lock_digest(requested)


def _differences(chart: Chart, lock: Lock, named: Chart) -> list[str]:
    """What differs between ``chart`` (aliases resolved) and ``lock``; ``named`` is the
    chart as written, whose aliases the messages show beside their URLs."""
    written = {d.position: d.repository for d in named.dependencies}
    declared = chart.declared_file.name
    found = []
    for dep in chart.dependencies:
        entry = lock.entries[dep.position] if dep.position < len(lock.entries) else None
        if entry is None or str(entry.get("name")) != dep.name:
            found.append(f"it does not list {dep.name}")
            continue
        locked_repo = _go_scalar(entry.get("repository"))
        locked = _go_scalar(entry.get("version"))
        if locked_repo != (dep.repository or ""):
            wanted = dep.repository or "(no repository)"
            if written.get(dep.position) not in (None, dep.repository):
                wanted = f"{written[dep.position]} ({wanted})"
            found.append(
                f"{dep.name} comes from {locked_repo or '(no repository)'} in it, "
                f"from {wanted} in {declared}"
            )
        elif kind_of(dep) == "local" and locked != (dep.version or ""):
            found.append(f"{dep.name} is {locked} in it, {dep.version} in {declared}")
        elif kind_of(dep) == "remote" and not _admits(locked, dep.version or "*"):
            found.append(f"its {dep.name} {locked} is not admitted by {dep.version!r}")
    for entry in lock.entries[len(chart.dependencies) :]:
        found.append(f"it lists {entry.get('name')}, which {declared} does not")
    return found


def _out_of_sync(chart: Chart, lock: Lock, root: Path, named: Chart | None = None) -> ChartError:
    differences = _differences(chart, lock, named or chart)
    detail = "; ".join(differences) if differences else "its digest is not of these dependencies"
    # helm resolves an alias from its own repositories only: the names chartship
    # resolved from its settings must be added there before helm can update the lock.
    adds = [f"`helm repo add {name} {url}`" for name, url in _aliases_used(named or chart, chart)]
    first = f"run {', '.join(adds)}, then" if adds else "run"
    return ChartError(
        f"is out of sync with {chart.declared_file.name} ({detail}); {first} `helm dependency "
        f"update {_shown(chart.directory, root)}` and commit it",
        path=lock.path,
    )


def _aliases_used(named: Chart, chart: Chart) -> list[tuple[str, str]]:
    """(name, URL) of each repository alias of ``named`` that ``chart`` has resolved."""
    used: dict[str, str] = {}
    for original, made in zip(named.dependencies, chart.dependencies, strict=False):
        name = alias_name(original.repository or "")
        if name is not None and made.repository and alias_name(made.repository) is None:
            used[name] = made.repository
    return sorted(used.items())


def _yaml_string(text: str) -> str:
    """A string as helm's YAML writer (go-yaml v2) emits it, for Chart.lock's few shapes."""
    if text == "":
        return '""'
    try:
        plain_reads_back = yamlfiles.load_data(text, yamlfiles.LOCK) == text
    except yaml.YAMLError:
        plain_reads_back = False
    indicator = text[0] in "-?:,[]{}#&*!|>'\"%@`" or text[0].isspace() or text[-1].isspace()
    awkward = ": " in text or " #" in text or text.endswith(":") or "\n" in text
    if plain_reads_back and not indicator and not awkward:
        return text
    if not plain_reads_back and not indicator and not awkward:
        # A plain scalar that YAML would read as something else (a number, a date).
        return json.dumps(text)
    return "'" + text.replace("'", "''") + "'"


def _generated(now_ns: int) -> str:
    """Go's RFC 3339 with nanoseconds, in local time, as helm stamps ``generated``."""
    seconds, nanos = divmod(now_ns, 10**9)
    moment = datetime.fromtimestamp(seconds, timezone.utc).astimezone()
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        text += f".{nanos:09d}".rstrip("0")
    offset = moment.utcoffset()
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def render_lock(entries: Sequence[Mapping[str, str]], digest: str, generated: str) -> str:
    """Chart.lock text byte for byte as helm writes it (keys sorted, go-yaml v2 quoting)."""
    lines = ["dependencies:"]
    for entry in entries:
        keys = sorted(entry)
        for number, key in enumerate(keys):
            lead = "- " if number == 0 else "  "
            lines.append(f"{lead}{key}: {_yaml_string(entry[key])}")
    if not entries:
        lines[0] = "dependencies: []"
    lines.append(f"digest: {_yaml_string(digest)}")
    lines.append(f"generated: {_yaml_string(generated)}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- vendored archives


@dataclass(frozen=True)
class Archive:
    """A chart archive in a chart's charts/ directory, opened with :mod:`chartship.safetar`."""

    path: Path
    name: str
    version: str
    files: Mapping[str, str] = field(compare=False, repr=False)


@dataclass(frozen=True)
class Finding:
    """Something wrong with a chart's dependency files, for lint to report."""

    path: Path
    message: str
    line: int | None = None
    severity: Literal["error", "warning"] = "error"


def scan_archives(charts_dir: Path) -> tuple[list[Archive], list[Finding]]:
    """Every readable chart archive in ``charts_dir``, and what is wrong with the others."""
    found: list[Archive] = []
    problems: list[Finding] = []
    if not charts_dir.is_dir():
        return found, problems
    for path in sorted(charts_dir.glob("*.tgz")):
        if not path.is_file():
            continue
        try:
            info = safetar.inspect_chart_archive(path.read_bytes(), source=path.name)
        except (ChartError, OSError) as exc:
            message = exc.message if isinstance(exc, ChartError) else str(exc)
            message = message.removeprefix(f"{path.name}: ")
            problems.append(Finding(path, f"not a valid chart archive: {message}"))
            continue
        name, version = str(info.chart.get("name", "")), _go_scalar(info.chart.get("version"))
        if info.top != name or path.name != f"{name}-{version}.tgz":
            problems.append(
                Finding(
                    path,
                    f"holds chart {name} {version} (under {info.top}/); a vendored archive is "
                    "named <name>-<version>.tgz after the chart it holds",
                )
            )
            continue
        found.append(Archive(path, name, version, info.files))
    return found, problems


# --------------------------------------------------------------------------- assessment


@dataclass(frozen=True)
class Entry:
    dep: Dependency
    kind: Kind
    #: The exact version wanted: Chart.lock's, else Chart.yaml's when it names one.
    pinned: str | None
    #: The archive in charts/ that is used as it is (remote dependencies only).
    vendored: Archive | None = None
    #: Why a remote dependency is not vendored, for messages.
    note: str = ""

    @property
    def label(self) -> str:
        version = self.pinned or self.dep.version or ""
        return f"{self.dep.name} {version}".strip()


@dataclass(frozen=True)
class Assessment:
    chart: Chart
    lock: Lock | None
    entries: list[Entry]
    archives: list[Archive]
    findings: list[Finding]

    @property
    def in_sync(self) -> bool:
        return self.lock is None or lock_in_sync(self.chart, self.lock)

    @property
    def missing(self) -> list[Entry]:
        """Remote dependencies that must be fetched."""
        return [e for e in self.entries if e.kind == "remote" and e.vendored is None]

    @property
    def outdated(self) -> list[Archive]:
        """Archives of a remote dependency's chart other than the one used for it.

        helm loads every archive in charts/ as a subchart, so two versions of
        one dependency must not both reach it; ``helm dependency update``
        deletes the outdated one.
        """
        used = {e.vendored.path for e in self.entries if e.vendored is not None}
        names = {e.dep.name for e in self.entries if e.kind == "remote" and e.vendored}
        return [a for a in self.archives if a.name in names and a.path not in used]

    @property
    def to_build(self) -> list[Entry]:
        """What helm must produce: ``file://`` charts and the remote ones not vendored."""
        return [
            e for e in self.entries if e.kind == "file" or (e.kind == "remote" and not e.vendored)
        ]


def _names_version_of(file_name: str, charts: Collection[str]) -> bool:
    """Whether ``file_name`` is ``<chart>-<version>.tgz`` for one of ``charts``."""
    stem = file_name.removesuffix(".tgz")
    return any(
        stem.startswith(f"{name}-") and versions.is_valid(stem[len(name) + 1 :]) for name in charts
    )


def _exact(constraint: str | None) -> str | None:
    """The version a constraint names exactly (``1.2.3``, ``=1.2.3``), else None."""
    if not constraint:
        return None
    text = constraint.strip().removeprefix("=").strip().removeprefix("v")
    return text if versions.is_valid(text) else None


def assess(chart: Chart, root: Path, handled: Collection[int] = ()) -> Assessment:
    """What each dependency of ``chart`` needs; reads files only, never the network.

    ``handled``: positions of the dependencies :mod:`chartship.siblings` vendors.
    """
    lock = read_lock(chart)
    charts_dir = chart.directory / "charts"
    archives, findings = scan_archives(charts_dir)
    # An archive a fresh one replaces (a sibling's, a file:// chart's) never reaches
    # helm, whatever it holds.
    replaced = {d.name for d in chart.dependencies if d.position in handled or kind_of(d) == "file"}
    findings = [f for f in findings if not _names_version_of(f.path.name, replaced)]
    shown_dir = _shown(charts_dir, root)
    entries: list[Entry] = []
    for dep in chart.dependencies:
        kind: Kind = "sibling" if dep.position in handled else kind_of(dep)
        if kind != "remote":
            entries.append(Entry(dep, kind, None))
            continue
        locked = lock.version_for(dep) if lock is not None else None
        pinned = locked or _exact(dep.version)
        same_name = [a for a in archives if a.name == dep.name]
        constraint = dep.version or "*"
        if pinned is not None:
            usable = [a for a in same_name if a.version == pinned]
        else:
            admitted = [a for a in same_name if _admits(a.version, constraint)]
            best = versions.highest([a.version for a in admitted])
            usable = [a for a in admitted if a.version == best]
        note = ""
        if usable and not _admits(usable[0].version, constraint):
            note = (
                f"{chart.lock_file.name} pins {dep.name} {usable[0].version}, which "
                f"{chart.declared_file.name}'s "
                f"constraint {dep.version!r} does not admit"
            )
            usable = []
        elif not usable and same_name:
            held = ", ".join(a.path.name for a in same_name)
            note = f"{shown_dir} holds {held}, not {dep.name}-{pinned or constraint}"
        elif not usable:
            note = f"{shown_dir} has no {dep.name} archive"
        entries.append(Entry(dep, kind, pinned, usable[0] if usable else None, note))
    return Assessment(chart, lock, entries, archives, findings)


def check(
    chart: Chart,
    root: Path,
    graph: siblings.Graph | None = None,
    repositories: Repositories | None = None,
) -> list[Finding]:
    """lint's view: Chart.lock in sync, vendored archives valid charts of their name and
    version, and every repository alias resolved (``repositories``)."""
    unresolved: list[Finding] = []
    named = chart
    if repositories is not None:
        unresolved = [
            Finding(
                chart.declared_file,
                repositories.problem(dep),
                chart.dependency_line(dep.position, "repository"),
            )
            for dep in repositories.unresolved(chart)
        ]
        chart = resolved(chart, repositories)
    try:
        found = assess(chart, root, _handled(chart, graph, {}))
    except ChartError as exc:
        return [
            *unresolved,
            Finding(exc.path or chart.lock_file, exc.message, exc.line),
        ]
    problems = [*unresolved, *found.findings]
    if found.lock is not None and not found.in_sync and not unresolved:
        # An alias not resolved would also put the lock out of sync: one finding is enough.
        error = _out_of_sync(chart, found.lock, root, named)
        problems.append(Finding(found.lock.path, error.message))
    for entry in found.entries:
        if entry.kind != "remote" or entry.pinned is None:
            continue
        others = [a for a in found.archives if a.name == entry.dep.name and a != entry.vendored]
        for stale in others:
            problems.append(
                Finding(
                    stale.path,
                    f"is stale: {chart.lock_file.name} pins {entry.dep.name} {entry.pinned}; "
                    "run `helm "
                    f"dependency update {_shown(chart.directory, root)}` and commit the result",
                    severity="warning",
                )
            )
    return problems


# --------------------------------------------------------------------------- fetching


@dataclass(frozen=True)
class Source:
    """Where one repository's charts come from: itself, or the mirror configured for it."""

    repository: str
    mirror: MirrorSettings | None

    @property
    def url(self) -> str:
        return self.mirror.url if self.mirror is not None else self.repository

    @property
    def is_oci(self) -> bool:
        return self.url.startswith("oci://")

    def describe(self) -> str:
        if self.mirror is None:
            return self.repository
        return f"{self.mirror.url} (mirror of {self.repository})"


def source_for(settings: Settings, repository: str) -> Source:
    return Source(repository, settings.dependencies.mirror_for(repository))


@dataclass(frozen=True)
class Fetched:
    entry: Entry
    version: str
    archive: Path


def _credentials(
    mirror: MirrorSettings | None, environ: Mapping[str, str], repository: str
) -> tuple[str, str] | None:
    if mirror is None or mirror.username_env is None or mirror.password_env is None:
        return None
    unset = [n for n in (mirror.username_env, mirror.password_env) if not environ.get(n)]
    if unset:
        raise DependencyError(
            f"the mirror of {repository} needs the environment variable(s) {', '.join(unset)} "
            "(dependencies.mirrors)"
        )
    return environ[mirror.username_env], environ[mirror.password_env]


def _helm_env_paths(helm: Helm) -> dict[str, str]:
    """HELM_* locations as helm itself resolves them for this environment."""
    output = helm.run(["env"], timeout=60).stdout
    found = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            found[key.strip()] = value.strip().strip('"')
    return found


#: The user's helm repositories.yaml, read with ``repository_config: helm``.
_REPOSITORIES = yamlfiles.Bounds("helm repository config", 1 * 2**20)


def _read_repository_config(path: Path) -> list[tuple[str, str]]:
    """(name, URL) of each entry of a helm repositories.yaml, in its order."""
    try:
        text = yamlfiles.read_text(path, _REPOSITORIES)
        data = yamlfiles.load_data(text, _REPOSITORIES) or {}
    except (ChartError, yaml.YAMLError) as exc:
        raise DependencyError(
            f"cannot read your helm repository config (dependencies.repository_config: helm): {exc}"
        ) from None
    entries = data.get("repositories") if isinstance(data, dict) else None
    return [
        (str(item["name"]), str(item["url"]))
        for item in entries or []
        if isinstance(item, dict) and item.get("url") and item.get("name")
    ]


def _repository_name(url: str) -> str:
    return "chartship-" + hashlib.sha256(url.encode()).hexdigest()[:12]


class _FetchHelm:
    """A helm whose repository (and registry) config are scratch files under ``home``.

    With ``repository_config: helm`` the scratch config starts as a copy of the
    user's, so its credentials and TLS files apply; the user's files are
    never written. Mirror credentials reach helm on standard input only.
    """

    def __init__(
        self, helm: Helm, settings: Settings, home: Path, environ: Mapping[str, str]
    ) -> None:
        self.settings = settings
        self.environ = environ
        self.timeout = max(30.0, settings.lint.repository_timeout * 3)
        home.mkdir(parents=True, exist_ok=True)
        self.repo_config = home / "repositories.yaml"
        self.cache = home / "cache"
        env = {
            **helm.env,
            "HELM_REPOSITORY_CONFIG": str(self.repo_config),
            "HELM_REPOSITORY_CACHE": str(self.cache),
        }
        self.known: dict[str, str] = {}  # URL -> name of an entry in the config
        if settings.dependencies.repository_config == "helm":
            paths = _helm_env_paths(helm)
            own = Path(paths.get("HELM_REPOSITORY_CONFIG", ""))
            if own.is_file():
                shutil.copyfile(own, self.repo_config)
                os.chmod(self.repo_config, 0o600)
                entries = _read_repository_config(self.repo_config)
                self.known = {url.rstrip("/"): name for name, url in entries}
        self.registry_home = home / "registry"
        self.helm = Helm(helm.binary, runner=helm.runner, env=env)
        self._base = helm
        self.flags: list[str] = []
        self._logged_in: set[str] = set()
        self._added: dict[str, str] = {}

    def index_path(self, url: str) -> Path | None:
        name = self._added.get(url.rstrip("/"))
        return self.cache / f"{name}-index.yaml" if name else None

    def add(self, source: Source) -> None:
        """Make ``source`` known to helm: a repository entry, or a registry login."""
        creds = _credentials(source.mirror, self.environ, source.repository)
        mirror = source.mirror
        if source.is_oci:
            self._oci_flags(mirror)
            host = source.url.removeprefix("oci://").split("/", 1)[0]
            if creds is not None and host not in self._logged_in:
                self._login(host, creds, mirror)
            return
        url = source.url.rstrip("/")
        if url in self._added:
            return
        existing = self.known.get(url)
        if existing is not None and creds is None:
            argv = ["repo", "update", existing]
            self._added[url] = existing
        else:
            name = _repository_name(url)
            argv = ["repo", "add", "--force-update", name, source.url]
            self._added[url] = name
        stdin = None
        secrets: tuple[str, ...] = ()
        if argv[1] == "add" and creds is not None:
            argv += ["--username", creds[0], "--password-stdin"]
            stdin, secrets = creds[1], (creds[1],)
        if argv[1] == "add" and mirror is not None and mirror.ca_file:
            argv += ["--ca-file", str(self.settings.resolve(mirror.ca_file))]
        self.helm.run(argv, stdin=stdin, secrets=secrets, timeout=self.timeout)

    def _oci_flags(self, mirror: MirrorSettings | None) -> None:
        if mirror is None:
            return
        if mirror.plain_http and "--plain-http" not in self.flags:
            self.flags.append("--plain-http")
        if mirror.ca_file:
            ca = str(self.settings.resolve(mirror.ca_file))
            if "--ca-file" in self.flags and ca not in self.flags:
                raise DependencyError(
                    "two oci:// mirrors of one chart's dependencies name different ca_file "
                    "settings; helm takes one CA bundle per dependency build"
                )
            if "--ca-file" not in self.flags:
                self.flags += ["--ca-file", ca]

    def _login(self, host: str, creds: tuple[str, str], mirror: MirrorSettings | None) -> None:
        if not self._logged_in:
            self.registry_home.mkdir(parents=True, exist_ok=True)
            config = self.registry_home / "config.json"
            own = self._base.env.get("HELM_REGISTRY_CONFIG") or os.environ.get(
                "HELM_REGISTRY_CONFIG"
            )
            if own and Path(own).is_file():
                # The user's other logins still apply to the other registries.
                shutil.copyfile(own, config)
            self.helm.env["HELM_REGISTRY_CONFIG"] = str(config)
        argv = ["registry", "login", host, "--username", creds[0], "--password-stdin"]
        if mirror is not None and mirror.plain_http:
            argv.append("--plain-http")
        if mirror is not None and mirror.ca_file:
            argv += ["--ca-file", str(self.settings.resolve(mirror.ca_file))]
        self.helm.run(argv, stdin=creds[1], secrets=(creds[1],), timeout=self.timeout)
        self._logged_in.add(host)


def _advice(assessment: Assessment, entries: Sequence[Entry], root: Path) -> str:
    chart = assessment.chart
    archives = ", ".join(
        _shown(chart.directory / "charts", root) + f"/{e.dep.name}-{e.pinned or '<version>'}.tgz"
        for e in entries
    )
    return (
        f"run `helm dependency update {_shown(chart.directory, root)}` where the repository "
        f"can be reached and commit {archives} with {chart.lock_file.name}, or point "
        "dependencies.mirrors at a copy of the repository"
    )


def _unfetchable(
    assessment: Assessment,
    entries: Sequence[Entry],
    why: str,
    root: Path,
    *,
    key: str = "repository",
) -> DependencyError:
    """The one error for dependencies that are neither vendored nor to be fetched.

    It points at ``key`` (``repository`` or ``version``) of the first one's entry
    in Chart.yaml: what to change, or to vendor, is there.
    """
    chart = assessment.chart
    parts = []
    for entry in entries:
        parts.append(
            f"dependency {entry.label} from {entry.dep.repository} is not vendored ({entry.note})"
        )
    error = DependencyError(
        f"{chart.name}: {'; '.join(parts)}; {why}; {_advice(assessment, entries, root)}",
        path=chart.declared_file,
    )
    error.line = chart.dependency_line(entries[0].dep.position, key)
    return error


def _check_index(
    assessment: Assessment, entry: Entry, source: Source, index: Path, root: Path
) -> None:
    """The repository's index (just fetched by helm) offers the chart and version, or say so."""
    try:
        text = yamlfiles.read_text(index, yamlfiles.INDEX)
        data = yamlfiles.load_data(text, yamlfiles.INDEX, fast=True)
    except (ChartError, yaml.YAMLError):
        return  # helm read it; helm will say what is wrong with it
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        return
    offered = data["entries"].get(entry.dep.name)
    if not offered:
        why = f"{source.describe()} has no chart named {entry.dep.name}"
        raise _unfetchable(assessment, [entry], why, root)
    have = sorted({_go_scalar(o.get("version")) for o in offered if isinstance(o, dict)})
    wanted = entry.pinned
    if wanted is not None and wanted not in have:
        recent = sorted((v for v in have if versions.is_valid(v)), key=versions.parse)[-5:]
        why = f"{source.describe()} has no version {wanted} (it has {', '.join(recent)})"
        raise _unfetchable(assessment, [entry], why, root, key="version")


def _refuse(assessment: Assessment, repositories: Repositories) -> None:
    """Raise what is known to fail before any helm runs or any repository is contacted."""
    chart = assessment.chart
    settings = repositories.settings
    aliased = [e for e in assessment.entries if e.kind == "alias"]
    if aliased:
        # helm dependency build fails the same way ("no repository definition"), vendored or not.
        error = DependencyError(
            f"{chart.name}: {repositories.problem(aliased[0].dep)}", path=chart.declared_file
        )
        error.line = chart.dependency_line(aliased[0].dep.position, "repository")
        raise error
    if assessment.missing and settings.dependencies.offline:
        why = "--offline (dependencies.offline) forbids fetching it"
        raise _unfetchable(assessment, assessment.missing, why, settings.root)


def _handled(chart: Chart, graph: siblings.Graph | None, vendored: Mapping[str, Path]) -> set[int]:
    """Positions of the dependencies :meth:`siblings.Graph.vendor` puts in place.

    A sibling from this repository's own channel is archived from its directory
    (the channel may not have the version yet); a ``file://`` one only when an
    archive was just packaged for it, else helm archives it like any other.
    """
    if graph is None:
        return set()
    return {
        link.dependency.position
        for link in graph.siblings_of(chart.name)
        if link.via != "file" or link.sibling in vendored
    }


def preflight(
    chart: Chart,
    settings: Settings,
    *,
    graph: siblings.Graph | None = None,
    vendored: Mapping[str, Path] | None = None,
    helm: Helm | None = None,
    repositories: Repositories | None = None,
) -> None:
    """Refuse, without any network, what :func:`prepared` would refuse: a Chart.lock out of
    sync, a bad archive in charts/, a repository alias nothing resolves, a missing
    dependency under ``--offline``.

    ``helm`` finds the user's helm repositories (``repository_config: helm``) for
    an alias; ``repositories``, if given, is the resolution already made.
    """
    repositories = repositories or Repositories(settings, helm)
    named, chart = chart, resolved(chart, repositories)
    assessment = assess(chart, settings.root, _handled(chart, graph, vendored or {}))
    if any(e.kind == "alias" for e in assessment.entries):
        _refuse(assessment, repositories)  # the unresolved alias, not the lock it puts out of sync
    if assessment.lock is not None and not assessment.in_sync:
        raise _out_of_sync(chart, assessment.lock, settings.root, named)
    if assessment.findings:
        # helm loads every archive in charts/ as a subchart: a bad one breaks the build.
        first = assessment.findings[0]
        raise ChartError(first.message, path=first.path, line=first.line)
    _refuse(assessment, repositories)


def _fetch(
    assessment: Assessment,
    repositories: Repositories,
    helm: Helm,
    work: Path,
    environ: Mapping[str, str],
) -> list[Fetched]:
    """helm builds the ``file://`` charts and fetches the missing remote ones into ``work``.

    The chart helm works on is a stand-in holding only those dependencies, with
    each repository replaced by its mirror and each ``file://`` path made
    absolute; the real Chart.yaml and Chart.lock are never shown to helm here.
    """
    chart = assessment.chart
    settings = repositories.settings
    root = settings.root
    _refuse(assessment, repositories)
    wanted = assessment.to_build
    if not wanted:
        return []
    missing = assessment.missing
    stand_in = work / "fetch" / chart.name
    (stand_in / "charts").mkdir(parents=True)
    listed: list[dict[str, str]] = []
    fetcher = _FetchHelm(helm, settings, work / "helm", environ)
    for entry in wanted:
        dep = entry.dep
        item = {"name": dep.name}
        if dep.alias:
            item["alias"] = dep.alias
        if entry.kind == "file":
            target = (chart.directory / (dep.repository or "")[len("file://") :]).resolve()
            item["repository"] = f"file://{target}"
            if dep.version is not None:
                item["version"] = dep.version
        else:
            source = source_for(settings, dep.repository or "")
            try:
                fetcher.add(source)
            except ToolError as exc:
                detail = _last_line(exc.output or exc.message)
                why = f"{source.describe()} cannot be used: {detail}"
                raise _unfetchable(assessment, [entry], why, root) from None
            index = fetcher.index_path(source.url)
            if index is not None:
                _check_index(assessment, entry, source, index, root)
            item["repository"] = source.url
            version = entry.pinned or dep.version
            if version is not None:
                item["version"] = version
        listed.append(item)
    (stand_in / CHART_FILE).write_text(
        yaml.safe_dump(
            {"apiVersion": "v2", "name": chart.name, "version": "0.0.0", "dependencies": listed},
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    argv = ["dependency", "update", "--skip-refresh", *fetcher.flags, str(stand_in)]
    try:
        fetcher.helm.run(argv)
    except ToolError as exc:
        detail = _last_line(exc.output or exc.message)
        if missing:
            sources = ", ".join(
                sorted({source_for(settings, e.dep.repository or "").describe() for e in missing})
            )
            raise _unfetchable(
                assessment, missing, f"helm could not fetch it from {sources} ({detail})", root
            ) from None
        raise DependencyError(
            f"{chart.name}: helm cannot archive its file:// dependencies: {detail}",
            path=chart.declared_file,
            argv=exc.argv,
            output=exc.output,
        ) from None
    produced = read_lock_file(stand_in / LOCK_FILE)
    archives = {(a.name, a.version): a for a in scan_archives(stand_in / "charts")[0]}
    fetched = []
    for position, entry in enumerate(wanted):
        version = _go_scalar(produced[position].get("version")) if position < len(produced) else ""
        archive = archives.get((entry.dep.name, version))
        if archive is None:
            raise DependencyError(
                f"{chart.name}: helm did not produce the archive of dependency {entry.label}",
                path=chart.declared_file,
            )
        fetched.append(Fetched(entry, archive.version, archive.path))
    return fetched


def read_lock_file(path: Path) -> list[dict[str, Any]]:
    """The dependencies of a Chart.lock helm just wrote (none if it wrote none)."""
    try:
        data = yamlfiles.load_data(yamlfiles.read_text(path, yamlfiles.LOCK), yamlfiles.LOCK)
    except (ChartError, yaml.YAMLError):
        return []
    raw = data.get("dependencies") if isinstance(data, dict) else None
    return [e for e in raw or [] if isinstance(e, dict)]


def _install(charts_dir: Path, fetched: Sequence[Fetched], *, only_if_changed: bool) -> None:
    """Put fetched archives into ``charts_dir`` in place of other versions of the same charts.

    ``only_if_changed``: keep an archive already there whose chart files are the
    same (helm 3 writes new bytes for the same chart every time).
    """
    charts_dir.mkdir(parents=True, exist_ok=True)
    present, _ = scan_archives(charts_dir)
    for one in fetched:
        new = safetar.inspect_chart_archive(one.archive.read_bytes(), source=one.archive.name)
        target = charts_dir / one.archive.name
        for old in present:
            if old.name == one.entry.dep.name and old.path != target:
                old.path.unlink(missing_ok=True)
        same = next((a for a in present if a.path == target), None)
        if only_if_changed and same is not None and dict(same.files) == new.files:
            continue
        shutil.copyfile(one.archive, target)


# --------------------------------------------------------------------------- the entry points


@contextlib.contextmanager
def prepared(
    chart: Chart,
    settings: Settings,
    *,
    helm: Helm,
    environ: Mapping[str, str] | None = None,
    graph: siblings.Graph | None = None,
    vendored: Mapping[str, Path] | None = None,
    repositories: Repositories | None = None,
) -> Iterator[Path]:
    """A scratch copy of ``chart`` with every dependency in its charts/, for lint and package.

    Vendored archives are used as they are; sibling charts are archived fresh
    (``vendored``: the archives just packaged, by chart name, are used for
    theirs); the rest is fetched (through the mirrors) into the copy. The
    chart's own directory is only read; its Chart.yaml keeps its aliases.
    """
    environ = os.environ if environ is None else environ
    vendored = vendored or {}
    repositories = repositories or Repositories(settings, helm)
    preflight(chart, settings, graph=graph, vendored=vendored, repositories=repositories)
    chart = resolved(chart, repositories)
    handled = _handled(chart, graph, vendored)
    assessment = assess(chart, settings.root, handled)
    if not assessment.to_build and not assessment.outdated and not handled:
        # Nothing to add or take away: helm lint and helm package only read the chart.
        yield chart.directory
        return
    with tempfile.TemporaryDirectory(prefix="chartship-deps-") as tmp:
        work = Path(tmp)
        copy = work / "chart" / chart.directory.name
        shutil.copytree(chart.directory, copy)
        for archive in assessment.outdated:
            (copy / "charts" / archive.path.name).unlink()
        rebuilt = {e.dep.name for e in assessment.entries if e.kind == "file"}
        for old in (copy / "charts").glob("*.tgz"):
            if _names_version_of(old.name, rebuilt):
                old.unlink()  # helm archives the chart afresh from its directory
        if graph is not None and handled:
            graph.vendor(chart, helm, copy, vendored)
        fetched = _fetch(assessment, repositories, helm, work, environ)
        _install(copy / "charts", fetched, only_if_changed=False)
        yield copy


def refresh_lock(
    chart: Chart,
    settings: Settings,
    *,
    helm: Helm,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Bring Chart.lock (and charts/) up to Chart.yaml as ``helm dependency update`` would.

    A vendored dependency keeps its version and archive and no repository is
    contacted for it; the others are fetched (through the mirrors). Chart.lock
    is written only when its digest changes, as helm does; returns whether it was.
    A repository alias is recorded as its URL, as helm records it.
    """
    environ = os.environ if environ is None else environ
    repositories = Repositories(settings, helm)
    chart = resolved(chart, repositories)
    assessment = assess(chart, settings.root)
    with tempfile.TemporaryDirectory(prefix="chartship-deps-") as tmp:
        fetched = _fetch(assessment, repositories, helm, Path(tmp), environ)
        by_position = {f.entry.dep.position: f for f in fetched}
        requested = chart.raw_dependencies or []
        entries: list[dict[str, str]] = []
        for entry in assessment.entries:
            dep = entry.dep
            raw = requested[dep.position]
            if entry.kind == "local":
                version = _sanitize(_go_scalar(raw.get("version")))
            elif dep.position in by_position:
                version = by_position[dep.position].version
            else:
                assert entry.vendored is not None
                version = entry.vendored.version
            entries.append(
                {
                    "name": _sanitize(_go_scalar(raw.get("name"))),
                    "repository": _sanitize(_go_scalar(raw.get("repository"))),
                    "version": version,
                }
            )
        # helm writes every archive it fetched, and Chart.lock only when its digest moved.
        _install(chart.directory / "charts", fetched, only_if_changed=True)
        for archive in assessment.outdated:
            archive.path.unlink(missing_ok=True)
        digest = lock_digest(requested, entries)
        if assessment.lock is not None and assessment.lock.digest == digest:
            return False
        text = render_lock(entries, digest, _generated(time.time_ns()))
        lock_path = chart.lock_file
        if lock_path.is_symlink():
            raise ChartError(f"is a symlink to {os.readlink(lock_path)}", path=lock_path)
        lock_path.write_text(text, encoding="utf-8")
    return True

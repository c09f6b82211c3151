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

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from chartship import charts as chartfiles
from chartship import versions, yamlfiles
from chartship.charts import Chart
from chartship.config import Settings
from chartship.errors import ChartError, UsageError, VersionError
from chartship.gitrepo import Git, released_version
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

    @property
    def changed(self) -> bool:
        return bool(self.edits)


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

    def set(self, container: Any, key: str, new: str, label: str) -> None:
        if key not in container:
            raise ChartError(f"{label} is missing", path=self.path)
        old = container[key]
        if str(old) == new and isinstance(old, str):
            return
        line, col = container.lc.value(key)
        text = self.lines[line]
        end = _token_end(text, col, flow=bool(container.fa.flow_style()))
        token = text[col:end]
        if token[:1] in ("|", ">", "&", "*", "!", "{", "["):
            raise ChartError(
                f"{label} is not a plain scalar; cannot stamp it", path=self.path, line=line + 1
            )
        self.lines[line] = text[:col] + _render_like(token, new) + text[end:]
        self.edits.append(Edit(self.path, label, str(old), new))

    def save(self) -> None:
        if self.edits:
            self.path.write_text("".join(self.lines), encoding="utf-8")


def _plan(chart: Chart, version: str) -> list[_Document]:
    parent = _Document(chart.chart_yaml)
    prefix = chart.settings.app_version_prefix
    parent.set(parent.tree, "version", version, "version")
    parent.set(parent.tree, "appVersion", prefix + version, "appVersion")
    documents = [parent]
    deps = parent.tree.get("dependencies") or []
    for sub in chart.settings.lockstep:
        entry = next((d for d in deps if hasattr(d, "get") and d.get("name") == sub), None)
        if entry is None:
            raise ChartError(
                f"lockstep subchart {sub} is not among the dependencies", path=chart.chart_yaml
            )
        parent.set(entry, "version", version, f"dependencies[{sub}].version")
        sub_doc = _Document(chart.directory / "charts" / sub / chartfiles.CHART_FILE)
        sub_doc.set(sub_doc.tree, "version", version, "version")
        if "appVersion" in sub_doc.tree:
            sub_doc.set(sub_doc.tree, "appVersion", prefix + version, "appVersion")
        documents.append(sub_doc)
    return documents


def bump(
    settings: Settings,
    version: str,
    names: Sequence[str] = (),
    *,
    dry_run: bool = False,
    helm: Helm | None = None,
    runner: Runner | None = None,
) -> list[BumpResult]:
    """Stamp ``version`` into the named charts (all when only one exists)."""
    versions.parse(version, what="version")
    runner = runner or Runner()
    wheres = chartfiles.discover(settings, names)
    if not names and len(wheres) > 1:
        raise UsageError(
            "name the chart(s) to bump; this repository has " + ", ".join(w.name for w in wheres)
        )
    git = Git(settings.root, runner)
    tags = git.tags() if git.is_repository() else []
    loaded = chartfiles.load_all(wheres)
    plans: list[tuple[Chart, list[_Document]]] = []
    for chart in loaded:
        documents = _plan(chart, version)
        if any(doc.edits for doc in documents):
            released = released_version(tags, settings.release.tag, chart.name)
            if released is not None and versions.parse(version) <= versions.parse(released.version):
                raise VersionError(
                    f"{version} is not higher than the released {released.version} "
                    f"(tag {released.tag})",
                    path=chart.chart_yaml,
                )
        plans.append((chart, documents))
    results: list[BumpResult] = []
    helm = helm or Helm(settings.helm_binary, runner=runner)
    # Everything written so far, to put back if a later step fails: a stamped
    # Chart.yaml with a stale Chart.lock would fail every later build.
    originals: dict[Path, str] = {}
    try:
        for chart, documents in plans:
            result = BumpResult(chart.name, version, [e for d in documents for e in d.edits])
            if result.changed and not dry_run:
                lock = chart.directory / "Chart.lock"
                for path in [d.path for d in documents] + ([lock] if lock.exists() else []):
                    originals[path] = path.read_text(encoding="utf-8")
                for doc in documents:
                    doc.save()
                if chart.dependencies and lock.exists():
                    _refresh_lock(chart, helm)
                    result.lock_refreshed = True
            results.append(result)
    except BaseException:
        for path, text in originals.items():
            path.write_text(text, encoding="utf-8")
        raise
    return results


def _refresh_lock(chart: Chart, helm: Helm) -> None:
    reloaded = chartfiles.load(chart.where)
    urls = [d.repository for d in reloaded.dependencies if d.is_http and d.repository]
    with helm.isolated_repositories(urls) as scoped:
        scoped.dependency_update(chart.directory)

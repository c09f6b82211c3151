"""Merging entries into index.yaml, and reading entries back out of it.

Merging is text-level: the chart's block is located with line-anchored
searches (:mod:`chartship.channels.classic.scan`) and the new entries' text
is inserted at helm's SemVer position (:mod:`chartship.channels.classic.order`),
so every existing byte -- each entry, its order, its ``created`` time, its
quoting -- stays exactly as it was, and only ``generated`` changes. It is also
what makes the merge fast: on a 15,000-entry index (15.7 MB), PyYAML's C
loader alone needs about 9 s and its C dumper about 5 s, more than
``helm repo index --merge`` needs for the whole job (about 5 s), while the
scan and insertion take well under a tenth of a second
(``tests/support/bench_index.py`` measures it).

An index the scan does not understand, and every malformed index, goes
through a full parse instead, which names the problem; such an index is
rewritten in helm's layout, values unchanged. That parse with its checks,
the dumper that quotes what helm's YAML 1.1 reader would misread, and
:func:`get` and :func:`load`, which read entries back, are here too.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from chartship import yamlfiles
from chartship.channels.classic.entry import is_digest, jsonable, timestamp
from chartship.channels.classic.order import VersionKey, sorts_before, version_key
from chartship.channels.classic.repeats import unique_keys
from chartship.channels.classic.scan import (
    PLAIN_SAFE,
    Item,
    Layout,
    load_with,
    scan_items,
    scan_layout,
)
from chartship.errors import ChartError
from chartship.records import Record

# typing only for mypy: an index merge's start-up does not import it (chartship.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Final

INDEX_FILE = "index.yaml"

# --------------------------------------------------------------------------- result


ChartVersion = tuple[str, str]


class MergeResult(Record):
    """What a merge did: the (chart, version) pairs added and those already there."""

    __slots__ = ("added", "generated", "present", "rewritten")
    added: Final[tuple[ChartVersion, ...]]
    present: Final[tuple[ChartVersion, ...]]
    generated: Final[str | None]
    #: The index was not in a layout the scan understands and was rewritten whole.
    rewritten: Final[bool]

    def __init__(
        self,
        added: tuple[ChartVersion, ...] = (),
        present: tuple[ChartVersion, ...] = (),
        generated: str | None = None,
        rewritten: bool = False,
    ) -> None:
        self.added = added
        self.present = present
        self.generated = generated
        self.rewritten = rewritten

    @property
    def changed(self) -> bool:
        return bool(self.added)

    def describe(self) -> str:
        if not self.added:
            shown = ", ".join(f"{n} {v}" for n, v in self.present)
            return (
                f"nothing changed: already in the index ({shown})" if shown else "nothing changed"
            )
        text = "added " + ", ".join(f"{n} {v}" for n, v in self.added)
        if self.present:
            text += "; already in the index: " + ", ".join(f"{n} {v}" for n, v in self.present)
        return text


# --------------------------------------------------------------------------- full parse


class _IndexLoader(yamlfiles.BoundedCSafeLoader):
    """Keeps every scalar as written except booleans and nulls.

    Versions such as ``1.10`` stay text, and ``created`` keeps its nanoseconds.
    Aliases, depth and size are bounded (:mod:`chartship.yamlfiles`).
    """

    bounds = yamlfiles.INDEX


class _IndexNodeLoader(yaml.CSafeLoader):
    """:class:`_IndexLoader`'s resolvers on libyaml's composer (:func:`yamlfiles.checked_load`)."""


_KEEP_TAGS = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:merge"}
_IndexLoader.yaml_implicit_resolvers = _IndexNodeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag in _KEEP_TAGS]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


def _load_full(text: str, path: Path | str) -> dict[str, Any]:
    data, duplicates = load_keeping_duplicates(text, path=path)
    for twice in duplicates:
        raise _repeated(twice, path)
    return data


def _repeated(twice: yamlfiles.DuplicateKey, path: Path | str) -> ChartError:
    return ChartError(
        f"{twice.describe()}; helm refuses to load an index that repeats a key",
        path=path,
        line=twice.line,
    )


def _refuse_duplicates(text: str, path: Path | str, layout: Layout) -> None:
    """The check :func:`_load_full` makes, for an index merged as text without a parse.

    :func:`~chartship.channels.classic.repeats.unique_keys` proves most indexes
    clean at a tenth of the cost; the event scan decides the rest, and words
    any error.
    """
    if unique_keys(layout):
        return
    try:
        duplicates = yamlfiles.duplicate_keys(text)
    except yaml.YAMLError:
        _load_full(text, path)  # says what is malformed, and where
        raise
    for twice in duplicates:
        raise _repeated(twice, path)


def load_keeping_duplicates(
    text: str, *, path: Path | str = INDEX_FILE
) -> tuple[dict[str, Any], list[yamlfiles.DuplicateKey]]:
    """The whole index parsed and checked, and the keys it repeats (the last one kept).

    For readers that report a repeated key instead of refusing the index.
    One parse gives both; the reference path (two) runs only to word an error.
    """
    checked = yamlfiles.checked_load(text, yamlfiles.INDEX, _IndexNodeLoader)
    if checked is not None:
        data, duplicates = checked.data, checked.duplicates
    else:
        data, duplicates = _load_reference(text, path)
    if not isinstance(data, dict):
        raise ChartError(
            "is not a chart repository index (expected a mapping with apiVersion and entries)",
            path=path,
        )
    _validate(data, path)
    return data, duplicates


def _load_reference(text: str, path: Path | str) -> tuple[Any, list[yamlfiles.DuplicateKey]]:
    try:
        return load_with(_IndexLoader, text), yamlfiles.duplicate_keys(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed"
        raise ChartError(
            f"not valid YAML ({problem})", path=path, line=mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise ChartError(f"not valid YAML ({exc})", path=path) from None


def _validate(data: Mapping[str, Any], path: Path | str) -> None:
    if not data.get("apiVersion"):
        raise ChartError("has no apiVersion (helm refuses an index without one)", path=path)
    if "entries" not in data:
        raise ChartError("has no entries mapping", path=path)
    entries = data["entries"]
    if entries is None:
        return
    if not isinstance(entries, Mapping):
        raise ChartError(
            f"entries must be a mapping of chart names, not {type(entries).__name__}", path=path
        )
    for name, versions in entries.items():
        if versions is None:
            continue
        if not isinstance(versions, list):
            raise ChartError(f"entries.{name} must be a list of chart versions", path=path)
        for position, entry in enumerate(versions):
            if not isinstance(entry, Mapping):
                raise ChartError(f"entries.{name}[{position}] is not a mapping", path=path)
            version = entry.get("version")
            if not isinstance(version, str) or not version:
                raise ChartError(
                    f"entries.{name}[{position}] has no version "
                    f"(keys: {', '.join(map(str, entry)) or 'none'})",
                    path=path,
                )


class _GoSafeDumper(yaml.CSafeDumper):
    """Quotes every string that helm's YAML 1.1 reader would take for something else.

    PyYAML leaves ``y``, ``n`` and exponents without a dot such as ``1e3`` plain, but helm
    reads them as a boolean and a number and then refuses the whole index.
    """


_GoSafeDumper.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN")
)
_GoSafeDumper.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+.0123456789"),
)


def _dump(data: Any) -> str:
    return yaml.dump(
        data,
        Dumper=_GoSafeDumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
    )


def _render_item(entry: Mapping[str, Any], indent: int) -> str:
    pad = " " * indent
    lines = _dump([jsonable(entry)]).splitlines(keepends=True)
    return "".join(pad + line if line.strip() else line for line in lines)


def _key_line(name: str, indent: int) -> str:
    key = name if PLAIN_SAFE.match(name) and ":" not in name else _dump(name).split("\n")[0]
    return f"{' ' * indent}{key}:\n"


# --------------------------------------------------------------------------- merge


class _New:
    """One entry to merge, checked."""

    __slots__ = ("digest", "entry", "name", "version")

    def __init__(self, name: str, version: str, digest: str, entry: Mapping[str, Any]) -> None:
        self.name = name
        self.version = version
        self.digest = digest
        self.entry = entry

    @property
    def key(self) -> VersionKey | None:
        return version_key(self.version)


def _checked(entries: Iterable[Mapping[str, Any]], path: Path) -> list[_New]:
    found: dict[ChartVersion, _New] = {}
    for position, entry in enumerate(entries):
        name, version, digest, urls = (
            entry.get("name"),
            entry.get("version"),
            entry.get("digest"),
            entry.get("urls"),
        )
        if not isinstance(name, str) or not name or not isinstance(version, str) or not version:
            raise ChartError(f"entry {position} to merge has no chart name or version")
        if not isinstance(digest, str) or not is_digest(digest):
            raise ChartError(f"entry for {name} {version} has no sha256 digest")
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            raise ChartError(f"entry for {name} {version} has no urls")
        new = _New(name, version, digest, entry)
        twin = found.get((name, version))
        if twin is not None and twin.digest != digest:
            raise ChartError(
                f"{name} {version} is given twice, with digests {twin.digest} and {digest}; "
                "nothing merged",
                path=path,
            )
        found.setdefault((name, version), new)
    return list(found.values())


def _conflict(path: Path, name: str, version: str, old: str | None, new: str) -> ChartError:
    return ChartError(
        f"{name} {version} is already in the index with digest {old or '(none)'}, but the "
        f"archive to publish has digest {new}; a published version is never replaced "
        "(publish a new version); nothing merged",
        path=path,
    )


def _fresh(now: str) -> str:
    return f'apiVersion: v1\nentries: {{}}\ngenerated: "{now}"\n'


def merge(
    index: str | bytes | Mapping[str, Any] | None,
    entries: Iterable[Mapping[str, Any]],
    *,
    path: Path | str = INDEX_FILE,
    now: str | None = None,
) -> tuple[str, MergeResult]:
    """Merge ``entries`` (from :func:`entry_for`) into an index.

    ``index`` is the text of index.yaml (or its parsed data, or None for a new
    index). A version already present with the same digest is left alone; with
    another digest the merge is refused and nothing changes. Returns the new
    text (the input unchanged when nothing was added) and what happened.
    """
    where = Path(path)
    new_entries = _checked(entries, where)
    stamp = now or timestamp()
    if isinstance(index, Mapping):
        data = copy.deepcopy(dict(index))
        _validate(data, where)
        return _merge_data(data, new_entries, where, stamp, rewritten=False, original=None)
    if isinstance(index, bytes):
        try:
            index = index.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ChartError(f"not UTF-8 text ({exc.reason})", path=where) from None
    text = _fresh(stamp) if index is None else index
    layout = scan_layout(text if text.endswith("\n") or not text else text + "\n")
    if layout is None:
        data = _load_full(text, where)
        return _merge_data(data, new_entries, where, stamp, rewritten=True, original=text)
    _refuse_duplicates(text, where, layout)
    return _merge_text(layout, new_entries, where, stamp, original=text)


def _merge_text(
    layout: Layout, new_entries: list[_New], path: Path, now: str, original: str
) -> tuple[str, MergeResult]:
    text = layout.text  # original, or original plus a final newline
    item_cache: dict[str, list[Item]] = {}
    added: list[_New] = []
    present: list[ChartVersion] = []
    for new in new_entries:
        block = layout.block(new.name)
        if block is None:
            added.append(new)
            continue
        items = item_cache.get(new.name)
        if items is None:
            scanned = scan_items(text, block)
            if scanned is None:
                data = _load_full(text, path)
                return _merge_data(data, new_entries, path, now, rewritten=True, original=original)
            items = item_cache[new.name] = scanned
        same = [i for i in items if i.version == new.version]
        for item in same:
            if item.digest != new.digest:
                raise _conflict(path, new.name, new.version, item.digest, new.digest)
        if same:
            present.append((new.name, new.version))
        else:
            added.append(new)
    if not added:
        return original, MergeResult((), tuple(present))
    inserts: list[tuple[int, int, str]] = []  # (offset, order, text)
    by_chart: dict[str, list[_New]] = {}
    for new in added:
        by_chart.setdefault(new.name, []).append(new)
    for name, news in by_chart.items():
        news = _highest_first(news)
        block = layout.block(name)
        if block is None:
            indent = layout.indent if layout.indent >= 0 else 2
            seq = indent + _seq_offset(layout)
            chunk = _key_line(name, indent) + "".join(_render_item(n.entry, seq) for n in news)
            following = [b for b in layout.blocks if b.name > name]
            offset = following[0].start if following else layout.end
            inserts.append((offset, len(inserts), chunk))
            continue
        items = item_cache[name]
        seq = block.seq if block.seq >= 0 else layout.indent + _seq_offset(layout)
        for new in news:
            target = next(
                (i.start for i in items if sorts_before(new.key, version_key(i.version))),
                block.end,
            )
            inserts.append((target, len(inserts), _render_item(new.entry, seq)))
    edits = [(offset, offset, number, chunk) for number, (offset, _, chunk) in enumerate(inserts)]
    if layout.entries_flow_empty:
        edits.append((layout.entries_start, layout.entries_body, -1, "entries:\n"))
    if layout.generated is not None:
        edits.append((*layout.generated, -1, f'generated: "{now}"'))
    pieces: list[str] = []
    cursor = 0
    for start, end, _, chunk in sorted(edits):
        pieces.append(text[cursor:start])
        pieces.append(chunk)
        cursor = end
    pieces.append(text[cursor:])
    if layout.generated is None:
        pieces.append(f'generated: "{now}"\n')
    result = MergeResult(tuple((n.name, n.version) for n in added), tuple(present), now)
    return "".join(pieces), result


def _seq_offset(layout: Layout) -> int:
    """How much deeper than its chart key an existing chart's "- " lines sit (helm: 0)."""
    for block in layout.blocks:
        if block.seq >= 0:
            return block.seq - layout.indent
    return 0


def _highest_first(news: list[_New]) -> list[_New]:
    ordered: list[_New] = []
    for new in news:
        position = next(
            (i for i, o in enumerate(ordered) if sorts_before(new.key, o.key)), len(ordered)
        )
        ordered.insert(position, new)
    return ordered


def _merge_data(
    data: dict[str, Any],
    new_entries: list[_New],
    path: Path,
    now: str,
    *,
    rewritten: bool,
    original: str | None,
) -> tuple[str, MergeResult]:
    entries = data.get("entries") or {}
    added: list[_New] = []
    present: list[ChartVersion] = []
    for new in new_entries:
        same = [e for e in entries.get(new.name) or [] if e.get("version") == new.version]
        for entry in same:
            if entry.get("digest") != new.digest:
                old = entry.get("digest")
                raise _conflict(path, new.name, new.version, str(old) if old else None, new.digest)
        if same:
            present.append((new.name, new.version))
        else:
            added.append(new)
    if not added and original is not None:
        return original, MergeResult((), tuple(present))
    for new in added:
        versions = entries.get(new.name) or []
        position = next(
            (
                i
                for i, e in enumerate(versions)
                if sorts_before(new.key, version_key(str(e.get("version"))))
            ),
            len(versions),
        )
        versions.insert(position, jsonable(new.entry))
        entries[new.name] = versions
    data["entries"] = entries
    if added:
        data["generated"] = now
    result = MergeResult(
        tuple((n.name, n.version) for n in added),
        tuple(present),
        now if added else None,
        rewritten=rewritten and bool(added),
    )
    return _dump(data), result


# --------------------------------------------------------------------------- reading


def get(
    index: str, name: str, version: str, *, path: Path | str = INDEX_FILE
) -> dict[str, Any] | None:
    """The entry for ``name`` ``version`` as stored in the index, or None."""
    where = Path(path)
    layout = scan_layout(index)
    if layout is not None:
        block = layout.block(name)
        if block is None:
            return None
        items = scan_items(index, block)
        if items is not None:
            for item in items:
                if item.version == version:
                    lines = index[item.start : item.end]
                    loaded = load_with(_IndexLoader, lines)
                    if isinstance(loaded, list) and loaded and isinstance(loaded[0], dict):
                        found: dict[str, Any] = loaded[0]
                        return found
                    break
            else:
                return None
    data = _load_full(index, where)
    for entry in (data.get("entries") or {}).get(name) or []:
        if entry.get("version") == version:
            return dict(entry)
    return None


def load(index: str, *, path: Path | str = INDEX_FILE) -> dict[str, Any]:
    """The whole index parsed and checked (slow on big indexes: for tests and tools).

    ``path`` names the index in messages; a URL stays a URL.
    """
    return _load_full(index, path)

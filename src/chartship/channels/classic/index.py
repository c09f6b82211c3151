"""The classic chart repository index (index.yaml), as helm reads and writes it.

An entry is the chart's Chart.yaml metadata as helm keeps it (helm's
``Metadata`` fields only, with helm's normalisation) plus ``urls``,
``created`` and ``digest``.

Merging is text-level: the chart's block is located with line-anchored
searches and the new entries' text is inserted at helm's SemVer position, so
every existing byte -- each entry, its order, its ``created`` time, its
quoting -- stays exactly as it was, and only ``generated`` changes. It is also
what makes the merge fast: on a 15,000-entry index (15.7 MB), PyYAML's C
loader alone needs about 9 s and its C dumper about 5 s, more than
``helm repo index --merge`` needs for the whole job (about 5 s), while the
scan and insertion take well under a tenth of a second
(``tests/support/bench_index.py`` measures it).

The scan understands block-style YAML as helm, chart-releaser, PyYAML and
chartship write it. Anything else (flow style, CRLF line ends, anchors, ...)
and every malformed index go through a full parse instead, which names the
problem; such an index is rewritten in helm's layout, values unchanged.
"""

from __future__ import annotations

import copy
import math
import re
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from chartship.artifacts import Artifact
from chartship.errors import ChartError
from chartship.package import archive_metadata

INDEX_FILE = "index.yaml"

# --------------------------------------------------------------------------- timestamps


def timestamp(ns: int | None = None) -> str:
    """UTC time as Go's RFC3339Nano writes it (helm's ``created``/``generated``).

    Nanoseconds, with trailing zeros (and a zero fraction) dropped.
    """
    if ns is None:
        ns = time.time_ns()
    seconds, fraction = divmod(ns, 10**9)
    base = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f".{fraction:09d}".rstrip("0") if fraction else ""
    return f"{base}{frac}Z"


def _created(created: datetime | str | None) -> str:
    if created is None:
        return timestamp()
    if isinstance(created, str):
        return created
    moment = created if created.tzinfo is not None else created.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    whole = int(moment.replace(microsecond=0).timestamp())
    return timestamp(whole * 10**9 + moment.microsecond * 1000)


# --------------------------------------------------------------------------- helm's metadata

#: Chart.yaml string fields helm keeps (``omitempty``).
_STRING_FIELDS = (
    "apiVersion",
    "appVersion",
    "condition",
    "description",
    "home",
    "icon",
    "kubeVersion",
    "name",
    "tags",
    "type",
    "version",
)
#: The ones helm's ``Metadata.Validate`` passes through ``sanitizeString``.
_SANITIZED = frozenset(
    {"appVersion", "condition", "description", "home", "icon", "kubeVersion", "name", "tags"}
)
#: Go's ``unicode.IsSpace`` in Latin-1; beyond it, the White_Space property.
_GO_LATIN1_SPACE = frozenset("\t\n\v\f\r \x85\xa0")


def _is_go_space(char: str) -> bool:
    return char in _GO_LATIN1_SPACE if char <= "\xff" else char.isspace()


def sanitize(text: str) -> str:
    """helm's ``sanitizeString``: whitespace becomes a space, unprintables go."""
    if text.isprintable():
        return text
    return "".join(
        " " if _is_go_space(c) else c for c in text if _is_go_space(c) or c.isprintable()
    )


def _float32(value: float) -> float:
    packed: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return packed


def go_float(value: float) -> str:
    """``strconv.FormatFloat(value, 'g', -1, 32)``: how helm turns a YAML number
    given for a string field (``appVersion: 1.10``) into text ("1.1")."""
    if math.isnan(value):
        return "NaN"
    try:
        single = _float32(value)
    except OverflowError:
        single = math.copysign(math.inf, value)
    if math.isinf(single):
        return "+Inf" if single > 0 else "-Inf"
    if single == 0:
        return "-0" if math.copysign(1.0, single) < 0 else "0"
    text = ""
    for digits in range(1, 10):
        text = f"{abs(single):.{digits - 1}e}"
        if _float32(float(text)) == abs(single):
            break
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text)
    decimals = mantissa.replace(".", "").rstrip("0") or "0"
    sign = "-" if single < 0 else ""
    if exponent < -4 or exponent >= 6:
        tail = f".{decimals[1:]}" if len(decimals) > 1 else ""
        return f"{sign}{decimals[0]}{tail}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
    point = exponent + 1
    if point <= 0:
        return f"{sign}0.{'0' * -point}{decimals}"
    if point >= len(decimals):
        return f"{sign}{decimals}{'0' * (point - len(decimals))}"
    return f"{sign}{decimals[:point]}.{decimals[point:]}"


def _go_string(value: object, what: str, path: Path | None) -> str:
    """A YAML value read into a Go string field, the way helm's YAML library does."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise ChartError(f"Chart.yaml {what} must be a string, not {type(value).__name__}", path=path)


def _string_list(value: object, what: str, path: Path | None) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ChartError(f"Chart.yaml {what} must be a list of strings", path=path)
    return [sanitize(_go_string(item, what, path)) for item in value]


def _jsonable(value: object) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _flag(raw: Mapping[str, Any], key: str, what: str, path: Path | None) -> bool:
    value = raw.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise ChartError(f"Chart.yaml {what} must be true or false, not {value!r}", path=path)


def _maintainer(raw: object, path: Path | None) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        raise ChartError("Chart.yaml maintainers must not contain empty or null nodes", path=path)
    found: dict[str, str] = {}
    for key in ("email", "name", "url"):
        value = sanitize(_go_string(raw.get(key), f"maintainers.{key}", path))
        if value:
            found[key] = value
    return found


def _dependency(raw: object, path: Path | None) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ChartError("Chart.yaml dependencies must not contain empty or null nodes", path=path)
    # name and repository have no omitempty in helm: written even when empty.
    dep: dict[str, Any] = {
        "name": sanitize(_go_string(raw.get("name"), "dependencies.name", path)),
        "repository": sanitize(_go_string(raw.get("repository"), "dependencies.repository", path)),
    }
    for key in ("version", "condition"):
        value = sanitize(_go_string(raw.get(key), f"dependencies.{key}", path))
        if value:
            dep[key] = value
    alias = _go_string(raw.get("alias"), "dependencies.alias", path)
    if alias:
        dep["alias"] = alias
    tags = _string_list(raw.get("tags"), "dependencies.tags", path)
    if tags:
        dep["tags"] = tags
    if _flag(raw, "enabled", "dependencies.enabled", path):
        dep["enabled"] = True
    imports = raw.get("import-values")
    if imports:
        if not isinstance(imports, list):
            raise ChartError("Chart.yaml dependencies.import-values must be a list", path=path)
        dep["import-values"] = _jsonable(imports)
    return dict(sorted(dep.items()))


def chart_metadata(raw: Mapping[str, Any], *, path: Path | None = None) -> dict[str, Any]:
    """Chart.yaml reduced to what helm keeps in an index entry, normalised as helm does.

    Unknown keys are dropped, empty values omitted, numbers given for string
    fields turned into text as helm's YAML library does, and the sanitised
    fields have whitespace folded to spaces and unprintables removed.
    """
    meta: dict[str, Any] = {}
    for key in _STRING_FIELDS:
        value = _go_string(raw.get(key), key, path)
        if key in _SANITIZED:
            value = sanitize(value)
        if value:
            meta[key] = value
    meta.setdefault("apiVersion", "v1")
    for key in ("keywords", "sources"):
        items = _string_list(raw.get(key), key, path)
        if items:
            meta[key] = items
    maintainers = raw.get("maintainers")
    if maintainers:
        if not isinstance(maintainers, list):
            raise ChartError("Chart.yaml maintainers must be a list", path=path)
        meta["maintainers"] = [_maintainer(m, path) for m in maintainers]
    annotations = raw.get("annotations")
    if annotations:
        if not isinstance(annotations, Mapping):
            raise ChartError("Chart.yaml annotations must be a mapping", path=path)
        meta["annotations"] = {
            str(k): _go_string(v, f"annotations.{k}", path) for k, v in annotations.items()
        }
    dependencies = raw.get("dependencies")
    if dependencies:
        if not isinstance(dependencies, list):
            raise ChartError("Chart.yaml dependencies must be a list", path=path)
        meta["dependencies"] = [_dependency(d, path) for d in dependencies]
    if _flag(raw, "deprecated", "deprecated", path):
        meta["deprecated"] = True
    return dict(sorted(meta.items()))


_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def entry_for(
    artifact: Artifact, url: str, created: datetime | str | None = None
) -> dict[str, Any]:
    """The index entry helm would write for ``artifact`` served at ``url``.

    ``created`` defaults to now (UTC); ``digest`` is the archive's sha256.
    """
    meta = chart_metadata(archive_metadata(artifact.archive), path=artifact.archive)
    if meta.get("name") != artifact.chart or meta.get("version") != artifact.version:
        raise ChartError(
            f"holds {meta.get('name')} {meta.get('version')}, "
            f"expected {artifact.chart} {artifact.version}",
            path=artifact.archive,
        )
    if not url:
        raise ChartError("has no URL to be served from", path=artifact.archive)
    if not _DIGEST.match(artifact.sha256):
        raise ChartError(f"sha256 {artifact.sha256!r} is not a hex digest", path=artifact.archive)
    meta.update(urls=[url], created=_created(created), digest=artifact.sha256)
    return dict(sorted(meta.items()))


# --------------------------------------------------------------------------- helm's order

_LOOSE_VERSION = re.compile(
    r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)

VersionKey = tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]


def version_key(version: str) -> VersionKey | None:
    """Sort key with helm's precedence (Masterminds semver); None if helm cannot parse it.

    Build metadata is ignored, as SemVer says; numeric prerelease identifiers
    compare as numbers and below alphanumeric ones.
    """
    match = _LOOSE_VERSION.match(version)
    if match is None:
        return None
    major, minor, patch, pre, _build = match.groups()
    if not pre:
        return (int(major), int(minor or 0), int(patch or 0), 1, ())
    parts = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return (int(major), int(minor or 0), int(patch or 0), 0, parts)


def _sorts_before(new: VersionKey | None, existing: VersionKey | None) -> bool:
    """Whether a new version goes before an existing one in helm's order (highest first).

    Versions helm cannot parse sort last; equal precedence keeps the existing first.
    """
    if existing is None:
        return new is not None
    return new is not None and new > existing


# --------------------------------------------------------------------------- result


ChartVersion = tuple[str, str]


@dataclass(frozen=True)
class MergeResult:
    """What a merge did: the (chart, version) pairs added and those already there."""

    added: tuple[ChartVersion, ...] = ()
    present: tuple[ChartVersion, ...] = ()
    generated: str | None = None
    #: The index was not in a layout the scan understands and was rewritten whole.
    rewritten: bool = False

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


# --------------------------------------------------------------------------- scanning


@dataclass
class _Item:
    start: int
    end: int
    version: str
    digest: str | None


@dataclass
class _Block:
    name: str
    start: int  # the key line
    body: int  # the line after it
    end: int  # the next chart's key line, or the end of entries
    seq: int = -1  # indentation of its "- " lines; -1: no versions
    keys: int = -1  # indentation of its entries' keys


@dataclass
class _Layout:
    text: str
    entries_start: int
    entries_body: int
    entries_flow_empty: bool
    end: int
    indent: int  # of chart keys; -1: none yet
    blocks: list[_Block]
    generated: tuple[int, int] | None  # line span

    def block(self, name: str) -> _Block | None:
        for block in self.blocks:
            if block.name == name:
                return block
        return None


_TOP_LINE = re.compile(r"\n(?=[^ \n#])")
_CONTENT_LINE = re.compile(r"\n( *)(?=[^ \n#])")
_KEY = r"""(?P<key>[A-Za-z0-9_][\w.+/-]*|"[^"\\\n]*"|'[^'\n]*')"""
_TOP_KEY = re.compile(_KEY + r"[ \t]*:(?:[ \t]+(?P<value>.*?))?[ \t]*$")
_BARE_KEY = re.compile(_KEY + r"[ \t]*:[ \t]*(?:#.*)?$")
_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9_./:+-][\w./:+@=~-]*$")


def _scalar(raw: str) -> str | None:
    """A one-line scalar value as text; None if it is anything more complicated."""
    raw = raw.strip()
    if _PLAIN_SAFE.match(raw):
        return raw
    if " #" in raw and raw[:1] not in ("'", '"'):
        raw = raw.split(" #", 1)[0].rstrip()
        if _PLAIN_SAFE.match(raw):
            return raw
    if raw[:1] in ("'", '"'):
        try:
            value = _load_with(yaml.CBaseLoader, f"v: {raw}")
        except yaml.YAMLError:
            return None
        if isinstance(value, dict) and isinstance(value.get("v"), str):
            return str(value["v"])
    return None


def _key_text(key: str) -> str | None:
    if key[:1] in ("'", '"'):
        return _scalar(key)
    return key


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _scan(text: str) -> _Layout | None:
    """Where things are in a helm-style index; None when the layout is not one the
    scan understands (the caller then parses the whole document instead)."""
    if "\r" in text or not text.endswith("\n"):
        return None  # merge() adds a missing final newline before scanning
    starts = ([0] if text[:1] not in (" ", "\n", "#", "") else []) + [
        m.end() for m in _TOP_LINE.finditer(text)
    ]
    entries: tuple[int, int, bool] | None = None
    generated: tuple[int, int] | None = None
    api_version = False
    entries_end = len(text)
    seen: set[str] = set()
    for number, start in enumerate(starts):
        end = _line_end(text, start)
        line = text[start:end]
        if line.startswith("---") and number == 0 and line[3:].strip() in ("", "#"):
            continue
        match = _TOP_KEY.match(line)
        if match is None:
            return None
        key = _key_text(match.group("key"))
        if key is None or key in seen:
            return None
        seen.add(key)
        value = match.group("value") or ""
        if entries is not None and entries_end == len(text):
            entries_end = start
        if key == "entries":
            if value == "" or value.startswith("#"):
                entries = (start, end + 1, False)
            elif re.fullmatch(r"\{\}(?:[ \t]+#.*)?", value):
                entries = (start, end + 1, True)
            else:
                return None
        elif key == "apiVersion":
            api_version = bool(_scalar(value))
        elif key == "generated":
            generated = (start, end)
    if entries is None or not api_version:
        return None
    entries_start, body, flow_empty = entries
    layout = _Layout(text, entries_start, body, flow_empty, entries_end, -1, [], generated)
    first = _CONTENT_LINE.search(text, body - 1, entries_end)
    if first is None:
        return layout
    if flow_empty:
        return None
    indent = len(first.group(1))
    if indent == 0 or text.startswith("-", first.end()):
        return None
    if indent > 1 and re.compile(rf"\n {{1,{indent - 1}}}(?=[^ \n#])").search(
        text, body - 1, entries_end
    ):
        return None
    layout.indent = indent
    key_lines = [
        m.end() - indent
        for m in re.compile(rf"\n {{{indent}}}(?=[^ \n#-])").finditer(text, body - 1, entries_end)
    ]
    for number, start in enumerate(key_lines):
        end = _line_end(text, start)
        match = _BARE_KEY.match(text, start + indent, end)
        name = _key_text(match.group("key")) if match else None
        if name is None:
            return None
        block_end = key_lines[number + 1] if number + 1 < len(key_lines) else entries_end
        block = _Block(name, start, end + 1, block_end)
        if not _scan_block(text, block, indent):
            return None
        layout.blocks.append(block)
    return layout


def _scan_block(text: str, block: _Block, indent: int) -> bool:
    """Find the block's item indentation and check every item has one version key."""
    first = _CONTENT_LINE.search(text, block.body - 1, block.end)
    if first is None:
        return True
    seq = len(first.group(1))
    dash = re.compile(r"- +").match(text, first.end())
    if seq < indent or dash is None or text[dash.end()] in (" ", "\n", "#"):
        return False
    block.seq = seq
    block.keys = seq + len(dash.group())
    items = text.count("\n" + " " * seq + "- ", block.body - 1, block.end)
    versions = text.count("\n" + " " * block.keys + "version:", block.body - 1, block.end)
    versions += text.count("\n" + " " * seq + dash.group() + "version:", block.body - 1, block.end)
    return items == versions


def _item_value(text: str, item: _Item, block: _Block, key: str) -> str | bool | None:
    """The item's ``key`` as text; None when absent; False when the scan cannot tell."""
    eol = _line_end(text, item.start)
    head = text[item.start + block.keys : eol]
    found: list[str] = []
    if head.startswith(key + ":"):
        found.append(head[len(key) + 1 :])
    needle = "\n" + " " * block.keys + key + ":"
    pos = text.find(needle, item.start, item.end)
    while pos >= 0:
        found.append(text[pos + len(needle) : _line_end(text, pos + 1)])
        pos = text.find(needle, pos + 1, item.end)
    if not found:
        return None
    if len(found) > 1:
        return False
    value = _scalar(found[0])
    return False if value is None else value


def _items(text: str, block: _Block) -> list[_Item] | None:
    if block.seq < 0:
        return []
    needle = "\n" + " " * block.seq + "- "
    starts: list[int] = []
    pos = text.find(needle, block.body - 1, block.end)
    while pos >= 0:
        starts.append(pos + 1)
        pos = text.find(needle, pos + 1, block.end)
    items: list[_Item] = []
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else block.end
        item = _Item(start, end, "", None)
        version = _item_value(text, item, block, "version")
        digest = _item_value(text, item, block, "digest")
        if not isinstance(version, str) or digest is False:
            return None
        item.version = version
        item.digest = digest if isinstance(digest, str) else None
        items.append(item)
    return items


# --------------------------------------------------------------------------- full parse


class _IndexLoader(yaml.CSafeLoader):
    """Keeps every scalar as written except booleans and nulls.

    Versions such as ``1.10`` stay text, and ``created`` keeps its nanoseconds.
    """


_KEEP_TAGS = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:merge"}
_IndexLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag in _KEEP_TAGS]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


def _load_with(loader_class: type[yaml.CBaseLoader] | type[yaml.CSafeLoader], text: str) -> Any:
    """One document with one of the C loaders (both build plain data only)."""
    loader = loader_class(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _load_full(text: str, path: Path | str) -> dict[str, Any]:
    try:
        data = _load_with(_IndexLoader, text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed"
        raise ChartError(
            f"not valid YAML ({problem})", path=path, line=mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise ChartError(f"not valid YAML ({exc})", path=path) from None
    if not isinstance(data, dict):
        raise ChartError(
            "is not a chart repository index (expected a mapping with apiVersion and entries)",
            path=path,
        )
    _validate(data, path)
    return data


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
    lines = _dump([_jsonable(entry)]).splitlines(keepends=True)
    return "".join(pad + line if line.strip() else line for line in lines)


def _key_line(name: str, indent: int) -> str:
    key = name if _PLAIN_SAFE.match(name) and ":" not in name else _dump(name).split("\n")[0]
    return f"{' ' * indent}{key}:\n"


# --------------------------------------------------------------------------- merge


@dataclass(frozen=True)
class _New:
    name: str
    version: str
    digest: str
    entry: Mapping[str, Any]

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
        if not isinstance(digest, str) or not _DIGEST.match(digest):
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
    layout = _scan(text if text.endswith("\n") or not text else text + "\n")
    if layout is None:
        data = _load_full(text, where)
        return _merge_data(data, new_entries, where, stamp, rewritten=True, original=text)
    return _merge_text(layout, new_entries, where, stamp, original=text)


def _merge_text(
    layout: _Layout, new_entries: list[_New], path: Path, now: str, original: str
) -> tuple[str, MergeResult]:
    text = layout.text  # original, or original plus a final newline
    item_cache: dict[str, list[_Item]] = {}
    added: list[_New] = []
    present: list[ChartVersion] = []
    for new in new_entries:
        block = layout.block(new.name)
        if block is None:
            added.append(new)
            continue
        items = item_cache.get(new.name)
        if items is None:
            scanned = _items(text, block)
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
                (i.start for i in items if _sorts_before(new.key, version_key(i.version))),
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


def _seq_offset(layout: _Layout) -> int:
    """How much deeper than its chart key an existing chart's "- " lines sit (helm: 0)."""
    for block in layout.blocks:
        if block.seq >= 0:
            return block.seq - layout.indent
    return 0


def _highest_first(news: list[_New]) -> list[_New]:
    ordered: list[_New] = []
    for new in news:
        position = next(
            (i for i, o in enumerate(ordered) if _sorts_before(new.key, o.key)), len(ordered)
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
                if _sorts_before(new.key, version_key(str(e.get("version"))))
            ),
            len(versions),
        )
        versions.insert(position, _jsonable(new.entry))
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
    layout = _scan(index)
    if layout is not None:
        block = layout.block(name)
        if block is None:
            return None
        items = _items(index, block)
        if items is not None:
            for item in items:
                if item.version == version:
                    lines = index[item.start : item.end]
                    loaded = _load_with(_IndexLoader, lines)
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

"""The config blob ``helm push`` stores beside a chart, computed without helm.

Helm (3 and 4 alike) writes the archive's Chart.yaml as its ``Metadata`` struct
encoded by Go's ``encoding/json``: fields in the struct's order, empty ones
left out (except a dependency's ``name`` and ``repository``), map keys sorted,
``<``, ``>`` and ``&`` escaped. Uploading these bytes before ``helm push``
lets helm find every blob present and send only the manifest, a request it
retries itself, instead of uploads it cannot repeat after a failure.

An apiVersion v1 chart's dependencies live in requirements.yaml; helm's
loader puts them into ``Metadata.Dependencies``, so the chart given here is
the archive's Chart.yaml as that loader holds it
(:func:`chartship.artifacts.as_loaded`), and its config is encoded the same way
(tests/test_native_manifest.py proves it against helm 3 and 4). Whatever
cannot be encoded with certainty (a value helm would convert or sanitize, a
chart without apiVersion, which helm's loader turns into v1) gives None, and
helm uploads its config itself. Were these bytes ever wrong,
helm would do the same: the cost is one unreferenced blob for the registry's
garbage collection, never a wrong manifest, which helm alone writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chartship import gojson

#: (field, kind) in the order of helm's Metadata struct.
_METADATA: tuple[tuple[str, str], ...] = (
    ("name", "str"),
    ("home", "str"),
    ("sources", "strs"),
    ("version", "str"),
    ("description", "str"),
    ("keywords", "strs"),
    ("maintainers", "maintainers"),
    ("icon", "str"),
    ("apiVersion", "str"),
    ("condition", "str"),
    ("tags", "str"),
    ("appVersion", "str"),
    ("deprecated", "bool"),
    ("annotations", "annotations"),
    ("kubeVersion", "str"),
    ("dependencies", "dependencies"),
    ("type", "str"),
)
_MAINTAINER = ("name", "email", "url")
#: (field, kind, omitted when empty) in the order of helm's Dependency struct.
_DEPENDENCY: tuple[tuple[str, str, bool], ...] = (
    ("name", "str", False),
    ("version", "str", True),
    ("repository", "str", False),
    ("condition", "str", True),
    ("tags", "strs", True),
    ("enabled", "bool", True),
    ("import-values", "strs", True),
    ("alias", "str", True),
)


class _Unsure(Exception):
    """A value whose encoding by helm is not certain."""


def _str(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Unsure
    # helm's validation maps other whitespace to spaces and drops unprintable
    # characters (annotations excepted); such text is left to helm.
    if not all(char == " " or (char.isprintable() and not char.isspace()) for char in value):
        raise _Unsure
    return value


def _text(value: Any) -> str:
    """An annotation: stored as written."""
    if not isinstance(value, str):
        raise _Unsure
    return value


def _strs(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Unsure
    return [_str(item) for item in value]


def _bool(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _Unsure
    return value


def _mapping(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _Unsure
    return value


def _encode(kind: str, value: Any) -> Any:
    """The value as helm holds it; empty ones (to be left out) as falsy."""
    if kind == "str":
        return _str(value)
    if kind == "strs":
        return _strs(value)
    if kind == "bool":
        return _bool(value)
    if kind == "annotations":
        return {k: _text(v) for k, v in sorted(_mapping(value or {}).items())}
    if kind == "maintainers":
        people = []
        for item in _strs_of_mappings(value):
            person = {key: _str(item.get(key)) for key in _MAINTAINER}
            people.append({k: v for k, v in person.items() if v})
        return people
    if kind == "dependencies":
        deps = []
        for item in _strs_of_mappings(value):
            encoded = {}
            for key, sub, omit_empty in _DEPENDENCY:
                field = _encode(sub, item.get(key))
                if field or not omit_empty:
                    encoded[key] = field
            deps.append(encoded)
        return deps
    raise _Unsure


def _strs_of_mappings(value: Any) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Unsure
    return [_mapping(item) for item in value]


def metadata(chart: Mapping[str, Any]) -> dict[str, Any] | None:
    """Chart.yaml as helm's ``Metadata`` holds it (empty fields left out), or None
    when that is not certain."""
    if chart.get("apiVersion") not in ("v1", "v2"):
        return None
    try:
        encoded = {}
        for key, kind in _METADATA:
            value = _encode(kind, chart.get(key))
            if value:
                encoded[key] = value
    except _Unsure:
        return None
    return encoded


def config_bytes(chart: Mapping[str, Any]) -> bytes | None:
    """What ``helm push`` stores as the config of a chart with this Chart.yaml, or None."""
    encoded = metadata(chart)
    return None if encoded is None else gojson.dumps(encoded).encode()

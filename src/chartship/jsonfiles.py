"""Reading JSON files within bounds, beside :mod:`chartship.yamlfiles`.

JSON has no aliases, so its size bounds the number of values; what is left is
nesting, which Python's JSON parser (and everything that walks the result,
jsonschema included) handles by recursion. The nesting is measured before
parsing, in one pass over the brackets outside strings. A key repeated in
one object is refused, as in YAML (:func:`chartship.yamlfiles.duplicate_keys`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from chartship.errors import ChartError
from chartship.safetext import shown
from chartship.yamlfiles import Bounds, duplicate_keys, read_text

#: A whole string (escapes included) or one bracket; strings are skipped whole.
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def _check_depth(text: str, path: Path | str, bounds: Bounds) -> None:
    depth = 0
    for match in _STRUCTURE.finditer(text):
        char = match.group()
        if char in "[{":
            depth += 1
            if depth > bounds.max_depth:
                line = text.count("\n", 0, match.start()) + 1
                raise ChartError(
                    f"nests deeper than {bounds.max_depth} levels, the most chartship reads "
                    f"for a {bounds.what}",
                    path=path,
                    line=line,
                )
        elif char in "]}":
            depth -= 1


class _RepeatedKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object without a repeated key: Python's json and helm's Go one keep the last
    silently, and a schema read twice two ways checks two different things."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _RepeatedKey(key)
        found[key] = value
    return found


def _refuse_repeated(text: str, path: Path | str) -> None:
    """Where the key repeats, from the YAML event pass (JSON is nearly always YAML too)."""
    try:
        repeated = duplicate_keys(text)
    except yaml.YAMLError:
        return
    for twice in repeated:
        raise ChartError(twice.describe(), path=path, line=twice.line)


def parse_json(text: str, path: Path | str, bounds: Bounds) -> Any:
    """One JSON document within ``bounds``; bad input raises :class:`ChartError` with its line."""
    if len(text) > bounds.max_bytes:
        raise ChartError(
            f"is over {bounds.max_bytes} bytes, the most chartship reads for a {bounds.what}",
            path=path,
        )
    _check_depth(text, path, bounds)
    try:
        return json.loads(text, object_pairs_hook=_unique_object)
    except _RepeatedKey as exc:
        _refuse_repeated(text, path)
        raise ChartError(f"key {shown(exc.key)} appears twice in one object", path=path) from None
    except json.JSONDecodeError as exc:
        raise ChartError(f"malformed JSON: {exc.msg}", path=path, line=exc.lineno) from None
    except RecursionError:
        raise ChartError("nests too deeply", path=path) from None


def load_json(path: Path, bounds: Bounds) -> Any:
    return parse_json(read_text(path, bounds), path, bounds)

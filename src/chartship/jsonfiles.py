"""Reading JSON files within bounds, beside :mod:`chartship.yamlfiles`.

JSON has no aliases, so its size bounds the number of values; what is left is
nesting, which Python's JSON parser (and everything that walks the result,
jsonschema included) handles by recursion. The nesting is measured before
parsing, in one pass over the brackets outside strings.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from chartship.errors import ChartError
from chartship.yamlfiles import Bounds, read_text

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


def parse_json(text: str, path: Path | str, bounds: Bounds) -> Any:
    """One JSON document within ``bounds``; bad input raises :class:`ChartError` with its line."""
    if len(text) > bounds.max_bytes:
        raise ChartError(
            f"is over {bounds.max_bytes} bytes, the most chartship reads for a {bounds.what}",
            path=path,
        )
    _check_depth(text, path, bounds)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ChartError(f"malformed JSON: {exc.msg}", path=path, line=exc.lineno) from None
    except RecursionError:
        raise ChartError("nests too deeply", path=path) from None


def load_json(path: Path, bounds: Bounds) -> Any:
    return parse_json(read_text(path, bounds), path, bounds)

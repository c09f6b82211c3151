"""JSON exactly as Go's encoding/json writes it, for bytes helm computes the same way.

Compact separators, non-ASCII kept as it is, and the characters Go escapes
for HTML safety (``<``, ``>``, ``&``, U+2028, U+2029) written as ``\\uXXXX``.
Both helm's OCI config blob and the digest helm writes into Chart.lock are
hashes of such text, so a byte of difference is a different digest.
"""

from __future__ import annotations

import json
from typing import Any

_ESCAPED = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def dumps(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in _ESCAPED:
        text = text.replace(char, escaped)
    return text

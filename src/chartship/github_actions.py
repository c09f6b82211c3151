"""GitHub Actions: the job summary, annotations and step outputs.

Under Actions (``GITHUB_ACTIONS=true``) a runner gives each step the files
``GITHUB_STEP_SUMMARY`` (Markdown shown on the run's page) and
``GITHUB_OUTPUT`` (``name=value`` lines, or ``name<<DELIMITER`` blocks for
values with newlines, read by later steps and jobs). Annotations are
workflow commands printed on standard output.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def in_github_actions(environ: Mapping[str, str] | None = None) -> bool:
    return (environ if environ is not None else os.environ).get("GITHUB_ACTIONS") == "true"


def annotation(
    level: str, message: str, *, title: str | None = None, file: str | None = None
) -> str:
    """``::error title=...::message``: shown on the run and, with ``file``, on the file."""
    props = []
    if file:
        props.append(f"file={escape_property(file)}")
    if title:
        props.append(f"title={escape_property(title)}")
    joined = f" {','.join(props)}" if props else ""
    return f"::{level}{joined}::{escape_data(message)}"


def markdown_table(rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; the first row is the header."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    header, *body = rows
    lines = [
        "| " + " | ".join(cell(c) for c in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def _target(environ: Mapping[str, str], variable: str) -> Path | None:
    if not in_github_actions(environ):
        return None
    value = environ.get(variable)
    return Path(value) if value else None


def append_summary(markdown: str, environ: Mapping[str, str]) -> bool:
    """Append to the job summary; False when not under Actions."""
    target = _target(environ, "GITHUB_STEP_SUMMARY")
    if target is None:
        return False
    with target.open("a", encoding="utf-8") as handle:
        handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return True


def set_outputs(values: Mapping[str, str], environ: Mapping[str, str]) -> bool:
    """Write step outputs; False when not under Actions."""
    target = _target(environ, "GITHUB_OUTPUT")
    if target is None:
        return False
    with target.open("a", encoding="utf-8") as handle:
        for name, value in values.items():
            if "\n" in value or "\r" in value:
                # A delimiter no value can contain ends a multi-line value.
                delimiter = f"chartship_{secrets.token_hex(8)}"
                while delimiter in value:
                    delimiter = f"chartship_{secrets.token_hex(8)}"
                handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
            else:
                handle.write(f"{name}={value}\n")
    return True

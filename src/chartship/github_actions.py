"""GitHub Actions: the job summary, annotations and step outputs.

Under Actions (``GITHUB_ACTIONS=true``) a runner gives each step the files
``GITHUB_STEP_SUMMARY`` (Markdown shown on the run's page) and
``GITHUB_OUTPUT`` (``name=value`` lines, or ``name<<DELIMITER`` blocks,
read by later steps and jobs). Annotations are workflow commands printed on
standard output.

Names of outputs come partly from chart names and every value partly from
files a pull request can change, so nothing written may start, end or forge
an entry: names are held to a fixed character set, and every value is a
``name<<DELIMITER`` block whose delimiter is fresh, random, and checked not to
occur in the value. The job summary is Markdown that GitHub renders: text from
outside is put in as one line of literal characters (:func:`inline`). And the
log itself is read for workflow commands: a tool's output quoted in an error
could add a mask, an annotation or an output, so such text is printed with
workflow commands stopped around it (:func:`inert`).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

from chartship.errors import ChartshipError
from chartship.safetext import shown

#: What an output name may hold: the characters of chart names (helm's rule)
#: and of chartship's own suffixes; no '=', '<', space or line break.
OUTPUT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,299}")
#: A collision of 128 random bits is not expected once; the bound keeps the loop finite.
_DELIMITER_TRIES = 4
#: Markdown's (and HTML's) active punctuation, shown literally when backslash-escaped.
_MARKDOWN_ACTIVE = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


#: What makes the runner read a log line as a workflow command, leading blanks
#: ignored: ``::name ...::`` and the older ``##[name ...]``.
_COMMAND_STARTS = ("::", "##[")


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


def inert(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` to print to a step's log, no line of it run as a workflow command.

    Outside Actions, or when no line could be read as a command, it is
    unchanged. Otherwise it is put between ``::stop-commands::TOKEN`` and
    ``::TOKEN::``, GitHub's way of printing lines it must not act on, with a
    fresh token that the text does not hold (so the text cannot resume them).
    """
    if not in_github_actions(environ):
        return text
    if not any(line.lstrip().startswith(_COMMAND_STARTS) for line in text.splitlines()):
        return text
    for _ in range(_DELIMITER_TRIES):
        token = secrets.token_hex(16)
        if token not in text:
            return f"::stop-commands::{token}\n{text}\n::{token}::"
    raise ChartshipError("no token absent from the text to stop workflow commands around")


def inline(text: str) -> str:
    """``text`` as literal Markdown on one line: no table cell, list item or block
    quote it sits in can be closed, and no link, image, HTML or emphasis made."""
    return _MARKDOWN_ACTIVE.sub(r"\\\1", " ".join(text.splitlines()))


def markdown_table(rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; the first row is the header. Every cell is :func:`inline`."""
    header, *body = rows
    lines = [
        "| " + " | ".join(inline(c) for c in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(inline(c) for c in row) + " |" for row in body]
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


def output_entry(name: str, value: str) -> str:
    """One ``GITHUB_OUTPUT`` entry: ``name<<DELIMITER``, the value, the delimiter.

    A value cannot end the block early (the delimiter is not in it) nor add a
    name (the runner reads every line up to the delimiter as the value).
    """
    if not OUTPUT_NAME.fullmatch(name):
        raise ChartshipError(
            f"GitHub Actions output name {shown(name)} is not letters, digits, '_', '.' "
            "and '-' (at most 300)"
        )
    for _ in range(_DELIMITER_TRIES):
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        if delimiter not in value:
            return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"
    raise ChartshipError(f"GitHub Actions output {name}: no delimiter absent from its value")


def set_outputs(values: Mapping[str, str], environ: Mapping[str, str]) -> bool:
    """Write step outputs; False when not under Actions.

    Every entry is made before the file is opened, so a refused name writes nothing.
    """
    target = _target(environ, "GITHUB_OUTPUT")
    if target is None:
        return False
    entries = "".join(output_entry(name, value) for name, value in values.items())
    with target.open("a", encoding="utf-8") as handle:
        handle.write(entries)
    return True

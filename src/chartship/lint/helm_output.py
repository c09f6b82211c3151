"""helm lint's output, one finding per problem.

helm prints findings as ``[LEVEL] file: message`` on standard output, a
message sometimes running on over indented lines (helm 4's template errors,
schema errors). Its log lines (helm 3's ``engine.go:206: [INFO] ...``, helm
4's ``level=WARN msg=...``) and its verdicts are not findings and never
continue one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from chartship.lint.model import Problem
from chartship.runner import Result
from chartship.safetext import shown

#: The most of one helm message a problem repeats.
MESSAGE_CHARS = 500
#: Lines helm's loggers print: Go's log (``file.go:123: ``) or slog (``level=...``, ``time=...``).
_LOG_LINE = re.compile(r"^(?:[\w.-]+\.go:\d+: |(?:time|level)=\S)")

_HELM_LINE = re.compile(r"^\[(INFO|WARNING|ERROR)\]\s+(?P<rest>.*)$")
_TEMPLATE_AT = re.compile(
    r"(?:^|[\s\"(])[\w.-]+/(?P<file>(?:templates|charts)/[^:\s\")]+):(?P<line>\d+)"
)
_YAML_LINE = re.compile(r"\bline (?P<line>\d+)\b")
_VERDICT = re.compile(r"^\d+ chart\(s\) linted")


def _helm_messages(output: str) -> Iterator[tuple[str, str]]:
    """(level, message) per helm lint finding of one output stream, continuation lines folded in.

    A finding runs from its ``[LEVEL]`` line to the next blank line, the next
    finding, helm's verdict or a log line; schema errors and helm 4's template
    errors span several lines.
    """
    level: str | None = None
    parts: list[str] = []
    for raw in output.splitlines():
        text = raw.strip()
        match = _HELM_LINE.match(text)
        ends = (
            not text
            or match
            or text.startswith(("==> ", "Error: "))
            or _LOG_LINE.match(text)
            or _VERDICT.match(text)
        )
        if level is not None and ends:
            yield level, " ".join(parts)
            level, parts = None, []
        if match:
            level, parts = match.group(1), [match.group("rest")]
        elif level is not None and text:
            parts.append(text)
    if level is not None:
        yield level, " ".join(parts)


def parse_helm_lint(result: Result | str, directory: Path, name: str) -> Iterator[Problem]:
    """The problems of one ``helm lint`` run, located in the chart's own files.

    Each stream is read on its own: joining them would run the last finding on
    standard output into the first log line on standard error.
    """
    streams = [result] if isinstance(result, str) else [result.stdout, result.stderr]
    for stream in streams:
        for level, rest in _helm_messages(stream):
            if level == "INFO":
                continue
            yield _problem(rest, directory, name)


def _problem(rest: str, directory: Path, name: str) -> Problem:
    file_part, sep, message = rest.partition(": ")
    if not sep:
        file_part, message = "", rest
    path = directory / file_part if file_part else directory
    line: int | None = None
    located = _TEMPLATE_AT.search(rest)
    if located:
        path = directory / located.group("file")
        line = int(located.group("line"))
    else:
        at = _YAML_LINE.search(message)
        if at and path.is_file():
            line = int(at.group("line"))
    # helm quotes the chart's own text (a version, a template line): kept short.
    shortened = shown(message.strip(), MESSAGE_CHARS, quote=False)
    return Problem(name, path, shortened, "helm-lint", line, "error")


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return shown(lines[-1], MESSAGE_CHARS, quote=False) if lines else "no output"

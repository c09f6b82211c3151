"""helm lint's output, one finding per problem.

helm prints findings as ``[LEVEL] file: message`` on standard output, a
message sometimes running on over indented lines (helm 4's template errors,
schema errors). Its log lines (helm 3's ``engine.go:206: [INFO] ...``, helm
4's ``level=WARN msg=...``) and its verdicts are not findings and never
continue one.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
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
_SECTION = "==> Linting "
_SUMMARY = re.compile(
    r"^(?:Error: )?(?P<linted>\d+) chart\(s\) linted, (?P<failed>\d+) chart\(s\) failed$"
)
#: What makes ``helm lint --strict`` count a chart as failed: an error, a warning,
#: or (when the chart cannot even be loaded) helm's bare ``Error <why>`` line.
_FAILS = re.compile(r"^(?:\[(?:ERROR|WARNING)\]|Error )")


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


def split_by_chart(result: Result, paths: Sequence[Path]) -> list[Result] | None:
    """One ``helm lint`` run of several charts as the runs of each chart alone would be.

    helm 3 and helm 4 lint each path on its own and print its findings in a
    ``==> Linting <path>`` section, then one verdict for all. Each chart gets
    its section and the verdict a run of it alone gives (exit status included).
    Log lines on standard error cannot be told apart by chart and are not
    findings, so they are left out. None when the output is not one section
    per path, in order, with a verdict that agrees: helm stopped before the
    charts (a flag, a values file), and each chart must then be run alone.
    """
    if any(_HELM_LINE.match(line.strip()) for line in result.stderr.splitlines()):
        return None
    sections: list[list[str]] = []
    for line in result.stdout.splitlines():
        if line.startswith(_SECTION):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        elif line.strip():
            return None
    verdicts = [
        verdict
        for line in result.output.splitlines()
        if (verdict := _SUMMARY.match(line.strip())) is not None
    ]
    if sections and verdicts and _SUMMARY.match(sections[-1][-1].strip()):
        sections[-1].pop()  # the verdict for all, printed after the last chart
    heads = [section[0][len(_SECTION) :] for section in sections]
    if heads != [str(path) for path in paths] or len(verdicts) != 1:
        return None
    failing = [any(_FAILS.match(line.strip()) for line in s[1:]) for s in sections]
    linted, failed = int(verdicts[0]["linted"]), int(verdicts[0]["failed"])
    if linted != len(paths) or failed != sum(failing) or (failed > 0) != (result.returncode != 0):
        return None
    alone = [
        dataclasses.replace(
            result,
            returncode=1 if fails else 0,
            stdout="\n".join(section).rstrip("\n")
            + "\n\n"
            + ("" if fails else "1 chart(s) linted, 0 chart(s) failed\n"),
            stderr="Error: 1 chart(s) linted, 1 chart(s) failed\n" if fails else "",
        )
        for section, fails in zip(sections, failing, strict=True)
    ]
    return alone

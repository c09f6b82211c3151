"""lint's report for people: one line per problem, GitHub annotations, the summary.

Apart from :mod:`chartship.render` so that ``chartship lint`` loads none of the
channel machinery (PyGithub, the registry client) it never uses.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from chartship.github_actions import escape_data, escape_property, in_github_actions
from chartship.lint.model import LintReport, Problem
from chartship.output import display_path


def format_problem(problem: Problem, root: Path) -> str:
    where = display_path(problem.path, root)
    if problem.line is not None:
        where = f"{where}:{problem.line}"
    return f"{where}: {problem.severity}: [{problem.check}] {problem.message}"


def github_annotation(problem: Problem, root: Path) -> str:
    """A workflow command GitHub renders as an annotation on the file and line."""
    props = [f"file={escape_property(display_path(problem.path, root))}"]
    if problem.line is not None:
        props.append(f"line={problem.line}")
    props.append(f"title={escape_property(f'chartship {problem.check}')}")
    return f"::{problem.severity} {','.join(props)}::{escape_data(problem.message)}"


def print_lint_report(
    report: LintReport,
    root: Path,
    stream: TextIO,
    environ: Mapping[str, str] | None = None,
    notes: TextIO | None = None,
) -> None:
    annotate = in_github_actions(environ)
    for name, why in report.included.items():
        print(f"lint: also {name}: it {why}", file=stream)
    if report.excluded:
        print(f"lint: left out by lint.exclude: {', '.join(report.excluded)}", file=stream)
    for problem in report.problems:
        print(format_problem(problem, root), file=stream)
        if annotate:
            print(github_annotation(problem, root), file=stream)
    for note in report.notes:
        # A check not made is said, beside the logs: the results on stdout stay one per problem.
        print(f"lint: note: {note}", file=notes if notes is not None else sys.stderr)
    counts = [
        f"{n} {what}"
        for n, what in ((report.errors, "error(s)"), (report.warnings, "warning(s)"))
        if n
    ]
    clean = [name for name in report.charts if name not in report.charts_with_problems]
    if counts:
        verdict = "failed" if not report.ok else "passed"
        strict = " (--strict: warnings fail)" if report.strict and report.warnings else ""
        print(
            f"lint: {verdict}{strict}: {' and '.join(counts)} in "
            f"{', '.join(report.charts_with_problems)}; {len(clean)} of "
            f"{len(report.charts)} chart(s) without problems",
            file=stream,
        )
    else:
        print(f"lint: {', '.join(report.charts)}: no problems", file=stream)

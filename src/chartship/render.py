"""Rendering results for people and for GitHub Actions."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from chartship.lint import LintReport, Problem


def display_path(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def format_problem(problem: Problem, root: Path) -> str:
    where = display_path(problem.path, root)
    if problem.line is not None:
        where = f"{where}:{problem.line}"
    return f"{where}: {problem.severity}: [{problem.check}] {problem.message}"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(problem: Problem, root: Path) -> str:
    """A workflow command GitHub renders as an annotation on the file and line."""
    props = [f"file={escape_property(display_path(problem.path, root))}"]
    if problem.line is not None:
        props.append(f"line={problem.line}")
    props.append(f"title={escape_property(f'chartship {problem.check}')}")
    return f"::{problem.severity} {','.join(props)}::{escape_data(problem.message)}"


def in_github_actions(environ: Mapping[str, str] | None = None) -> bool:
    return (environ if environ is not None else os.environ).get("GITHUB_ACTIONS") == "true"


def print_lint_report(
    report: LintReport,
    root: Path,
    stream: TextIO,
    environ: Mapping[str, str] | None = None,
) -> None:
    annotate = in_github_actions(environ)
    for problem in report.problems:
        print(format_problem(problem, root), file=stream)
        if annotate:
            print(github_annotation(problem, root), file=stream)
    errors = report.errors
    charts = ", ".join(report.charts)
    if errors:
        print(f"lint: {errors} problem(s) in {charts}", file=stream)
    else:
        print(f"lint: {charts}: no problems", file=stream)

"""``chartship lint`` as every front end runs it: lint, the report, the verdict.

Kept apart from :mod:`chartship.commands` (which re-exports it) so that the
command line's lint loads only what lint needs.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from chartship import charts as chartfiles
from chartship.config import Settings
from chartship.errors import ChecksFailed
from chartship.lint import LintReport, lint
from chartship.lint.text import print_lint_report
from chartship.output import Output


@chartfiles.reading_once()
def run_lint(
    settings: Settings,
    charts: Sequence[str] = (),
    *,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    output: Output | None = None,
) -> LintReport:
    shown = output if output is not None else Output("text", out or sys.stdout, "lint")
    report = lint(settings, charts)
    shown.show_lint(
        report,
        settings.root,
        lambda stream: print_lint_report(report, settings.root, stream, environ),
    )
    if not report.ok:
        raise ChecksFailed(f"lint found {report.failures} problem(s)", count=report.failures)
    return report

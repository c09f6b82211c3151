"""``chartship lint`` as every front end runs it: lint, the report, the verdict.

Kept apart from :mod:`chartship.commands` (which re-exports it) so that the
command line's lint loads only what lint needs.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from chartship.config import Settings
from chartship.errors import ChecksFailed
from chartship.lint import LintReport, lint
from chartship.lint.text import print_lint_report


def run_lint(
    settings: Settings,
    charts: Sequence[str] = (),
    *,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> LintReport:
    out = out or sys.stdout
    report = lint(settings, charts)
    print_lint_report(report, settings.root, out, environ)
    if not report.ok:
        raise ChecksFailed(f"lint found {report.failures} problem(s)", count=report.failures)
    return report

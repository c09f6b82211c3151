"""What lint finds: problems (rule, severity, file, line, message) and the report.

Plain data, so every renderer (text, GitHub annotations, JSON, SARIF) reads
the same objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chartship.errors import ChartError
from chartship.lint.rules import Setting, Severity
from chartship.yamlfiles import Bounds, YamlDocument, load_yaml


@dataclass(frozen=True)
class Problem:
    chart: str
    path: Path
    message: str
    #: The rule's name (chartship.lint.rules.RULES).
    check: str
    line: int | None = None
    severity: Severity = "error"


@dataclass
class LintReport:
    charts: list[str]
    problems: list[Problem] = field(default_factory=list)
    #: Charts linted though not asked for, and why: they depend on one that was.
    included: dict[str, str] = field(default_factory=dict)
    #: Charts left out by lint.exclude (or chart-testing's excluded-charts).
    excluded: list[str] = field(default_factory=list)
    #: Checks that were not made, and why: silence would read as a pass.
    notes: list[str] = field(default_factory=list)
    #: Warnings fail the lint too (``--strict``).
    strict: bool = False

    @property
    def errors(self) -> int:
        return sum(p.severity == "error" for p in self.problems)

    @property
    def warnings(self) -> int:
        return sum(p.severity == "warning" for p in self.problems)

    @property
    def failures(self) -> int:
        """The problems that fail the lint."""
        return self.errors + (self.warnings if self.strict else 0)

    @property
    def ok(self) -> bool:
        return self.failures == 0

    @property
    def charts_with_problems(self) -> list[str]:
        return sorted({p.chart for p in self.problems})


class Collector:
    """One chart's problems, each at the severity the repository gives its rule."""

    def __init__(self, chart: str, severity_of: Callable[[str], Setting] | None = None) -> None:
        self.chart = chart
        self.problems: list[Problem] = []
        self._severity_of = severity_of or (lambda _rule: "error")

    def add(
        self,
        path: Path,
        message: str,
        check: str,
        line: int | None = None,
        severity: Severity | None = None,
    ) -> None:
        setting = severity or self._severity_of(check)
        if setting == "off":
            return
        problem = Problem(self.chart, path, message, check, line, setting)
        if problem not in self.problems:
            self.problems.append(problem)

    def load(self, path: Path, bounds: Bounds, rule: str) -> YamlDocument | None:
        """``path`` parsed, or None with the reason reported under ``rule``."""
        try:
            return load_yaml(path, bounds)
        except ChartError as exc:
            self.add(path, exc.message, rule, exc.line)
            return None

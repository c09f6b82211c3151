"""version-increment: a chart whose packaged files changed carries a higher version.

The comparison is with the chart's last release tag, or with a branch or
commit (``lint.since``, ``--since REF``; chart-testing's target-branch) as a
pull-request check makes it: the merge base of that ref and HEAD. A change
counts only if ``helm package`` would see it: files the chart's .helmignore
excludes (unit tests, ci/ values) are not part of the archive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from chartship import versions, yamlfiles
from chartship.charts import Chart
from chartship.errors import ChartError
from chartship.gitrepo import Git, name_some, released_version
from chartship.helmignore import Rules
from chartship.lint.model import Collector
from chartship.yamlfiles import load_data

RULE = "version-increment"


@dataclass
class History:
    """What the clone knows of the past, shared by every chart's check."""

    git: Git
    tags: list[str]
    tag_template: str
    use_helmignore: bool
    since: str | None = None
    #: Why the clone cannot tell what was released (shallow, no tags), if it cannot.
    gap: str | None = None
    #: Charts whose check was not made for want of anything to compare with.
    unchecked: list[str] = field(default_factory=list)


def packaged(changed: Sequence[Path], directory: Path, use_helmignore: bool) -> list[Path]:
    """The changed files ``helm package`` would put in the archive (or would have)."""
    if not use_helmignore:
        return list(changed)
    try:
        rules = Rules.of(directory)
    except ChartError:
        # helm refuses such a .helmignore and helm lint says so; count every file.
        return list(changed)
    kept = []
    for path in changed:
        try:
            parts = path.resolve().relative_to(directory.resolve()).parts
        except ValueError:
            kept.append(path)
            continue
        # helm does not enter an ignored directory, so an ignored ancestor hides the file.
        names = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        if not any(rules.ignored(name, n < len(parts) - 1) for n, name in enumerate(names)):
            kept.append(path)
    return kept


def _relative(path: Path, directory: Path) -> str:
    try:
        return path.resolve().relative_to(directory.resolve()).as_posix()
    except ValueError:
        return str(path)


def _changed(chart: Chart, history: History, rev: str) -> str:
    changed = history.git.changes_since(rev, chart.directory)
    kept = packaged(changed, chart.directory, history.use_helmignore)
    return name_some([_relative(p, chart.directory) for p in kept]) if kept else ""


def check(chart: Chart, history: History, out: Collector) -> None:
    if versions.is_placeholder(chart.version) or not versions.is_valid(chart.version):
        # An unstamped chart is stamped at release time; packaging refuses it.
        return
    if history.since is not None:
        _check_since(chart, history, history.since, out)
        return
    if history.gap is not None:
        out.add(
            chart.chart_yaml,
            f"cannot check that the version went up since the last release: "
            f"{history.gap} (or set lint.version_increment: false)",
            RULE,
            chart.doc.line("version"),
        )
        return
    released = released_version(history.tags, history.tag_template, chart.name)
    if released is None:
        history.unchecked.append(chart.name)
        return
    if versions.parse(chart.version) > versions.parse(released.version):
        return
    changed = _changed(chart, history, released.tag)
    if changed:
        out.add(
            chart.chart_yaml,
            f"the chart changed since its release {released.version} "
            f"(tag {released.tag}) but its version {chart.version} is not higher; "
            f"changed: {changed}",
            RULE,
            chart.doc.line("version"),
        )


def _resolve(git: Git, ref: str) -> str | None:
    """``ref`` as given, or (a ``remote/branch`` whose remote is not fetched) the local branch."""
    candidates = [ref]
    if "/" in ref:
        candidates.append(ref.split("/", 1)[1])
    return next((c for c in candidates if git.resolves(c)), None)


def _check_since(chart: Chart, history: History, ref: str, out: Collector) -> None:
    resolved = _resolve(history.git, ref)
    line = chart.doc.line("version")
    if resolved is None:
        out.add(
            chart.chart_yaml,
            f"cannot check that the version went up since {ref}: this clone has no such "
            "branch or commit (fetch it, e.g. `git fetch origin main`, or fix lint.since)",
            RULE,
            line,
            severity="warning",
        )
        return
    base = history.git.merge_base(resolved) or resolved
    before = history.git.show(base, chart.chart_yaml)
    if before is None:
        return  # a new chart: nothing to be higher than
    try:
        old = load_data(before, yamlfiles.CHART)
    except yaml.YAMLError:
        return
    old_version = old.get("version") if isinstance(old, dict) else None
    if not versions.is_valid(old_version):
        return
    if versions.parse(chart.version) > versions.parse(str(old_version)):
        return
    changed = _changed(chart, history, base)
    if changed:
        out.add(
            chart.chart_yaml,
            f"the chart changed since {resolved} (merge base {base[:12]}) but its version "
            f"{chart.version} is not higher than {old_version} there; changed: {changed}",
            RULE,
            line,
        )

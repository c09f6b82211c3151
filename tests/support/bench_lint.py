"""Benchmark: ``chartship lint`` against a plain loop of ``helm lint --strict`` over the same runs.

Not a test: ``nox -s bench`` runs it through :mod:`tests.support.bench`
(``-- --only lint`` runs it alone).

Two repositories from :func:`tests.support.lint_repo.generated_repo`: many
charts with several ci values files each, and one chart with many. Each
side makes the same helm runs, every chart with its default values and with
each ci values file:

- chartship: ``python -m chartship lint`` (whole process, its static checks
  included; version-increment off, as the generated repository has no history);
- the loop: one ``/bin/sh`` script running ``helm lint --strict`` once per
  (chart, values file), one after another, as chart-testing and hand-rolled
  CI scripts do.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from chartship.toolchain import DEFAULT_HELM_VERSIONS
from tests.support import bench_index
from tests.support.bench_backfill import best_of, local_environment, pinned_helms
from tests.support.lint_repo import generated_repo

#: (charts, ci values files per chart): the issue's two shapes.
DEFAULT_SHAPES = ((40, 4), (1, 20))


def loop_script(script: Path, helm: Path, repo: Path) -> list[str]:
    """The baseline: every run of ``repo``, one ``helm lint --strict`` after another."""
    lines = ["#!/bin/sh", f"# Written by {Path(__file__).name}: the plain loop.", "set -eu"]
    for chart in sorted((repo / "charts").iterdir()):
        runs: list[list[str]] = [[]]
        runs += [["--values", str(v)] for v in sorted((chart / "ci").glob("*-values.yaml"))]
        for extra in runs:
            lines.append(shlex.join([str(helm), "lint", "--strict", str(chart), *extra]))
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["/bin/sh", str(script)]


def run(
    shapes: Sequence[tuple[int, int]] = DEFAULT_SHAPES,
    *,
    helm_versions: Sequence[str] = DEFAULT_HELM_VERSIONS,
    repeat: int = 3,
    progress: Callable[[str], None] = lambda _: None,
) -> list[dict[str, Any]]:
    """One row per shape and helm; ``size`` is the number of helm runs of the shape."""
    helms = pinned_helms(helm_versions)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="chartship-bench-lint-") as scratch:
        for charts, values in shapes:
            repo = generated_repo(Path(scratch) / f"c{charts}v{values}", charts, values)
            runs = charts * (values + 1)
            for version, helm in helms.items():
                env = local_environment(Path(scratch) / f"helm{version}")
                ours, theirs = [], []
                for _ in range(repeat):
                    config = str(repo / "chartship.yaml")
                    argv = [sys.executable, "-m", "chartship", "lint", "--config", config]
                    argv += ["--helm", str(helm)]
                    ours.append(bench_index.measure(argv, env))
                    loop = loop_script(Path(scratch) / "loop.sh", helm, repo)
                    theirs.append(bench_index.measure(loop, env))
                    progress(
                        f"lint {charts} chart(s) x {values} ci files helm {version}: chartship "
                        f"{ours[-1][0]:.2f} s, loop {theirs[-1][0]:.2f} s"
                    )
                (chartship_s, chartship_rss), (loop_s, loop_rss) = best_of(ours), best_of(theirs)
                rows.append(
                    {
                        "charts": charts,
                        "size": runs,
                        "helm": version,
                        "chartship_s": chartship_s,
                        "chartship_rss_mb": chartship_rss,
                        "baseline_s": loop_s,
                        "baseline_rss_mb": loop_rss,
                        "extrapolated": False,
                    }
                )
    return rows

"""All of chartship's benchmarks in one run, as one Markdown table of ratios.

``nox -s bench`` runs ``python -m tests.support.bench``: the index merge
(:mod:`tests.support.bench_index`), the no-op release
(:mod:`tests.support.bench_noop`), the backfill
(:mod:`tests.support.bench_backfill`) and lint
(:mod:`tests.support.bench_lint`), each side against its baseline in the
same run on the same machine. The table goes to standard output and, on a
full run, into README.md between the ``bench:start`` and ``bench:end``
markers. ``--quick`` is a smoke run at small sizes that leaves README.md
alone.
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

import chartship
from chartship.helm import Helm
from chartship.toolchain import DEFAULT_HELM_VERSIONS
from tests.support import bench_backfill, bench_index, bench_lint, bench_noop
from tests.support.builders import REPO

README = REPO / "README.md"
START = "<!-- bench:start -->"
END = "<!-- bench:end -->"

BACKFILL = "backfill into OCI"
NOOP = "no-op release"
MERGE = "index.yaml merge"
LINT_MANY = "lint, 40 charts"
LINT_ONE = "lint, one chart"
#: What the issue asks of each comparison, at the size it names (speedup at least).
TARGETS = {
    (BACKFILL, 100): 10.0,
    (BACKFILL, 1000): 10.0,
    (NOOP, 50): 10.0,
    (MERGE, 10): 1.0,
    (MERGE, 15000): 25.0,
    (LINT_MANY, 200): 2.0,
    (LINT_ONE, 21): 1.0,
}
#: chartship's cost per version at most this multiple of the raw request floor.
FLOOR_TARGET = 2.0
#: Peak RSS of the backfill at this size, at most this many MB.
RSS_TARGET = (1000, 100.0)
_RUNS = ("helm lint run", "helm lint runs")
UNITS = {
    BACKFILL: ("version", "versions"),
    NOOP: ("chart", "charts"),
    MERGE: ("entry", "entries"),
    LINT_MANY: _RUNS,
    LINT_ONE: _RUNS,
}


@dataclass(frozen=True)
class Line:
    """One comparison: chartship and its baseline at one size with one helm."""

    benchmark: str
    size: int
    helm: str
    ours_s: float
    theirs_s: float | None
    ours_rss_mb: float
    theirs_rss_mb: float | None
    extrapolated: bool = False
    #: The backfill's raw request floor (see :mod:`bench_backfill`).
    floor_s: float | None = None

    @property
    def speedup(self) -> float | None:
        return None if self.theirs_s is None else self.theirs_s / self.ours_s


def machine() -> str:
    """CPU model, cores, RAM, kernel and Python of this machine, in one line."""
    cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )
    meminfo = Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()
    kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    # Anything else running shares the cores with both sides; the load says how much.
    return (
        f"{model}, {os.cpu_count()} cores, {kib / 2**20:.1f} GiB RAM, "
        f"Linux {platform.release()}, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f} at the start"
    )


def helm_versions(versions: Sequence[str]) -> str:
    """What each pinned helm says it is."""
    helms = bench_backfill.pinned_helms(versions)
    return ", ".join(Helm(str(path)).version for path in helms.values())


# --------------------------------------------------------------------------- the runs


def index_lines(sizes: Sequence[int], versions: Sequence[str], repeat: int) -> list[Line]:
    rows = bench_index.run(sizes, helm_versions=versions, repeat=repeat)
    return [
        Line(MERGE, r["entries"], r["helm"], r["chartship_s"], r["helm_s"],
             r["chartship_rss_mb"], r["helm_rss_mb"])
        for r in rows
    ]  # fmt: skip


def as_lines(benchmark: str, rows: Sequence[Mapping[str, Any]]) -> list[Line]:
    """Rows of :mod:`bench_backfill` or :mod:`bench_noop`, which share their keys."""
    return [
        Line(benchmark, r["size"], r["helm"], r["chartship_s"], r["baseline_s"],
             r["chartship_rss_mb"], r["baseline_rss_mb"], r["extrapolated"], r.get("floor_s"))
        for r in rows
    ]  # fmt: skip


# --------------------------------------------------------------------------- the table


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value >= 0.1 else f"{value * 1000:.0f} ms"


def _per_unit(value: float) -> str:
    # Below the noise of a whole-process timing a slope can come out negative.
    if value <= 0:
        return "≈0"
    return f"{value * 1000:.1f} ms" if value >= 0.001 else f"{value * 1e6:.0f} µs"


def _slopes(lines: Sequence[Line]) -> dict[int, tuple[str, str]]:
    """Per size: what each unit above the smallest size cost, chartship and baseline.

    Measured from the smallest size rather than per unit, so that the fixed cost
    of a run (interpreter start, reading the channels) does not count.
    """
    first, *rest = sorted(lines, key=lambda x: x.size)
    found = {first.size: ("-", "-")}
    for line in rest:
        grown = line.size - first.size
        ours = _per_unit((line.ours_s - first.ours_s) / grown)
        theirs = "-"
        if line.theirs_s is not None and first.theirs_s is not None:
            theirs = ("≥ " if line.extrapolated else "") + _per_unit(
                (line.theirs_s - first.theirs_s) / grown
            )
        found[line.size] = (ours, theirs)
    return found


def table(lines: Sequence[Line]) -> str:
    header = [
        "| benchmark | size | helm | chartship | baseline | speedup | target "
        "| cost per unit above the smallest size, chartship / baseline "
        "| peak RSS chartship / baseline |",
        "| --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    body = []
    ordered = sorted(lines, key=lambda x: (x.benchmark, x.helm, x.size))
    slopes = {
        key: _slopes(list(group))
        for key, group in groupby(ordered, key=lambda x: (x.benchmark, x.helm))
    }
    for line in lines:
        target = TARGETS.get((line.benchmark, line.size))
        speedup = "-" if line.speedup is None else f"{line.speedup:.1f}x"
        baseline = "-" if line.theirs_s is None else _seconds(line.theirs_s)
        if line.extrapolated:
            speedup, baseline = f"≥ {speedup}", f"≥ {baseline} (extrapolated)"
        verdict = "-"
        if target is not None and line.speedup is not None:
            verdict = f"{target:g}x: {_met(line.speedup >= target)}"
        ours_unit, theirs_unit = slopes[(line.benchmark, line.helm)][line.size]
        singular, plural = UNITS[line.benchmark]
        per_unit = "-" if ours_unit == "-" else f"{ours_unit} / {theirs_unit} per {singular}"
        rss = f"{line.ours_rss_mb:.0f} MB / " + (
            "-" if line.theirs_rss_mb is None else f"{line.theirs_rss_mb:.0f} MB"
        )
        body.append(
            f"| {line.benchmark} | {line.size:,} {plural} | {line.helm} "
            f"| {_seconds(line.ours_s)} | {baseline} | {speedup} | {verdict} "
            f"| {per_unit} | {rss} |"
        )
    return "\n".join(header + body)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def floor_table(lines: Sequence[Line]) -> str:
    """Per backfill size: chartship's cost per version against the raw request floor's.

    chartship's cost per version is what each version above the smallest size
    added to its whole run (so the fixed cost of a run, start-up and the tag
    window's one wait, does not count; the whole run divided by the versions is
    shown beside it); the floor's is its requests alone, divided by the versions.
    """
    rows = [
        "| backfill size | helm | chartship per version (whole run / versions) "
        "| raw request floor per version | multiple | target |",
        "| ---: | --- | ---: | ---: | ---: | --- |",
    ]
    backfills = [x for x in lines if x.benchmark == BACKFILL and x.floor_s is not None]
    smallest = {x.helm: min((y for y in backfills if y.helm == x.helm), key=lambda y: y.size)
                for x in backfills}  # fmt: skip
    for line in backfills:
        first = smallest[line.helm]
        if line.size == first.size or line.floor_s is None:
            continue
        ours = (line.ours_s - first.ours_s) / (line.size - first.size)
        floor = line.floor_s / line.size
        multiple = max(ours, 0.0) / floor
        rows.append(
            f"| {line.size:,} | {line.helm} | {_per_unit(ours)} "
            f"({_per_unit(line.ours_s / line.size)}) | {_per_unit(floor)} "
            f"| {multiple:.1f}x | ≤ {FLOOR_TARGET:g}x: {_met(multiple <= FLOOR_TARGET)} |"
        )
    size, limit = RSS_TARGET
    for line in lines:
        if line.benchmark == BACKFILL and line.size == size:
            rows.append(
                f"| {size:,} | {line.helm} | peak RSS {line.ours_rss_mb:.0f} MB | - | - "
                f"| ≤ {limit:g} MB: {_met(line.ours_rss_mb <= limit)} |"
            )
    return "\n".join(rows) if len(rows) > 2 else ""


def report(lines: Sequence[Line], *, machine_line: str, helms: str, settings: str) -> str:
    floors = floor_table(lines)
    extra = f"\n{floors}\n" if floors else ""
    return f"Machine: {machine_line}. helm: {helms}. {settings}\n\n{table(lines)}\n{extra}"


def write_readme(text: str, readme: Path = README) -> None:
    """Replace what stands between the markers in ``readme`` with ``text``."""
    current = readme.read_text(encoding="utf-8")
    head, start, rest = current.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise RuntimeError(f"{readme} has no {START} ... {END} block to replace")
    readme.write_text(f"{head}{START}\n{text}{END}{tail}", encoding="utf-8")


# --------------------------------------------------------------------------- command line


def compiled() -> None:
    """Byte-compile chartship, as installing a package does.

    The bench session installs chartship editable, so its modules have no
    bytecode until they are first imported, and an environment with
    ``PYTHONDONTWRITEBYTECODE`` never writes any: every measured process
    would then compile chartship from source, which no installed copy does.
    """
    compileall.compile_dir(Path(chartship.__file__).parent, quiet=1)


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes, one run")
    parser.add_argument(
        "--only",
        choices=["backfill", "noop", "index", "lint"],
        action="append",
        help="(repeatable)",
    )
    parser.add_argument("--backfill-sizes", type=_sizes, help="versions (default 10,100,1000)")
    parser.add_argument("--loop-max", type=int, help="largest backfill the loop is run at")
    parser.add_argument("--workers", type=int, default=bench_backfill.DEFAULT_WORKERS)
    parser.add_argument("--charts", type=_sizes, help="charts of the no-op (default 10,50)")
    parser.add_argument("--index-sizes", type=_sizes, help="entries (default 10,100,1000,15000)")
    parser.add_argument("--repeat", type=int, help="runs per measurement (default 3; no-op 5)")
    parser.add_argument("--helm", action="append", help="helm version (default: every pinned)")
    parser.add_argument(
        "--readme",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write the table into README.md (default: on a full run of all only)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    only = set(args.only or ["backfill", "noop", "index", "lint"])
    versions = args.helm or list(DEFAULT_HELM_VERSIONS)
    repeat = args.repeat or (1 if quick else 3)

    def progress(line: str) -> None:
        print(f"bench: {line}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    compiled()
    machine_line = machine()
    lines: list[Line] = []
    if "index" in only:
        index_sizes = args.index_sizes or ([1000] if quick else [10, 100, 1000, 15000])
        progress(f"index merge at {index_sizes} entries")
        lines += index_lines(index_sizes, versions, repeat)
    # A no-op takes about a second a side, so it gets more runs than the rest.
    noop_repeat = args.repeat or (1 if quick else 5)
    if "noop" in only:
        charts = args.charts or ([5] if quick else bench_noop.DEFAULT_SIZES)
        rows = bench_noop.run(charts, helm_versions=versions, repeat=noop_repeat, progress=progress)
        lines += as_lines(NOOP, rows)
    if "backfill" in only:
        rows = bench_backfill.run(
            args.backfill_sizes or ([10] if quick else [10, 100, 1000]),
            helm_versions=versions,
            repeat=repeat,
            workers=args.workers,
            loop_max=args.loop_max or bench_backfill.DEFAULT_LOOP_MAX,
            progress=progress,
        )
        lines += as_lines(BACKFILL, rows)
    if "lint" in only:
        shapes = ((5, 2), (1, 4)) if quick else bench_lint.DEFAULT_SHAPES
        rows = bench_lint.run(shapes, helm_versions=versions, repeat=repeat, progress=progress)
        lines += [
            *as_lines(LINT_MANY, [r for r in rows if r["charts"] > 1]),
            *as_lines(LINT_ONE, [r for r in rows if r["charts"] == 1]),
        ]
    order = {BACKFILL: 0, NOOP: 1, MERGE: 2, LINT_MANY: 3, LINT_ONE: 4}
    lines.sort(key=lambda x: (order[x.benchmark], x.size, x.helm))
    settings = (
        f"Whole processes, best of {repeat} (no-op: {noop_repeat}; backfills over "
        f"{bench_backfill.DEFAULT_REPEAT_MAX} versions: one run); chartship backfill with "
        f"`--workers {args.workers}`. The whole run took {time.perf_counter() - started:.0f} s."
    )
    text = report(
        lines, machine_line=machine_line, helms=helm_versions(versions), settings=settings
    )
    print(text, end="")
    if args.readme if args.readme is not None else not (quick or args.only):
        write_readme(text)
        progress(f"table written to {README}")
    progress(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

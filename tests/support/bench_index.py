"""Benchmark: one new entry merged into a big index.yaml, chartship against helm.

Not a test (``nox -s bench`` runs it; ``python -m tests.support.bench_index``).
For each size it writes a synthetic index in helm's own layout with realistic
entries (many charts, dozens of versions each), builds a real chart archive
for a new version of one of those charts, and times, best of ``repeat``:

- chartship: a Python process (:mod:`tests.support.bench_merge`, which imports
  chartship only) that reads index.yaml, builds the entry from the archive
  (:func:`chartship.channels.classic.entry.entry_for`), merges it
  (:func:`chartship.channels.classic.merge.merge`) and writes the result; the
  same work is also timed inside this process, without interpreter start and imports;
- helm: ``helm repo index <dir holding only the new archive> --merge <old index>``,
  for every pinned helm major.

Both sides are timed as whole processes, best of ``repeat``, with their peak
resident memory; the ratios compare measurements from the same run.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from chartship.channels.classic.merge import INDEX_FILE
from chartship.toolchain import DEFAULT_HELM_VERSIONS, helm_path
from tests.support import bench_merge
from tests.support.builders import (
    TOOLS,
    URL,
    VERSIONS_PER_CHART,
    chart_archive,
    chart_name,
    synthetic_index,
)

NEW_VERSION = "99.0.0"


def _helm_env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


#: Runs the command given after the number of a pipe to report on, and writes to that
#: pipe the command's wall time, peak RSS (KiB) and exit status. It exists because
#: exec keeps the high-water RSS of the memory a process had before: any child of the
#: benchmark (which holds servers and indexes) would start from the benchmark's own
#: peak. A child of this small process starts from a few MB.
_LAUNCHER = """\
import os, sys, time
report, argv = int(sys.argv[1]), sys.argv[2:]
os.set_inheritable(report, False)
start = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - start
os.write(report, f"{elapsed} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}".encode())
"""


def measure(argv: Sequence[str], env: Mapping[str, str] | None = None) -> tuple[float, float]:
    """Run ``argv`` to completion: its wall time in seconds and peak resident set in MB.

    The peak comes from ``wait4``: the largest resident set of any process in the
    tree (the command and every descendant it waited for), not a sum of them.
    """
    read, write = os.pipe()
    launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(write), *argv]
    with os.fdopen(read, "rb") as reported:
        try:
            proc = subprocess.Popen(
                launcher,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=[write],
            )
        finally:
            # Only the launcher may hold the write end, so the read below ends with it.
            os.close(write)
        with proc:
            _, raw_errors = proc.communicate()
        fields = reported.read().decode().split()
    errors = raw_errors.decode(errors="replace").strip()
    if len(fields) != 3:
        raise RuntimeError(f"could not run {argv[0]} (exit {proc.returncode}): {errors}")
    elapsed, rss_kib, status = float(fields[0]), int(fields[1]), int(fields[2])
    if status != 0:
        raise RuntimeError(f"{argv[0]} failed (exit {status}): {errors}")
    return elapsed, rss_kib / 1024


def _nothing() -> None:
    pass


def _best_process(
    repeat: int, argv: Sequence[str], env: Mapping[str, str] | None, before: Callable[[], None]
) -> tuple[float, float]:
    """Fastest of ``repeat`` runs, and the highest peak memory seen."""
    runs = []
    for _ in range(repeat):
        before()
        runs.append(measure(argv, env))
    return min(t for t, _ in runs), max(m for _, m in runs)


def _helm_argv(helm: Path, old_index: Path, directory: Path) -> list[str]:
    return [str(helm), "repo", "index", str(directory), "--url", URL, "--merge", str(old_index)]


def _fresh_dir(directory: Path, archive: Path) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    shutil.copy2(archive, directory / archive.name)


def _best(repeat: int, action: Callable[..., object], *args: Any) -> float:
    times: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        action(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def run(
    sizes: Sequence[int] = (15000,),
    *,
    helm_versions: Sequence[str] = DEFAULT_HELM_VERSIONS,
    repeat: int = 3,
    workdir: Path | None = None,
) -> list[dict[str, Any]]:
    """Time both merges for each size; one row per size and helm version.

    With ``workdir`` the indexes are kept there (each row names its outputs);
    otherwise they are written to a temporary directory and removed.
    """
    helms = {v: helm_path(TOOLS, v) for v in helm_versions}
    missing = [str(p) for p in helms.values() if not p.is_file()]
    if missing:
        raise RuntimeError(f"helm not installed: {', '.join(missing)} (tests/support/provision.py)")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="chartship-bench-") as scratch:
        base = workdir if workdir is not None else Path(scratch)
        for size in sizes:
            where = base / f"n{size}"
            where.mkdir(parents=True, exist_ok=True)
            old_index = where / "old-index.yaml"
            old_index.write_text(synthetic_index(size), encoding="utf-8")
            chart = chart_name(max(1, size // VERSIONS_PER_CHART) // 2)
            archive = chart_archive(where / "new", chart, NEW_VERSION)
            ours = where / "chartship-index.yaml"
            inprocess_s = _best(repeat, bench_merge.merge_once, old_index, archive, ours, URL)
            # Whole processes on both sides, interpreter start included, as a CI step runs them.
            merge_once = [sys.executable, bench_merge.__file__, str(old_index), str(archive)]
            chartship_s, chartship_rss = _best_process(
                repeat, [*merge_once, str(ours), URL], None, _nothing
            )
            for version, helm in helms.items():
                out_dir = where / f"helm-{version}"
                helm_s, helm_rss = _best_process(
                    repeat,
                    _helm_argv(helm, old_index, out_dir),
                    _helm_env(where / "home"),
                    functools.partial(_fresh_dir, out_dir, archive),
                )
                rows.append(
                    {
                        "entries": size,
                        "index_mb": round(old_index.stat().st_size / 1e6, 1),
                        "chart": chart,
                        "version": NEW_VERSION,
                        "helm": version,
                        "chartship_s": round(chartship_s, 4),
                        "chartship_inprocess_s": round(inprocess_s, 4),
                        "helm_s": round(helm_s, 4),
                        "speedup": round(helm_s / chartship_s, 1),
                        "chartship_rss_mb": round(chartship_rss, 1),
                        "helm_rss_mb": round(helm_rss, 1),
                        "chartship_index": ours if workdir is not None else None,
                        "helm_index": out_dir / INDEX_FILE if workdir is not None else None,
                    }
                )
    return rows


def table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| entries | index.yaml | helm | `helm repo index --merge` | `chartship` process "
        "| of which the merge | speedup | peak RSS helm | peak RSS chartship |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['entries']:,} | {row['index_mb']} MB | {row['helm']} | "
            f"{row['helm_s']:.3f} s | {row['chartship_s']:.3f} s | "
            f"{row['chartship_inprocess_s']:.3f} s | {row['speedup']}x | "
            f"{row['helm_rss_mb']} MB | {row['chartship_rss_mb']} MB |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("sizes", nargs="*", type=int, default=[15000], help="index entries")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    args = parser.parse_args(argv)
    rows = run(args.sizes, repeat=args.repeat)
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: a release run with nothing to do, chartship against a loop of ``helm show chart``.

Not a test: ``nox -s bench`` runs it through :mod:`tests.support.bench`
(``-- --only noop`` runs it alone).

The setup, for each number of charts, is the state of a repository after
its releases: the sandbox's services (registry, GitHub stand-in, pages site,
bare origin) and a working copy holding that many charts, every one released
once by ``chartship release`` itself (so each is in OCI, has its GitHub
release and index entry, and its release tag ``{name}-chart-{version}``
exists), the tags fetched as a CI checkout with ``fetch-depth: 0`` has them.
Then, per pinned helm, best of ``repeat``:

- chartship: ``python -m chartship release`` as a CI run on a push to main
  runs it (``GITHUB_ACTIONS``, ``GITHUB_REF_TYPE=branch``, step outputs and
  summary files), every channel configured. It must find nothing to release:
  the step outputs are checked after every run;
- the loop: one ``/bin/sh`` script asking the registry for each chart's
  version with ``helm show chart oci://... --version V``, the existence check
  chartpress-style release scripts make before deciding to publish.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from chartship.commands import run_release
from chartship.toolchain import DEFAULT_HELM_VERSIONS
from tests.support import bench_index
from tests.support.actions_runner import parse_file_commands
from tests.support.bench_backfill import (
    ITEM,
    best_of,
    local_environment,
    pinned_helms,
    shell_loop,
)
from tests.support.builders import RELEASE_TAG, chart_files, chart_name
from tests.support.sandbox import Sandbox, open_sandbox

#: 50 is the size the issue names; 10 gives the cost per chart.
DEFAULT_SIZES = (10, 50)
VERSION = "1.0.0"


def write_source(root: Path, count: int) -> list[str]:
    """A repository of ``count`` charts (what the sandbox copies); their names."""
    names = [chart_name(number) for number in range(count)]
    for name in names:
        for relative, text in chart_files(name, VERSION).items():
            path = root / "charts" / name / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    config = {"release": {"tag": RELEASE_TAG}}
    (root / "chartship.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return names


def ci_environment(box: Sandbox, directory: Path) -> dict[str, str]:
    """What GitHub Actions gives a job on a push to main, with fresh output files."""
    directory.mkdir(parents=True, exist_ok=True)
    outputs, summary = directory / "outputs", directory / "summary.md"
    for path in (outputs, summary):
        path.write_text("", encoding="utf-8")
    return {
        **box.environ,
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_REF_NAME": "main",
        "GITHUB_REF_TYPE": "branch",
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
    }


def _released_nothing(outputs: Path) -> None:
    values = parse_file_commands(outputs.read_text(encoding="utf-8"))
    if values.get("released") != "[]" or values.get("changed") != "false":
        raise RuntimeError(f"chartship release was not a no-op; its outputs: {values}")


@contextlib.contextmanager
def published(base: Path, charts: int, helm: Path) -> Iterator[tuple[Sandbox, list[str]]]:
    """The sandbox after ``chartship release`` published ``charts`` charts, tags fetched."""
    names = write_source(base / "source", charts)
    with open_sandbox(base / "sandbox", base / "source", helm) as box:
        said = io.StringIO()
        first = run_release(box.settings(), environ=box.environ, out=said)
        if len(first.rows) != charts or not first.ok:
            raise RuntimeError(
                f"the setup release did not publish {charts} charts:\n{said.getvalue()}"
            )
        box.git("fetch", "-q", "--tags", "origin")
        yield box, names


def run(
    sizes: Sequence[int] = DEFAULT_SIZES,
    *,
    helm_versions: Sequence[str] = DEFAULT_HELM_VERSIONS,
    repeat: int = 5,
    progress: Callable[[str], None] = lambda _: None,
) -> list[dict[str, Any]]:
    """One row per number of published charts and helm: both no-op runs over them."""
    helms = pinned_helms(helm_versions)
    # The newest helm publishes; the no-op run never starts helm, whichever is set.
    publisher = helms[helm_versions[-1]]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="chartship-bench-noop-") as scratch:
        for charts in sorted(sizes):
            base = Path(scratch) / f"n{charts}"
            progress(f"no-op: publishing {charts} charts with chartship release")
            with published(base, charts, publisher) as (box, names):
                config = box.work / "chartship.yaml"
                for version, helm in helms.items():
                    ours, theirs = [], []
                    for attempt in range(repeat):
                        where = base / "runs" / f"helm{version}-{attempt}"
                        env = ci_environment(box, where / "actions")
                        argv = [sys.executable, "-m", "chartship", "release",
                                "--config", str(config), "--helm", str(helm)]  # fmt: skip
                        ours.append(bench_index.measure(argv, env))
                        _released_nothing(Path(env["GITHUB_OUTPUT"]))
                        loop = shell_loop(
                            where / "exists.sh",
                            [],
                            names,
                            [[str(helm), "show", "chart", f"{box.oci_base}/{ITEM}",
                              "--version", VERSION, "--plain-http"]],
                        )  # fmt: skip
                        theirs.append(bench_index.measure(loop, local_environment(where / "helm")))
                        progress(
                            f"no-op {charts} charts helm {version}: chartship "
                            f"{ours[-1][0]:.2f} s, loop {theirs[-1][0]:.2f} s"
                        )
                    (chartship_s, chartship_rss), (loop_s, loop_rss) = (
                        best_of(ours),
                        best_of(theirs),
                    )
                    rows.append(
                        {
                            "size": charts,
                            "helm": version,
                            "chartship_s": chartship_s,
                            "chartship_rss_mb": chartship_rss,
                            "baseline_s": loop_s,
                            "baseline_rss_mb": loop_rss,
                            "extrapolated": False,
                        }
                    )
    return rows

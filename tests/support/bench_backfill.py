"""Benchmark: backfilling a classic channel into OCI, chartship against a loop of helm.

Not a test: ``nox -s bench`` runs it through :mod:`tests.support.bench`
(``-- --only backfill`` runs it alone).

For each size it builds a classic channel the way MetalLB's is: an index.yaml
on a static site whose entries point at GitHub release assets (the GitHub
stand-in serves them), every version a distinct archive. Then, per pinned
helm, both sides copy every version into an empty registry of their own, a
fresh ``docker-registry`` with fresh storage for every single run, so neither
finds a version already present:

- chartship: ``python -m chartship migrate backfill --workers N``, one process
  that reads both channels, downloads each archive, proves it (sha256 equal to
  the index digest, safe to open, Chart.yaml naming that chart and version),
  pushes it with helm and reads the push back to compare the chart layer;
- the floor: the raw registry requests the same pushes need (each blob's
  upload, the manifest PUT, its read-back GET) made in this process by a
  minimal client over one kept-alive connection, serially, with the manifests
  computed beforehand: what no client can go below on this registry;
- the loop: one ``/bin/sh`` script doing what projects write by hand today,
  ``helm repo add`` then ``helm pull --version V`` and ``helm push`` for each
  version in turn. It verifies nothing.

Afterwards the registry is asked for its tags: a side that copied fewer than
every version fails the benchmark rather than winning it. Times are whole
processes, best of ``repeat``, the two sides interleaved; the loop is timed
only up to ``loop_max`` versions and extrapolated (and labelled so) beyond.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import secrets
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chartship import safetar
from chartship.channels.classic.merge import INDEX_FILE
from chartship.channels.oci.manifest import chart_manifest
from chartship.channels.oci.registry import OCI_MANIFEST
from chartship.sandbox.github_standin import GithubStandin
from chartship.sandbox.registry import RegistryServer, list_tags
from chartship.toolchain import DEFAULT_HELM_VERSIONS, helm_path
from tests.support import bench_index
from tests.support.builders import RELEASE_TAG, TOOLS, channels, release_history
from tests.support.chartrepo import StaticServer
from tests.support.sandbox import helm_homes

CHART = "metallb"
REPOSITORY = "metallb/metallb"
NAMESPACE = "charts"
#: chartship's default (``channels.oci.workers``); the table says which value it ran with.
DEFAULT_WORKERS = 4
DEFAULT_SIZES = (10, 100, 1000)
#: Above this many versions the loop is extrapolated; by default it runs at every size.
DEFAULT_LOOP_MAX = 1000
#: Sizes above this are run once: a run of 1,000 versions takes minutes.
DEFAULT_REPEAT_MAX = 100
#: Stands for the loop variable in the argv of a loop body (see :func:`shell_loop`).
ITEM = "\0item\0"


def version_of(number: int) -> str:
    return f"1.{number // 100}.{number % 100}"


def local_environment(helm_home: Path) -> dict[str, str]:
    """This process's environment, with a helm of its own and no proxy for 127.0.0.1."""
    return {
        **os.environ,
        **helm_homes(helm_home),
        "no_proxy": "127.0.0.1,localhost",
        "NO_PROXY": "127.0.0.1,localhost",
    }


def pinned_helms(versions: Sequence[str]) -> dict[str, Path]:
    helms = {v: helm_path(TOOLS, v) for v in versions}
    missing = [str(p) for p in helms.values() if not p.is_file()]
    if missing:
        raise RuntimeError(f"helm not installed: {', '.join(missing)} (tests/support/provision.py)")
    return helms


# --------------------------------------------------------------------------- the shell loop


def _word(arg: str) -> str:
    return '"$item"'.join(shlex.quote(part) if part else "" for part in arg.split(ITEM))


def shell_loop(
    script: Path,
    prologue: Sequence[Sequence[str]],
    items: Sequence[str],
    body: Sequence[Sequence[str]],
) -> list[str]:
    """Write a /bin/sh script: ``prologue`` once, then ``body`` for each of ``items``.

    ``ITEM`` inside an argument of ``body`` becomes the loop variable. Every
    word is quoted with shlex, so no path or URL is ever parsed by the shell.
    Returns the argv that runs it.
    """
    lines = [
        "#!/bin/sh",
        f"# Written by {Path(__file__).name}: the hand-rolled baseline.",
        "set -eu",
    ]
    lines += [" ".join(_word(arg) for arg in argv) for argv in prologue]
    listed = " \\\n    ".join(shlex.quote(item) for item in items)
    lines.append(f"for item in \\\n    {listed}\ndo")
    lines += ["    " + " ".join(_word(arg) for arg in argv) for argv in body]
    lines.append("done")
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["/bin/sh", str(script)]


# --------------------------------------------------------------------------- the classic channel


@dataclass(frozen=True)
class Classic:
    url: str  # the repository URL: what `helm repo add` and channels.pages.index_url take
    chart: str
    versions: tuple[str, ...]
    github_api: str
    github_token: str


@contextlib.contextmanager
def serve_classic(base: Path, count: int) -> Iterator[Classic]:
    """``count`` versions of one chart: index.yaml on a static site, archives on releases."""
    site = base / "site"
    site.mkdir(parents=True)
    token = secrets.token_urlsafe(16)
    with (
        GithubStandin(token=token, repos=[REPOSITORY]) as github,
        StaticServer(site) as pages,
    ):
        versions = tuple(version_of(n) for n in range(count))
        text, _ = release_history(github, versions, base / "archives", repository=REPOSITORY)
        (site / INDEX_FILE).write_text(text, encoding="utf-8")
        yield Classic(pages.url, CHART, versions, github.api_url, token)


# --------------------------------------------------------------------------- the two sides


def chartship_argv(
    workdir: Path, helm: Path, classic: Classic, registry: RegistryServer, workers: int
) -> list[str]:
    """``chartship migrate backfill`` with just the channels a backfill reads and writes."""
    config = {
        "helm": str(helm),
        "release": {"tag": RELEASE_TAG},
        "channels": channels(
            phase="dual",
            # The stand-in is local and never rate-limits, so no spacing of requests.
            github={"repository": REPOSITORY, "api_url": classic.github_api, "throttle": False},
            pages={"index_url": classic.url},
            oci={"repository": registry.oci_base(NAMESPACE), "plain_http": True},
        ),
    }
    path = workdir / "chartship.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return [sys.executable, "-m", "chartship", "migrate", "backfill",
            "--config", str(path), "--workers", str(workers)]  # fmt: skip


def loop_argv(workdir: Path, helm: Path, classic: Classic, registry: RegistryServer) -> list[str]:
    """``helm repo add``, then ``helm pull`` and ``helm push`` per version, in one script."""
    pulled = workdir / "pulled"
    pulled.mkdir()
    return shell_loop(
        workdir / "backfill.sh",
        [[str(helm), "repo", "add", "classic", classic.url]],
        classic.versions,
        [
            [str(helm), "pull", f"classic/{classic.chart}", "--version", ITEM,
             "--destination", str(pulled)],
            [str(helm), "push", str(pulled / f"{classic.chart}-{ITEM}.tgz"),
             registry.oci_base(NAMESPACE), "--plain-http"],
        ],
    )  # fmt: skip


Side = Callable[[Path, Path, Classic, RegistryServer], list[str]]


def floor_seconds(workdir: Path, archives: Sequence[Path]) -> float:
    """The raw requests of pushing ``archives`` (see the module docstring), timed."""
    pushes = []
    for path in archives:
        data = path.read_bytes()
        chart = safetar.inspect_chart_archive(data, source=str(path)).chart
        built = chart_manifest(data, chart, None, path.stat().st_mtime)
        if built is None:
            raise RuntimeError(f"{path}: no manifest to push")
        pushes.append((str(chart["version"]).replace("+", "_"), built))
    repository = f"{NAMESPACE}/{CHART}"
    workdir.mkdir(parents=True)
    try:
        with RegistryServer(workdir / "registry") as registry:
            conn = http.client.HTTPConnection(registry.host, timeout=30)

            def call(method: str, path: str, body: bytes | None = None, **headers: str) -> Any:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    raise RuntimeError(f"{method} {path}: {response.status}")
                return response

            started = time.perf_counter()
            for tag, built in pushes:
                for blob in built.blobs:
                    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
                    upload = call("POST", f"/v2/{repository}/blobs/uploads/", b"")
                    location = upload.getheader("Location")
                    sep = "&" if "?" in location else "?"
                    call("PUT", f"{location}{sep}digest={digest}", blob,
                         **{"Content-Type": "application/octet-stream"})  # fmt: skip
                manifest = f"/v2/{repository}/manifests/{tag}"
                call("PUT", manifest, built.raw, **{"Content-Type": OCI_MANIFEST})
                call("GET", manifest, Accept=OCI_MANIFEST)
            elapsed = time.perf_counter() - started
            conn.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return elapsed


def run_once(workdir: Path, helm: Path, classic: Classic, side: Side) -> tuple[float, float]:
    """One run of one side into a registry of its own; its time and peak RSS.

    Fails unless the registry then holds exactly the classic channel's versions.
    """
    workdir.mkdir(parents=True)
    try:
        with RegistryServer(workdir / "registry") as registry:
            argv = side(workdir, helm, classic, registry)
            env = {**local_environment(workdir / "helm"), "GITHUB_TOKEN": classic.github_token}
            elapsed, rss = bench_index.measure(argv, env)
            tags = sorted(list_tags(registry, f"{NAMESPACE}/{classic.chart}") or [])
        if tags != sorted(classic.versions):
            raise RuntimeError(
                f"{argv[0]} left {len(tags)} of {len(classic.versions)} versions in the registry"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return elapsed, rss


def best_of(runs: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """The fastest time, and the highest peak memory any run reached."""
    return min(t for t, _ in runs), max(m for _, m in runs)


def extrapolate(measured: Mapping[int, float], size: int) -> float:
    """Time at ``size`` on the line through the two largest measured sizes."""
    small, large = sorted(measured)[-2:]
    slope = (measured[large] - measured[small]) / (large - small)
    return measured[large] + slope * (size - large)


def run(
    sizes: Sequence[int] = DEFAULT_SIZES,
    *,
    helm_versions: Sequence[str] = DEFAULT_HELM_VERSIONS,
    repeat: int = 2,
    workers: int = DEFAULT_WORKERS,
    loop_max: int = DEFAULT_LOOP_MAX,
    repeat_max: int = DEFAULT_REPEAT_MAX,
    progress: Callable[[str], None] = lambda _: None,
) -> list[dict[str, Any]]:
    """One row per size and helm; the baseline (the loop) is ``None`` where not measured.

    Sizes up to ``repeat_max`` are run ``repeat`` times, larger ones once.
    """
    helms = pinned_helms(helm_versions)
    chartship_side: Side = lambda w, h, c, r: chartship_argv(w, h, c, r, workers)  # noqa: E731
    rows: list[dict[str, Any]] = []
    loop_times: dict[str, dict[int, float]] = {v: {} for v in helms}
    with tempfile.TemporaryDirectory(prefix="chartship-bench-backfill-") as scratch:
        for size in sorted(sizes):
            base = Path(scratch) / f"n{size}"
            with serve_classic(base, size) as classic:
                for version, helm in helms.items():
                    ours: list[tuple[float, float]] = []
                    theirs: list[tuple[float, float]] = []
                    for attempt in range(repeat if size <= repeat_max else 1):
                        where = base / f"helm{version}-{attempt}"
                        ours.append(run_once(where / "chartship", helm, classic, chartship_side))
                        progress(f"backfill {size} helm {version}: chartship {ours[-1][0]:.2f} s")
                        if size <= loop_max:
                            theirs.append(run_once(where / "loop", helm, classic, loop_argv))
                            progress(f"backfill {size} helm {version}: loop {theirs[-1][0]:.2f} s")
                    floor = min(
                        floor_seconds(
                            base / f"floor{version}-{n}", sorted(base.glob("archives/*.tgz"))
                        )
                        for n in range(repeat if size <= repeat_max else 1)
                    )
                    progress(f"backfill {size} helm {version}: raw request floor {floor:.2f} s")
                    chartship_s, chartship_rss = best_of(ours)
                    row: dict[str, Any] = {
                        "size": size,
                        "helm": version,
                        "workers": workers,
                        "runs": len(ours),
                        "chartship_s": chartship_s,
                        "chartship_rss_mb": chartship_rss,
                        "baseline_s": None,
                        "baseline_rss_mb": None,
                        "extrapolated": False,
                        "floor_s": floor,
                    }
                    if theirs:
                        row["baseline_s"], row["baseline_rss_mb"] = best_of(theirs)
                        loop_times[version][size] = row["baseline_s"]
                    elif len(loop_times[version]) >= 2:
                        row["baseline_s"] = extrapolate(loop_times[version], size)
                        row["extrapolated"] = True
                    rows.append(row)
    return rows

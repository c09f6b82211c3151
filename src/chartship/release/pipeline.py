"""A whole release: select, lint, package once, publish everywhere, verify, summarize.

Each channel of the phase (OCI, GitHub release, index.yaml) is planned and
converged on its own: a version a channel already holds is skipped there and
never stops another channel, so a rerun after a partial failure completes
what is missing and changes nothing else. Every channel gets the same bytes:
the archive packaged once, or the bytes some channel already published
(:mod:`chartship.release.settle`). The one dependency between channels: with
``packages: releases`` an index entry points at its GitHub release asset,
so the index waits for that release.

The steps are separate functions so a front end can print between them
(:func:`chartship.commands.run_release` runs them all, with lint in between).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from chartship import artifacts as artifact_mod
from chartship import package as package_mod
from chartship.artifacts import Artifact
from chartship.channels.classic import channel as index_channel
from chartship.channels.classic import served as classic
from chartship.channels.github import channel as github_release
from chartship.channels.oci import channel as oci
from chartship.config import Settings
from chartship.errors import (
    ChartshipError,
    GithubUnavailable,
    PublishIncomplete,
    Unavailable,
    UsageError,
)
from chartship.release import settle as published
from chartship.release.selection import Selection, select, tag_from_environment
from chartship.runner import Runner

if TYPE_CHECKING:
    from github.Repository import Repository

log = logging.getLogger("chartship")

Channel = Literal["oci", "github", "index"]
TITLES: dict[str, str] = {"oci": "OCI", "github": "GitHub release", "index": "index.yaml"}

#: Cell statuses that leave a channel holding (or, in a dry run, about to hold) the version.
GOOD = frozenset({"pushed", "replaced", "skipped", "created", "uploaded", "added", "planned"})
#: Cell statuses that changed a channel.
CHANGED = frozenset({"pushed", "replaced", "created", "uploaded", "added"})


@dataclass
class Cell:
    status: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in GOOD


@dataclass
class Row:
    artifact: Artifact
    cells: dict[str, Cell] = field(default_factory=dict)
    adopted_from: str | None = None  # where the published bytes came from, if adopted
    oci_reference: str | None = None
    manifest_digest: str | None = None
    download_url: str | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.cells.values())


@dataclass(frozen=True)
class Plan:
    """What a release covers, decided before anything is built or published."""

    selection: Selection
    channels: tuple[str, ...]
    dry_run: bool
    environ: Mapping[str, str]
    #: What the credentials check reached, for the next steps to go on with.
    connection: oci.Connection | None = None
    repo: Repository | None = None


@dataclass
class ReleaseResult:
    plan: Plan
    rows: list[Row] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def changed(self) -> bool:
        return any(c.status in CHANGED for r in self.rows for c in r.cells.values())

    def problems(self) -> list[tuple[Row, str, Cell]]:
        return [(r, ch, c) for r in self.rows for ch, c in r.cells.items() if not c.ok]

    def failed_channels(self) -> list[str]:
        return [ch for ch in self.plan.channels if any(not r.cells[ch].ok for r in self.rows)]


# --------------------------------------------------------------------------- plan


def channels_for(settings: Settings) -> tuple[str, ...]:
    """The channels a release publishes to in the configured phase."""
    configured = settings.channels
    phase = configured.phase
    chosen: list[str] = []
    if configured.oci is not None and phase != "classic":
        chosen.append("oci")
    if configured.github is not None:
        chosen.append("github")
    if configured.pages is not None and phase != "oci-only":
        chosen.append("index")
    if not chosen:
        where = f" in {settings.source}" if settings.source else ""
        raise UsageError(
            f"no channel to release to{where} in phase {phase!r}: configure channels.oci, "
            "channels.github or channels.pages"
        )
    return tuple(chosen)


def _preflight(
    settings: Settings, channels: Sequence[str], environ: Mapping[str, str]
) -> tuple[oci.Connection | None, Repository | None]:
    """Every credential and setting a channel needs, checked before anything is built.

    Refused credentials stop the release here; an outage is left to its channel,
    which then fails alone while the others publish. The registry connection and
    the GitHub repository reached on the way are returned for the next steps.
    """
    if "github" in channels and github_release.token_from(environ) is None:
        names = " or ".join(github_release.TOKEN_VARIABLES)
        raise UsageError(f"the GitHub release channel needs a token: set {names}")
    connection = None
    if "oci" in channels:
        connection = oci.connect(settings, environ)
        if connection.credentials is not None:
            with contextlib.suppress(Unavailable):
                connection.client.ping()
    repo = None
    if "github" in channels:
        with contextlib.suppress(GithubUnavailable):
            repo = github_release.configured_repository(settings, environ)
    return connection, repo


def plan(
    settings: Settings,
    names: Sequence[str] = (),
    *,
    tag: str | None = None,
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
    runner: Runner | None = None,
) -> Plan:
    """Select the charts and check the version guard and the credentials."""
    environ = os.environ if environ is None else environ
    channels = channels_for(settings)
    selection = select(settings, names, tag=tag or tag_from_environment(environ), runner=runner)
    if not selection.chosen or dry_run:
        return Plan(selection, channels, dry_run, environ)
    connection, repo = _preflight(settings, channels, environ)
    return Plan(selection, channels, dry_run, environ, connection, repo)


# --------------------------------------------------------------------------- build


@contextlib.contextmanager
def workspace(settings: Settings, dry_run: bool) -> Iterator[Settings]:
    """The settings to package with: dist/ itself, or for a dry run a scratch copy of it."""
    if not dry_run:
        yield settings
        return
    with tempfile.TemporaryDirectory(prefix="chartship-dry-run-") as tmp:
        scratch = Path(tmp) / "dist"
        if settings.dist_path.is_dir():
            shutil.copytree(settings.dist_path, scratch)
        else:
            scratch.mkdir()
        yield dataclasses.replace(settings, dist_dir=str(scratch))


def build(
    settings: Settings, release_plan: Plan, *, runner: Runner | None = None
) -> published.Reconciled:
    """Package the selected charts once and settle which bytes each version has."""
    packaged = package_mod.package(
        settings, release_plan.selection.names, runner=runner, environ=release_plan.environ
    )
    wanted = {(p.chart, p.version) for p in packaged}
    artifacts = [
        a
        for a in artifact_mod.from_dist(settings, sorted({c for c, _ in wanted}))
        if (a.chart, a.version) in wanted
    ]
    return published.reconcile(
        settings,
        artifacts,
        release_plan.channels,
        environ=release_plan.environ,
        connection=release_plan.connection,
        repo=release_plan.repo,
    )


# --------------------------------------------------------------------------- publish


def _oci_cells(
    settings: Settings, rows: list[Row], release_plan: Plan, runner: Runner | None
) -> None:
    report = oci.push(
        settings,
        artifacts=[r.artifact for r in rows],
        dry_run=release_plan.dry_run,
        environ=release_plan.environ,
        runner=runner,
    )
    by_key = {(r.artifact.chart, r.artifact.version): r for r in rows}
    for outcome in report.outcomes:
        art = outcome.item.artifact
        row = by_key[(art.chart, art.version)]
        row.cells["oci"] = Cell(outcome.status, f"{outcome.item.reference} ({outcome.message})")
        row.oci_reference = outcome.item.reference
        row.manifest_digest = outcome.manifest_digest or outcome.item.remote_digest
    for meta in report.metadata:
        if meta.status == "failed":
            for row in rows:
                if row.artifact.chart == meta.chart:
                    row.cells["oci"] = Cell("failed", f"Artifact Hub metadata: {meta.message}")


def _github_cells(settings: Settings, rows: list[Row], release_plan: Plan) -> None:
    report = github_release.publish_releases(
        settings,
        artifacts=[r.artifact for r in rows],
        dry_run=release_plan.dry_run,
        environ=release_plan.environ,
    )
    by_key = {(r.artifact.chart, r.artifact.version): r for r in rows}
    for outcome in report.outcomes:
        row = by_key[(outcome.artifact.chart, outcome.artifact.version)]
        bad = [a for a in outcome.assets if a.status in ("refused", "failed")]
        if outcome.status == "failed":
            cell = Cell("failed", outcome.message)
        elif bad:
            cell = Cell(bad[0].status, f"{bad[0].name}: {bad[0].message}")
        elif outcome.status in ("created", "planned"):
            cell = Cell(outcome.status, f"{outcome.tag}: {outcome.message}")
        elif any(a.status in ("uploaded", "replaced") for a in outcome.assets):
            cell = Cell("uploaded", f"{outcome.tag} existed; asset attached")
        else:
            cell = Cell("skipped", f"{outcome.tag} exists with the same asset")
        row.cells["github"] = cell
        archive = next((a for a in outcome.assets if a.name == row.artifact.archive.name), None)
        if archive is not None and archive.download_url:
            row.download_url = archive.download_url


def _index_cells(settings: Settings, rows: list[Row], release_plan: Plan) -> None:
    pages = index_channel.pages_settings(settings)
    ready = []
    for row in rows:
        github = row.cells.get("github")
        if pages.packages == "releases" and github is not None and not github.ok:
            row.cells["index"] = Cell("blocked", "waits for its GitHub release, which failed")
        else:
            ready.append(row)
    if not ready:
        return
    result, urls = index_channel.publish(
        settings,
        [r.artifact for r in ready],
        dry_run=release_plan.dry_run,
        environ=release_plan.environ,
    )
    added = set(result.added)
    for row in ready:
        key = (row.artifact.chart, row.artifact.version)
        if key in added:
            status = "planned" if release_plan.dry_run else "added"
            row.cells["index"] = Cell(status, f"entry -> {urls[key]}")
        else:
            row.cells["index"] = Cell("skipped", "already in index.yaml with the same digest")


def _guarded(channel: str, rows: list[Row], step: Callable[[], None]) -> None:
    """Run one channel; whatever it raises fails that channel alone."""
    try:
        step()
    except ChartshipError as exc:
        for row in rows:
            row.cells[channel] = Cell("failed", str(exc))


def publish(
    settings: Settings,
    release_plan: Plan,
    built: published.Reconciled,
    *,
    runner: Runner | None = None,
) -> ReleaseResult:
    """Converge every channel of the phase on these artifacts, then read them back."""
    result = ReleaseResult(release_plan)
    rows = [
        Row(a.artifact, adopted_from=a.source.where if a.source else None) for a in built.adoptions
    ]
    result.rows = rows
    if not rows:
        return result
    steps: dict[str, Callable[[], None]] = {
        "oci": lambda: _oci_cells(settings, rows, release_plan, runner),
        "github": lambda: _github_cells(settings, rows, release_plan),
        "index": lambda: _index_cells(settings, rows, release_plan),
    }
    for channel in release_plan.channels:
        if channel in built.unreadable:
            # Unreadable before publishing: pushing blind could contradict what it holds.
            why = f"could not be read: {built.unreadable[channel]}"
            for row in rows:
                row.cells[channel] = Cell("failed", why)
            continue
        _guarded(channel, rows, steps[channel])
        for row in rows:
            row.cells.setdefault(channel, Cell("failed", "no result from the channel"))
    if not release_plan.dry_run:
        verify(settings, result)
    return result


# --------------------------------------------------------------------------- verify


def _verify_oci(settings: Settings, rows: Sequence[Row], environ: Mapping[str, str]) -> None:
    conn = oci.connect(settings, environ)
    for row in rows:
        manifest = oci.verify_published(conn.client, conn.target, row.artifact)
        row.manifest_digest = manifest.digest


def _verify_github(settings: Settings, rows: Sequence[Row], environ: Mapping[str, str]) -> None:
    urls = github_release.download_urls(settings, [r.artifact for r in rows], environ)
    for row in rows:
        row.download_url = urls[row.artifact.archive.name]


def _verify_index(settings: Settings, rows: Sequence[Row], result: ReleaseResult) -> None:
    pages = index_channel.pages_settings(settings)
    try:
        _text, entries = classic.read_index(pages.index_url, timeout=published.FETCH_TIMEOUT)
    except ChartshipError as exc:
        result.warnings.append(f"index.yaml is not served at {pages.index_url} yet: {exc}")
        return
    served = {(e.chart, e.version): e for e in entries}
    late = []
    for row in rows:
        entry = served.get((row.artifact.chart, row.artifact.version))
        if entry is None:
            late.append(f"{row.artifact.chart} {row.artifact.version}")
        elif entry.digest != row.artifact.sha256:
            row.cells["index"] = Cell(
                "failed", f"served entry has digest {entry.digest}, not {row.artifact.sha256}"
            )
    if late:
        # The branch holds the entries (read back after the push); serving can lag behind.
        result.warnings.append(
            f"{', '.join(late)} not served at {pages.index_url} yet; the pages site may "
            "still be deploying the branch"
        )


def verify(settings: Settings, result: ReleaseResult) -> None:
    """Read every channel back, skipped versions included, against the local digests."""
    environ = result.plan.environ
    checks: dict[str, Callable[[list[Row]], None]] = {
        "oci": lambda rows: _verify_oci(settings, rows, environ),
        "github": lambda rows: _verify_github(settings, rows, environ),
        "index": lambda rows: _verify_index(settings, rows, result),
    }
    for channel in result.plan.channels:
        rows = [r for r in result.rows if r.cells[channel].ok]
        if not rows:
            continue
        try:
            checks[channel](rows)
        except ChartshipError as exc:
            for row in rows:
                row.cells[channel] = Cell("failed", f"verify: {exc}")


def require_complete(result: ReleaseResult) -> None:
    if result.ok:
        return
    problems = result.problems()
    failed = sum(c.status in ("failed", "blocked") for _, _, c in problems)
    refused = sum(c.status == "refused" for _, _, c in problems)
    channels = ", ".join(TITLES[c] for c in result.failed_channels())
    raise PublishIncomplete(
        f"release incomplete: {channels} did not complete ({failed} failed, {refused} refused)",
        failed=failed,
        refused=refused,
    )


# --------------------------------------------------------------------------- summary


def summary_rows(result: ReleaseResult) -> list[list[str]]:
    """The summary table: a header, then one row per chart version."""
    header = ["chart", "version", "sha256", *(TITLES[c] for c in result.plan.channels)]
    body = [
        [
            r.artifact.chart,
            r.artifact.version,
            r.artifact.sha256[:12],
            *(r.cells[c].status for c in result.plan.channels),
        ]
        for r in result.rows
    ]
    return [header, *body]

"""A whole release, as one list of steps: select, check, lint, package, settle, publish, verify.

Each channel of the phase (OCI, GitHub release, classic index) is planned and
converged on its own: a version a channel already holds is skipped there and
never stops another channel, so a rerun after a partial failure completes
what is missing and changes nothing else. Every channel gets the same bytes:
the archive packaged once, or the bytes some channel already published
(:mod:`chartship.release.settle`). Two dependencies between channels: with
``packages: releases`` an index entry points at its GitHub release asset,
so the index waits for that release; and a channel that refuses a version
(it holds other bytes: another release published it at the same time) keeps
every later channel from publishing it, so no two channels hold different
bytes of one version because of this run.

:func:`release` runs the steps in order and tells a :class:`Reporter` what
each found; the front ends only pick the reporter (:mod:`chartship.render`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from chartship import artifacts as artifact_mod
from chartship.artifacts import Artifact
from chartship.channels import github as github_names
from chartship.channels.classic.channel import ClassicChannel, pages_settings
from chartship.channels.contract import (
    Channel,
    Key,
    Outcome,
    Status,
    key_of,
    require_complete,
)
from chartship.channels.oci import channel as oci
from chartship.channels.oci.channel import OciChannel
from chartship.config import Settings
from chartship.errors import (
    ChartshipError,
    ChecksFailed,
    UsageError,
)
from chartship.helm import Helm
from chartship.release import preflight
from chartship.release.selection import (
    Selection,
    require_committed,
    select,
    tag_from_environment,
    with_channel_gaps,
)
from chartship.runner import Runner

if TYPE_CHECKING:
    from github.Repository import Repository

    # Types only: lint, packaging and settling are imported by the steps that
    # run them, which a release with nothing to release never reaches.
    from chartship import lint as lint_mod
    from chartship import package as package_mod
    from chartship.channels.github.channel import GithubChannel
    from chartship.release import settle

log = logging.getLogger("chartship")

#: The channels in publishing order, by name, with the title people see.
TITLES: dict[str, str] = {
    OciChannel.name: OciChannel.title,
    github_names.NAME: github_names.TITLE,
    ClassicChannel.name: ClassicChannel.title,
}

#: The digest column of a dry run's archive that only the real run builds.
UNBUILT = "(yet to be built)"

#: The steps of a release, in order; :func:`release` runs exactly these.
STEPS = (
    "select the chart versions",
    "check credentials",
    "lint",
    "package once",
    "settle the bytes",
    "publish to every channel",
    "verify every channel",
    "report",
)


@dataclass
class Row:
    """One chart version of the release and each channel's outcome for it."""

    artifact: Artifact
    cells: dict[str, Outcome] = field(default_factory=dict)
    adopted_from: str | None = None  # where the published bytes came from, if adopted
    #: Whether ``artifact.sha256`` is the digest the release publishes. A dry run
    #: that had to package the chart cannot know it: helm 3 writes other bytes on
    #: every build (and helm 4 may order subcharts otherwise), so its digest is
    #: said only for bytes kept from dist/ or already published.
    digest_final: bool = True

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.cells.values())

    @property
    def sha256(self) -> str | None:
        """The digest the release publishes, or None while the archive is yet to be built."""
        return self.artifact.sha256 if self.digest_final else None

    @property
    def oci_reference(self) -> str | None:
        cell = self.cells.get(OciChannel.name)
        return cell.reference if cell is not None else None

    @property
    def manifest_digest(self) -> str | None:
        cell = self.cells.get(OciChannel.name)
        return cell.manifest_digest if cell is not None else None

    @property
    def download_url(self) -> str | None:
        cell = self.cells.get(github_names.NAME)
        return cell.download_url if cell is not None else None


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
        return any(c.status.changed for r in self.rows for c in r.cells.values())

    def problems(self) -> list[tuple[Row, str, Outcome]]:
        return [(r, ch, c) for r in self.rows for ch, c in r.cells.items() if not c.ok]

    def failed_channels(self) -> list[str]:
        return [ch for ch in self.plan.channels if any(not r.cells[ch].ok for r in self.rows)]


class Reporter(Protocol):
    """Told what each step found, in order; what it prints is the front end's choice."""

    def selection(self, plan: Plan) -> None: ...

    def lint(self, report: lint_mod.LintReport) -> None: ...

    def result(self, result: ReleaseResult) -> None: ...


class Silent:
    """A reporter for library callers that read the returned result instead."""

    def selection(self, plan: Plan) -> None:
        pass

    def lint(self, report: lint_mod.LintReport) -> None:
        pass

    def result(self, result: ReleaseResult) -> None:
        pass


# --------------------------------------------------------------------------- select, check


def phase_channels(settings: Settings) -> tuple[str, ...]:
    """The channels configured for the phase, in publishing order; maybe none."""
    configured = settings.channels
    phase = configured.phase
    chosen: list[str] = []
    if configured.oci is not None and phase != "classic":
        chosen.append(OciChannel.name)
    if configured.github is not None:
        chosen.append(github_names.NAME)
    if configured.pages is not None and phase != "oci-only":
        chosen.append(ClassicChannel.name)
    return tuple(chosen)


def channels_for(settings: Settings) -> tuple[str, ...]:
    """The channels a release publishes to in the configured phase; at least one."""
    chosen = phase_channels(settings)
    if not chosen:
        where = f" in {settings.source}" if settings.source else ""
        raise UsageError(
            f"no channel to release to{where} in phase {settings.channels.phase!r}: configure "
            "channels.oci, channels.github or channels.pages"
        )
    return chosen


def _github_channel() -> type[GithubChannel]:
    """The GitHub channel's class, imported (with PyGithub) when a release uses it."""
    from chartship.channels.github.channel import GithubChannel

    return GithubChannel


def _lacking(
    settings: Settings,
    channels: Sequence[str],
    keys: Sequence[Key],
    environ: Mapping[str, str],
    down: preflight.Problems,
) -> dict[Key, str]:
    """For each released version some channel lacks: the channels that lack it.

    One listing per channel and repository: a no-op release reads this much
    to know that nothing is missing, rather than trusting the git tag alone.
    The channels are read at once, each in its own thread: their time is
    mostly waiting for answers.
    """
    openers: dict[str, Callable[[], Channel[Any]]] = {
        OciChannel.name: lambda: OciChannel(settings, environ),
        github_names.NAME: lambda: _github_channel()(settings, environ),
        ClassicChannel.name: lambda: ClassicChannel(settings, environ),
    }

    def read(name: str) -> set[Key] | ChartshipError:
        try:
            return openers[name]().held(keys)
        except ChartshipError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, len(channels))) as pool:
        answers = dict(zip(channels, pool.map(read, channels), strict=True))
    missing: dict[Key, list[str]] = {}
    for name, held in answers.items():
        if isinstance(held, ChartshipError):
            if held.transient:
                # Down now, so it cannot be completed: the same refusal as preflight's.
                down.found.append((TITLES[name], held))
                continue
            # Without read access (no token, say) the release tag alone decides here;
            # a release that does publish checks its credentials before anything.
            log.warning(
                "%s could not be read to see which released versions it lacks: %s",
                TITLES[name],
                held,
            )
            continue
        for key in keys:
            if key not in held:
                missing.setdefault(key, []).append(TITLES[name])
    return {key: " and ".join(titles) for key, titles in missing.items()}


def choose(
    settings: Settings,
    names: Sequence[str] = (),
    *,
    tag: str | None = None,
    environ: Mapping[str, str] | None = None,
    runner: Runner | None = None,
    problems: preflight.Problems | None = None,
) -> Selection:
    """The chart versions a release covers: git's selection, completed by the channels.

    A channel down now cannot say what it lacks: it goes to ``problems`` for the
    caller to report with the rest, or (without ``problems``) is refused here.
    """
    environ = os.environ if environ is None else environ
    selection = select(settings, names, tag=tag or tag_from_environment(environ), runner=runner)
    released = [c.key for c in selection.candidates if c.released_as]
    if not released:
        return selection
    down = preflight.Problems() if problems is None else problems
    lacking = _lacking(settings, phase_channels(settings), released, environ, down)
    if problems is None:
        down.raise_any("release")
    return with_channel_gaps(selection, lacking)


def plan(
    settings: Settings,
    names: Sequence[str] = (),
    *,
    tag: str | None = None,
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
    runner: Runner | None = None,
) -> Plan:
    """Select the charts, then check helm and every channel (:mod:`chartship.release.preflight`)."""
    environ = os.environ if environ is None else environ
    channels = channels_for(settings)
    problems = preflight.Problems()
    selection = choose(settings, names, tag=tag, environ=environ, runner=runner, problems=problems)
    if not selection.chosen:
        # A channel that could not be read may lack what would have been chosen.
        problems.raise_any("release")
        return Plan(selection, channels, dry_run, environ)
    require_committed(settings, selection.chosen, runner)
    # Before any channel is touched: a helm that cannot do every step does none.
    helm = Helm(settings.helm_binary, runner=runner)
    helm.require_supported()
    # A dry run checks what the real run checks, so it refuses what the real run would.
    charts = [c.chart for c in selection.chosen]
    ready = preflight.check(
        settings, channels, charts, environ, helm=helm, runner=runner, problems=problems
    )
    return Plan(selection, channels, dry_run, environ, ready.connection, ready.repo)


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


def open_channels(
    settings: Settings, release_plan: Plan, *, runner: Runner | None = None
) -> tuple[dict[str, Channel[Any]], dict[str, str]]:
    """The phase's channels, ready to be asked; those that could not be reached, and why.

    Preflight found every channel ready; one that went down since fails alone
    (the others publish, and a rerun completes it), one that refuses stops the
    release.
    """
    environ = release_plan.environ
    openers: dict[str, Callable[[], Channel[Any]]] = {
        OciChannel.name: lambda: OciChannel(
            settings, environ, connection=release_plan.connection, runner=runner
        ),
        github_names.NAME: lambda: _github_channel()(
            settings, environ, repo=release_plan.repo, runner=runner
        ),
        ClassicChannel.name: lambda: ClassicChannel(settings, environ),
    }
    opened: dict[str, Channel[Any]] = {}
    unreadable: dict[str, str] = {}
    for name in release_plan.channels:
        try:
            opened[name] = openers[name]()
        except ChartshipError as exc:
            if not exc.transient:
                raise
            unreadable[name] = str(exc)
    return opened, unreadable


@dataclass
class Built:
    """The archives of a release: how each was packaged, and whose bytes it publishes."""

    packaged: list[package_mod.Packaged]
    adoptions: list[settle.Adoption]

    def notices(self) -> list[str]:
        """What packaging said loudly (a changed chart repackaged, published bytes kept)."""
        return [f"{p.chart} {p.version}: {p.notice}" for p in self.packaged if p.notice]


def build(
    settings: Settings,
    release_plan: Plan,
    channels: Mapping[str, Channel[Any]],
    unreadable: dict[str, str],
    *,
    runner: Runner | None = None,
    shown_dist: Path | None = None,
) -> Built:
    """Package the selected charts once and settle which bytes each version has.

    ``shown_dist`` is the dist/ that messages name when ``settings`` is a dry
    run's copy of it (:func:`workspace`).
    """
    from chartship import package as package_mod
    from chartship.release import settle

    packaged = package_mod.package(
        settings,
        release_plan.selection.names,
        runner=runner,
        environ=release_plan.environ,
        shown_dist=shown_dist,
        # A dry run leaves the work tree as it was, vendored sibling archives included.
        refresh_vendored=not release_plan.dry_run,
    )
    wanted = {(p.chart, p.version) for p in packaged}
    artifacts = [
        a
        for a in artifact_mod.from_dist(settings, sorted({c for c, _ in wanted}))
        if (a.chart, a.version) in wanted
    ]
    return Built(packaged, settle.reconcile(artifacts, channels, unreadable))


# --------------------------------------------------------------------------- publish


def _set_all(rows: Sequence[Row], name: str, outcome: Outcome) -> None:
    for row in rows:
        row.cells[name] = outcome


def _publish_one(channel: Channel[Any], rows: Sequence[Row], dry_run: bool) -> None:
    """Plan one channel, then (unless a dry run) apply that plan."""
    artifacts = [r.artifact for r in rows]
    planned = channel.plan(artifacts)
    outcomes = planned.outcomes if dry_run else channel.apply(planned)
    for row in rows:
        row.cells[channel.name] = outcomes.get(
            key_of(row.artifact), Outcome(Status.FAILED, "no result from the channel")
        )


def _held_elsewhere(row: Row) -> str | None:
    """A channel that refused this version: it holds other bytes of it.

    Only a refusal says so; a failed channel may simply lack the version, and
    the others still publish the bytes settled for it. A refusal found now, after
    the bytes were settled, means another release published the version at the
    same time: its bytes, not this run's, are the version's.
    """
    return next((n for n, c in row.cells.items() if c.status is Status.REFUSED), None)


def publish(
    settings: Settings,
    release_plan: Plan,
    channels: Mapping[str, Channel[Any]],
    unreadable: Mapping[str, str],
    built: Built,
) -> ReleaseResult:
    """Converge every channel of the phase on these artifacts, then read them back."""
    # What packaging said loudly goes with the release's own warnings (output, annotations).
    result = ReleaseResult(release_plan, warnings=built.notices())
    kept = {(p.chart, p.version) for p in built.packaged if p.outcome == "kept"}
    rows = [
        Row(
            a.artifact,
            adopted_from=a.source.where if a.source else None,
            digest_final=not release_plan.dry_run or bool(a.held) or key_of(a.artifact) in kept,
        )
        for a in built.adoptions
    ]
    result.rows = rows
    if not rows:
        return result
    for name in release_plan.channels:
        if name in unreadable:
            # Unreadable before publishing: pushing blind could contradict what it holds.
            _set_all(rows, name, Outcome(Status.FAILED, f"could not be read: {unreadable[name]}"))
            continue
        ready = []
        for row in rows:
            held = _held_elsewhere(row)
            if held is not None:
                row.cells[name] = Outcome(
                    Status.BLOCKED,
                    f"not published: {TITLES[held]} holds other bytes of this version, so "
                    "publishing this run's bytes here would make the channels disagree",
                )
            else:
                ready.append(row)
        if name == ClassicChannel.name and pages_settings(settings).packages == "releases":
            blocked = Outcome(Status.BLOCKED, "waits for its GitHub release, which failed")
            waiting, ready = ready, []
            for row in waiting:
                github = row.cells.get(github_names.NAME)
                if github is not None and not github.ok:
                    row.cells[name] = blocked
                else:
                    ready.append(row)
        if not ready:
            continue
        try:
            _publish_one(channels[name], ready, release_plan.dry_run)
        except ChartshipError as exc:
            _set_all(ready, name, Outcome(Status.FAILED, str(exc)))
    if not release_plan.dry_run:
        verify(channels, result)
        for row in result.rows:
            record_published(row.artifact, {TITLES[n]: c for n, c in row.cells.items()})
    return result


def record_published(artifact: Artifact, outcomes: Mapping[str, Outcome]) -> None:
    """Note in dist/ where a channel holds ``artifact``'s bytes (see :mod:`chartship.sources`).

    ``outcomes`` are the channels' answers by title; only those that hold the
    version count (a dry run's plans hold nothing yet).
    """
    places = [
        f"{title} {o.download_url or o.reference or ''}".rstrip()
        for title, o in outcomes.items()
        if o.ok and o.status is not Status.PLANNED
    ]
    if places:
        from chartship import sources

        sources.record_published(
            artifact.archive.parent,
            artifact.archive.name,
            chart=artifact.chart,
            version=artifact.version,
            sha256=artifact.sha256,
            places=places,
        )


# --------------------------------------------------------------------------- verify


def verify(channels: Mapping[str, Channel[Any]], result: ReleaseResult) -> None:
    """Read every channel back, skipped versions included, against the local digests."""
    for name in result.plan.channels:
        rows = [r for r in result.rows if r.cells[name].ok]
        if not rows:
            continue
        channel = channels[name]
        try:
            found = channel.verify([r.artifact for r in rows])
        except ChartshipError as exc:
            _set_all(rows, name, Outcome(Status.FAILED, f"verify: {exc}"))
            continue
        for row in rows:
            back = found.get(key_of(row.artifact))
            if back is None:
                continue
            cell = row.cells[name]
            if not back.ok:
                row.cells[name] = cell.but(back.status, back.detail)
            else:
                row.cells[name] = dataclasses.replace(
                    cell,
                    reference=cell.reference or back.reference,
                    manifest_digest=back.manifest_digest or cell.manifest_digest,
                    download_url=back.download_url or cell.download_url,
                )
        result.warnings.extend(channel.warnings)


# --------------------------------------------------------------------------- the whole


def release(
    settings: Settings,
    names: Sequence[str] = (),
    *,
    tag: str | None = None,
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
    runner: Runner | None = None,
    reporter: Reporter | None = None,
) -> ReleaseResult:
    """Run :data:`STEPS` in order; raise when lint fails or a channel did not complete."""
    reporter = reporter or Silent()
    environ = os.environ if environ is None else environ
    release_plan = plan(settings, names, tag=tag, dry_run=dry_run, environ=environ, runner=runner)
    reporter.selection(release_plan)
    if not release_plan.selection.chosen:
        result = ReleaseResult(release_plan)
        reporter.result(result)
        return result
    from chartship import lint as lint_mod

    report = lint_mod.lint(settings, release_plan.selection.names)
    reporter.lint(report)
    if not report.ok:
        raise ChecksFailed(f"lint found {report.failures} problem(s)", count=report.failures)
    with workspace(settings, dry_run) as build_settings:
        channels, unreadable = open_channels(build_settings, release_plan, runner=runner)
        built = build(
            build_settings,
            release_plan,
            channels,
            unreadable,
            runner=runner,
            shown_dist=settings.dist_path,
        )
        result = publish(build_settings, release_plan, channels, unreadable, built)
        reporter.result(result)
    require_complete_release(result)
    return result


def require_complete_release(result: ReleaseResult) -> None:
    titles = ", ".join(TITLES[c] for c in result.failed_channels())
    require_complete("release", [c for r in result.rows for c in r.cells.values()], channels=titles)


# --------------------------------------------------------------------------- summary


def summary_rows(result: ReleaseResult) -> list[list[str]]:
    """The summary table: a header, then one row per chart version."""
    header = ["chart", "version", "sha256", *(TITLES[c] for c in result.plan.channels)]
    body = [
        [
            r.artifact.chart,
            r.artifact.version,
            r.sha256[:12] if r.sha256 else UNBUILT,
            *(r.cells[c].status.value for c in result.plan.channels),
        ]
        for r in result.rows
    ]
    return [header, *body]

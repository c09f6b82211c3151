"""Copying the classic channel's versions into OCI, byte for byte.

Only archives the inventory downloaded and proved are pushed: a classic
archive whose sha256 equals the index digest, a gap's release asset (a
release index.yaml lacks), or the release asset a recorded ``asset`` decision
pins by sha256; each safe to open, its Chart.yaml naming the chart and
version. Each push is read back and its chart layer compared with the digest.
The registry is the only state: an interrupted run leaves each version
either fully tagged or absent, so running again finishes the job.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from chartship import versions
from chartship.artifacts import Artifact
from chartship.channels.classic.pages import PagesResult, archive_url, publish_index
from chartship.channels.contract import Outcome, Status, key_of
from chartship.channels.oci.channel import (
    PlanItem,
    PushOutcome,
    oci_settings,
    preflight,
    publish,
)
from chartship.config import Settings
from chartship.helm import Helm
from chartship.migrate.inventory import Inventory, Row, proving, take_inventory, to_download
from chartship.runner import Runner

_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$")


@dataclass(frozen=True)
class Copy:
    chart: str
    version: str
    reference: str
    status: Status  # pushed, skipped (the same bytes arrived meanwhile), planned or failed
    message: str

    @property
    def result(self) -> Outcome:
        """The channel contract's outcome for this version's copy into OCI."""
        return Outcome(self.status, self.message, self.reference)


@dataclass
class BackfillReport:
    inventory: Inventory
    copies: list[Copy] = field(default_factory=list)
    dry_run: bool = False

    @property
    def failed(self) -> list[Copy]:
        return [c for c in self.copies if c.status == "failed"]

    @property
    def already(self) -> int:
        return sum(
            1
            for r in self.inventory.rows
            if r.in_oci and (r.in_index or r.asset) and not r.anomalies
        )

    @property
    def summary(self) -> str:
        done = "would copy" if self.dry_run else "copied"
        copied = sum(c.status in ("pushed", "planned") for c in self.copies)
        return (
            f"backfill: {done} {copied}, already in OCI {self.already}, "
            f"failed {len(self.failed)}, anomalies left alone {len(self.left_alone)}"
        )

    @property
    def left_alone(self) -> list[Row]:
        """Anomalous versions not copied: undecided, or decided ``skip``."""
        return [r for r in self.inventory.anomalies if r.key not in self.inventory.archives]


def created_epoch(created: str | None) -> int | None:
    """Seconds since the epoch of an index ``created`` time (helm writes RFC 3339, UTC)."""
    if not created:
        return None
    match = _RFC3339.match(created.strip())
    if not match:
        return None
    zone = "+00:00" if match.group(2) == "Z" else match.group(2)
    moment = datetime.fromisoformat(match.group(1) + zone)
    return int(moment.astimezone(timezone.utc).timestamp())


class Progress:
    """One self-rewriting line on a terminal; a plain line per version elsewhere (CI logs)."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.done = 0
        self.lock = threading.Lock()
        self.tty = stream.isatty()

    def drop(self) -> None:
        """One version fewer to copy: its archive turned out to be an anomaly."""
        with self.lock:
            self.total -= 1
            if self.tty and self.total and self.done == self.total:
                self.stream.write("\n")
                self.stream.flush()

    def step(self, copy: Copy) -> None:
        with self.lock:
            self.done += 1
            if self.tty:
                width = 30
                filled = width * self.done // max(self.total, 1)
                bar = "#" * filled + "." * (width - filled)
                self.stream.write(
                    f"\rbackfill [{bar}] {self.done}/{self.total} {copy.chart} {copy.version}\x1b[K"
                )
                if self.done == self.total:
                    self.stream.write("\n")
            else:
                self.stream.write(
                    f"backfill: [{self.done}/{self.total}] {copy.chart} {copy.version}: "
                    f"{copy.status}: {copy.message}\n"
                )
            self.stream.flush()


def _artifact(row: Row, data: bytes) -> Artifact:
    # helm push takes the manifest's created annotation from the file's mtime:
    # the copy it is given carries the classic entry's created time.
    return Artifact(
        row.chart, row.version, Path(f"{row.chart}-{row.version}.tgz"), data,
        created_epoch(row.created), chart_yaml=row.chart_yaml,
    )  # fmt: skip


def backfill(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    dry_run: bool = False,
    workers: int | None = None,
    helm: Helm | None = None,
    runner: Runner | None = None,
    stream: TextIO | None = None,
) -> BackfillReport:
    """Push every proven classic version that OCI lacks; see the module docstring."""
    environ = os.environ if environ is None else environ
    stream = stream or sys.stderr
    helm = helm or Helm(settings.helm_binary, runner=runner or Runner())
    if oci_settings(settings).engine == "helm":
        helm.require_supported()
    # Before anything is read or copied, and in a dry run alike: the registry answers,
    # takes the credentials, and this helm has the flags to reach it.
    registry = preflight(settings, environ, (), helm)
    client, target = registry.client, registry.target
    count = workers or registry.oci.workers
    # A dry run shows every proven archive's digest, so it downloads them all first; a
    # real run pushes each version as soon as its archive is proven (see below).
    inventory = take_inventory(
        settings, environ=environ, download=dry_run, workers=count, registry=registry
    )
    report = BackfillReport(inventory, dry_run=dry_run)

    def reference(row: Row) -> str:
        return target.reference(row.chart, versions.oci_tag(row.version))

    def unread(row: Row) -> Copy:
        return Copy(
            row.chart, row.version, reference(row), Status.FAILED,
            f"not copied: {row.download_error}",
        )  # fmt: skip

    def may_push(rows: list[Row]) -> None:
        # Before anything is pushed, and in a dry run alike: the credentials may write there.
        for chart in sorted({r.chart for r in rows}):
            client.may_push(target.repository(chart))

    if dry_run:
        may_push([r for r in inventory.rows if r.key in inventory.archives])
        report.copies = [
            Copy(
                r.chart,
                r.version,
                reference(r),
                Status.PLANNED,
                f"would push sha256:{hashlib.sha256(inventory.archives[r.key]).hexdigest()}",
            )
            for r in inventory.rows
            if r.key in inventory.archives
        ] + [unread(r) for r in inventory.rows if r.download_error]
        return report
    wanted = to_download(inventory)
    may_push(wanted)
    if not wanted:
        return report
    progress = Progress(len(wanted), stream)
    not_read: list[Copy] = []

    def proven() -> Iterator[PlanItem]:
        # Downloads run ahead on their own workers while the pushes take each proven
        # archive: a backfill costs about its downloads or its pushes, not their sum.
        for row, data in proving(inventory, wanted, count):
            if data is not None:
                yield PlanItem(_artifact(row, data), reference(row), "push", _why(row))
            elif row.download_error:
                not_read.append(unread(row))
                progress.step(not_read[-1])
            else:
                # Its archive failed a proof: an anomaly now, left alone and reported as such.
                progress.drop()

    judged = publish(
        registry,
        proven(),
        lambda: helm or Helm(settings.helm_binary, runner=runner or Runner()),
        workers=count,
        done=lambda outcome: progress.step(_copy(outcome)),
    )
    # In the inventory's order, whatever order the downloads finished in.
    order = {row.key: position for position, row in enumerate(inventory.rows)}
    copies = [_copy(o) for o in judged] + not_read
    report.copies = sorted(copies, key=lambda c: order[(c.chart, c.version)])
    return report


def _why(row: Row) -> str:
    if row.decided_asset is not None:
        return "its release asset, as decided"
    return "in the classic channel only" if row.in_index else "released, not in index.yaml"


def _copy(outcome: PushOutcome) -> Copy:
    artifact = outcome.item.artifact
    # Skipped: the same bytes arrived meanwhile, from another run. Anything
    # else (another writer's bytes included) leaves the version uncopied.
    status = outcome.status if outcome.status in (Status.PUSHED, Status.SKIPPED) else Status.FAILED
    return Copy(artifact.chart, artifact.version, outcome.item.reference, status, outcome.message)


# --------------------------------------------------------------------------- repair


@dataclass(frozen=True)
class GapEntry:
    """The index entry a gap gets: built from its release asset."""

    chart: str
    version: str
    sha256: str
    url: str
    created: str | None


@dataclass
class RepairReport:
    inventory: Inventory
    entries: list[GapEntry] = field(default_factory=list)
    result: PagesResult | None = None  # None: no gap to add
    dry_run: bool = False

    @property
    def unread(self) -> list[Row]:
        """Gaps whose asset could not be downloaded this time."""
        return [r for r in self.inventory.gaps if r.download_error]

    @property
    def outcomes(self) -> list[Outcome]:
        status = Status.PLANNED if self.dry_run else Status.ADDED
        done = [Outcome(status, f"entry -> {e.url}", e.url) for e in self.entries]
        return done + [
            Outcome(Status.FAILED, f"{r.chart} {r.version}: not read: {r.download_error}")
            for r in self.unread
        ]


def repair(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    dry_run: bool = False,
) -> RepairReport:
    """Add each gap (a release index.yaml lacks) to index.yaml on the pages branch.

    The entry is built from the release asset itself (digest, Chart.yaml
    fields), points at the asset's download URL, and takes ``created`` from the
    release's publication; it is merged, pushed and read back as ``chartship
    index`` does. Nothing else in the index changes.
    """
    environ = os.environ if environ is None else environ
    inventory = take_inventory(
        settings, environ=environ, download=True, only=lambda r: r.gap
    )  # fmt: skip
    report = RepairReport(inventory, dry_run=dry_run)
    gaps = [r for r in inventory.gaps if r.key in inventory.archives]
    artifacts = [
        Artifact(r.chart, r.version, Path(f"{r.chart}-{r.version}.tgz"), inventory.archives[r.key])
        for r in gaps
    ]
    pages = settings.channels.pages

    def url(artifact: Artifact) -> str:
        # Where publish_index points the entry, so the plan printed is the one pushed.
        if pages is not None and pages.packages == "pages":
            return archive_url(pages, artifact)
        return inventory.released[key_of(artifact)].url

    report.entries = [
        GapEntry(a.chart, a.version, a.sha256, url(a), r.created)
        for a, r in zip(artifacts, gaps, strict=True)
    ]
    if not artifacts:
        return report
    by_key = {(e.chart, e.version): e for e in report.entries}
    report.result = publish_index(
        settings,
        artifacts,
        url_for=lambda a: by_key[key_of(a)].url,
        created_for=lambda a: by_key[key_of(a)].created,
        dry_run=dry_run,
        environ=environ,
    )
    return report

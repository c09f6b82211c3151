"""Once a version is published anywhere, its published bytes are the release's bytes.

helm 3 writes new tar mtimes on every package, and helm 4 may order several
subcharts differently from one run to the next, so a rerun on a fresh
machine (a CI job run again after one channel failed) packages other bytes
for the same chart. Publishing those would leave the channels disagreeing,
or be refused by the channels that already hold the version. So before
anything is published, every channel is asked for the version: when one holds
it with the same files, its bytes replace the fresh archive and go to the
channels still missing it; when one holds other files, or two channels hold
different bytes, the release is refused with nothing published.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chartship.artifacts import Artifact
from chartship.channels.contract import Channel, Holding
from chartship.errors import ChartshipError, VersionError
from chartship.gitrepo import name_some
from chartship.package import read_sums, write_sums
from chartship.safetar import file_differences, inspect_chart_archive
from chartship.sources import record_published


@dataclass(frozen=True)
class Adoption:
    artifact: Artifact  # what the release publishes, maybe with another channel's bytes
    source: Holding | None  # the copy whose bytes were taken, if the local ones differed
    #: Where the version is published already, with exactly ``artifact``'s bytes.
    held: tuple[str, ...] = ()


def copies(
    artifact: Artifact, channels: Mapping[str, Channel[Any]], unreadable: dict[str, str]
) -> list[Holding]:
    """Every copy of ``artifact``'s version the readable channels already hold.

    A channel having an outage is noted in ``unreadable`` and left out: the
    release reports it failed and publishes to the others. A channel that
    refuses (credentials) or answers nonsense (a malformed index.yaml) stops
    the release before anything is published.
    """
    found: list[Holding] = []
    for name, channel in channels.items():
        if name in unreadable:
            continue
        try:
            one = channel.lookup(artifact)
        except ChartshipError as exc:
            if not (exc.transient or exc.contained):
                raise
            unreadable[name] = str(exc)
            continue
        if one is not None:
            found.append(one)
    return found


def _write(path: Path, data: bytes, mtime: float | None) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    os.replace(tmp, path)


def adopt(artifact: Artifact, found: Sequence[Holding]) -> Adoption:
    """Decide which bytes ``artifact``'s version is published with; see the module docstring."""
    label = f"{artifact.chart} {artifact.version}"
    if not found:
        return Adoption(artifact, None)
    digests = {c.sha256 for c in found}
    if len(digests) > 1:
        held = "; ".join(f"{c.channel} {c.where} has sha256 {c.sha256}" for c in found)
        raise VersionError(
            f"{label} is published with different bytes in different channels ({held}); "
            "nothing was published: see `migrate status` and repair the odd channel first"
        )
    source = found[0]
    places = tuple(f"{c.channel} {c.where}" for c in found)
    dist = artifact.archive.parent
    if source.sha256 == artifact.sha256:
        _note_published(artifact, artifact.sha256, places)
        return Adoption(artifact, None, places)
    data = source.fetch()
    actual = hashlib.sha256(data).hexdigest()
    if actual != source.sha256:
        raise VersionError(
            f"{source.channel} lists {label} with sha256 {source.sha256}, but {source.where} "
            f"serves sha256 {actual}; nothing was published"
        )
    remote = inspect_chart_archive(data, source=source.where)
    local = inspect_chart_archive(artifact.content, source=str(artifact.archive))
    differences = file_differences(local.files, remote.files)
    if differences:
        shown = name_some(differences, 5)
        raise VersionError(
            f"{label} is already published ({source.channel}: {source.where}) with other "
            f"content ({shown}); a published version never changes: stamp a new version. "
            "Nothing was published",
            path=artifact.archive,
        )
    prov: bytes | None = None
    if artifact.provenance is not None:
        prov = source.provenance()
        if prov is None:
            raise VersionError(
                f"{label} is already published ({source.where}) without a provenance file, "
                "and a fresh signature cannot be attached to those bytes; release it unsigned"
            )
    # What is published from here on are the bytes just fetched and hashed;
    # dist/ is rewritten with them only so that a later run adopts nothing new.
    adopted = Artifact(
        artifact.chart,
        artifact.version,
        artifact.archive,
        data,
        artifact.mtime,
        artifact.provenance,
        prov,
        artifact.chart_yaml,
    )
    if artifact.provenance is not None and prov is not None:
        _write(artifact.provenance, prov, artifact.mtime)
    _write(artifact.archive, data, artifact.mtime)
    sums = read_sums(dist)
    sums[artifact.archive.name] = adopted.sha256
    if artifact.provenance is not None and adopted.provenance_sha256 is not None:
        sums[artifact.provenance.name] = adopted.provenance_sha256
    write_sums(dist, sums)
    # Same files, so what the archive was packaged from still holds for these bytes.
    _note_published(artifact, source.sha256, places, previous=artifact.sha256)
    return Adoption(adopted, source, places)


def _note_published(
    artifact: Artifact, sha256: str, places: Sequence[str], previous: str | None = None
) -> None:
    """Mark the archive in dist/ as published, so package never replaces it with other files."""
    record_published(
        artifact.archive.parent,
        artifact.archive.name,
        chart=artifact.chart,
        version=artifact.version,
        sha256=sha256,
        places=places,
        previous_sha256=previous,
    )


def reconcile(
    artifacts: Sequence[Artifact],
    channels: Mapping[str, Channel[Any]],
    unreadable: dict[str, str],
) -> list[Adoption]:
    """Adopt, for every artifact, the bytes already published.

    Runs before anything is published, so a refusal publishes nothing; the
    archives it rewrote in dist/ hold the published bytes, which any later
    run would adopt again. Channels found unreadable are added to
    ``unreadable``, and the release fails them alone.
    """
    found = [copies(a, channels, unreadable) for a in artifacts]
    return [adopt(a, f) for a, f in zip(artifacts, found, strict=True)]

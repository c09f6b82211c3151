"""Artifact Hub's repository metadata, kept in the OCI channel beside each chart.

Artifact Hub reads an OCI repository's metadata (artifacthub-repo.yml: owners,
ignore rules) from the tag ``artifacthub.io`` of that repository, with its own
config and layer media types. A chart directory holding that file gets it
pushed with the chart.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chartship import charts as chartfiles
from chartship.channels.contract import Status
from chartship.channels.oci.registry import OCI_MANIFEST, RegistryClient, Target, sha256_digest
from chartship.config import Settings
from chartship.errors import ChartshipError, RegistryError

ARTIFACTHUB_FILE = "artifacthub-repo.yml"
ARTIFACTHUB_TAG = "artifacthub.io"
ARTIFACTHUB_CONFIG = "application/vnd.cncf.artifacthub.config.v1+yaml"
ARTIFACTHUB_LAYER = "application/vnd.cncf.artifacthub.repository-metadata.layer.v1.yaml"


@dataclass(frozen=True)
class MetadataOutcome:
    chart: str
    reference: str
    status: Status  # pushed, skipped, planned or failed
    message: str


def _metadata_manifest(layer: bytes) -> bytes:
    empty = b""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": ARTIFACTHUB_CONFIG, "digest": sha256_digest(empty), "size": 0},
        "layers": [
            {
                "mediaType": ARTIFACTHUB_LAYER,
                "digest": sha256_digest(layer),
                "size": len(layer),
                "annotations": {"org.opencontainers.image.title": ARTIFACTHUB_FILE},
            }
        ],
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def push_metadata(
    client: RegistryClient, target: Target, chart: str, source: Path, *, dry_run: bool
) -> MetadataOutcome:
    """Artifact Hub reads repository metadata from the ``artifacthub.io`` tag."""
    repository = target.repository(chart)
    reference = target.reference(chart, ARTIFACTHUB_TAG)
    layer = source.read_bytes()
    existing = client.manifest(repository, ARTIFACTHUB_TAG)
    if existing is not None and [
        lay.get("digest") for lay in existing.layers(ARTIFACTHUB_LAYER)
    ] == [sha256_digest(layer)]:
        return MetadataOutcome(chart, reference, Status.SKIPPED, "Artifact Hub metadata up to date")
    if dry_run:
        return MetadataOutcome(chart, reference, Status.PLANNED, f"would push {source.name}")
    try:
        client.put_blob(repository, b"")
        client.put_blob(repository, layer)
        client.put_manifest(repository, ARTIFACTHUB_TAG, _metadata_manifest(layer), OCI_MANIFEST)
        back = client.manifest(repository, ARTIFACTHUB_TAG)
        if back is None or [lay.get("digest") for lay in back.layers(ARTIFACTHUB_LAYER)] != [
            sha256_digest(layer)
        ]:
            raise RegistryError(f"read-back: {reference} does not hold {source.name}")
    except ChartshipError as exc:
        return MetadataOutcome(chart, reference, Status.FAILED, str(exc))
    return MetadataOutcome(chart, reference, Status.PUSHED, f"pushed {source.name}")


def metadata_sources(settings: Settings, charts: Sequence[str]) -> dict[str, Path]:
    try:
        wheres = {w.name: w for w in chartfiles.discover(settings)}
    except ChartshipError:
        return {}
    found = {}
    for chart in charts:
        where = wheres.get(chart)
        if where is not None and (where.directory / ARTIFACTHUB_FILE).is_file():
            found[chart] = where.directory / ARTIFACTHUB_FILE
    return found

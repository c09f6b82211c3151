"""The OCI manifest ``helm push`` writes for an archive, computed without helm.

Read from helm's source (v3.19 ``pkg/registry/client.go`` ``Push`` and
``util.go``, v4 ``pkg/registry/client.go`` and ``chart.go``), identical in
both majors and proven against both by tests/test_native_manifest.py:

- the manifest is Go's ``ocispec.Manifest`` marshalled by ``encoding/json``:
  ``schemaVersion`` 2, no top-level ``mediaType``, then ``config``,
  ``layers`` and ``annotations``; each descriptor ``mediaType``, ``digest``,
  ``size``;
- the layers (the archive, and the ``.prov`` when there is one) are sorted by
  digest, as ORAS v1 did;
- the annotations are a Go map, so their keys come out sorted: description,
  title (name), version, url (home), created, source (the first of sources)
  and authors (``name (email)`` joined by ``", "``), each only when not
  blank, then every Chart.yaml annotation over them, title and version
  excepted;
- ``created`` is the archive file's mtime in whole seconds, formatted as Go's
  ``time.RFC3339`` in the local time zone (helm 3 through ``ctime.Modified``,
  helm 4 through ``stat.ModTime``: the same value).

What :func:`chartship.channels.oci.config_blob.metadata` cannot encode with
certainty gives None here too: such an archive is left to ``helm push``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chartship import gojson
from chartship.channels.oci import config_blob
from chartship.channels.oci.registry import HELM_CONFIG, HELM_CONTENT, HELM_PROVENANCE

#: Chart.yaml annotations helm never lets over its own.
_IMMUTABLE = ("org.opencontainers.image.title", "org.opencontainers.image.version")


@dataclass(frozen=True)
class ChartManifest:
    """A manifest and the blobs it names, ready to upload in that order."""

    raw: bytes
    config: bytes
    blobs: tuple[bytes, ...]

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.raw).hexdigest()


def _descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {
        "mediaType": media_type,
        "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }


def rfc3339(mtime: float) -> str:
    """Go's ``time.Unix(mtime).Format(time.RFC3339)`` in the local time zone."""
    moment = datetime.fromtimestamp(math.floor(mtime)).astimezone()
    text = moment.isoformat()
    return text[:-6] + "Z" if moment.utcoffset() == timedelta(0) else text


def _authors(maintainers: list[Mapping[str, str]]) -> str:
    parts = []
    for person in maintainers:
        name, email = person.get("name", ""), person.get("email", "")
        parts.append(name + (f" ({email})" if email else ""))
    return ", ".join(parts)


def oci_annotations(meta: Mapping[str, Any], created: str) -> dict[str, str]:
    """helm's ``generateOCIAnnotations``, keys sorted as Go writes a map."""
    found: dict[str, str] = {}

    def add(key: str, value: str) -> None:
        if value.strip():
            found[key] = value

    prefix = "org.opencontainers.image."
    add(prefix + "description", meta.get("description", ""))
    add(prefix + "title", meta.get("name", ""))
    add(prefix + "version", meta.get("version", ""))
    add(prefix + "url", meta.get("home", ""))
    add(prefix + "created", created)
    sources = meta.get("sources") or []
    if sources:
        add(prefix + "source", sources[0])
    maintainers = meta.get("maintainers") or []
    if maintainers:
        add(prefix + "authors", _authors(maintainers))
    for key, value in (meta.get("annotations") or {}).items():
        if key not in _IMMUTABLE:
            found[key] = value
    return dict(sorted(found.items()))


def chart_manifest(
    content: bytes, chart: Mapping[str, Any], provenance: bytes | None, mtime: float
) -> ChartManifest | None:
    """What ``helm push`` writes for this archive (Chart.yaml ``chart``, the
    ``.prov`` beside it, the file's ``mtime``), or None when that is not certain."""
    meta = config_blob.metadata(chart)
    if meta is None:
        return None
    config = gojson.dumps(meta).encode()
    layers = [_descriptor(HELM_CONTENT, content)]
    blobs = [content, config]
    if provenance is not None:
        layers.append(_descriptor(HELM_PROVENANCE, provenance))
        blobs.append(provenance)
    layers.sort(key=lambda layer: str(layer["digest"]))
    manifest = {
        "schemaVersion": 2,
        "config": _descriptor(HELM_CONFIG, config),
        "layers": layers,
        "annotations": oci_annotations(meta, rfc3339(mtime)),
    }
    return ChartManifest(gojson.dumps(manifest).encode(), config, tuple(blobs))

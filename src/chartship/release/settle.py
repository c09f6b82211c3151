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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from github.Repository import Repository

from chartship import versions
from chartship.artifacts import Artifact
from chartship.channels.classic import served as classic
from chartship.channels.github import channel as github_release
from chartship.channels.oci import channel as oci
from chartship.channels.oci.registry import HELM_CONTENT, HELM_PROVENANCE
from chartship.config import Settings
from chartship.errors import ChartshipError, NotFound, VersionError
from chartship.package import read_sums, write_sums
from chartship.safetar import inspect_chart_archive

FETCH_TIMEOUT = 60.0


@dataclass(frozen=True)
class Copy:
    """One channel's copy of a chart version; fetched only when it is needed."""

    channel: str
    where: str
    sha256: str
    fetch: Callable[[], bytes]
    provenance: Callable[[], bytes | None]


@dataclass(frozen=True)
class Adoption:
    artifact: Artifact  # what the release publishes, maybe with another channel's bytes
    source: Copy | None  # the copy whose bytes were taken, if the local ones differed


def _oci_copy(conn: oci.Connection, artifact: Artifact) -> Copy | None:
    repository = conn.target.repository(artifact.chart)
    tag = versions.oci_tag(artifact.version)
    manifest = conn.client.manifest(repository, tag)
    if manifest is None:
        return None
    layers = manifest.layers(HELM_CONTENT)
    if not layers:
        return None
    digest = str(layers[0].get("digest", ""))
    prov = manifest.layers(HELM_PROVENANCE)
    prov_digest = str(prov[0].get("digest", "")) if prov else None

    def provenance() -> bytes | None:
        return conn.client.blob(repository, prov_digest) if prov_digest else None

    return Copy(
        "OCI",
        conn.target.reference(artifact.chart, tag),
        digest.removeprefix("sha256:"),
        lambda: conn.client.blob(repository, digest),
        provenance,
    )


def _github_copy(repo: Repository, settings: Settings, artifact: Artifact) -> Copy | None:
    tag = settings.release_tag(artifact.chart, artifact.version)
    try:
        release = github_release.find_release(repo, tag)
        if release is None:
            return None
        assets = github_release.assets_of(release)
    except github_release.API_ERRORS as exc:
        raise github_release.as_error(exc, f"release {tag}") from None
    asset = assets.get(artifact.archive.name)
    if asset is None:
        return None
    digest = asset.digest if isinstance(asset.digest, str) else ""
    if digest.startswith("sha256:"):
        sha = digest.removeprefix("sha256:")
    else:
        sha = hashlib.sha256(github_release.asset_bytes(asset)).hexdigest()
    prov_asset = assets.get(artifact.archive.name + ".prov")

    def provenance() -> bytes | None:
        return github_release.asset_bytes(prov_asset) if prov_asset is not None else None

    return Copy(
        "GitHub", asset.browser_download_url, sha, lambda: github_release.asset_bytes(asset),
        provenance,
    )  # fmt: skip


def _index_copy(
    entries: Sequence[classic.Entry], index_url: str, artifact: Artifact
) -> Copy | None:
    for entry in entries:
        if (entry.chart, entry.version) != (artifact.chart, artifact.version) or not entry.urls:
            continue
        if not entry.digest:
            raise VersionError(
                f"{artifact.chart} {artifact.version} is already in the index with digest "
                "(none), so its bytes cannot be compared; nothing was published: add the "
                "entry's digest (sha256 of the archive) by hand",
                path=classic.index_location(index_url),
            )
        url = classic.resolve(index_url, entry.urls[0])

        def fetch(url: str = url) -> bytes:
            return classic.fetch(
                url, limit=classic.MAX_ARCHIVE_BYTES, timeout=FETCH_TIMEOUT, what="archive"
            )

        def provenance(url: str = url) -> bytes | None:
            try:
                return fetch(url + ".prov")
            except ChartshipError:
                return None

        return Copy("index.yaml", url, entry.digest, fetch, provenance)
    return None


def _served_entries(settings: Settings) -> list[classic.Entry]:
    pages = settings.channels.pages
    if pages is None:
        return []
    try:
        _text, entries = classic.read_index(pages.index_url, timeout=FETCH_TIMEOUT)
    except NotFound:
        # A repository not served yet (the first release) has no index to read.
        return []
    return entries


def copies(
    settings: Settings,
    artifact: Artifact,
    channels: Sequence[str],
    *,
    connection: oci.Connection | None,
    repo: Repository | None,
    served: Sequence[classic.Entry],
    unreadable: dict[str, str],
) -> list[Copy]:
    """Every copy of ``artifact``'s version the readable channels already hold.

    A channel having an outage is noted in ``unreadable`` and left out: the
    release reports it failed and publishes to the others. A channel that
    refuses (credentials) or answers nonsense (a malformed index.yaml) stops
    the release before anything is published.
    """
    probes: dict[str, Callable[[], Copy | None]] = {}
    if connection is not None:
        probes["oci"] = lambda: _oci_copy(connection, artifact)
    if repo is not None:
        probes["github"] = lambda: _github_copy(repo, settings, artifact)
    if "index" in channels and settings.channels.pages is not None:
        index_url = settings.channels.pages.index_url
        probes["index"] = lambda: _index_copy(served, index_url, artifact)
    found: list[Copy] = []
    for channel, probe in probes.items():
        if channel in unreadable:
            continue
        try:
            one = probe()
        except ChartshipError as exc:
            if not exc.transient:
                raise
            unreadable[channel] = str(exc)
            continue
        if one is not None:
            found.append(one)
    return found


def _differences(local: Mapping[str, str], remote: Mapping[str, str]) -> list[str]:
    changed = sorted(n for n in local.keys() & remote.keys() if local[n] != remote[n])
    only_local = sorted(local.keys() - remote.keys())
    only_remote = sorted(remote.keys() - local.keys())
    return (
        [f"{n} differs" for n in changed]
        + [f"{n} is new" for n in only_local]
        + [f"{n} is gone" for n in only_remote]
    )


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def adopt(artifact: Artifact, found: Sequence[Copy]) -> Adoption:
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
    if source.sha256 == artifact.sha256:
        return Adoption(artifact, None)
    data = source.fetch()
    actual = hashlib.sha256(data).hexdigest()
    if actual != source.sha256:
        raise VersionError(
            f"{source.channel} lists {label} with sha256 {source.sha256}, but {source.where} "
            f"serves sha256 {actual}; nothing was published"
        )
    remote = inspect_chart_archive(data, source=source.where)
    local = inspect_chart_archive(artifact.archive.read_bytes(), source=str(artifact.archive))
    differences = _differences(local.files, remote.files)
    if differences:
        shown = ", ".join(differences[:5]) + (" ..." if len(differences) > 5 else "")
        raise VersionError(
            f"{label} is already published ({source.channel}: {source.where}) with other "
            f"content ({shown}); a published version never changes: stamp a new version. "
            "Nothing was published",
            path=artifact.archive,
        )
    prov_sha: str | None = None
    if artifact.provenance is not None:
        prov = source.provenance()
        if prov is None:
            raise VersionError(
                f"{label} is already published ({source.where}) without a provenance file, "
                "and a fresh signature cannot be attached to those bytes; release it unsigned"
            )
        prov_sha = hashlib.sha256(prov).hexdigest()
        _write(artifact.provenance, prov)
    _write(artifact.archive, data)
    dist = artifact.archive.parent
    sums = read_sums(dist)
    sums[artifact.archive.name] = source.sha256
    if artifact.provenance is not None and prov_sha is not None:
        sums[artifact.provenance.name] = prov_sha
    write_sums(dist, sums)
    adopted = replace(artifact, sha256=source.sha256, provenance_sha256=prov_sha)
    return Adoption(adopted, source)


@dataclass
class Reconciled:
    adoptions: list[Adoption]
    #: Channels that could not be read, with why: the release fails them alone.
    unreadable: dict[str, str]


def reconcile(
    settings: Settings,
    artifacts: Sequence[Artifact],
    channels: Sequence[str],
    *,
    environ: Mapping[str, str],
    connection: oci.Connection | None = None,
    repo: Repository | None = None,
) -> Reconciled:
    """Adopt, for every artifact, the bytes already published.

    Runs before anything is published, so a refusal publishes nothing; the
    archives it rewrote in dist/ hold the published bytes, which any later
    run would adopt again. ``connection`` and ``repo``, when the caller has
    them already, save connecting and looking the repository up again.
    """
    unreadable: dict[str, str] = {}
    if connection is None and "oci" in channels:
        connection = oci.connect(settings, environ)
    served: list[classic.Entry] = []
    if "index" in channels:
        try:
            served = _served_entries(settings)
        except ChartshipError as exc:
            if not exc.transient:
                raise
            unreadable["index"] = str(exc)
    if repo is None and "github" in channels:
        try:
            repo = github_release.configured_repository(settings, environ)
        except ChartshipError as exc:
            if not exc.transient:
                raise
            unreadable["github"] = str(exc)
    found = [
        copies(
            settings, a, channels, connection=connection, repo=repo, served=served,
            unreadable=unreadable,
        )
        for a in artifacts
    ]  # fmt: skip
    return Reconciled(
        [adopt(a, held) for a, held in zip(artifacts, found, strict=True)], unreadable
    )

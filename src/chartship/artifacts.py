"""The packaged artifacts in dist/: what every channel publishes, byte for byte.

Each archive (and its ``.prov``) is read once, hashed, and held in memory from
then on: the digest recorded and the bytes published are one and the same.
A file swapped in dist/ after it was hashed is never read again, so it can
be neither pushed nor uploaded. A tool that needs a file (``helm push`` reads
the archive and the ``.prov`` beside it) gets a private copy written from
those bytes (:func:`private_copy`), with the dist/ file's mtime, which helm
stamps as the chart's ``created`` time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from chartship.errors import ChartError
from chartship.records import Record

# typing only for mypy: an index merge's start-up does not import it (chartship.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Final

    from chartship.config import Settings


class Artifact(Record):
    """One chart version's archive: its bytes, their digest, and where they came from.

    ``archive`` and ``provenance`` name the files the bytes were read from (a
    file name for the channels, a path for messages); they are never read again.
    """

    __slots__ = (
        "archive",
        "chart",
        "chart_yaml",
        "content",
        "mtime",
        "provenance",
        "provenance_content",
        "provenance_sha256",
        "sha256",
        "version",
    )
    uncompared = frozenset({"chart_yaml"})
    unshown = frozenset({"content", "provenance_content", "chart_yaml"})

    chart: Final[str]
    version: Final[str]
    archive: Final[Path]
    content: Final[bytes]
    #: The dist/ file's mtime when it was read: helm's ``created`` for the OCI manifest.
    mtime: Final[float | None]
    provenance: Final[Path | None]
    provenance_content: Final[bytes | None]
    #: Chart.yaml as :func:`chartship.safetar.inspect_chart_archive` already read it
    #: from ``content``, where the caller has: the OCI channel then reads it no more.
    chart_yaml: Final[Mapping[str, Any] | None]
    sha256: Final[str]
    provenance_sha256: Final[str | None]

    def __init__(
        self,
        chart: str,
        version: str,
        archive: Path,
        content: bytes,
        mtime: float | None = None,
        provenance: Path | None = None,
        provenance_content: bytes | None = None,
        chart_yaml: Mapping[str, Any] | None = None,
    ) -> None:
        self.chart = chart
        self.version = version
        self.archive = archive
        self.content = content
        self.mtime = mtime
        self.provenance = provenance
        self.provenance_content = provenance_content
        self.chart_yaml = chart_yaml
        # Computed here, from the bytes held, so the two can never disagree.
        self.sha256 = hashlib.sha256(content).hexdigest()
        prov = provenance_content
        self.provenance_sha256 = hashlib.sha256(prov).hexdigest() if prov is not None else None

    @classmethod
    def read(cls, archive: Path, chart: str | None = None, version: str | None = None) -> Artifact:
        """The archive at ``archive`` (and a ``.prov`` beside it), read once.

        Without ``chart`` and ``version`` they are taken from its Chart.yaml.
        """
        content, mtime = read_once(archive)
        if chart is None or version is None:
            meta = archive_metadata(archive, content)
            chart, version = str(meta.get("name", "")), str(meta.get("version", ""))
        prov = archive.with_name(archive.name + ".prov")
        prov_content = read_once(prov)[0] if prov.is_file() else None
        return cls(
            chart,
            version,
            archive,
            content,
            mtime,
            prov if prov_content is not None else None,
            prov_content,
        )

    @property
    def digest(self) -> str:
        return f"sha256:{self.sha256}"

    @property
    def provenance_digest(self) -> str | None:
        return f"sha256:{self.provenance_sha256}" if self.provenance_sha256 else None

    @property
    def file_name(self) -> str:
        """The archive's name in every channel: ``<chart>-<version>.tgz``."""
        return self.archive.name

    @property
    def provenance_name(self) -> str:
        return self.file_name + ".prov"

    def metadata(self) -> dict[str, object]:
        """Chart.yaml of the held bytes."""
        return archive_metadata(self.archive, self.content)


def archive_metadata(archive: Path, data: bytes | None = None) -> dict[str, object]:
    """Chart.yaml of a packaged chart as helm loads it (with a requirements.yaml's
    dependencies, :func:`as_loaded`), read without extracting anything.

    With ``data``, those bytes are the archive (``archive`` only names it).
    """
    # Here, not at the top: an index merge reads one archive and nothing else
    # of the archive and YAML machinery, so start-up pays for it only when used.
    import io
    import tarfile

    import yaml

    from chartship import yamlfiles

    wanted = {bounds.what: bounds for bounds in (yamlfiles.CHART, yamlfiles.REQUIREMENTS)}
    found: dict[str, object] = {}
    try:
        with (
            tarfile.open(archive, "r:gz")
            if data is None
            else tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
        ) as tar:
            for member in tar:
                parts = member.name.split("/")
                if len(parts) != 2 or parts[1] not in wanted or not member.isfile():
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                bounds = wanted[parts[1]]
                text = handle.read(bounds.max_bytes + 1).decode("utf-8")
                found[parts[1]] = yamlfiles.load_data(text, bounds)
                if len(found) == len(wanted):
                    break
    except (tarfile.TarError, OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ChartError(f"not a readable chart archive: {exc}", path=archive) from None
    meta = found.get(yamlfiles.CHART.what)
    if not isinstance(meta, dict):
        raise ChartError("chart archive has no top-level Chart.yaml", path=archive)
    return as_loaded(meta, found.get(yamlfiles.REQUIREMENTS.what))


def as_loaded(chart: dict[str, Any], requirements: Any) -> dict[str, Any]:
    """Chart.yaml data as helm's loader holds it, given the chart's requirements.yaml data.

    helm (pkg/chart/loader/load.go, v3.19 and v4) reads requirements.yaml into
    the chart's metadata, so its ``dependencies`` replace Chart.yaml's; helm
    package then keeps them in requirements.yaml for a v1 chart, and helm push
    and helm repo index write them into the config blob and the index entry.
    """
    if isinstance(requirements, dict) and "dependencies" in requirements:
        return {**chart, "dependencies": requirements["dependencies"]}
    return chart


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file on disk, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_once(path: Path) -> tuple[bytes, float]:
    """A file's bytes and its mtime, both from one open file."""
    try:
        with path.open("rb") as handle:
            data = handle.read()
            return data, os.fstat(handle.fileno()).st_mtime
    except OSError as exc:
        raise ChartError(f"cannot read: {exc.strerror or exc}", path=path) from None


@contextlib.contextmanager
def private_copy(artifact: Artifact) -> Iterator[Path]:
    """The archive (and its ``.prov`` beside it) written from the held bytes into a
    directory only this process uses, removed afterwards."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="chartship-publish-") as tmp:
        path = Path(tmp) / artifact.file_name
        files = [(path, artifact.content)]
        if artifact.provenance_content is not None:
            files.append((Path(tmp) / artifact.provenance_name, artifact.provenance_content))
        for target, data in files:
            target.write_bytes(data)
            if artifact.mtime is not None:
                os.utime(target, (artifact.mtime, artifact.mtime))
        yield path


def from_dist(settings: Settings, names: Sequence[str] = ()) -> list[Artifact]:
    """Every archive SHA256SUMS lists, each checked against its digest and contents.

    Nothing is published from a dist/ that does not hold exactly what
    packaging wrote: a missing, changed or misnamed archive is an error.
    """
    # Packaging's checks and the version rules load git, SemVer and the chart
    # model; reading one archive (an index merge) needs none of them.
    from chartship import versions
    from chartship.errors import UsageError, VersionError
    from chartship.package import SUMS_FILE, dist_file, listed_sums, verify_archive

    dist = settings.dist_path
    sums_path = dist / SUMS_FILE
    if not sums_path.is_file():
        raise UsageError(f"nothing to publish: {sums_path} is missing; run package first")
    listed = listed_sums(dist)
    sums = {name: one.digest for name, one in listed.items()}
    found: list[Artifact] = []
    for name in sorted(sums):
        if not name.endswith(".tgz"):
            continue
        # Only plain files directly in dist/: a link would publish what it points at.
        archive = dist_file(dist, name, listed[name].line)
        if not archive.is_file():
            raise ChartError(f"listed in {SUMS_FILE} but missing", path=archive)
        content, mtime = read_once(archive)
        digest = hashlib.sha256(content).hexdigest()
        if digest != sums[name]:
            raise ChartError(
                f"sha256 {digest} differs from its {SUMS_FILE} entry {sums[name]}; "
                "it changed after packaging",
                path=archive,
            )
        chart, version = verify_archive(archive, content)
        try:
            versions.parse(version, what=f"chart {chart} version")
        except VersionError as exc:
            raise VersionError(exc.message, path=archive) from None
        if versions.is_placeholder(version):
            raise VersionError(
                f"the unstamped placeholder {versions.PLACEHOLDER} is never published "
                "(a development build); stamp a version with bump and package again",
                path=archive,
            )
        prov_listed = listed.get(name + ".prov")
        prov = dist_file(dist, name + ".prov", prov_listed.line if prov_listed else None)
        prov_content: bytes | None = None
        if prov.is_file():
            prov_content = read_once(prov)[0]
            if sums.get(prov.name) != hashlib.sha256(prov_content).hexdigest():
                raise ChartError(f"does not match its {SUMS_FILE} entry", path=prov)
        found.append(
            Artifact(
                chart,
                version,
                archive,
                content,
                mtime,
                prov if prov_content is not None else None,
                prov_content,
            )
        )
    if names:
        known = {a.chart for a in found}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UsageError(
                f"no archive of {', '.join(unknown)} in {dist} "
                f"(it holds {', '.join(sorted(known)) or 'none'})"
            )
        found = [a for a in found if a.chart in names]
    if not found:
        raise UsageError(f"nothing to publish: {dist} holds no chart archive")
    return found

"""The packaged artifacts in dist/: what every channel publishes, byte for byte."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chartship import versions
from chartship.config import Settings
from chartship.errors import ChartError, UsageError, VersionError
from chartship.package import SUMS_FILE, dist_file, listed_sums, sha256_file, verify_archive


@dataclass(frozen=True)
class Artifact:
    chart: str
    version: str
    archive: Path
    sha256: str
    provenance: Path | None = None
    provenance_sha256: str | None = None

    @property
    def digest(self) -> str:
        return f"sha256:{self.sha256}"

    @property
    def provenance_digest(self) -> str | None:
        return f"sha256:{self.provenance_sha256}" if self.provenance_sha256 else None


def from_dist(settings: Settings, names: Sequence[str] = ()) -> list[Artifact]:
    """Every archive SHA256SUMS lists, each checked against its digest and contents.

    Nothing is published from a dist/ that does not hold exactly what
    packaging wrote: a missing, changed or misnamed archive is an error.
    """
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
        digest = sha256_file(archive)
        if digest != sums[name]:
            raise ChartError(
                f"sha256 {digest} differs from its {SUMS_FILE} entry {sums[name]}; "
                "it changed after packaging",
                path=archive,
            )
        chart, version = verify_archive(archive)
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
        prov_sha: str | None = None
        if prov.is_file():
            prov_sha = sha256_file(prov)
            if sums.get(prov.name) != prov_sha:
                raise ChartError(f"does not match its {SUMS_FILE} entry", path=prov)
        found.append(
            Artifact(chart, version, archive, digest, prov if prov_sha else None, prov_sha)
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

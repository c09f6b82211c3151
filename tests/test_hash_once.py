"""Hash once, publish those bytes: a dist/ archive swapped after its sha256 was
recorded is never what any channel publishes, on helm 3 and helm 4."""

from __future__ import annotations

import datetime
import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from chartship import artifacts as artifact_mod
from chartship.bump import bump
from chartship.channels.oci.channel import push
from chartship.channels.oci.registry import HELM_CONTENT, HELM_PROVENANCE
from chartship.package import package
from chartship.release import pipeline
from chartship.runner import Result, Runner
from chartship.sandbox.registry import RegistryServer, get_manifest, registry_request
from tests.support.builders import Workspace, chart_archive
from tests.support.gpg import Keys, sign_env
from tests.support.sandbox import REPOSITORY, Sandbox, open_sandbox
from tests.test_push import DASH, configure

VERSION = "0.16.0"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SwapOnPush(Runner):
    """Swaps files in dist/ for other bytes the moment helm is first asked to push:
    after their digests were recorded, before any channel has published."""

    def __init__(self, swaps: Mapping[Path, bytes]) -> None:
        super().__init__()
        self.swaps = dict(swaps)
        self.swapped = False

    def run(self, argv: Sequence[str], **kwargs: object) -> Result:
        if not self.swapped and list(argv)[1:2] == ["push"]:
            for path, data in self.swaps.items():
                path.write_bytes(data)
            self.swapped = True
        return super().run(argv, **kwargs)  # type: ignore[arg-type]


def impostor(directory: Path, chart: str, version: str) -> bytes:
    """A valid archive of the same chart and version with other contents."""
    return chart_archive(directory, chart, version).read_bytes()


def test_push_publishes_the_bytes_hashed_not_a_file_swapped_after(
    workspace: Workspace, registry: RegistryServer, keys: Keys, tmp_path: Path
) -> None:
    settings = configure(workspace, registry)
    bump(settings, "1.3.0", [DASH])
    (made,) = package(settings, [DASH], sign=True, environ=sign_env(keys.plain))
    assert made.provenance is not None
    archive_bytes, prov_bytes = made.archive.read_bytes(), made.provenance.read_bytes()
    (artifact,) = artifact_mod.from_dist(settings)
    # Both files change once their digests are recorded.
    made.archive.write_bytes(impostor(tmp_path / "impostor", DASH, "1.3.0"))
    made.provenance.write_bytes(prov_bytes.replace(b"sha256:", b"sha256:0"))

    (outcome,) = push(settings, artifacts=[artifact]).outcomes
    assert outcome.status == "pushed", outcome.message
    _s, manifest, _d = get_manifest(registry, f"charts/{DASH}", "1.3.0")
    assert manifest is not None
    layers = {layer["mediaType"]: layer["digest"] for layer in manifest["layers"]}
    assert layers == {
        HELM_CONTENT: f"sha256:{sha256(archive_bytes)}",
        HELM_PROVENANCE: f"sha256:{sha256(prov_bytes)}",
    }
    for digest, data in ((layers[HELM_CONTENT], archive_bytes), (layers[HELM_PROVENANCE],
                         prov_bytes)):  # fmt: skip
        served = registry_request(registry, f"/v2/charts/{DASH}/blobs/{digest}")
        assert served.status == 200
        assert served.body == data
    # helm stamped `created` from the mtime of the file it was given: dist/'s, as read.
    created = manifest["annotations"]["org.opencontainers.image.created"]
    stamped = datetime.datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
    assert artifact.mtime is not None
    assert stamped == int(artifact.mtime)


def test_private_copy_holds_the_bytes_with_the_dist_mtime(tmp_path: Path) -> None:
    archive = chart_archive(tmp_path / "dist", "demo", "1.0.0")
    archive.with_name(archive.name + ".prov").write_bytes(b"signed")
    os.utime(archive, (1_600_000_000, 1_600_000_000))
    artifact = artifact_mod.Artifact.read(archive)
    archive.write_bytes(b"swapped")
    with artifact_mod.private_copy(artifact) as copy:
        assert copy.parent != archive.parent
        assert copy.name == archive.name
        assert copy.read_bytes() == artifact.content
        assert sha256(copy.read_bytes()) == artifact.sha256
        assert copy.with_name(copy.name + ".prov").read_bytes() == b"signed"
        assert copy.stat().st_mtime == 1_600_000_000
        assert (copy.parent.stat().st_mode & 0o077) == 0
    assert not copy.exists()


def test_an_artifact_is_a_value_of_its_bytes_and_names(tmp_path: Path) -> None:
    # A plain class (chartship.records), with a frozen dataclass's equality and repr.
    archive = chart_archive(tmp_path / "dist", "demo", "1.0.0")
    one = artifact_mod.Artifact.read(archive)
    again = artifact_mod.Artifact(
        "demo", "1.0.0", archive, one.content, one.mtime, chart_yaml={"name": "demo"}
    )
    other = artifact_mod.Artifact("demo", "1.0.0", archive, b"other bytes", one.mtime)
    assert (one == again, hash(one) == hash(again), one == other) == (True, True, False)
    assert other.sha256 == sha256(b"other bytes")
    assert repr(other) == (
        f"Artifact(archive={archive!r}, chart='demo', mtime={one.mtime!r}, provenance=None, "
        f"provenance_sha256=None, sha256='{other.sha256}', version='1.0.0')"
    )


@pytest.fixture
def box(
    tmp_path: Path, _workspace_template: Path, helm_bin: Path, upstream: str
) -> Iterator[Sandbox]:
    with open_sandbox(tmp_path / "sandbox", _workspace_template, helm_bin) as sandbox:
        sandbox.stamp(VERSION)
        yield sandbox
    assert not sandbox.github.violations, sandbox.github.report()


def test_release_publishes_the_hashed_bytes_everywhere_after_dist_is_swapped(
    box: Sandbox, tmp_path: Path
) -> None:
    """The archive in dist/ changes between settling the bytes and publishing them:
    OCI (blob upload and helm push), the GitHub asset and the pages copy all carry
    the bytes that were hashed, never the new ones. The helm engine: the swap comes
    when helm is asked to push, the one moment a file path leaves chartship."""
    settings = box.settings(**{"channels.pages.packages": "pages", "channels.oci.engine": "helm"})
    dist = settings.dist_path
    swapped = {dist / f"metallb-{VERSION}.tgz": impostor(tmp_path / "impostor", "metallb", VERSION)}
    runner = SwapOnPush(swapped)
    result = pipeline.release(
        settings, ["metallb"], tag=f"metallb-chart-{VERSION}", environ=box.environ, runner=runner
    )
    assert runner.swapped
    (row,) = result.rows
    assert result.ok, result.problems()
    hashed = row.artifact.sha256
    impostor_sha = sha256(swapped[dist / f"metallb-{VERSION}.tgz"])
    assert hashed != impostor_sha
    # dist/ now holds the impostor, and nothing published carries it.
    assert sha256((dist / f"metallb-{VERSION}.tgz").read_bytes()) == impostor_sha

    pulled_oci = box.pull_oci("metallb", VERSION, box.base / "oci").read_bytes()
    assert sha256(pulled_oci) == hashed
    pulled_classic = box.pull_classic("metallb", VERSION, box.base / "classic").read_bytes()
    assert sha256(pulled_classic) == hashed
    (release,) = box.github.releases(REPOSITORY)
    (asset,) = [a for a in release.assets if a.name == f"metallb-{VERSION}.tgz"]
    assert sha256(asset.data) == hashed

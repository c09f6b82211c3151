"""chartship writes the manifest ``helm push`` writes, byte for byte, on helm 3 and helm 4.

Each case pushes one archive with the real helm into one shared registry, reads
the manifest back as the registry stores it and compares it, and its digest,
with :func:`chartship.channels.oci.manifest.chart_manifest`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from chartship import safetar, versions
from chartship.artifacts import Artifact
from chartship.channels.oci.channel import Confirmer, connect, push
from chartship.channels.oci.manifest import chart_manifest, oci_annotations, rfc3339
from chartship.channels.oci.registry import RegistryClient, Tls
from chartship.config import ChannelSettings, OciSettings, Settings
from chartship.helm import Helm
from chartship.sandbox.registry import RegistryServer
from tests.test_helm_config import RICH, archive

REPO = Path(__file__).resolve().parent.parent

#: Every Chart.yaml annotation helm lets over its own, and the two it does not.
OVERRIDING = """\
apiVersion: v2
name: overriding
version: 2.0.0-alpha.1
description: "   "
home: https://example.invalid/home
sources: ["", https://example.invalid/second]
maintainers:
  - email: nobody@example.invalid
  - name: Named
annotations:
  org.opencontainers.image.title: not the name
  org.opencontainers.image.version: not the version
  org.opencontainers.image.created: "2001-02-03T04:05:06Z"
  org.opencontainers.image.url: https://example.invalid/annotated
  empty: ""
"""

PROV = b"""-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA512

name: rich
...
files:
  rich-1.2.3-rc.1+build.5.tgz: sha256:0
-----BEGIN PGP SIGNATURE-----

wsBcBAEBCgAQBQJl
-----END PGP SIGNATURE-----
"""


@pytest.fixture(scope="module")
def shared_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with RegistryServer(tmp_path_factory.mktemp("native-registry")) as server:
        yield server


def pushed(helm: Helm, registry: RegistryServer, path: Path, namespace: str) -> tuple[str, bytes]:
    """What the registry holds after ``helm push``: the manifest's digest and bytes."""
    helm.run(["push", str(path), registry.oci_base(namespace), "--plain-http"])
    chart = safetar.inspect_chart_archive(path.read_bytes(), source=str(path)).chart
    client = RegistryClient(registry.host, tls=Tls(plain_http=True))
    manifest = client.manifest(
        f"{namespace}/{chart['name']}", versions.oci_tag(str(chart["version"]))
    )
    assert manifest is not None
    return manifest.digest, manifest.raw


def assert_reproduced(
    helm: Helm, registry: RegistryServer, path: Path, namespace: str, mtime: float
) -> bytes:
    os.utime(path, (mtime, mtime))
    digest, raw = pushed(helm, registry, path, namespace)
    content = path.read_bytes()
    prov_path = Path(f"{path}.prov")
    prov = prov_path.read_bytes() if prov_path.exists() else None
    chart = safetar.inspect_chart_archive(content, source=str(path)).chart
    ours = chart_manifest(content, chart, prov, mtime)
    assert ours is not None
    assert ours.raw == raw
    assert ours.digest == digest
    return raw


@pytest.mark.parametrize("chart", ["metallb", "metallb-dashboards"])
def test_this_repositorys_charts(
    helm: Helm, helm_version: str, shared_registry: RegistryServer, tmp_path: Path, chart: str
) -> None:
    helm.run(["package", str(REPO / "charts" / chart), "--destination", str(tmp_path)])
    (path,) = tmp_path.glob("*.tgz")
    assert_reproduced(helm, shared_registry, path, f"repo-{chart}-{helm_version}", 1_700_000_123.9)


def test_every_field_prerelease_build_metadata_and_prov(
    helm: Helm, helm_version: str, shared_registry: RegistryServer, tmp_path: Path
) -> None:
    path = archive(tmp_path, RICH)
    Path(f"{path}.prov").write_bytes(PROV)
    raw = assert_reproduced(helm, shared_registry, path, f"rich-{helm_version}", 1_234_567_890)
    assert b"application/vnd.cncf.helm.chart.provenance.v1.prov" in raw
    assert b"\\u003cb\\u003ebold" in raw  # Go's HTML escaping, in an annotation


def test_a_v1_chart_with_requirements_yaml(
    helm: Helm, helm_version: str, shared_registry: RegistryServer, tmp_path: Path
) -> None:
    """helm's loader takes a v1 chart's dependencies from requirements.yaml into the
    config blob; read the same way, the archive needs no `helm push` fallback."""
    chart = tmp_path / "src" / "legacy"
    for name in ("one", "two"):
        sub = chart / "charts" / name
        sub.mkdir(parents=True)
        (sub / "Chart.yaml").write_text(f"apiVersion: v1\nname: {name}\nversion: 0.1.0\n")
    (chart / "Chart.yaml").write_text(
        "apiVersion: v1\nname: legacy\nversion: 1.0.0\nappVersion: '1.0'\ndescription: old\n"
    )
    (chart / "requirements.yaml").write_text(
        "dependencies:\n- name: one\n  version: '>=0.1.0'\n  condition: one.enabled\n"
        "- name: two\n  version: 0.1.0\n  repository: https://charts.example.invalid\n"
        "  alias: second\n  tags: [extra]\n"
    )
    helm.run(["package", str(chart), "--destination", str(tmp_path / "out")])
    (path,) = (tmp_path / "out").glob("*.tgz")
    raw = assert_reproduced(helm, shared_registry, path, f"v1-{helm_version}", 1_600_000_000)
    config = safetar.inspect_chart_archive(path.read_bytes(), source=str(path)).chart
    assert [d["name"] for d in config["dependencies"]] == ["one", "two"]
    assert b'"org.opencontainers.image.title":"legacy"' in raw


def test_annotations_over_helms_own_and_blank_fields(
    helm: Helm, helm_version: str, shared_registry: RegistryServer, tmp_path: Path
) -> None:
    path = archive(tmp_path, OVERRIDING)
    raw = assert_reproduced(helm, shared_registry, path, f"over-{helm_version}", 1_500_000_000)
    assert b'"org.opencontainers.image.title":"overriding"' in raw


def test_created_in_the_local_time_zone(
    helm: Helm,
    helm_version: str,
    shared_registry: RegistryServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        path = archive(tmp_path, "apiVersion: v2\nname: zoned\nversion: 3.0.0\n")
        raw = assert_reproduced(helm, shared_registry, path, f"tz-{helm_version}", 1_500_000_000)
        assert b"+05:30" in raw
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(
    ("zone", "mtime", "expected"),
    [
        ("UTC", 86_400.9, "1970-01-02T00:00:00Z"),
        ("America/New_York", 0, "1969-12-31T19:00:00-05:00"),
        ("Asia/Kolkata", 1_500_000_000, "2017-07-14T08:10:00+05:30"),
    ],
)
def test_created_is_go_rfc3339_in_whole_seconds(
    monkeypatch: pytest.MonkeyPatch, zone: str, mtime: float, expected: str
) -> None:
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        assert rfc3339(mtime) == expected
    finally:
        monkeypatch.undo()
        time.tzset()


def test_what_helm_would_convert_is_not_reproduced() -> None:
    chart = {"apiVersion": "v2", "name": "n", "version": "1.0.0", "appVersion": 1.2}
    assert chart_manifest(b"x", chart, None, 0) is None
    assert oci_annotations({"name": "n", "version": "1", "description": " "}, "c") == {
        "org.opencontainers.image.created": "c",
        "org.opencontainers.image.title": "n",
        "org.opencontainers.image.version": "1",
    }


def test_layers_sorted_by_digest() -> None:
    chart = yaml.safe_load(RICH)
    content, prov = b"archive", b"provenance"
    built = chart_manifest(content, chart, prov, 0)
    assert built is not None
    digests = [hashlib.sha256(b).hexdigest() for b in (content, prov)]
    assert built.raw.index(min(digests).encode()) < built.raw.index(max(digests).encode())


def settings_for(
    registry: RegistryServer, namespace: str, engine: str, helm_bin: str, window: float = 2
) -> Settings:
    oci = OciSettings(
        repository=registry.oci_base(namespace),
        plain_http=True,
        # helm needs its start-up inside the window; a manifest PUT, milliseconds.
        tag_window=window,
        retry_seconds=2,
        engine=engine,  # type: ignore[arg-type]
        public=False,
    )
    return Settings(helm=helm_bin, channels=ChannelSettings(phase="oci-only", oci=oci))


def artifact_of(path: Path, mtime: float) -> Artifact:
    chart = safetar.inspect_chart_archive(path.read_bytes(), source=str(path)).chart
    return Artifact(str(chart["name"]), str(chart["version"]), path, path.read_bytes(), mtime)


def test_both_engines_write_the_same_manifest_and_native_needs_no_helm(
    helm_bin: Path, helm_version: str, shared_registry: RegistryServer, tmp_path: Path
) -> None:
    plain = artifact_of(archive(tmp_path / "a", RICH), 1_600_000_000)
    converted = artifact_of(
        archive(tmp_path / "b", "apiVersion: v2\nname: numeric\nversion: 1.0.0\nappVersion: 1.2\n"),
        1_600_000_000,
    )
    digests: dict[str, dict[str, str | None]] = {}
    for engine in ("native", "helm"):
        settings = settings_for(shared_registry, f"{engine}-{helm_version}", engine, str(helm_bin))
        report = push(settings, artifacts=[plain, converted])
        assert [o.status for o in report.outcomes] == ["pushed", "pushed"], [
            o.message for o in report.outcomes
        ]
        digests[engine] = {o.item.artifact.chart: o.manifest_digest for o in report.outcomes}
        messages = {o.item.artifact.chart: o.message for o in report.outcomes}
        if engine == "native":
            assert messages["numeric"] == (
                "pushed by helm push (a Chart.yaml value is one helm converts or sanitises) "
                "and verified"
            )
            assert messages["rich"] == "pushed and verified"
    assert digests["native"] == digests["helm"]
    assert None not in digests["native"].values()

    # Every manifest reproduced: helm is never started, so a missing one is no matter.
    again = settings_for(
        shared_registry, f"nohelm-{helm_version}", "native", "/nonexistent/helm", window=0.5
    )
    report = push(again, artifacts=[plain])
    assert [(o.status, o.manifest_digest) for o in report.outcomes] == [
        ("pushed", digests["helm"]["rich"])
    ]


def test_requests_reuse_connections_across_calls_and_workers(
    shared_registry: RegistryServer,
) -> None:
    client = RegistryClient(shared_registry.host, tls=Tls(plain_http=True))
    digest = client.put_blob("pool/one", b"blob")
    for _ in range(10):
        client.ping()
        assert client.blob("pool/one", digest) == b"blob"
    assert client.connections_opened == 1
    anonymous = client.anonymous()
    with ThreadPoolExecutor(max_workers=4) as pool:
        listed = pool.map(lambda _: tuple(anonymous.tags("pool/one")), range(40))
        assert set(listed) == {()}
    opened = client.connections_opened
    assert opened is not None
    assert opened <= 4


def _registry_requests(registry: RegistryServer, since: int) -> list[tuple[str, str]]:
    """(method, path) of every request the registry logged after byte ``since`` of its log."""
    logged = registry.log_path.read_bytes()[since:].decode(errors="replace")
    return re.findall(r'"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP', logged)


def test_a_native_push_costs_the_raw_requests_and_one_listing(
    shared_registry: RegistryServer, tmp_path: Path
) -> None:
    """Per version: each small blob in one upload (no HEAD), the manifest PUT and
    its read-back; the read before each write is the run's shared tag listing."""
    count = 6
    artifacts = [
        artifact_of(
            archive(tmp_path / str(n), f"apiVersion: v2\nname: listed\nversion: 1.0.{n}\n"),
            1_600_000_000,
        )
        for n in range(count)
    ]
    settings = settings_for(shared_registry, "requests", "native", "/nonexistent/helm", 0.5)
    since = shared_registry.log_path.stat().st_size

    report = push(settings, artifacts=artifacts)

    assert [o.status for o in report.outcomes] == ["pushed"] * count
    seen = Counter(
        (method, re.sub(r"^/v2/requests/listed/([a-z]+).*", r"\1", path))
        for method, path in _registry_requests(shared_registry, since)
    )
    # docker-registry 2.8 opens a session for the one-POST upload: a PUT follows.
    assert seen[("POST", "blobs")] == seen[("PUT", "blobs")] == 2 * count
    assert seen[("HEAD", "blobs")] == 0
    assert seen[("PUT", "manifests")] == count
    # The verdict's read-back only: the plan and the writes read the tag listing.
    assert seen[("GET", "manifests")] == count
    assert 2 <= seen[("GET", "tags")] <= 3


def test_each_verdict_waits_for_its_own_window_only(
    shared_registry: RegistryServer, tmp_path: Path
) -> None:
    """A tag written a window ago is judged at once, while one written just now waits."""
    window = 1.0
    settings = settings_for(shared_registry, "verdicts", "native", "/nonexistent/helm", 0.2)
    pushed = push(settings, artifacts=[artifact_of(archive(tmp_path / "v", RICH), 0)]).outcomes[0]
    connection = connect(settings, {})
    now = time.monotonic()
    with Confirmer(connection.client, connection.target, window=window, workers=2) as confirmer:
        due = confirmer.judge(dataclasses.replace(pushed, seen=now - window))
        later = confirmer.judge(dataclasses.replace(pushed, seen=now))
        assert due.result(timeout=window * 0.8).status == "pushed"
        assert not later.done()
        assert later.result().status == "pushed"
    assert time.monotonic() - now >= window

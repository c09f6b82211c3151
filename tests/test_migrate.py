"""The classic -> OCI migration against a MetalLB-like history: real registry, real helm,
the GitHub stand-in, a served index.yaml and a bare git origin for the pages branch."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from chartship.artifacts import Artifact
from chartship.channels.classic.entry import entry_for
from chartship.commands import (
    run_migrate_backfill,
    run_migrate_deprecate,
    run_migrate_phase,
    run_migrate_status,
    run_migrate_verify,
)
from chartship.config import Settings
from chartship.errors import ChecksFailed, UsageError
from chartship.helm import Helm
from chartship.migrate.backfill import backfill, created_epoch
from chartship.migrate.inventory import take_inventory
from chartship.migrate.phases import NOTICE_START
from chartship.sandbox.registry import RegistryServer
from tests.support.builders import Workspace, chart_archive, write_channels
from tests.support.chartrepo import StaticServer

REPO = "metallb/metallb"
CHART = "metallb"
#: 32 versions: patch series, a prerelease and a build-metadata version among them.
VERSIONS = [f"0.{minor}.{patch}" for minor in range(1, 9) for patch in range(3)] + [
    "0.9.0-rc.1",
    "0.9.0",
    "0.9.1",
    "0.10.0+build.7",
    "0.10.0",
    "0.11.0",
    "0.12.0",
    "0.13.0",
]
ALREADY_IN_OCI = ["0.1.0", "0.1.1", "0.2.0"]
NO_ASSET = "0.3.1"  # the release exists, its asset does not
NO_RELEASE = "0.3.2"  # index entry, no release at all
GAP = "0.4.0"  # released, never indexed
MISMATCH = "0.5.1"  # index digest is not the asset's
DUPLICATE = "0.6.0"  # listed twice
ANOMALOUS = {NO_ASSET, NO_RELEASE, GAP, MISMATCH, DUPLICATE, "0.0.0"}
BACKFILLED = [v for v in VERSIONS if v not in ANOMALOUS and v not in ALREADY_IN_OCI]


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


@dataclass
class History:
    workspace: Workspace
    registry: RegistryServer
    github: Any
    site: Path
    origin: Path
    archives: dict[str, Artifact] = field(default_factory=dict)
    created: dict[str, str] = field(default_factory=dict)

    @property
    def environ(self) -> dict[str, str]:
        return {"GITHUB_TOKEN": self.github.token}

    @property
    def oci(self) -> str:
        return self.registry.oci_base("charts")

    def settings(self) -> Settings:
        return self.workspace.settings()

    def url(self, version: str) -> str:
        tag = f"{CHART}-chart-{version}"
        return f"{self.github.api_url}/download/{REPO}/{tag}/{CHART}-{version}.tgz"

    def release(self, version: str, *, asset: bool = True) -> None:
        release = self.github.create_release(REPO, f"{CHART}-chart-{version}", make_latest="false")
        if asset:
            made = self.archives[version]
            self.github.add_asset(release, made.archive.name, made.archive.read_bytes())

    def write_index(self, entries: list[dict[str, Any]]) -> None:
        data = {
            "apiVersion": "v1",
            "entries": {CHART: entries},
            "generated": "2024-01-01T00:00:00Z",
        }
        (self.site / "index.yaml").write_text(yaml.safe_dump(data))

    def set_phase(self, phase: str) -> None:
        path = self.workspace.path("chartship.yaml")
        text = path.read_text()
        current = next(line for line in text.splitlines() if line.startswith("  phase: "))
        path.write_text(text.replace(current, f"  phase: {phase}"))

    def oci_layer(self, version: str) -> str | None:
        request = urllib.request.Request(
            f"http://{self.registry.host}/v2/charts/{CHART}/manifests/{version.replace('+', '_')}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                manifest = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise
        self.manifests[version] = manifest
        return str(manifest["layers"][0]["digest"])

    manifests: dict[str, Any] = field(default_factory=dict)

    def oci_tags(self) -> list[str]:
        url = f"http://{self.registry.host}/v2/charts/{CHART}/tags/list"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return sorted(json.loads(response.read()).get("tags") or [])
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise


def index_text(entries: list[dict[str, Any]]) -> str:
    data = {"apiVersion": "v1", "entries": {CHART: entries}, "generated": "2024-01-01T00:00:00Z"}
    return yaml.safe_dump(data)


def _archive(directory: Path, version: str) -> Artifact:
    archive = chart_archive(directory / version, CHART, version)
    return Artifact.read(archive, CHART, version)


@pytest.fixture
def history(
    workspace: Workspace,
    registry: RegistryServer,
    github: Any,
    helm: Helm,
    tmp_path: Path,
    static_server_factory: Callable[[Path], StaticServer],
) -> History:
    site = tmp_path / "site"
    site.mkdir()
    server = static_server_factory(site)
    origin = tmp_path / "origin.git"
    git("init", "-q", "--bare", str(origin))
    workspace.git("remote", "add", "origin", str(origin))
    write_channels(
        workspace.path("chartship.yaml"),
        phase="dual",
        github={"repository": REPO, "api_url": github.api_url, "throttle": False},
        pages={"index_url": server.url},
        oci={"repository": registry.oci_base("charts"), "plain_http": True, "tag_window": 2},
    )
    made = History(workspace, registry, github, site, origin)
    entries = []
    for number, version in enumerate(["0.0.0", *VERSIONS]):
        made.archives[version] = _archive(tmp_path / "archives", version)
        made.created[version] = f"2021-{1 + number % 12:02d}-{1 + number % 27:02d}T10:11:12.5Z"
        if version != NO_RELEASE:
            made.release(version, asset=version != NO_ASSET)
        if version == GAP:
            continue
        entry = entry_for(made.archives[version], made.url(version), made.created[version])
        if version == MISMATCH:
            entry["digest"] = hashlib.sha256(b"another build").hexdigest()
        entries.append(entry)
        if version == DUPLICATE:
            entries.append(dict(entry))
    made.write_index(entries)
    for version in ALREADY_IN_OCI:
        helm.run(["push", str(made.archives[version].archive), made.oci, "--plain-http"])
    return made


def statuses(inventory_json: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    return {
        row["version"]: (row["state"], [a["kind"] for a in row["anomalies"]])
        for row in inventory_json["rows"]
    }


# --------------------------------------------------------------------------- status


def test_status_reports_every_anomaly(history: History) -> None:
    out = io.StringIO()
    found = run_migrate_status(history.settings(), environ=history.environ, out=out)
    report = json.loads((history.workspace.path("dist/migration/inventory.json")).read_text())
    rows = statuses(report)
    assert rows == statuses(found.as_json())
    assert rows["0.0.0"] == ("anomaly", ["placeholder"])
    assert rows[NO_ASSET] == ("anomaly", ["asset-missing"])
    assert rows[NO_RELEASE] == ("anomaly", ["asset-missing"])
    assert rows[GAP] == ("anomaly", ["not-in-index"])
    assert rows[MISMATCH] == ("anomaly", ["digest-mismatch"])
    assert rows[DUPLICATE] == ("anomaly", ["duplicate"])
    for version in ALREADY_IN_OCI:
        assert rows[version] == ("both", [])
    for version in BACKFILLED:
        assert rows[version] == ("classic only", []), version
    assert len(rows) == len(VERSIONS) + 1
    assert report["counts"] == {"anomaly": 6, "both": 3, "classic only": len(BACKFILLED)}
    by_version = {r["version"]: r for r in report["rows"]}
    assert by_version["0.10.0+build.7"]["archive_checked"] is True
    assert "is not the" not in by_version[MISMATCH]["anomalies"][0]["message"]
    assert history.archives[MISMATCH].sha256 in by_version[MISMATCH]["anomalies"][0]["message"]
    assert "does not exist" in by_version[NO_RELEASE]["anomalies"][0]["message"]
    assert "has no asset" in by_version[NO_ASSET]["anomalies"][0]["message"]

    text = out.getvalue()
    assert text.splitlines()[0].split() == [
        "chart", "version", "index", "asset", "oci", "digests", "state", "/", "anomalies",
    ]  # fmt: skip
    assert f"{CHART} {MISMATCH}: digest-mismatch: " in text
    assert "status: anomaly: 6, both: 3, classic only: 24" in text
    md = history.workspace.path("dist/migration/inventory.md").read_text()
    assert "## Anomalies" in md
    assert f"**{CHART} {DUPLICATE}** `duplicate`" in md
    assert history.oci_tags() == sorted(ALREADY_IN_OCI)  # status changes nothing


# --------------------------------------------------------------------------- backfill


def test_backfill_copies_exactly_the_right_versions_and_helm_pulls_them(
    history: History, helm: Helm, tmp_path: Path
) -> None:
    settings = history.settings()
    plan = io.StringIO()
    planned = run_migrate_backfill(settings, dry_run=True, environ=history.environ, out=plan)
    assert sorted(c.version for c in planned.copies) == sorted(BACKFILLED)
    assert history.oci_tags() == sorted(ALREADY_IN_OCI)

    out = io.StringIO()
    report = run_migrate_backfill(settings, environ=history.environ, out=out)
    assert sorted(c.version for c in report.copies) == sorted(BACKFILLED)
    assert {c.status for c in report.copies} == {"pushed"}
    text = out.getvalue()
    assert f"backfill: [{len(BACKFILLED)}/{len(BACKFILLED)}] " in text  # plain lines: not a tty
    assert f"{CHART} {MISMATCH}: not copied, digest-mismatch" in text
    expected_tags = sorted(v.replace("+", "_") for v in [*ALREADY_IN_OCI, *BACKFILLED])
    assert history.oci_tags() == expected_tags

    for version in BACKFILLED:
        made = history.archives[version]
        assert history.oci_layer(version) == made.digest
        annotations = history.manifests[version]["annotations"]
        moment = created_epoch(history.created[version])
        assert moment is not None
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
        assert annotations["org.opencontainers.image.created"] == stamp
        pulled = tmp_path / "pulled" / version
        pulled.mkdir(parents=True)
        helm.run(
            ["pull", f"{history.oci}/{CHART}", "--version", version, "-d", str(pulled),
             "--plain-http"]
        )  # fmt: skip
        assert (pulled / made.archive.name).read_bytes() == made.archive.read_bytes(), version

    verified = io.StringIO()
    parity = run_migrate_verify(settings, environ=history.environ, out=verified)
    assert parity.clean
    assert verified.getvalue().startswith(f"verify: parity clean: {len(expected_tags)} version(s)")

    again = io.StringIO()
    rerun = run_migrate_backfill(settings, environ=history.environ, out=again)
    assert rerun.copies == []
    assert f"backfill: copied 0, already in OCI {len(expected_tags)}, failed 0" in again.getvalue()


def test_backfill_killed_part_way_then_rerun(history: History, tmp_path: Path) -> None:
    env = {**os.environ, **history.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    argv = [sys.executable, "-m", "chartship", "migrate", "backfill", "--workers", "1",
            "--helm", str(history.workspace.helm_bin)]  # fmt: skip
    log = (tmp_path / "first.log").open("wb")
    process = subprocess.Popen(
        argv, cwd=history.workspace.root, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 120
    try:
        while len(history.oci_tags()) < len(ALREADY_IN_OCI) + 4:
            assert process.poll() is None, (tmp_path / "first.log").read_text()
            assert time.monotonic() < deadline, "backfill made no progress"
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait(timeout=30)
        log.close()
    partial = history.oci_tags()
    assert len(ALREADY_IN_OCI) + 4 <= len(partial) < len(ALREADY_IN_OCI) + len(BACKFILLED)

    report = backfill(history.settings(), environ=history.environ, stream=io.StringIO())
    assert not report.failed
    finished = sorted(c.version.replace("+", "_") for c in report.copies)
    assert set(finished).isdisjoint(partial)  # what the first run did is not done again
    tags = history.oci_tags()
    assert tags == sorted(v.replace("+", "_") for v in [*ALREADY_IN_OCI, *BACKFILLED])
    assert len(tags) == len(set(tags))
    for version in [*ALREADY_IN_OCI, *BACKFILLED]:
        assert history.oci_layer(version) == history.archives[version].digest
    assert run_migrate_verify(history.settings(), environ=history.environ, out=io.StringIO())


# --------------------------------------------------------------------------- hostile archives


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _special(name: str, kind: bytes, target: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, b""


def _hostile(kind: str, version: str) -> bytes:
    chart_yaml = f"apiVersion: v2\nname: {CHART}\nversion: {version}\n".encode()
    base = [_file(f"{CHART}/Chart.yaml", chart_yaml)]
    extra = {
        "absolute-path": [_file("/etc/cron.d/evil", b"x")],
        "parent-directory": [_file(f"{CHART}/../../evil", b"x")],
        "symlink": [_special(f"{CHART}/templates/x.yaml", tarfile.SYMTYPE, "/etc/passwd")],
        "hardlink": [_special(f"{CHART}/templates/x.yaml", tarfile.LNKTYPE, "/etc/passwd")],
        "device": [_special(f"{CHART}/dev", tarfile.CHRTYPE)],
        "bomb": [_file(f"{CHART}/values.yaml", b"\0" * (150 * 2**20))],
        "wrong-version": [],
    }[kind]
    if kind == "wrong-version":
        base = [_file(f"{CHART}/Chart.yaml", chart_yaml.replace(version.encode(), b"9.9.9"))]
    return _tar(base + extra)


HOSTILE = ["absolute-path", "parent-directory", "symlink", "hardlink", "device", "bomb",
           "wrong-version"]  # fmt: skip


def test_hostile_archives_are_refused_and_never_pushed(
    workspace: Workspace,
    registry: RegistryServer,
    github: Any,
    tmp_path: Path,
    static_server_factory: Callable[[Path], StaticServer],
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    server = static_server_factory(site)
    write_channels(
        workspace.path("chartship.yaml"),
        phase="dual",
        pages={"index_url": server.url, "packages": "pages"},
        oci={"repository": registry.oci_base("charts"), "plain_http": True, "tag_window": 2},
    )
    good = _archive(tmp_path, "1.0.0")
    (site / good.archive.name).write_bytes(good.archive.read_bytes())
    entries = [entry_for(good, f"{server.url}/{good.archive.name}", "2022-01-01T00:00:00Z")]
    for number, kind in enumerate(HOSTILE):
        version = f"2.{number}.0"
        data = _hostile(kind, version)
        name = f"{CHART}-{version}.tgz"
        (site / name).write_bytes(data)
        entry = dict(entries[0])
        entry.update(
            version=version, digest=hashlib.sha256(data).hexdigest(), urls=[f"{server.url}/{name}"]
        )
        entries.append(entry)
    (site / "index.yaml").write_text(index_text(entries))

    out = io.StringIO()
    report = run_migrate_backfill(workspace.settings(), out=out, environ={})
    assert [c.version for c in report.copies] == ["1.0.0"]
    rows = {r.version: r for r in report.inventory.rows}
    for number, kind in enumerate(HOSTILE):
        row = rows[f"2.{number}.0"]
        assert [a.kind for a in row.anomalies] == ["unsafe-archive"], kind
        message = row.anomalies[0].message
        assert message, kind
        assert f"{CHART} 2.{number}.0: not copied, unsafe-archive: {message}" in out.getvalue()
    url = f"http://{registry.host}/v2/charts/{CHART}/tags/list"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert json.loads(response.read())["tags"] == ["1.0.0"]


# --------------------------------------------------------------------------- drift


def test_verify_reports_drift_and_fails(history: History, helm: Helm, tmp_path: Path) -> None:
    settings = history.settings()
    backfill(settings, environ=history.environ, stream=io.StringIO())
    # A version published to OCI only, and other bytes under a version both channels have.
    extra = _archive(tmp_path / "extra", "0.14.0")
    helm.run(["push", str(extra.archive), history.oci, "--plain-http"])
    rebuilt = tmp_path / f"{CHART}-0.12.0.tgz"
    chart_yaml = f"apiVersion: v2\nname: {CHART}\nversion: 0.12.0\n".encode()
    rebuilt.write_bytes(_tar([_file(f"{CHART}/Chart.yaml", chart_yaml)]))
    helm.run(["push", str(rebuilt), history.oci, "--plain-http"])
    out = io.StringIO()
    with pytest.raises(ChecksFailed, match=r"differ in 2 version"):
        run_migrate_verify(settings, environ=history.environ, out=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["version", "drift"]
    assert any(line.startswith(f"{CHART} 0.12.0  channels-differ: OCI holds ") for line in lines)
    assert any(line.startswith(f"{CHART} 0.14.0  oci-only: ") for line in lines)
    assert lines[-1] == "verify: 2 difference(s) between the channels"


# --------------------------------------------------------------------------- phases


def test_classic_to_dual_to_oci_primary_to_oci_only(history: History, tmp_path: Path) -> None:
    history.set_phase("classic")
    settings = history.settings()
    env = history.environ
    with pytest.raises(ChecksFailed, match="one at a time: classic -> dual first"):
        run_migrate_phase(settings, "oci-primary", environ=env, out=io.StringIO())
    with pytest.raises(UsageError, match="belongs to the oci-primary phase"):
        run_migrate_deprecate(settings, environ=env, out=io.StringIO())

    out = io.StringIO()
    run_migrate_phase(settings, "dual", environ=env, out=out)
    assert "moved from classic to dual" in out.getvalue()
    assert "  phase: dual\n" in history.workspace.path("chartship.yaml").read_text()

    settings = history.settings()
    with pytest.raises(ChecksFailed) as refused:
        run_migrate_phase(settings, "oci-primary", environ=env, out=io.StringIO())
    assert f"{CHART} 0.13.0: missing in OCI (run backfill)" in str(refused.value)
    run_migrate_backfill(settings, environ=env, out=io.StringIO())
    run_migrate_phase(settings, "oci-primary", environ=env, out=io.StringIO())

    settings = history.settings()
    assert settings.channels.phase == "oci-primary"
    with pytest.raises(ChecksFailed) as refused:
        run_migrate_phase(settings, "oci-only", environ=env, out=io.StringIO())
    message = str(refused.value)
    assert "carries no deprecation notice yet" in message
    assert "metallb depends on frr-k8s" in message
    assert "from the classic repository http://127.0.0.1" in message

    dry = run_migrate_deprecate(settings, dry_run=True, environ=env, out=io.StringIO())
    assert dry.changed
    assert dry.dry_run
    assert git("--git-dir", str(history.origin), "branch", "--list") == ""
    done = run_migrate_deprecate(settings, environ=env, out=io.StringIO())
    assert done.commit is not None
    readme = git("--git-dir", str(history.origin), "show", "gh-pages:README.md")
    assert readme.startswith(NOTICE_START)
    assert history.oci in readme
    again = run_migrate_deprecate(settings, environ=env, out=io.StringIO())
    assert not again.changed

    # frr-k8s moved to OCI: nothing blocks the cutover any more.
    history.workspace.replace(
        "charts/metallb/Chart.yaml", history.workspace.upstream, "oci://127.0.0.1:9/frr-k8s"
    )
    index_before = (history.site / "index.yaml").read_bytes()
    run_migrate_phase(settings, "oci-only", environ=env, out=io.StringIO())
    assert history.settings().channels.phase == "oci-only"
    assert (history.site / "index.yaml").read_bytes() == index_before
    inventory = take_inventory(history.settings(), environ=env, download=False)
    assert sum(r.in_index for r in inventory.rows) == len(VERSIONS)  # nothing dropped

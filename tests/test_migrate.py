"""The classic -> OCI migration against a MetalLB-like history: real registry, real helm,
the GitHub stand-in, and a bare git origin whose pages branch a pages site serves."""

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from chartship.artifacts import Artifact
from chartship.channels.classic import served
from chartship.channels.classic.entry import entry_for
from chartship.channels.contract import Status
from chartship.commands import (
    run_migrate_accept,
    run_migrate_backfill,
    run_migrate_deprecate,
    run_migrate_phase,
    run_migrate_repair,
    run_migrate_status,
    run_migrate_verify,
)
from chartship.config import Settings, load_settings
from chartship.errors import ChecksFailed, RegistryUnavailable, UsageError
from chartship.helm import Helm
from chartship.migrate.backfill import Copy, Progress, backfill, created_epoch
from chartship.migrate.inventory import take_inventory
from chartship.migrate.phases import NOTICE_END, NOTICE_START, parity
from chartship.sandbox.pages_site import PagesSite
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
    "0.13.8",
]
ALREADY_IN_OCI = ["0.1.0", "0.1.1", "0.2.0"]
NO_ASSET = "0.3.1"  # the release exists, its asset does not
NO_RELEASE = "0.3.2"  # index entry, no release at all
GAPS = ["0.4.0", "0.13.8"]  # released with their asset, never indexed
GAP = GAPS[0]
MISMATCH = "0.5.1"  # index digest is not the asset's
DUPLICATE = "0.6.0"  # listed twice
ANOMALOUS = {NO_ASSET, NO_RELEASE, MISMATCH, DUPLICATE, "0.0.0"}
#: Copied by backfill before any decision: every valid release OCI lacks, gaps included.
BACKFILLED = [v for v in VERSIONS if v not in ANOMALOUS and v not in ALREADY_IN_OCI]
#: The decisions the flow records, and what backfill copies once they are made.
DECISIONS = {
    "0.0.0": ("skip", "an unstamped development build, never a release"),
    NO_ASSET: ("skip", "the original archive is lost; a rebuild would not be the release"),
    NO_RELEASE: ("skip", "never released on GitHub"),
    MISMATCH: ("asset", "the release asset is what was released; the index was edited by hand"),
    DUPLICATE: ("asset", "both entries name the released archive"),
}
DRAFT = "0.15.0"  # a draft release, its asset uploaded
SUNSET = "2027-06-30"
PUBLISHED = datetime(2023, 4, 5, 6, 7, 8, tzinfo=timezone.utc)


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


@dataclass
class History:
    workspace: Workspace
    registry: RegistryServer
    github: Any
    site: PagesSite
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

    def published(self, version: str) -> datetime:
        return PUBLISHED + timedelta(days=VERSIONS.index(version) if version in VERSIONS else 0)

    def release(self, version: str, *, asset: bool = True) -> None:
        release = self.github.create_release(
            REPO, f"{CHART}-chart-{version}", make_latest="false",
            created_at=self.published(version),
        )  # fmt: skip
        if asset:
            made = self.archives[version]
            self.github.add_asset(release, made.archive.name, made.archive.read_bytes())

    def write_index(self, entries: list[dict[str, Any]], scratch: Path) -> None:
        """index.yaml committed to the origin's pages branch, which the site serves."""
        git("init", "-q", "-b", "gh-pages", str(scratch))
        (scratch / "index.yaml").write_text(index_text(entries))
        git("-C", str(scratch), "add", "index.yaml")
        git("-C", str(scratch), "commit", "-q", "-m", "index")
        git("-C", str(scratch), "push", "-q", str(self.origin), "gh-pages")

    def pages_file(self, name: str) -> str:
        return git("--git-dir", str(self.origin), "show", f"gh-pages:{name}")

    def index(self) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load(self.pages_file("index.yaml"))
        return loaded

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
) -> Iterator[History]:
    origin = tmp_path / "origin.git"
    git("init", "-q", "--bare", str(origin))
    workspace.git("remote", "add", "origin", str(origin))
    with PagesSite(origin) as site:
        write_channels(
            workspace.path("chartship.yaml"),
            phase="dual",
            github={"repository": REPO, "api_url": github.api_url, "throttle": False},
            pages={"index_url": site.url, "sunset": SUNSET},
            oci={"repository": registry.oci_base("charts"), "plain_http": True, "tag_window": 2},
        )
        yield _history(History(workspace, registry, github, site, origin), helm, tmp_path)


def _history(made: History, helm: Helm, tmp_path: Path) -> History:
    entries = []
    for number, version in enumerate(["0.0.0", *VERSIONS]):
        made.archives[version] = _archive(tmp_path / "archives", version)
        made.created[version] = f"2021-{1 + number % 12:02d}-{1 + number % 27:02d}T10:11:12.5Z"
        if version != NO_RELEASE:
            made.release(version, asset=version != NO_ASSET)
        if version in GAPS:
            continue
        entry = entry_for(made.archives[version], made.url(version), made.created[version])
        if version == MISMATCH:
            entry["digest"] = hashlib.sha256(b"another build").hexdigest()
        entries.append(entry)
        if version == DUPLICATE:
            entries.append(dict(entry))
    made.write_index(entries, tmp_path / "pages")
    # A draft with its asset is not released: no row, never copied, never indexed.
    draft = made.github.create_release(
        REPO, f"{CHART}-chart-{DRAFT}", draft=True, make_latest="false"
    )
    archive = _archive(tmp_path / "archives", DRAFT).archive
    made.github.add_asset(draft, archive.name, archive.read_bytes())
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
    for version in GAPS:
        assert rows[version] == ("release only", []), version  # a release, not an anomaly
    assert rows[MISMATCH] == ("anomaly", ["digest-mismatch"])
    assert rows[DUPLICATE] == ("anomaly", ["duplicate"])
    for version in ALREADY_IN_OCI:
        assert rows[version] == ("both", [])
    for version in BACKFILLED:
        if version not in GAPS:
            assert rows[version] == ("classic only", []), version
    assert len(rows) == len(VERSIONS) + 1
    assert report["counts"] == {
        "anomaly": 5, "both": 3, "classic only": len(BACKFILLED) - 2, "release only": 2,
    }  # fmt: skip
    by_version = {r["version"]: r for r in report["rows"]}
    assert by_version["0.10.0+build.7"]["archive_checked"] is True
    assert by_version[GAP]["archive_checked"] is True  # the gap's release asset, proven
    assert by_version[GAP]["release_url"] == history.url(GAP)
    assert "is not the" not in by_version[MISMATCH]["anomalies"][0]["message"]
    assert history.archives[MISMATCH].sha256 in by_version[MISMATCH]["anomalies"][0]["message"]
    assert "does not exist" in by_version[NO_RELEASE]["anomalies"][0]["message"]
    assert "has no asset" in by_version[NO_ASSET]["anomalies"][0]["message"]

    text = out.getvalue()
    assert text.splitlines()[0].split() == [
        "chart", "version", "index", "asset", "oci", "digests", "state", "/", "anomalies",
    ]  # fmt: skip
    assert f"{CHART} {MISMATCH}: digest-mismatch: " in text
    assert "status: anomaly: 5, both: 3, classic only: 24, release only: 2" in text
    assert f"{CHART} {GAP}: released but not in index.yaml: " in text
    md = history.workspace.path("dist/migration/inventory.md").read_text()
    assert "## Anomalies" in md
    assert f"**{CHART} {DUPLICATE}** `duplicate`" in md
    assert history.oci_tags() == sorted(ALREADY_IN_OCI)  # status changes nothing
    # More releases than PyGithub's page of 30: the listing asks for GitHub's largest page.
    assert len(history.github.releases(REPO)) > 30
    (listing,) = history.github.calls("GET", rf"/repos/{REPO}/releases$")
    assert "per_page=100" in listing.target


def test_a_classic_chart_no_registry_can_name_is_an_anomaly_of_its_own(
    history: History, tmp_path: Path
) -> None:
    """helm takes capitals in a chart name, no registry does: that chart stays behind,
    named, and every other chart is read, reported and copied as ever."""
    upper = "MetalLB"
    made = Artifact.read(chart_archive(tmp_path / "upper", upper, "1.0.0"), upper, "1.0.0")
    pages = tmp_path / "pages"
    (pages / made.archive.name).write_bytes(made.archive.read_bytes())
    index = yaml.safe_load((pages / "index.yaml").read_text())
    url = f"{history.site.url}/{made.archive.name}"  # served: only its name keeps it back
    index["entries"][upper] = [entry_for(made, url, "2022-01-01T00:00:00Z")]
    (pages / "index.yaml").write_text(yaml.safe_dump(index))
    git("-C", str(pages), "add", ".")
    git("-C", str(pages), "commit", "-q", "-m", "a chart named in capitals")
    git("-C", str(pages), "push", "-q", str(history.origin), "gh-pages")
    release = history.github.create_release(REPO, f"{upper}-chart-1.0.0", make_latest="false")
    history.github.add_asset(release, made.archive.name, made.archive.read_bytes())

    found = run_migrate_status(history.settings(), environ=history.environ, out=io.StringIO())
    rows = {(r["chart"], r["version"]): r for r in found.as_json()["rows"]}
    (anomaly,) = rows[(upper, "1.0.0")]["anomalies"]
    assert anomaly["kind"] == "oci-name"
    assert f"no registry takes the chart name 'MetalLB' under {history.oci}" in anomaly["message"]
    assert "migrate accept 1.0.0 --chart MetalLB --as skip" in anomaly["advice"]
    assert rows[(CHART, MISMATCH)]["anomalies"][0]["kind"] == "digest-mismatch"
    assert rows[(CHART, ALREADY_IN_OCI[0])]["state"] == "both"

    out = io.StringIO()
    run_migrate_backfill(history.settings(), dry_run=True, environ=history.environ, out=out)
    planned = out.getvalue()
    assert f"{CHART} {BACKFILLED[0]}" in planned
    assert f"{upper} 1.0.0: not copied, oci-name: no registry takes" in planned
    assert not [line for line in planned.splitlines() if "would push" in line and upper in line]
    assert history.oci_tags() == sorted(ALREADY_IN_OCI)


# --------------------------------------------------------------------------- backfill


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
    problems = parity(history.settings(), environ=history.environ).drift
    assert not [why for _, why in problems if "missing in OCI" in why]


def test_backfill_pushes_while_later_archives_still_download(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One archive's download is held until a backfilled tag is in the registry: that
    happens only if pushes start before every archive is downloaded."""
    held = [v for v in BACKFILLED if v not in GAPS][-1]
    fetch = served.fetch
    seen_before_release: list[list[str]] = []

    def slow_fetch(url: str, **kwargs: Any) -> bytes:  # served.fetch, one URL held
        if url == history.url(held):
            deadline = time.monotonic() + 30
            copied: list[str] = []
            while not copied and time.monotonic() < deadline:
                copied = [t for t in history.oci_tags() if t not in ALREADY_IN_OCI]
                time.sleep(0.05)
            seen_before_release.append(copied)
        return fetch(url, **kwargs)

    monkeypatch.setattr(served, "fetch", slow_fetch)
    out = io.StringIO()
    report = backfill(history.settings(), environ=history.environ, workers=2, stream=out)

    assert len(seen_before_release) == 1
    assert seen_before_release[0], "no version was pushed while an archive was still downloading"
    assert not report.failed, report.failed
    assert sorted((c.version, c.status) for c in report.copies) == sorted(
        (v, "pushed") for v in BACKFILLED
    )
    # The report keeps the inventory's order, whatever order the downloads finished in.
    order = [r.version for r in report.inventory.rows]
    assert [c.version for c in report.copies] == [v for v in order if v in BACKFILLED]
    lines = [line for line in out.getvalue().splitlines() if line.startswith("backfill: [")]
    assert len(lines) == len(report.copies)
    assert lines[-1].startswith(f"backfill: [{len(lines)}/{len(lines)}]")
    assert history.oci_layer(held) == history.archives[held].digest


def test_backfill_reports_an_archive_it_could_not_download_and_copies_the_rest(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    unreachable = next(v for v in BACKFILLED if v not in GAPS)
    fetch = served.fetch

    def failing_fetch(url: str, **kwargs: Any) -> bytes:  # served.fetch, one host down
        if url == history.url(unreachable):
            raise RegistryUnavailable(f"archive at {url} could not be fetched: connection refused")
        return fetch(url, **kwargs)

    monkeypatch.setattr(served, "fetch", failing_fetch)
    out = io.StringIO()
    report = backfill(history.settings(), environ=history.environ, workers=2, stream=out)

    (failed,) = report.failed
    assert (failed.version, failed.status) == (unreachable, "failed")
    assert failed.message.startswith("not copied: archive at ")
    assert failed.message.endswith("could not be fetched: connection refused")
    copied = sorted(c.version for c in report.copies if c.status == "pushed")
    assert copied == sorted(v for v in BACKFILLED if v != unreachable)
    order = [r.version for r in report.inventory.rows]
    assert [c.version for c in report.copies] == [v for v in order if v in BACKFILLED]
    lines = [line for line in out.getvalue().splitlines() if line.startswith("backfill: [")]
    assert len(lines) == len(BACKFILLED)
    assert f"{CHART} {unreachable}: failed: not copied: archive at " in out.getvalue()
    assert history.oci_layer(unreachable) is None


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_ends_its_line_when_the_last_archives_fail_their_proof() -> None:
    out = _Terminal()
    progress = Progress(3, out)
    progress.step(Copy(CHART, "1.0.0", "oci://registry/metallb:1.0.0", Status.PUSHED, "pushed"))
    progress.drop()
    assert out.getvalue().endswith("1/3 metallb 1.0.0\x1b[K")
    progress.drop()  # nothing left to copy: the bar's line is ended
    assert out.getvalue().endswith("\x1b[K\n")


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


# --------------------------------------------------------------------------- repair, pages mode


def test_repair_with_archives_on_the_pages_branch(github: Any, tmp_path: Path) -> None:
    """packages: pages: the gap's archive goes beside index.yaml, as `index` puts it."""
    origin = tmp_path / "origin.git"
    git("init", "-q", "--bare", str(origin))
    repo = tmp_path / "repo"
    git("init", "-q", "-b", "main", str(repo))
    git("-C", str(repo), "remote", "add", "origin", str(origin))
    old, gap = _archive(tmp_path, "0.9.0"), _archive(tmp_path, "1.0.0")
    with PagesSite(origin) as site:
        write_channels(
            repo / "chartship.yaml",
            phase="classic",
            github={"repository": REPO, "api_url": github.api_url, "throttle": False},
            pages={"index_url": site.url, "packages": "pages"},
        )
        pages = tmp_path / "pages"
        git("init", "-q", "-b", "gh-pages", str(pages))
        (pages / old.archive.name).write_bytes(old.archive.read_bytes())
        entry = entry_for(old, f"{site.url}/{old.archive.name}", "2022-01-01T00:00:00Z")
        (pages / "index.yaml").write_text(index_text([entry]))
        git("-C", str(pages), "add", ".")
        git("-C", str(pages), "commit", "-q", "-m", "index")
        git("-C", str(pages), "push", "-q", str(origin), "gh-pages")
        env = {"GITHUB_TOKEN": github.token}
        settings = load_settings(repo / "chartship.yaml")
        tag = settings.release_tag(CHART, "1.0.0")
        release = github.create_release(REPO, tag, created_at=PUBLISHED)
        github.add_asset(release, gap.archive.name, gap.archive.read_bytes())
        plan = io.StringIO()
        run_migrate_repair(settings, dry_run=True, environ=env, out=plan)
        url = f"{site.url}/{gap.archive.name}"
        assert (
            f"  {CHART} 1.0.0: would add digest {gap.sha256}, created 2023-04-05T06:07:08Z, "
            f"url {url}\n"
        ) in plan.getvalue()
        run_migrate_repair(settings, environ=env, out=io.StringIO())
        show = ["--git-dir", str(origin), "show"]
        index = yaml.safe_load(git(*show, "gh-pages:index.yaml"))
        assert [(e["version"], e["urls"]) for e in index["entries"][CHART]] == [
            ("1.0.0", [url]), ("0.9.0", [entry["urls"][0]]),
        ]  # fmt: skip
        with urllib.request.urlopen(url, timeout=10) as served:  # noqa: S310
            assert served.read() == gap.archive.read_bytes()
    assert git("-C", str(repo), "status", "--porcelain", "--untracked-files=all") == (
        "?? chartship.yaml"
    )


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
    with pytest.raises(ChecksFailed, match=r"verify found 9 problem\(s\) in 9 version\(s\)"):
        run_migrate_verify(settings, environ=history.environ, out=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["version", "problem"]
    assert any(line.startswith(f"{CHART} 0.12.0  channels-differ: OCI holds ") for line in lines)
    assert any(line.startswith(f"{CHART} 0.14.0  oci-only: ") for line in lines)
    assert lines[-1] == "verify: 9 problem(s) in 9 version(s)"
    history.set_phase("oci-primary")  # as if moved by hand: deprecate checks for itself
    with pytest.raises(ChecksFailed, match="no notice before verify is clean") as refused:
        run_migrate_deprecate(history.settings(), environ=history.environ, out=io.StringIO())
    assert f"  - {CHART} 0.12.0: channels-differ: OCI holds " in str(refused.value)
    assert str(refused.value).count("\n  - ") == 9
    with pytest.raises(subprocess.CalledProcessError):  # no README was written
        history.pages_file("README.md")


# --------------------------------------------------------------------------- phases


def test_the_whole_migration_of_a_metallb_shaped_history(
    history: History, helm: Helm, tmp_path: Path
) -> None:
    """status -> backfill -> repair -> accept -> verify -> deprecate -> phase, as a user would."""
    history.set_phase("classic")
    settings = history.settings()
    env = history.environ
    index_before = history.index()
    with pytest.raises(ChecksFailed, match="one at a time: classic -> dual first"):
        run_migrate_phase(settings, "oci-primary", environ=env, out=io.StringIO())
    with pytest.raises(UsageError, match="belongs to the oci-primary phase"):
        run_migrate_deprecate(settings, environ=env, out=io.StringIO())
    run_migrate_phase(settings, "dual", environ=env, out=io.StringIO())
    assert "  phase: dual\n" in history.workspace.path("chartship.yaml").read_text()
    settings = history.settings()

    # Refused with every unmet precondition at once: versions missing, gaps, undecided.
    with pytest.raises(ChecksFailed) as refused:
        run_migrate_phase(settings, "oci-primary", environ=env, out=io.StringIO())
    message = str(refused.value)
    assert f"{CHART} 0.13.0: missing in OCI (run chartship migrate backfill)" in message
    assert f"{CHART} {GAP}: released but missing in index.yaml" in message
    for version in DECISIONS:
        assert f"{CHART} {version}: " in message
        assert "no decision recorded" in message

    # backfill: every valid release, gaps included, byte-exact; the dry run first.
    planned = run_migrate_backfill(settings, dry_run=True, environ=env, out=io.StringIO())
    assert sorted(c.version for c in planned.copies) == sorted(BACKFILLED)
    assert history.oci_tags() == sorted(ALREADY_IN_OCI)
    out = io.StringIO()
    report = run_migrate_backfill(settings, environ=env, out=out)
    assert sorted(c.version for c in report.copies) == sorted(BACKFILLED)
    assert {c.status for c in report.copies} == {"pushed"}
    assert f"backfill: [{len(BACKFILLED)}/{len(BACKFILLED)}] " in out.getvalue()
    assert f"{CHART} {MISMATCH}: not copied, digest-mismatch" in out.getvalue()
    for version in BACKFILLED:
        assert history.oci_layer(version) == history.archives[version].digest, version
        moment = (
            int(history.published(version).timestamp())
            if version in GAPS
            else created_epoch(history.created[version])
        )
        assert moment is not None
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
        annotations = history.manifests[version]["annotations"]
        assert annotations["org.opencontainers.image.created"] == stamp, version
    for version in [GAPS[1], "0.9.0-rc.1", "0.10.0+build.7"]:  # a gap, a prerelease, metadata
        pulled = tmp_path / "pulled" / version
        pulled.mkdir(parents=True)
        helm.run(
            ["pull", f"{history.oci}/{CHART}", "--version", version, "-d", str(pulled),
             "--plain-http"]
        )  # fmt: skip
        made = history.archives[version]
        assert (pulled / made.archive.name).read_bytes() == made.archive.read_bytes(), version

    # repair: the gaps' entries, from their assets, dry run first; nothing else changes.
    plan = io.StringIO()
    dry = run_migrate_repair(settings, dry_run=True, environ=env, out=plan)
    assert history.index() == index_before
    assert dry.result is not None
    assert dry.result.dry_run
    assert [(e.version, e.sha256) for e in dry.entries] == [
        (v, history.archives[v].sha256) for v in GAPS
    ]
    for version in GAPS:
        stamp = history.published(version).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert (
            f"  {CHART} {version}: would add digest {history.archives[version].sha256}, "
            f"created {stamp}, url {history.url(version)}"
        ) in plan.getvalue()
    run_migrate_repair(settings, environ=env, out=io.StringIO())
    after = history.index()
    added = {e["version"]: e for e in after["entries"][CHART] if e["version"] in GAPS}
    kept = [e for e in after["entries"][CHART] if e["version"] not in GAPS]
    assert sorted(kept, key=str) == sorted(index_before["entries"][CHART], key=str)
    assert set(added) == set(GAPS)
    for version, entry in added.items():
        assert entry["digest"] == history.archives[version].sha256
        assert entry["urls"] == [history.url(version)]
        assert entry["created"] == history.published(version).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert entry["name"] == CHART
        assert entry["apiVersion"] == "v2"
    again = io.StringIO()
    run_migrate_repair(settings, environ=env, out=again)
    assert "repair: no gap" in again.getvalue()

    # accept: verify stays unclean until the last decision is recorded.
    with pytest.raises(UsageError, match="never goes to OCI: record --as skip"):
        run_migrate_accept(
            settings, "0.0.0", action="asset", reason="x", environ=env, out=io.StringIO()
        )
    with pytest.raises(UsageError, match="no release asset to copy"):
        run_migrate_accept(
            settings, NO_ASSET, action="asset", reason="x", environ=env, out=io.StringIO()
        )
    with pytest.raises(UsageError, match="no anomaly to decide on"):
        run_migrate_accept(
            settings, "0.13.0", action="skip", reason="x", environ=env, out=io.StringIO()
        )
    decisions_file = history.workspace.path("chartship-decisions.yaml")
    shown = io.StringIO()
    run_migrate_accept(
        settings, MISMATCH, action="asset", reason="r", dry_run=True, environ=env, out=shown
    )
    assert not decisions_file.exists()
    assert shown.getvalue() == (
        f"accept: would record {CHART} {MISMATCH}: asset sha256:"
        f"{history.archives[MISMATCH].sha256} (digest-mismatch): r in chartship-decisions.yaml\n"
    )
    for number, (version, (action, reason)) in enumerate(DECISIONS.items()):
        table = io.StringIO()
        with pytest.raises(ChecksFailed):
            run_migrate_verify(settings, environ=env, out=table)
        undecided = [line for line in table.getvalue().splitlines() if "no decision" in line]
        assert [line.split()[1] for line in undecided] == list(DECISIONS)[number:]
        run_migrate_accept(
            settings, version, action=action, reason=reason, chart=CHART, environ=env,
            out=io.StringIO(),
        )  # fmt: skip
    recorded = yaml.safe_load(decisions_file.read_text())
    assert list(recorded["decisions"][CHART]) == ["0.0.0", NO_ASSET, NO_RELEASE, MISMATCH,
                                                  DUPLICATE]  # fmt: skip
    assert recorded["decisions"][CHART][MISMATCH]["sha256"] == history.archives[MISMATCH].sha256
    assert recorded["decisions"][CHART][NO_RELEASE] == {
        "as": "skip", "anomalies": ["asset-missing"], "reason": DECISIONS[NO_RELEASE][1],
    }  # fmt: skip
    with pytest.raises(ChecksFailed, match="in 2 version"):  # asset decisions not copied yet
        run_migrate_verify(settings, environ=env, out=io.StringIO())
    copied = run_migrate_backfill(settings, environ=env, out=io.StringIO())
    assert sorted(c.version for c in copied.copies) == sorted([MISMATCH, DUPLICATE])
    for version in (MISMATCH, DUPLICATE):
        assert history.oci_layer(version) == history.archives[version].digest

    verified = io.StringIO()
    assert run_migrate_verify(settings, environ=env, out=verified).clean
    lines = verified.getvalue().splitlines()
    valid = len(VERSIONS) + 1 - 3  # all but the three skipped
    assert lines[0] == f"verify: parity clean: {valid} version(s) in both channels; 5 decision(s)" \
        " recorded"  # fmt: skip
    assert (
        f"  decided: {CHART} {NO_RELEASE}: skip (asset-missing): never released on GitHub" in lines
    )
    assert any(line.startswith(f"  decided: {CHART} {MISMATCH}: asset sha256:") for line in lines)

    # oci-primary, then the notice: what is not in OCI and why, with no internal words.
    run_migrate_phase(settings, "oci-primary", environ=env, out=io.StringIO())
    settings = history.settings()
    with pytest.raises(ChecksFailed) as refused:
        run_migrate_phase(settings, "oci-only", environ=env, out=io.StringIO())
    message = str(refused.value)
    assert "carries no deprecation notice yet" in message
    assert "metallb depends on frr-k8s" in message
    dry_notice = io.StringIO()
    dry_dep = run_migrate_deprecate(settings, dry_run=True, environ=env, out=dry_notice)
    assert dry_dep.changed
    assert dry_dep.dry_run
    with pytest.raises(subprocess.CalledProcessError):
        history.pages_file("README.md")
    done = run_migrate_deprecate(settings, environ=env, out=io.StringIO())
    assert done.commit is not None
    readme = history.pages_file("README.md")
    assert readme.startswith(NOTICE_START)
    notice = readme.split(NOTICE_START, 1)[1].split(NOTICE_END, 1)[0]
    assert notice.strip() in dry_notice.getvalue()  # the dry run printed exactly this
    assert f"after {SUNSET}" in notice
    assert f"helm pull {history.oci}/{CHART} --version <version>" in notice
    assert f"helm install <release> {history.oci}/{CHART} --version <version>" in notice
    assert f"    repository: {history.oci}\n" in notice
    not_in_oci = notice.split("Not available from the OCI registry", 1)[1].split("\n\n", 2)[1]
    assert [line.split(":")[0] for line in not_in_oci.splitlines()] == [
        f"- {CHART} 0.0.0", f"- {CHART} {NO_ASSET}", f"- {CHART} {NO_RELEASE}",
    ]  # fmt: skip
    assert f"- {CHART} {MISMATCH}: OCI sha256:{history.archives[MISMATCH].sha256}" in notice
    for word in ("backfill", "phase", "oci-primary", "oci-only", "dual", "classic", "chartship",
                 "anomal"):  # fmt: skip
        assert word not in notice.lower(), word
    assert not run_migrate_deprecate(settings, environ=env, out=io.StringIO()).changed

    # frr-k8s moved to OCI: nothing blocks the cutover any more; the index only gained the gaps.
    history.workspace.replace(
        "charts/metallb/Chart.yaml", history.workspace.upstream, "oci://127.0.0.1:9/frr-k8s"
    )
    run_migrate_phase(settings, "oci-only", environ=env, out=io.StringIO())
    assert history.settings().channels.phase == "oci-only"
    assert history.index() == after
    inventory = take_inventory(history.settings(), environ=env, download=False)
    assert sum(r.in_index for r in inventory.rows) == len(VERSIONS) + 1  # nothing dropped

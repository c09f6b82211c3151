"""package against real helm 3 and helm 4, and signing with a real GPG key."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from chartship.bump import bump
from chartship.commands import run_package
from chartship.config import Settings
from chartship.errors import ChartError, ToolError, UsageError, VersionError
from chartship.helm import Helm
from chartship.package import package
from tests.support.builders import Workspace
from tests.support.gpg import PASSPHRASE, Keys, sign_env

WRONG_PASSPHRASE = "not the passphrase 91c2"
OLD_MTIME_NS = 1_000_000_000 * 10**9
COMMIT_EPOCH = 1_600_000_000
EXPLICIT_EPOCH = 1_700_000_000


def stamped(ws: Workspace, version: str = "0.16.2") -> Settings:
    """Settings of ``ws`` after ``bump`` stamped metallb (metallb-dashboards is 1.2.0)."""
    settings = ws.settings()
    bump(settings, version, ["metallb"])
    return settings


def dist_files(ws: Workspace) -> list[str]:
    dist = ws.path("dist")
    return sorted(p.name for p in dist.iterdir()) if dist.exists() else []


def read_sums(ws: Workspace) -> dict[str, str]:
    sums: dict[str, str] = {}
    for line in ws.path("dist/SHA256SUMS").read_text().splitlines():
        digest, sep, name = line.partition("  ")
        assert sep, line
        assert len(digest) == 64, line
        assert int(digest, 16) >= 0, line
        sums[name] = digest
    return sums


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def entries(archive: Path) -> list[tuple[str, int, int, int, int, str]]:
    """(name, mtime, mode, uid, gid, sha256 of the content) of every member, in tar order."""
    found = []
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            handle = tar.extractfile(member) if member.isfile() else None
            digest = hashlib.sha256(handle.read() if handle else b"").hexdigest()
            found.append(
                (member.name, int(member.mtime), member.mode, member.uid, member.gid, digest)
            )
    return found


def member_text(tar: tarfile.TarFile, name: str) -> str:
    handle = tar.extractfile(name)
    assert handle is not None, name
    return handle.read().decode()


def show_chart(helm: Helm, archive: Path) -> str:
    return helm.run(["show", "chart", str(archive)]).stdout


# --------------------------------------------------------------------------- packaging


def test_package_writes_archives_and_checksums(workspace: Workspace, helm: Helm) -> None:
    settings = stamped(workspace)

    results = package(settings)

    assert [(r.chart, r.version, r.outcome) for r in results] == [
        ("metallb", "0.16.2", "packaged"),
        ("metallb-dashboards", "1.2.0", "packaged"),
    ]
    assert dist_files(workspace) == [
        "SHA256SUMS",
        "metallb-0.16.2.tgz",
        "metallb-dashboards-1.2.0.tgz",
    ]
    dist = workspace.path("dist")
    sums = read_sums(workspace)
    assert sums == {
        "metallb-0.16.2.tgz": sha256(dist / "metallb-0.16.2.tgz"),
        "metallb-dashboards-1.2.0.tgz": sha256(dist / "metallb-dashboards-1.2.0.tgz"),
    }
    assert {r.archive.name: r.sha256 for r in results} == sums
    assert all(r.provenance is None for r in results)

    # helm stores every dependency expanded under charts/, the downloaded
    # frr-k8s-0.0.16.tgz as charts/frr-k8s/ like the local crds subchart.
    with tarfile.open(dist / "metallb-0.16.2.tgz", "r:gz") as tar:
        names = set(tar.getnames())
        frr = yaml.safe_load(member_text(tar, "metallb/charts/frr-k8s/Chart.yaml"))
        crds = yaml.safe_load(member_text(tar, "metallb/charts/crds/Chart.yaml"))
    assert "metallb/Chart.yaml" in names
    assert "metallb/charts/frr-k8s/templates/daemonset.yaml" in names
    assert "metallb/charts/crds/templates/crds.yaml" in names
    assert (frr["name"], frr["version"]) == ("frr-k8s", "0.0.16")
    assert (crds["name"], crds["version"], crds["appVersion"]) == ("crds", "0.16.2", "v0.16.2")

    metallb = show_chart(helm, dist / "metallb-0.16.2.tgz")
    assert "\nversion: 0.16.2\n" in metallb
    assert "\nappVersion: v0.16.2\n" in metallb
    dashboards = show_chart(helm, dist / "metallb-dashboards-1.2.0.tgz")
    assert "\nversion: 1.2.0\n" in dashboards


def test_placeholder_is_refused_unless_dev(workspace: Workspace) -> None:
    settings = workspace.settings()

    with pytest.raises(VersionError) as exc:
        package(settings)
    assert "placeholder 0.0.0" in str(exc.value)
    assert exc.value.path == workspace.path("charts/metallb/Chart.yaml")
    assert str(exc.value).startswith(str(workspace.path("charts/metallb/Chart.yaml")))
    assert dist_files(workspace) == []

    results = package(settings, dev=True)
    assert [(r.chart, r.version, r.outcome) for r in results] == [
        ("metallb", "0.0.0", "packaged"),
        ("metallb-dashboards", "1.2.0", "packaged"),
    ]
    assert "metallb-0.0.0.tgz" in dist_files(workspace)


def test_every_chart_is_checked_before_any_is_packaged(workspace: Workspace) -> None:
    settings = stamped(workspace)
    # metallb (valid) sorts before metallb-dashboards (placeholder).
    workspace.replace("charts/metallb-dashboards/Chart.yaml", "version: 1.2.0", "version: 0.0.0")

    with pytest.raises(VersionError) as exc:
        package(settings)

    assert exc.value.path == workspace.path("charts/metallb-dashboards/Chart.yaml")
    assert "Chart.yaml" in str(exc.value)
    assert dist_files(workspace) == []


def test_rerun_keeps_archives_and_force_repackages(workspace: Workspace) -> None:
    settings = stamped(workspace)
    first = package(settings)
    archives = [r.archive for r in first]
    for archive in archives:
        os.utime(archive, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    content = {a: a.read_bytes() for a in archives}

    again = package(settings)

    assert [r.outcome for r in again] == ["kept", "kept"]
    assert [r.sha256 for r in again] == [r.sha256 for r in first]
    for archive in archives:
        assert archive.read_bytes() == content[archive]
        assert archive.stat().st_mtime_ns == OLD_MTIME_NS

    forced = package(settings, force=True)

    assert [r.outcome for r in forced] == ["packaged", "packaged"]
    for archive in archives:
        assert archive.stat().st_mtime_ns != OLD_MTIME_NS
    assert read_sums(workspace) == {a.name: sha256(a) for a in archives}


def test_tampered_archive_is_detected(workspace: Workspace) -> None:
    settings = stamped(workspace)
    package(settings)
    archive = workspace.path("dist/metallb-0.16.2.tgz")
    with archive.open("ab") as handle:
        handle.write(b"\0")
    tampered = archive.read_bytes()

    with pytest.raises(ChartError) as exc:
        package(settings)

    assert "SHA256SUMS" in str(exc.value)
    assert exc.value.path == archive
    assert archive.read_bytes() == tampered  # evidence is left alone

    [repaired] = package(settings, ["metallb"], force=True)
    assert repaired.outcome == "packaged"
    assert read_sums(workspace)["metallb-0.16.2.tgz"] == sha256(archive) == repaired.sha256


def test_archive_reproducibility_by_helm_major(
    workspace: Workspace, helm: Helm, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = stamped(workspace)
    bump(settings, "1.3.0", ["metallb-dashboards"])
    monkeypatch.setenv("GIT_COMMITTER_DATE", f"@{COMMIT_EPOCH} +0000")
    workspace.commit("stamp both charts")  # the last commit of each chart directory
    dist = workspace.path("dist")
    metallb = dist / "metallb-0.16.2.tgz"
    dashboards = dist / "metallb-dashboards-1.3.0.tgz"

    def build(environ: dict[str, str]) -> tuple[dict[Path, bytes], float, float]:
        started = time.time()
        made = package(settings, force=True, environ=environ)
        finished = time.time()
        assert [(r.archive, r.outcome) for r in made] == [
            (metallb, "packaged"),
            (dashboards, "packaged"),
        ]
        assert read_sums(workspace) == {r.archive.name: sha256(r.archive) for r in made}
        return {r.archive: r.archive.read_bytes() for r in made}, started, finished

    for environ, epoch in (
        ({"SOURCE_DATE_EPOCH": str(EXPLICIT_EPOCH)}, EXPLICIT_EPOCH),
        ({}, COMMIT_EPOCH),  # chartship passes the chart's last commit time
    ):
        first, started, _ = build(environ)
        first_entries = {a: entries(a) for a in first}
        second, _, finished = build(environ)
        second_entries = {a: entries(a) for a in second}
        assert "\nversion: 0.16.2\n" in show_chart(helm, metallb)
        assert "\nversion: 1.3.0\n" in show_chart(helm, dashboards)
        mtimes = {a: {e[1] for e in first_entries[a] + second_entries[a]} for a in first}
        if helm.major >= 4:
            # Every timestamp is the epoch, so a chart without subcharts is
            # byte-for-byte identical.
            assert mtimes == {metallb: {epoch}, dashboards: {epoch}}
            assert first[dashboards] == second[dashboards]
            # With two subcharts (crds, frr-k8s) helm 4.3 writes them in Go map
            # iteration order, so only the member order may differ: same names,
            # modes, owners, times and contents.
            assert sorted(first_entries[metallb]) == sorted(second_entries[metallb])
        else:
            # Helm 3 stamps the packaging time into the tar headers and ignores
            # SOURCE_DATE_EPOCH: not reproducible, which is why chartship keeps
            # archives instead of rebuilding them. Each package is still valid.
            for archive in first:
                assert all(int(started) - 1 <= m <= finished + 1 for m in mtimes[archive])
                assert epoch not in mtimes[archive]


def test_missing_dependency_repository_names_the_chart(workspace: Workspace) -> None:
    settings = stamped(workspace)
    workspace.replace("charts/metallb/Chart.yaml", workspace.upstream, "http://127.0.0.1:9/nowhere")

    with pytest.raises(ToolError) as exc:
        package(settings)

    assert exc.value.message == "cannot build the dependencies of metallb"
    assert exc.value.path == workspace.path("charts/metallb/Chart.yaml")
    assert "127.0.0.1:9/nowhere" in str(exc.value)
    assert not any(name.startswith("metallb-0.16.2") for name in dist_files(workspace))
    assert [n for n in dist_files(workspace) if n.endswith(".tgz")] == []


def test_run_package_prints_one_line_per_chart(workspace: Workspace) -> None:
    settings = stamped(workspace)
    out = io.StringIO()

    results = run_package(settings, out=out)

    dist = workspace.path("dist")
    assert out.getvalue().splitlines() == [
        f"metallb 0.16.2: packaged dist/metallb-0.16.2.tgz "
        f"sha256:{sha256(dist / 'metallb-0.16.2.tgz')}",
        f"metallb-dashboards 1.2.0: packaged dist/metallb-dashboards-1.2.0.tgz "
        f"sha256:{sha256(dist / 'metallb-dashboards-1.2.0.tgz')}",
    ]
    assert len(results) == 2


# --------------------------------------------------------------------------- signing


def verify(helm: Helm, archive: Path, pubring: Path) -> str:
    return helm.verify(archive, pubring).output


def test_sign_writes_verifiable_provenance(workspace: Workspace, helm: Helm, keys: Keys) -> None:
    settings = stamped(workspace)

    [made] = package(settings, ["metallb"], sign=True, environ=sign_env(keys.plain))

    archive = workspace.path("dist/metallb-0.16.2.tgz")
    prov = workspace.path("dist/metallb-0.16.2.tgz.prov")
    assert (made.archive, made.provenance, made.outcome) == (archive, prov, "packaged")
    assert read_sums(workspace) == {archive.name: sha256(archive), prov.name: sha256(prov)}
    assert "Chart Signer <signer@chartship.invalid>" in verify(helm, archive, keys.plain.pubring)
    # Control: helm verify really checks the signer.
    with pytest.raises(ToolError):
        verify(helm, archive, keys.protected.pubring)

    [again] = package(settings, ["metallb"], sign=True, environ=sign_env(keys.plain))
    assert (again.outcome, again.provenance) == ("kept", prov)

    # A provenance file replaced after packaging is refused like a replaced archive.
    prov.write_bytes(prov.read_bytes() + b"\n")
    with pytest.raises(
        ChartError, match=r"metallb-0\.16\.2\.tgz\.prov does not match its SHA256SUMS"
    ):
        package(settings, ["metallb"], sign=True, environ=sign_env(keys.plain))


def test_sign_with_passphrase_never_shows_it(
    workspace: Workspace,
    helm: Helm,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="chartship")
    settings = stamped(workspace)
    key = keys.protected

    with pytest.raises(ToolError) as exc:
        package(settings, ["metallb"], sign=True, environ=sign_env(key, WRONG_PASSPHRASE))
    failure = "\n".join([str(exc.value), repr(exc.value), *exc.value.argv, exc.value.output])
    assert "metallb-0.16.2.tgz" not in dist_files(workspace)

    for name, value in sign_env(key, PASSPHRASE).items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    [made] = run_package(settings, ["metallb"], sign=True, out=out)

    assert made.provenance == workspace.path("dist/metallb-0.16.2.tgz.prov")
    assert made.provenance.is_file()
    assert read_sums(workspace)[made.provenance.name] == sha256(made.provenance)
    assert "Locked Signer <locked@chartship.invalid>" in verify(helm, made.archive, key.pubring)
    assert out.getvalue().rstrip().endswith("(+ metallb-0.16.2.tgz.prov)")

    captured = capfd.readouterr()
    seen = "\n".join([failure, out.getvalue(), captured.out, captured.err, caplog.text])
    assert "run: " in caplog.text  # the debug trace of the helm commands was captured
    for secret in (PASSPHRASE, WRONG_PASSPHRASE):
        assert secret not in seen


def test_sign_without_environment_is_a_usage_error(workspace: Workspace) -> None:
    with pytest.raises(UsageError) as exc:
        package(workspace.settings(), dev=True, sign=True, environ={})

    assert "CHARTSHIP_SIGN_KEY" in str(exc.value)
    assert "CHARTSHIP_SIGN_KEYRING" in str(exc.value)
    assert dist_files(workspace) == []

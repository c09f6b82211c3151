"""package against real helm 3 and helm 4, and signing with a real GPG key."""

from __future__ import annotations

import gzip
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
from chartship.errors import ChartError, DependencyError, ToolError, UsageError, VersionError
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
        "SOURCES.json",
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
    workspace.path("charts/metallb/Chart.lock").unlink()
    # bump fetched the archive into charts/, as helm dependency update does: not vendored now.
    for archive in workspace.chart_dir().glob("charts/*.tgz"):
        archive.unlink()

    with pytest.raises(DependencyError) as exc:
        package(settings)

    assert exc.value.message.startswith(
        "metallb: dependency frr-k8s 0.0.16 from http://127.0.0.1:9/nowhere is not vendored"
    )
    assert exc.value.path == workspace.path("charts/metallb/Chart.yaml")
    assert "run `helm dependency update charts/metallb`" in str(exc.value)
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


# --------------------------------------------------------------------------- atomic dist/


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``directory``, hidden ones included: (content, mtime in ns)."""
    if not directory.exists():
        return {}
    return {
        p.relative_to(directory).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


UNREACHABLE_DEPENDENCY = (
    "dependencies:\n  - name: nothing\n    version: 1.0.0\n"
    "    repository: http://127.0.0.1:9/nowhere\n"
)


def test_failed_package_leaves_dist_exactly_as_it_was(workspace: Workspace) -> None:
    settings = stamped(workspace)
    package(settings)
    dist = workspace.path("dist")
    before = snapshot(dist)
    listing = sorted(p.name for p in dist.iterdir())
    # metallb packages (again: its chart changed), then metallb-dashboards cannot.
    workspace.write("charts/metallb/templates/extra.yaml", "# a new template\n")
    chart_yaml = workspace.path("charts/metallb-dashboards/Chart.yaml")
    chart_yaml.write_text(chart_yaml.read_text() + UNREACHABLE_DEPENDENCY)

    with pytest.raises(
        ToolError, match=r"metallb-dashboards: dependency nothing 1\.0\.0 .* is not vendored"
    ):
        package(settings)

    assert snapshot(dist) == before
    assert sorted(p.name for p in dist.iterdir()) == listing  # no scratch directory left


def test_failed_first_package_leaves_no_dist(workspace: Workspace) -> None:
    # The case: a failed `package --dev` left a 0-byte dist/SHA256SUMS.
    chart_yaml = workspace.path("charts/metallb-dashboards/Chart.yaml")
    chart_yaml.write_text(chart_yaml.read_text() + UNREACHABLE_DEPENDENCY)
    settings = workspace.settings(dist_dir="out/dist")

    with pytest.raises(ToolError):
        package(settings, dev=True)

    assert not workspace.path("out").exists()


def test_sums_and_sources_are_replaced_never_rewritten_in_place(workspace: Workspace) -> None:
    settings = stamped(workspace)
    package(settings)
    files = [workspace.path("dist/SHA256SUMS"), workspace.path("dist/SOURCES.json")]
    old = [path.read_bytes() for path in files]
    handles = [path.open("rb") for path in files]
    try:
        workspace.write("charts/metallb-dashboards/templates/x.yaml", "# new\n")
        package(settings)
        # A reader that opened the files before still reads the old files whole:
        # the new ones were written beside them and renamed over them.
        assert [h.read() for h in handles] == old
    finally:
        for handle in handles:
            handle.close()
    assert [path.read_bytes() for path in files] != old
    assert not [p.name for p in workspace.path("dist").iterdir() if p.name.startswith(".")]


# --------------------------------------------------------------------------- stale archives


def test_changed_chart_is_repackaged_and_said_loudly(workspace: Workspace) -> None:
    settings = stamped(workspace)
    first = {r.chart: r for r in package(settings)}
    dist = workspace.path("dist")
    old = (dist / "metallb-dashboards-1.2.0.tgz").read_bytes()
    template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
    workspace.write("charts/metallb-dashboards/templates/x.yaml", template)
    out = io.StringIO()

    again = {r.chart: r for r in run_package(settings, out=out)}

    made = again["metallb-dashboards"]
    assert (made.outcome, made.changed) == ("packaged", ("templates/x.yaml",))
    assert made.archive.read_bytes() != old
    with tarfile.open(made.archive, "r:gz") as tar:
        assert member_text(tar, "metallb-dashboards/templates/x.yaml") == template
    assert again["metallb"].outcome == "kept"
    assert again["metallb"].sha256 == first["metallb"].sha256
    lines = out.getvalue().splitlines()
    assert (
        "metallb-dashboards 1.2.0: chart changed since dist/metallb-dashboards-1.2.0.tgz was "
        f"packaged (templates/x.yaml); repackaged sha256:{made.sha256}"
    ) in lines
    assert f"metallb 0.16.2: kept dist/metallb-0.16.2.tgz sha256:{first['metallb'].sha256}" in lines
    assert read_sums(workspace)["metallb-dashboards-1.2.0.tgz"] == sha256(made.archive)
    # Packaged again, it is current: kept from now on.
    assert [r.outcome for r in package(settings)] == ["kept", "kept"]


def test_many_changed_files_are_named_first_few_then_how_many(workspace: Workspace) -> None:
    settings = stamped(workspace)
    package(settings, ["metallb-dashboards"])
    for name in ("a", "b", "c", "d", "e"):
        workspace.write(f"charts/metallb-dashboards/templates/{name}.yaml", f"# {name}\n")
    workspace.path("charts/metallb-dashboards/templates/NOTES.txt").unlink()

    [made] = package(settings, ["metallb-dashboards"])

    assert made.notice == (
        "chart changed since dist/metallb-dashboards-1.2.0.tgz was packaged "
        "(templates/NOTES.txt, templates/a.yaml, templates/b.yaml and 3 more); repackaged"
    )


def test_files_helm_ignores_never_make_an_archive_stale(workspace: Workspace) -> None:
    settings = stamped(workspace)
    package(settings, ["metallb-dashboards"])
    # *.orig and .vscode/ are in the chart's .helmignore; helm packages neither.
    workspace.write("charts/metallb-dashboards/values.yaml.orig", "a backup\n")
    workspace.write("charts/metallb-dashboards/.vscode/settings.json", "{}\n")
    workspace.write("charts/metallb-dashboards/templates/.swp-by-an-editor", "x\n")

    [kept] = package(settings, ["metallb-dashboards"])
    assert (kept.outcome, kept.notice) == ("kept", None)

    # The .helmignore itself goes into the archive, so changing it is a change.
    workspace.replace("charts/metallb-dashboards/.helmignore", "*.orig\n", "")
    [made] = package(settings, ["metallb-dashboards"])
    assert made.changed == (".helmignore", "values.yaml.orig")


def test_archive_without_a_record_is_repackaged_loudly(workspace: Workspace) -> None:
    settings = stamped(workspace)
    package(settings, ["metallb"])
    workspace.path("dist/SOURCES.json").unlink()

    [made] = package(settings, ["metallb"])

    assert made.outcome == "packaged"
    assert made.notice == (
        "dist/SOURCES.json does not say what dist/metallb-0.16.2.tgz was packaged from; repackaged"
    )
    assert package(settings, ["metallb"])[0].outcome == "kept"


def test_malformed_record_is_named(workspace: Workspace) -> None:
    settings = stamped(workspace)
    package(settings, ["metallb"])
    record = workspace.path("dist/SOURCES.json")
    record.write_text("{not json")
    with pytest.raises(ChartError) as exc:
        package(settings, ["metallb"])
    assert exc.value.path == record
    assert "remove the file to repackage every chart" in str(exc.value)


def test_fetched_dependency_archive_counts_only_when_present(workspace: Workspace) -> None:
    settings = stamped(workspace)
    package(settings, ["metallb"])
    [fetched] = workspace.path("charts/metallb/charts").glob("frr-k8s-*.tgz")
    data = fetched.read_bytes()
    # A fresh clone has not fetched it yet: Chart.lock pins it, so nothing changed.
    fetched.unlink()
    [kept] = package(settings, ["metallb"])
    assert (kept.outcome, kept.notice) == ("kept", None)
    # Other bytes in its place are another chart.
    fetched.write_bytes(gzip.compress(gzip.decompress(data), mtime=1))
    [made] = package(settings, ["metallb"])
    assert made.changed == ("charts/frr-k8s-0.0.16.tgz",)


def test_file_dependency_is_fingerprinted_by_its_sources(workspace: Workspace, helm: Helm) -> None:
    workspace.write(
        "charts/base/Chart.yaml", "apiVersion: v2\nname: base\nversion: 1.0.0\nappVersion: '1'\n"
    )
    workspace.write(
        "charts/base/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: base\n",
    )
    chart_yaml = workspace.path("charts/metallb-dashboards/Chart.yaml")
    chart_yaml.write_text(
        chart_yaml.read_text()
        + "dependencies:\n  - name: base\n    version: 1.0.0\n    repository: file://../base\n"
    )
    helm.dependency_update(workspace.chart_dir("metallb-dashboards"))
    workspace.commit("metallb-dashboards depends on its sibling base")
    settings = stamped(workspace)
    package(settings, ["base", "metallb-dashboards"])

    # Helm 3 builds charts/base-1.0.0.tgz with other bytes every time; the sibling's
    # files, not that archive, are what the dependent was built from.
    assert [r.outcome for r in package(settings, ["base", "metallb-dashboards"])] == [
        "kept",
        "kept",
    ]
    workspace.replace("charts/base/templates/cm.yaml", "name: base", "name: base-changed")
    made = {r.chart: r for r in package(settings, ["base", "metallb-dashboards"])}
    assert made["base"].changed == ("templates/cm.yaml",)
    assert made["metallb-dashboards"].changed == ("file://../base/templates/cm.yaml",)
    with tarfile.open(made["metallb-dashboards"].archive, "r:gz") as tar:
        inner = member_text(tar, "metallb-dashboards/charts/base/templates/cm.yaml")
    assert "name: base-changed" in inner

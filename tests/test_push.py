"""The OCI channel against a real registry on 127.0.0.1, with helm 3 and helm 4."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chartship.bump import bump
from chartship.channels.oci.artifacthub import (
    ARTIFACTHUB_CONFIG,
    ARTIFACTHUB_LAYER,
    ARTIFACTHUB_TAG,
)
from chartship.channels.oci.channel import push
from chartship.channels.oci.registry import HELM_CONFIG, HELM_CONTENT, HELM_PROVENANCE
from chartship.commands import run_push
from chartship.config import Settings
from chartship.errors import ChartError, PublishIncomplete, RegistryError, VersionError
from chartship.helm import Helm
from chartship.package import package
from chartship.sandbox.registry import RegistryServer, get_manifest, list_tags
from tests.support.builders import Workspace, write_channels
from tests.support.gpg import Keys, sign_env

DASH = "metallb-dashboards"


def configure(ws: Workspace, server: RegistryServer, **extra: object) -> Settings:
    oci: dict[str, object] = {
        "repository": server.oci_base("charts"),
        "retry_seconds": 2,
        "tag_window": 2,
    }
    if server.scheme == "http":
        oci["plain_http"] = True
    elif server.ca_file is not None:
        oci["ca_file"] = str(server.ca_file)
    write_channels(ws.path("chartship.yaml"), phase="oci-only", oci={**oci, **extra})
    return ws.settings()


def creds(server: RegistryServer) -> dict[str, str]:
    return {"CHARTSHIP_OCI_USERNAME": server.username, "CHARTSHIP_OCI_PASSWORD": server.password}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def helm_for(server: RegistryServer, helm: Helm) -> list[str]:
    if server.scheme == "http":
        return ["--plain-http"]
    assert server.ca_file is not None
    return ["--ca-file", str(server.ca_file)]


def pull(helm: Helm, server: RegistryServer, chart: str, version: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    if server.auth is not None:
        helm.run(
            [
                "registry",
                "login",
                server.host,
                "--username",
                server.username,
                "--password-stdin",
                *helm_for(server, helm),
            ],
            stdin=server.password,
            secrets=(server.password,),
        )
    helm.run(
        [
            "pull",
            f"{server.oci_base('charts')}/{chart}",
            "--version",
            version,
            "--destination",
            str(dest),
            *helm_for(server, helm),
        ]
    )
    (archive,) = dest.glob(f"{chart}-*.tgz")
    return archive


def packaged(
    ws: Workspace, settings: Settings, chart: str = DASH, version: str | None = None
) -> Path:
    if version is not None:
        bump(settings, version, [chart])
    (made,) = package(settings, [chart])
    return made.archive


def test_push_pull_byte_identical_and_rerun_is_a_noop(
    workspace: Workspace, registry: RegistryServer, helm: Helm, tmp_path: Path
) -> None:
    settings = configure(workspace, registry)
    bump(settings, "0.16.2", ["metallb"])
    local = package(settings)
    out = io.StringIO()
    report = run_push(settings, out=out)
    assert [o.status for o in report.outcomes] == ["pushed", "pushed"]
    for outcome in report.outcomes:
        assert outcome.manifest_digest is not None
        assert outcome.manifest_digest.startswith("sha256:")
    assert "OCI: 2 pushed" in out.getvalue()

    for made in local:
        pulled = pull(helm, registry, made.chart, made.version, tmp_path / "pull" / made.chart)
        assert pulled.read_bytes() == made.archive.read_bytes()
        shown = helm.run(["show", "chart", str(pulled)]).stdout
        assert f"version: {made.version}" in shown
        _status, manifest, _digest = get_manifest(registry, f"charts/{made.chart}", made.version)
        assert manifest is not None
        assert manifest["config"]["mediaType"] == HELM_CONFIG
        assert [layer["digest"] for layer in manifest["layers"]] == [f"sha256:{made.sha256}"]

    again = io.StringIO()
    rerun = run_push(settings, out=again)
    assert [o.status for o in rerun.outcomes] == ["skipped", "skipped"]
    assert [o.manifest_digest for o in rerun.outcomes] == [
        o.manifest_digest for o in report.outcomes
    ]
    assert "OCI: 2 skipped; nothing changed" in again.getvalue()


def test_different_archive_is_refused_and_force_replaces(
    workspace: Workspace, registry: RegistryServer, helm: Helm, tmp_path: Path
) -> None:
    settings = configure(workspace, registry)
    first = packaged(workspace, settings).read_bytes()
    push(settings)
    # Same version, different bytes: a changed chart packaged without a bump.
    workspace.replace(f"charts/{DASH}/values.yaml", "\n", "\n# changed\n")
    second = package(settings, [DASH], force=True)[0].archive.read_bytes()
    assert second != first

    refused = push(settings)
    (outcome,) = refused.outcomes
    assert outcome.status == "refused"
    assert f"sha256:{hashlib.sha256(first).hexdigest()}" in outcome.message
    assert "--force" in outcome.message
    with pytest.raises(PublishIncomplete) as incomplete:
        run_push(settings, out=io.StringIO())
    assert incomplete.value.exit_code == 6
    assert pull(helm, registry, DASH, "1.2.0", tmp_path / "old").read_bytes() == first

    forced = push(settings, force=True)
    assert [o.status for o in forced.outcomes] == ["replaced"]
    assert "REPLACED" in forced.outcomes[0].message
    assert pull(helm, registry, DASH, "1.2.0", tmp_path / "new").read_bytes() == second


def test_dry_run_changes_nothing(workspace: Workspace, registry: RegistryServer) -> None:
    settings = configure(workspace, registry)
    packaged(workspace, settings)
    out = io.StringIO()
    report = run_push(settings, dry_run=True, out=out)
    assert [o.status for o in report.outcomes] == ["planned"]
    assert f"would push {registry.host}/charts/{DASH}:1.2.0" in out.getvalue()
    assert list_tags(registry, f"charts/{DASH}") is None


def test_build_metadata_and_prerelease_round_trip(
    workspace: Workspace, registry: RegistryServer, helm: Helm, tmp_path: Path
) -> None:
    settings = configure(workspace, registry)
    archives = {
        v: packaged(workspace, settings, version=v) for v in ("1.3.0-rc.1", "1.3.0+build.4")
    }
    report = push(settings)
    assert sorted(o.status for o in report.outcomes) == ["pushed", "pushed"]
    assert sorted(list_tags(registry, f"charts/{DASH}") or []) == ["1.3.0-rc.1", "1.3.0_build.4"]
    assert [o.status for o in push(settings).outcomes] == ["skipped", "skipped"]
    for version, archive in archives.items():
        pulled = pull(helm, registry, DASH, version, tmp_path / version)
        assert pulled.read_bytes() == archive.read_bytes()


def test_many_versions_pushed_concurrently_one_refusal_does_not_stop_the_rest(
    workspace: Workspace, registry: RegistryServer
) -> None:
    settings = configure(workspace, registry, workers=3)
    versions = ["1.3.0", "1.3.1", "1.3.2", "1.3.3", "1.4.0"]
    archives = {v: packaged(workspace, settings, version=v) for v in versions}
    # Someone already published 1.3.1 with other bytes.
    elsewhere = workspace.root.parent / "elsewhere"
    elsewhere.mkdir()
    other = Helm(str(workspace.helm_bin))
    workspace.replace(f"charts/{DASH}/values.yaml", "\n", "\n# fork\n")
    fork_dir = workspace.chart_dir(DASH)
    workspace.replace(f"charts/{DASH}/Chart.yaml", "version: 1.4.0", "version: 1.3.1")
    fork = other.package(fork_dir, elsewhere, f"{DASH}-1.3.1.tgz")
    other.run(["push", str(fork), registry.oci_base("charts"), "--plain-http"])

    out = io.StringIO()
    with pytest.raises(PublishIncomplete):
        run_push(settings, out=out)
    statuses = {o.item.artifact.version: o.status for o in push(settings).outcomes}
    assert statuses == {
        "1.3.0": "skipped",
        "1.3.1": "refused",
        "1.3.2": "skipped",
        "1.3.3": "skipped",
        "1.4.0": "skipped",
    }
    text = out.getvalue()
    assert "OCI: 4 pushed, 1 refused" in text
    assert sorted(list_tags(registry, f"charts/{DASH}") or []) == sorted(versions)
    _s, manifest, _d = get_manifest(registry, f"charts/{DASH}", "1.3.1")
    assert manifest is not None
    assert manifest["layers"][0]["digest"] == f"sha256:{sha256(fork)}"
    assert manifest["layers"][0]["digest"] != f"sha256:{sha256(archives['1.3.1'])}"


def test_provenance_travels_as_its_layer(
    workspace: Workspace, registry: RegistryServer, keys: Keys
) -> None:
    settings = configure(workspace, registry)
    bump(settings, "1.3.0", [DASH])
    (made,) = package(settings, [DASH], sign=True, environ=sign_env(keys.plain))
    assert made.provenance is not None
    (outcome,) = push(settings).outcomes
    assert outcome.status == "pushed"
    _s, manifest, _d = get_manifest(registry, f"charts/{DASH}", "1.3.0")
    assert manifest is not None
    layers = {layer["mediaType"]: layer["digest"] for layer in manifest["layers"]}
    assert layers == {
        HELM_CONTENT: f"sha256:{made.sha256}",
        HELM_PROVENANCE: f"sha256:{sha256(made.provenance)}",
    }
    assert [o.status for o in push(settings).outcomes] == ["skipped"]


def test_artifacthub_metadata_goes_to_its_tag(
    workspace: Workspace, registry: RegistryServer
) -> None:
    settings = configure(workspace, registry)
    bump(settings, "0.16.2", ["metallb"])
    package(settings, ["metallb"])
    report = push(settings)
    (meta,) = report.metadata
    assert (meta.chart, meta.status) == ("metallb", "pushed")
    _s, manifest, _d = get_manifest(registry, "charts/metallb", ARTIFACTHUB_TAG)
    assert manifest is not None
    assert manifest["config"]["mediaType"] == ARTIFACTHUB_CONFIG
    source = workspace.chart_dir() / "artifacthub-repo.yml"
    assert [(la["mediaType"], la["digest"]) for la in manifest["layers"]] == [
        (ARTIFACTHUB_LAYER, f"sha256:{sha256(source)}")
    ]
    assert [m.status for m in push(settings).metadata] == ["skipped"]
    source.write_text(source.read_text() + "# updated\n")
    assert [m.status for m in push(settings).metadata] == ["pushed"]


def test_tls_with_basic_auth(
    workspace: Workspace,
    tls_registry: RegistryServer,
    helm: Helm,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="chartship")
    settings = configure(workspace, tls_registry)
    archive = packaged(workspace, settings)
    report = run_push(settings, environ=creds(tls_registry))
    assert [o.status for o in report.outcomes] == ["pushed"]
    # The login lived in a throwaway registry config: the user's own got nothing.
    assert not Path(os.environ["HELM_REGISTRY_CONFIG"]).exists()
    captured = capsys.readouterr()
    everything = captured.out + captured.err + caplog.text
    assert tls_registry.password not in everything
    pulled = pull(helm, tls_registry, DASH, "1.2.0", tmp_path / "pulled")
    assert pulled.read_bytes() == archive.read_bytes()


def test_wrong_password_is_a_clear_error_without_the_password(
    workspace: Workspace,
    tls_registry: RegistryServer,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="chartship")
    settings = configure(workspace, tls_registry)
    packaged(workspace, settings)
    wrong = {**creds(tls_registry), "CHARTSHIP_OCI_PASSWORD": "sentinel-Wr0ng-passw0rd"}
    with pytest.raises(RegistryError) as failed:
        run_push(settings, environ=wrong)
    message = str(failed.value)
    assert f"registry {tls_registry.host}" in message
    assert "authentication failed" in message
    captured = capsys.readouterr()
    for text in (message, captured.out, captured.err, caplog.text):
        assert "sentinel-Wr0ng-passw0rd" not in text
        assert tls_registry.password not in text
    assert list_tags(tls_registry, f"charts/{DASH}", tls_registry.auth) is None


def test_missing_credentials_are_named(workspace: Workspace, tls_registry: RegistryServer) -> None:
    settings = configure(workspace, tls_registry)
    packaged(workspace, settings)
    with pytest.raises(RegistryError, match="requires credentials"):
        push(settings, environ={})
    with pytest.raises(Exception, match="CHARTSHIP_OCI_PASSWORD is not set"):
        push(settings, environ={"CHARTSHIP_OCI_USERNAME": "chartship"})


def test_unknown_ca_is_a_clear_error(workspace: Workspace, tls_registry: RegistryServer) -> None:
    settings = configure(workspace, tls_registry)
    packaged(workspace, settings)
    unconfigured = workspace.settings(**{"channels.oci.ca_file": None})
    with pytest.raises(RegistryError) as failed:
        push(unconfigured, environ=creds(tls_registry))
    assert f"registry {tls_registry.host}" in str(failed.value)
    assert "TLS certificate not trusted" in str(failed.value)
    assert "ca_file" in str(failed.value)
    assert tls_registry.password not in str(failed.value)


def test_unreachable_registry_fails_fast_naming_it(
    workspace: Workspace, registry: RegistryServer
) -> None:
    settings = configure(workspace, registry)
    packaged(workspace, settings)
    registry.stop()
    started = time.monotonic()
    with pytest.raises(RegistryError) as failed:
        push(settings)
    assert time.monotonic() - started < 10
    assert str(failed.value).startswith(
        f"registry {registry.host}: unreachable (connection refused) after "
    )


def test_registry_killed_mid_run_and_restarted(
    workspace: Workspace, registry: RegistryServer
) -> None:
    settings = configure(workspace, registry)
    packaged(workspace, settings)
    registry.kill()
    with pytest.raises(RegistryError):
        push(settings)
    registry.restart()
    assert [o.status for o in push(settings).outcomes] == ["pushed"]


def test_tampered_dist_is_refused_before_anything_is_pushed(
    workspace: Workspace, registry: RegistryServer
) -> None:
    settings = configure(workspace, registry)
    archive = packaged(workspace, settings)
    archive.write_bytes(archive.read_bytes() + b"x")
    with pytest.raises(ChartError, match="changed after packaging"):
        push(settings)
    assert list_tags(registry, f"charts/{DASH}") is None


def test_development_build_is_never_pushed(workspace: Workspace, registry: RegistryServer) -> None:
    settings = configure(workspace, registry)
    package(settings, ["metallb"], dev=True)
    with pytest.raises(VersionError, match="never published"):
        push(settings)
    assert list_tags(registry, "charts/metallb") is None


def test_cli_push_exit_statuses(workspace: Workspace, tls_registry: RegistryServer) -> None:
    settings = configure(workspace, tls_registry)
    packaged(workspace, settings)
    base = [sys.executable, "-m", "chartship", "push", "--helm", str(workspace.helm_bin)]
    env_ok = {**creds(tls_registry)}

    def run(extra_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTSHIP_OCI")}
        return subprocess.run(
            [*base, *args],
            cwd=workspace.root,
            env={**env, **extra_env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    ok = run(env_ok)
    assert ok.returncode == 0, ok.stderr
    assert "1 pushed" in ok.stdout
    wrong = run({**env_ok, "CHARTSHIP_OCI_PASSWORD": "sentinel-Wr0ng-passw0rd"})
    assert wrong.returncode == 5
    assert "sentinel-Wr0ng-passw0rd" not in wrong.stdout + wrong.stderr
    assert tls_registry.host in wrong.stderr

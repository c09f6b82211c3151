"""The main job on a machine with no remote service: a full release of charts/.

``python tests/support/sandbox.py`` (what ``nox -s demo`` runs) starts, all on
127.0.0.1: the classic repository charts/metallb takes frr-k8s from (port
8879, as its Chart.yaml says), a docker-registry, the GitHub API stand-in
whose repository's git data is a bare origin, and a pages site serving that
origin's gh-pages branch. It copies charts/ and chartship.yaml into a git
clone of that origin with the channels pointed at the services (phase dual),
stamps metallb with a version, releases every chart, proves consumption with
helm (pull from OCI; repo add and pull from the classic channel), runs the
release again to show it changes nothing, prints where everything was and
stops the services. A maintainer rehearses a release the same way.

:class:`Sandbox` is the same setup for the end-to-end tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from chartship.commands import run_bump, run_release  # noqa: E402
from chartship.config import Settings, load_settings  # noqa: E402
from chartship.errors import ChartshipError  # noqa: E402
from chartship.exits import configure_logging, error_message, exit_status  # noqa: E402
from chartship.helm import Helm  # noqa: E402
from chartship.sandbox.github_standin import GithubStandin  # noqa: E402
from chartship.sandbox.pages_site import PagesSite  # noqa: E402
from chartship.sandbox.registry import RegistryServer, TlsMaterial  # noqa: E402
from tests.support.builders import channels  # noqa: E402
from tests.support.chartrepo import serve_upstream  # noqa: E402
from tests.support.fault_proxy import FaultProxy  # noqa: E402

UPSTREAM_PORT = 8879
REPOSITORY = "chartship/sandbox"
DEMO_VERSION = "0.16.0"


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


def helm_homes(base: Path) -> dict[str, str]:
    return {
        "HELM_CACHE_HOME": str(base / "cache"),
        "HELM_CONFIG_HOME": str(base / "config"),
        "HELM_DATA_HOME": str(base / "data"),
        "HELM_REGISTRY_CONFIG": str(base / "registry" / "config.json"),
        "HELM_REPOSITORY_CONFIG": str(base / "config" / "repositories.yaml"),
        "HELM_REPOSITORY_CACHE": str(base / "cache" / "repository"),
    }


IDENTITY = {
    "GIT_AUTHOR_NAME": "chartship sandbox",
    "GIT_AUTHOR_EMAIL": "sandbox@chartship.invalid",
    "GIT_COMMITTER_NAME": "chartship sandbox",
    "GIT_COMMITTER_EMAIL": "sandbox@chartship.invalid",
}


@dataclass
class Sandbox:
    """Local services plus a working copy whose chartship.yaml points at them."""

    base: Path
    work: Path
    origin: Path
    helm_bin: Path
    registry: RegistryServer
    github: GithubStandin
    pages: PagesSite
    #: With ``faulty=True``: the fault proxy in front of each service
    #: (``registry``, ``github``, ``pages``), which the channels go through.
    proxies: dict[str, FaultProxy] | None = None

    def faults(self, rate: float) -> None:
        """Make ``rate`` of the requests to every service fail from now on."""
        assert self.proxies is not None, "open_sandbox(..., faulty=True) puts proxies in front"
        for proxy in self.proxies.values():
            proxy.rate = rate

    @property
    def environ(self) -> dict[str, str]:
        """What a release run needs: the token, an isolated helm, a git identity."""
        return {
            **os.environ,
            **helm_homes(self.base / "helm-home"),
            **IDENTITY,
            "GITHUB_TOKEN": self.github.token,
            "no_proxy": "127.0.0.1,localhost",
            "NO_PROXY": "127.0.0.1,localhost",
        }

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
    _git(origin.parent, "init", "-q", "--bare", "-b", "main", str(origin))
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
    token = token or secrets.token_urlsafe(16)
    with (
        RegistryServer(base / "registry", tls=tls, users=users) as registry,
        GithubStandin(token=token) as github,
        PagesSite(origin) as pages,
        contextlib.ExitStack() as stack,
    ):
        github.add_repo(REPOSITORY, git_dir=origin)
        proxies = None
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
        yield Sandbox(base, work, origin, helm_bin, registry, github, pages, proxies)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _consume(box: Sandbox, settings: Settings, charts: list[tuple[str, str]]) -> None:
    for chart, version in charts:
        local = settings.dist_path / f"{chart}-{version}.tgz"
        pulls = {
            "OCI": box.pull_oci(chart, version, box.base / "pulled" / "oci"),
            "classic": box.pull_classic(chart, version, box.base / "pulled" / "classic"),
        }
        for channel, pulled in pulls.items():
            if sha256(pulled) != sha256(local):
                raise SystemExit(
                    f"sandbox: helm pulled other bytes of {chart} {version} from {channel}"
                )
            print(f"sandbox: helm pulled {chart} {version} from {channel}: same sha256 "
                  f"{sha256(local)[:12]} as {local.name}", file=sys.stderr)  # fmt: skip


def main() -> int:
    configure_logging()
    settings = load_settings(ROOT / "chartship.yaml")
    helm = Helm(settings.helm_binary)
    with tempfile.TemporaryDirectory(prefix="chartship-sandbox-") as tmp:
        base = Path(tmp)
        try:
            server, upstream = serve_upstream(helm, base / "upstream", UPSTREAM_PORT)
        except OSError as exc:
            print(f"sandbox: cannot serve the upstream repository on 127.0.0.1:"
                  f"{UPSTREAM_PORT}: {exc}", file=sys.stderr)  # fmt: skip
            return 1
        with server, open_sandbox(base, ROOT, Path(settings.helm_binary)) as box:
            os.environ.update(box.environ)
            where = [
                f"  upstream chart repository  {upstream}",
                f"  OCI registry               {box.oci_base}",
                f"  GitHub API stand-in        {box.github.api_url} (repository {REPOSITORY})",
                f"  pages site (gh-pages)      {box.pages.url}",
                f"  bare git origin            {box.origin}",
                f"  working copy               {box.work}",
                f"  helm                       {helm.version} ({settings.helm_binary})",
            ]
            print("sandbox: services on 127.0.0.1:\n" + "\n".join(where), file=sys.stderr)
            try:
                work = box.settings()
                print(f"\n$ chartship bump --version {DEMO_VERSION} metallb", flush=True)
                run_bump(work, DEMO_VERSION, ["metallb"])
                box.commit(f"Release metallb {DEMO_VERSION}")
                print("\n$ chartship release", flush=True)
                result = run_release(box.settings(), environ=box.environ)
                charts = [(r.artifact.chart, r.artifact.version) for r in result.rows]
                print("", flush=True)
                _consume(box, box.settings(), charts)
                tag = box.settings().release_tag("metallb", DEMO_VERSION)
                print(f"\n$ chartship release --tag {tag}   # the same release again", flush=True)
                run_release(box.settings(), tag=tag, environ=box.environ)
                box.git("fetch", "-q", "--tags", "origin")
                print("\n$ git fetch --tags && chartship release   # nothing changed", flush=True)
                run_release(box.settings(), environ=box.environ)
            except ChartshipError as exc:
                print(error_message(exc), file=sys.stderr)
                return exit_status(exc)
            releases = ", ".join(r.tag_name for r in box.github.releases(REPOSITORY))
            print(
                "\nsandbox: done; everything below is removed now:\n"
                + "\n".join(where)
                + f"\n  GitHub releases            {releases}"
                + f"\n  archives                   {box.settings().dist_path}",
                file=sys.stderr,
            )
    print("sandbox: services stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

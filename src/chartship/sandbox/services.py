"""The services a release talks to, started together on free 127.0.0.1 ports.

:func:`open_services` starts a ``docker-registry``, the GitHub API stand-in
whose repository's git data is a bare origin, and a pages site serving that
origin's pages branch; :class:`Services` is what it yields: where each one is,
and what a chartship run needs to reach them (:meth:`Services.environ`).
``chartship sandbox`` and chartship's own tests both start them this way.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from chartship.sandbox.github_standin import GithubStandin
from chartship.sandbox.pages_site import PagesSite
from chartship.sandbox.registry import RegistryServer, TlsMaterial

#: Commits made in the sandbox (the pages branch's, a demo's) name no real person.
IDENTITY = {
    "GIT_AUTHOR_NAME": "chartship sandbox",
    "GIT_AUTHOR_EMAIL": "sandbox@chartship.invalid",
    "GIT_COMMITTER_NAME": "chartship sandbox",
    "GIT_COMMITTER_EMAIL": "sandbox@chartship.invalid",
}

#: Never through a proxy: every service is on the loopback address.
NO_PROXY = {"no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}


def helm_homes(base: Path) -> dict[str, str]:
    """helm's state under ``base``: logins and repositories stay out of the user's own."""
    return {
        "HELM_CACHE_HOME": str(base / "cache"),
        "HELM_CONFIG_HOME": str(base / "config"),
        "HELM_DATA_HOME": str(base / "data"),
        "HELM_REGISTRY_CONFIG": str(base / "registry" / "config.json"),
        "HELM_REPOSITORY_CONFIG": str(base / "config" / "repositories.yaml"),
        "HELM_REPOSITORY_CACHE": str(base / "cache" / "repository"),
    }


@dataclass
class Services:
    """A registry, the GitHub stand-in holding ``repository``, and the pages site."""

    base: Path
    origin: Path
    repository: str
    registry: RegistryServer
    github: GithubStandin
    pages: PagesSite

    def environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) plus the stand-in's token,
        an isolated helm, a git identity, no proxy."""
        return {
            **(os.environ if base is None else base),
            **helm_homes(self.base / "helm-home"),
            **IDENTITY,
            **NO_PROXY,
            "GITHUB_TOKEN": self.github.token,
        }

    def oci_base(self, namespace: str) -> str:
        return self.registry.oci_base(namespace)


@contextlib.contextmanager
def open_services(
    base: Path,
    origin: Path,
    repository: str,
    *,
    default_branch: str = "main",
    pages_branch: str = "gh-pages",
    token: str | None = None,
    tls: TlsMaterial | None = None,
    users: Mapping[str, str] | None = None,
) -> Iterator[Services]:
    """Start the three services under ``base``; the origin ``origin`` must exist.

    ``token`` is the one the stand-in accepts (default: a random one); ``tls``
    and ``users`` make the registry speak TLS and ask for basic auth."""
    with (
        RegistryServer(base / "registry", tls=tls, users=users) as registry,
        GithubStandin(token=token or secrets.token_urlsafe(16)) as github,
        PagesSite(origin, branch=pages_branch) as pages,
    ):
        github.add_repo(repository, default_branch=default_branch, git_dir=origin)
        yield Services(base, origin, repository, registry, github, pages)

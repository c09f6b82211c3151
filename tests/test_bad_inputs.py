"""The bad-input corpus (tests/data/bad_inputs) through every command that reads each input.

Each case is a directory of data files and one expected message; see
tests/support/bad_inputs.py and tests/data/bad_inputs/README.md. Every command
of a case runs as its own ``python -m chartship`` process in a fresh workspace
whose channels point at a real registry, the GitHub stand-in and a pages site
on 127.0.0.1, and must:

* exit with the case's status (never 0, never 70);
* print the expected message, which names the bad input, and no traceback;
* publish nothing: the registry catalog, the GitHub stand-in (no mutating
  request) and every ref of the pages origin are as they were before it ran;
* never print a secret the case put in the environment, nor anything of the
  file outside the workspace that a case's links point at (``{outside}``).

The corpus runs on one helm, the newest pinned one: what it exercises is
chartship's own reading of its inputs, which happens before helm is asked for
anything (or in spite of what helm would say). Running all of it twice would
double the suite's slowest file for no new coverage. A case whose outcome
depends on helm (``both_helms: true``) runs on both majors.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chartship.config import load_settings
from chartship.package import package
from chartship.sandbox.github_standin import GithubStandin
from chartship.sandbox.pages_site import PagesSite
from chartship.sandbox.registry import RegistryServer, TlsMaterial, registry_request
from chartship.toolchain import DEFAULT_HELM_VERSIONS
from tests.support.bad_inputs import (
    CATEGORIES,
    Case,
    default_config,
    discover,
    lay_out,
    substitute,
)
from tests.support.builders import REPO, installed_helm

CASES = discover()
MINIMUM_CASES = 32
MINIMUM_PER_CATEGORY = 3
NEWEST_HELM = DEFAULT_HELM_VERSIONS[-1]
MUTATING = frozenset({"POST", "PATCH", "PUT", "DELETE"})
COMMAND_TIMEOUT = 120
#: Inherited variables that would change what a command does; cases set their own.
SCRUBBED = ("GITHUB_", "GH_TOKEN", "CHARTSHIP_", "RUNNER_", "CI")
#: Secrets in the environment a case sets; never to be printed.
SECRET_WORDS = ("TOKEN", "PASSWORD", "PASSPHRASE")
#: The one user of the TLS registry.
TLS_USER = "chartship"
#: What the file outside the workspace holds; no command may ever print it.
OUTSIDE_SENTINEL = "outside-the-work-tree-" + secrets.token_hex(8)


# --------------------------------------------------------------------------- services


@dataclass
class Services:
    """One registry and one GitHub stand-in per module (and xdist worker); each case
    gets its own OCI namespace, GitHub repository and pages origin."""

    base: Path
    registry: RegistryServer
    github: GithubStandin
    tls_material: TlsMaterial
    stack: contextlib.ExitStack
    tls_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    _tls: RegistryServer | None = None

    def tls_registry(self) -> RegistryServer:
        if self._tls is None:
            server = RegistryServer(
                self.base / "tls-registry",
                tls=self.tls_material,
                users={TLS_USER: self.tls_password},
            )
            self._tls = self.stack.enter_context(server)
        return self._tls

    def catalogs(self) -> dict[str, list[str]]:
        """Every repository each registry holds."""
        found = {}
        for server in (self.registry, self._tls):
            if server is None:
                continue
            reply = registry_request(server, "/v2/_catalog?n=1000", auth=server.auth)
            assert reply.status == 200, reply.body
            found[server.host] = sorted(reply.json().get("repositories") or [])
        return found


@pytest.fixture(scope="module")
def services(
    tmp_path_factory: pytest.TempPathFactory, tls_material: TlsMaterial
) -> Iterator[Services]:
    base = tmp_path_factory.mktemp("bad-input-services")
    with contextlib.ExitStack() as stack:
        registry = stack.enter_context(RegistryServer(base / "registry"))
        github = stack.enter_context(GithubStandin(token=secrets.token_urlsafe(16)))
        yield Services(base, registry, github, tls_material, stack)


# --------------------------------------------------------------------------- one command


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60
    ).stdout


def pages_origin(case: Case, target: Path, values: dict[str, str]) -> Path:
    """A bare origin whose gh-pages branch holds the case's served tree."""
    served = target.parent / "served"
    served.mkdir()
    lay_out(case, workspace=None, served=served, values=values)
    git(target.parent, "init", "-q", "--bare", "-b", "gh-pages", str(target))
    where = ["--git-dir", str(target), "--work-tree", str(served)]
    git(served, *where, "add", "-A")
    git(served, *where, "commit", "-q", "-m", "pages")
    return target


@pytest.fixture(scope="module")
def repository(_workspace_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workspace template as a git repository with one commit, made once per module."""
    root = tmp_path_factory.mktemp("bad-input-template") / "repo"
    shutil.copytree(_workspace_template, root)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "charts")
    return root


def packaged_dist(case: Case, repository: Path, target: Path, values: dict[str, str]) -> Path:
    """dist/ with the case's ``packaged`` charts, packaged once for all its commands.

    In-process: packaging good charts is the setup here, not what is tested.
    """
    shutil.copytree(repository, target)
    (target / "chartship.yaml").write_text(default_config(values))
    settings = load_settings(target / "chartship.yaml")
    package(settings, case.packaged)
    return settings.dist_path


def make_workspace(
    case: Case,
    repository: Path,
    target: Path,
    origin: Path,
    values: dict[str, str],
    dist: Path | None,
) -> None:
    """The committed charts, tagged as the case says; the default chartship.yaml, the
    packaged charts and the case's files on top, committed as a second commit."""
    shutil.copytree(repository, target)
    (target / "chartship.yaml").write_text(default_config(values))
    for tag in case.git_tags:
        git(target, "tag", tag)
    if dist is not None:
        shutil.copytree(dist, target / "dist")
    lay_out(case, workspace=target, served=None, values=values)
    git(target, "add", "-A")
    git(target, "commit", "-q", "--allow-empty", "-m", f"bad input: {case.name}")
    git(target, "remote", "add", "origin", str(origin))
    for name, url in case.remotes.items():
        git(target, "remote", "add", name, substitute(url, values))


def environment(case: Case, services: Services, values: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED)}
    env.update(
        PYTHONPATH=str(REPO / "src"),
        GITHUB_TOKEN=services.github.token,
        no_proxy="127.0.0.1,localhost",
        NO_PROXY="127.0.0.1,localhost",
    )
    for key, value in case.env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = substitute(value, values)
    return env


def expected_in(expect: str, output: str) -> bool:
    """``expect`` on one line of ``output``; `` ... `` in it stands for anything."""
    parts = expect.split(" ... ")
    for line in output.splitlines():
        position = 0
        for part in parts:
            found = line.find(part, position)
            if found < 0:
                break
            position = found + len(part)
        else:
            return True
    return False


@dataclass(frozen=True)
class Snapshot:
    catalogs: dict[str, list[str]]
    github_requests: int
    origin_refs: str


def snapshot(services: Services, origin: Path) -> Snapshot:
    return Snapshot(
        services.catalogs(),
        len(services.github.requests),
        git(origin, "for-each-ref", "--format=%(refname) %(objectname)"),
    )


def published(services: Services, before: Snapshot, after: Snapshot) -> list[str]:
    """What a command changed in any channel, described; empty when nothing."""
    changes = []
    if after.catalogs != before.catalogs:
        changes.append(f"registry catalog {before.catalogs} -> {after.catalogs}")
    writes = [
        f"{r.method} {r.path}"
        for r in services.github.requests[before.github_requests :]
        if r.method in MUTATING
    ]
    if writes:
        changes.append(f"GitHub received {', '.join(writes)}")
    if after.origin_refs != before.origin_refs:
        changes.append(f"pages origin refs {before.origin_refs!r} -> {after.origin_refs!r}")
    return changes


def run_command(
    case: Case,
    argv: Sequence[str],
    *,
    services: Services,
    repository: Path,
    origin: Path,
    base: Path,
    values: dict[str, str],
    dist: Path | None,
) -> list[str]:
    """Run one command of ``case``; every way it falls short of the corpus's promise."""
    work = base / "repo"
    make_workspace(case, repository, work, origin, values, dist)
    env = environment(case, services, values)
    command = [substitute(arg, values) for arg in argv]
    before = snapshot(services, origin)
    result = subprocess.run(
        [sys.executable, "-m", "chartship", *command],
        cwd=work,
        env=env,
        input=case.stdin,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    after = snapshot(services, origin)
    output = (result.stdout + result.stderr).replace(f"{work.resolve()}/", "")
    expect = substitute(case.expect, values)
    wanted = case.exit_for(tuple(argv))
    problems = []
    if result.returncode != wanted:
        problems.append(f"exit status {result.returncode}, expected {wanted}")
    if not expected_in(expect, output):
        problems.append(f"no line says {expect!r}")
    if "Traceback" in output:
        problems.append("a traceback was printed")
    problems += [f"published: {change}" for change in published(services, before, after)]
    leaked = [
        key
        for key, value in env.items()
        if any(word in key for word in SECRET_WORDS) and len(value) >= 4 and value in output
    ]
    if leaked:
        problems.append(f"printed the secret in {', '.join(sorted(leaked))}")
    if OUTSIDE_SENTINEL in output:
        problems.append("printed what the file outside the workspace holds")
    if not problems:
        return []
    shown = "\n".join(output.splitlines()[-40:])
    helm = Path(values["helm"]).parent.name
    return [
        f"chartship {' '.join(argv)} (helm {helm}): " + "; ".join(problems)
        + f"\n--- output ---\n{shown}\n--------------"
    ]  # fmt: skip


def make_outside(directory: Path) -> Path:
    """What lies outside every workspace: a file and a chart, both holding the sentinel."""
    (directory / "chart" / "templates").mkdir(parents=True)
    (directory / "secret.txt").write_text(f"{OUTSIDE_SENTINEL}\n")
    (directory / "chart" / "Chart.yaml").write_text(
        "apiVersion: v2\nname: elsewhere\nversion: 1.0.0\nappVersion: 1.0.0\n"
    )
    (directory / "chart" / "templates" / "cm.yaml").write_text(f"# {OUTSIDE_SENTINEL}\n")
    return directory


def base_values(case: Case, services: Services, helm_version: str, outside: Path) -> dict[str, str]:
    values = {
        "outside": str(outside),
        "helm": str(installed_helm(helm_version)),
        "registry": services.registry.host,
        "github_api": services.github.api_url,
        "github_repo": f"bad-inputs/{case.namespace}",
        "namespace": case.namespace,
        "tls_username": TLS_USER,
    }
    if case.needs_tls_registry:
        tls = services.tls_registry()
        values["tls_registry"] = tls.host
        values["tls_ca"] = str(tls.ca_file)
    return values


# --------------------------------------------------------------------------- the tests


def test_the_corpus_covers_every_kind_of_input() -> None:
    assert len(CASES) >= MINIMUM_CASES
    per_category = {c: sum(case.category == c for case in CASES) for c in CATEGORIES}
    assert min(per_category.values()) >= MINIMUM_PER_CATEGORY, per_category
    for case in CASES:
        # Secrets travel in the environment only, never in a command's arguments.
        secret_values = [v for k, v in case.env.items() if v and any(w in k for w in SECRET_WORDS)]
        for argv in case.commands:
            assert not any(v in arg for v in secret_values for arg in argv), case.name


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_refused_by_every_command_naming_it(
    case: Case, services: Services, repository: Path, tmp_path: Path
) -> None:
    services.github.add_repo(f"bad-inputs/{case.namespace}")
    violations_before = len(services.github.violations)
    helms = DEFAULT_HELM_VERSIONS if case.both_helms else (NEWEST_HELM,)
    problems = []
    origin = tmp_path / "origin.git"
    outside = make_outside(tmp_path / "outside")
    # One pages origin for every command: each must leave it as it found it.
    pages_origin(case, origin, base_values(case, services, NEWEST_HELM, outside))
    with PagesSite(origin) as site:
        for helm_version in helms:
            values = {
                **base_values(case, services, helm_version, outside),
                "served": site.url,
            }
            dist = None
            if case.packaged:
                scratch = tmp_path / f"packaged-helm{helm_version.split('.')[0]}"
                dist = packaged_dist(case, repository, scratch, values)
            for number, argv in enumerate(case.commands):
                base = tmp_path / f"helm{helm_version.split('.')[0]}-{number}"
                base.mkdir()
                problems += run_command(
                    case,
                    argv,
                    services=services,
                    repository=repository,
                    origin=origin,
                    base=base,
                    values=values,
                    dist=dist,
                )
    assert not problems, f"{case.name}: {case.description}\n\n" + "\n\n".join(problems)
    # Every request chartship made is one GitHub's API description allows.
    assert len(services.github.violations) == violations_before, services.github.report()

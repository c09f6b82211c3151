"""``chartship sandbox``: rehearse chartship commands on the current repository,
against local services only.

:func:`rehearse` makes a bare origin from the current repository (its local
branches, the branches of its pages remote, its tags), starts the services of
:mod:`chartship.sandbox.services` on free 127.0.0.1 ports, optionally loads a
copy of a real classic channel into them (:func:`load_classic`), clones the
origin and runs each requested chartship command there with the channels
pointed at the services. The clone's chartship.yaml is the repository's own,
unchanged: the addresses reach each run as ``--set`` overrides and the
stand-in's token through the run's environment only.

Each command runs as its own ``python -m chartship`` process (argv, never a
shell), so it fails and exits exactly as it would on the user's machine.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import yaml

from chartship import versions
from chartship.channels.oci import names as oci_names
from chartship.config import Settings
from chartship.errors import ChartError, ConfigError, RehearsalFailed, UsageError
from chartship.gitrepo import Git
from chartship.migrate.backfill import created_epoch
from chartship.runner import Runner
from chartship.sandbox.github_standin import GithubStandin, quote_segment
from chartship.sandbox.registry import catalog, find_registry_binary, list_tags
from chartship.sandbox.services import IDENTITY, Services, open_services
from chartship.yamlfiles import INDEX, load_data, parse_data, read_text

log = logging.getLogger("chartship")

#: What runs when no ``--run`` is given.
DEFAULT_RUN = "release"
#: The OCI namespace when chartship.yaml names no registry.
DEFAULT_NAMESPACE = "charts"
#: Helm writes a tag on the loopback registry in well under a second.
TAG_WINDOW = 2
#: Most seconds one rehearsed command may take.
RUN_TIMEOUT = 3600.0
#: How often a kept sandbox looks for Ctrl-C (or SIGTERM).
KEEP_POLL = 1.0
#: Environment variables a run never inherits: real credentials, and a CI's own
#: outputs, tag and summary files, which a rehearsal must not write to.
_DROPPED_PREFIXES = ("GITHUB_", "GH_", "ACTIONS_", "CHARTSHIP_OCI_")

_GIT = Runner(default_timeout=300.0)


@dataclass(frozen=True)
class Run:
    command: str
    exit: int


@dataclass
class Rehearsal:
    """What the sandbox did and what its services hold at the end."""

    runs: list[Run] = field(default_factory=list)
    oci: dict[str, list[str]] = field(default_factory=dict)
    index: dict[str, list[str]] = field(default_factory=dict)
    releases: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "runs": [{"command": r.command, "exit": r.exit} for r in self.runs],
            "oci": self.oci,
            "index": self.index,
            "releases": self.releases,
        }


def parse_runs(runs: Sequence[str]) -> list[list[str]]:
    """Each ``--run`` split like shell words (never given to a shell); checked up front."""
    parsed = []
    for text in runs or [DEFAULT_RUN]:
        try:
            words = shlex.split(text)
        except ValueError as exc:
            raise UsageError(f"--run {shlex.quote(text)}: {exc}") from None
        if not words:
            raise UsageError("--run needs a chartship command line, e.g. --run 'migrate status'")
        if words[0] == "sandbox":
            raise UsageError(f"--run {shlex.quote(text)}: a sandbox does not run inside a sandbox")
        parsed.append(words)
    return parsed


def _git(*args: str, env: Mapping[str, str] | None = None) -> str:
    return _GIT.run(["git", *args], env=env, what=f"git {args[0]}").stdout


def _version_key(a: str, b: str) -> int:
    valid_a, valid_b = versions.is_valid(a), versions.is_valid(b)
    if valid_a and valid_b:
        return versions.parse(a).compare(versions.parse(b))
    if valid_a != valid_b:
        return -1 if valid_a else 1
    return (a > b) - (a < b)


def sort_versions(found: Sequence[str]) -> list[str]:
    """SemVer order; anything that is not SemVer last, by text."""
    return sorted(found, key=functools.cmp_to_key(_version_key))


# --------------------------------------------------------------------------- the origin


@dataclass(frozen=True)
class Source:
    """The repository rehearsed: its top, where chartship.yaml sits in it, its branch."""

    top: Path
    relative: Path
    branch: str


def find_source(settings: Settings) -> Source:
    git = Git(settings.root)
    if not git.is_repository():
        raise ConfigError(
            "is not in a git repository; the sandbox rehearses a repository's history",
            path=settings.root,
        )
    top = git.toplevel()
    branch = _GIT.run(["git", "-C", str(top), "symbolic-ref", "--short", "-q", "HEAD"], check=False)
    relative = settings.root.resolve().relative_to(top.resolve())
    # A detached HEAD (a CI checkout of a tag) is rehearsed as a branch of its own.
    return Source(top, relative, branch.stdout.strip() or "sandbox")


def make_origin(source: Source, origin: Path, pages_remote: str) -> None:
    """A bare ``origin``: the branches of ``pages_remote`` (gh-pages usually lives only
    there), then the local branches over them, the tags, and HEAD as the branch checked out."""
    _git("init", "-q", "--bare", str(origin))

    def refs(namespace: str) -> list[str]:
        listed = _git("-C", str(source.top), "for-each-ref", "--format=%(refname)", namespace)
        return listed.split()

    # One source per branch of the origin, later ones winning: git refuses a push
    # that names one destination twice (a clone's origin/main and its main).
    prefix = f"refs/remotes/{pages_remote}/"
    wanted: dict[str, str] = {}
    for ref in refs(prefix):
        if ref != prefix + "HEAD":
            wanted[f"refs/heads/{ref[len(prefix) :]}"] = ref
    for ref in refs("refs/heads/"):
        wanted[ref] = ref
    wanted[f"refs/heads/{source.branch}"] = "HEAD"
    specs = [f"+{src}:{dest}" for dest, src in wanted.items()]
    specs.append("+refs/tags/*:refs/tags/*")
    _git("-C", str(source.top), "push", "-q", "--no-verify", str(origin), *specs)
    _git("--git-dir", str(origin), "symbolic-ref", "HEAD", f"refs/heads/{source.branch}")


def commit_file(origin: Path, branch: str, name: str, content: bytes, message: str) -> None:
    """Commit ``name`` on ``branch`` of the bare ``origin`` (made if missing), no work tree."""
    with tempfile.TemporaryDirectory(prefix="chartship-index-") as tmp:
        env = {**IDENTITY, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git_dir = ("--git-dir", str(origin))
        ref = f"refs/heads/{branch}"
        parent = _GIT.run(["git", *git_dir, "rev-parse", "-q", "--verify", ref], check=False)
        parent_id = parent.stdout.strip() if parent.returncode == 0 else ""
        if parent_id:
            _git(*git_dir, "read-tree", parent_id, env=env)
        blob_path = Path(tmp) / "blob"
        blob_path.write_bytes(content)
        blob = _git(*git_dir, "hash-object", "-w", str(blob_path)).strip()
        _git(*git_dir, "update-index", "--add", "--cacheinfo", f"100644,{blob},{name}", env=env)
        tree = _git(*git_dir, "write-tree", env=env).strip()
        parents = ["-p", parent_id] if parent_id else []
        commit = _git(*git_dir, "commit-tree", tree, *parents, "-m", message, env=env).strip()
        _git(*git_dir, "update-ref", ref, commit)


# --------------------------------------------------------------------------- --classic-from


def _read_index(path: Path) -> dict[str, Any]:
    data = parse_data(read_text(path, INDEX), path, INDEX)
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        raise ChartError("is not a chart repository index (no `entries` mapping)", path=path)
    return data


def check_classic_dir(directory: Path) -> dict[str, Any]:
    """The index of a ``--classic-from`` directory, after checking its layout."""
    index = directory / "index.yaml"
    if not index.is_file():
        raise ConfigError(
            "has no index.yaml; --classic-from takes index.yaml and releases/download/<tag>/<file>",
            path=directory,
        )
    downloads = directory / "releases" / "download"
    if downloads.exists() and not downloads.is_dir():
        raise ConfigError("is not a directory of release tags", path=downloads)
    return _read_index(index)


def _published(index: Mapping[str, Any]) -> dict[str, int]:
    """Per tag, the earliest ``created`` (epoch seconds) of the entries naming its downloads."""
    found: dict[str, int] = {}
    for entries in index["entries"].values():
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            created = created_epoch(str(entry.get("created") or ""))
            for url in entry.get("urls") or []:
                tag = _download_tag(str(url))
                if tag and created is not None:
                    found[tag] = min(found.get(tag, created), created)
    return found


def _download_tag(url: str) -> str | None:
    """The tag of a ``.../releases/download/<tag>/<file>`` URL, else None."""
    head, sep, tail = url.rpartition("/releases/download/")
    parts = tail.split("/")
    return parts[0] if sep and head and len(parts) == 2 and all(parts) else None


def _point_downloads(index: dict[str, Any], base: str) -> int:
    """Point every ``.../releases/download/<tag>/<file>`` entry URL at ``base/<tag>/<file>``;
    how many were pointed."""
    pointed = 0
    for entries in index["entries"].values():
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict) or not isinstance(entry.get("urls"), list):
                continue
            urls = []
            for url in entry["urls"]:
                tag = _download_tag(str(url))
                if tag is None:
                    urls.append(url)
                    continue
                name = str(url).rsplit("/", 1)[1]
                urls.append(f"{base}/{quote_segment(tag)}/{quote_segment(name)}")
                pointed += 1
            entry["urls"] = urls
    return pointed


def _subdirs(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_dir()) if directory.is_dir() else []


def load_classic(
    directory: Path, index: dict[str, Any], github: GithubStandin, repository: str, origin: Path,
    pages_branch: str, out: TextIO,
) -> None:  # fmt: skip
    """Each tag of ``directory`` a release of the stand-in with its files as assets;
    the index on the origin's pages branch, its download URLs pointed at those assets."""
    downloads = directory / "releases" / "download"
    published = _published(index)
    tags = {p.name: sorted(f for f in p.iterdir() if f.is_file()) for p in _subdirs(downloads)}
    # A tag no entry names (a gap) was published when its files were written.
    for tag, files in tags.items():
        published.setdefault(tag, int(max((f.stat().st_mtime for f in files), default=0)))
    # In publication order, as GitHub lists them (newest first) by that time.
    for tag in sorted(tags, key=lambda name: (published[name], name)):
        moment = datetime.fromtimestamp(published[tag], timezone.utc)
        release = github.create_release(repository, tag, make_latest="legacy", created_at=moment)
        for asset in tags[tag]:
            github.add_asset(release, asset.name, asset.read_bytes())
    rewritten = _point_downloads(index, f"{github.api_url}/download/{repository}")
    text = yaml.safe_dump(index, sort_keys=False).encode()
    commit_file(origin, pages_branch, "index.yaml", text, "index.yaml from --classic-from")
    print(
        f"sandbox: {len(tags)} release(s) from {downloads}, index.yaml on {pages_branch} "
        f"({rewritten} download URL(s) pointed at the GitHub stand-in)",
        file=out,
    )


# --------------------------------------------------------------------------- the runs


def channel_overrides(
    settings: Settings, services: Services, namespace: str, *, classic: bool
) -> list[str]:
    """``--set`` items pointing the channels at the services; the rest of chartship.yaml stays.

    Only the channels chartship.yaml configures are pointed (all three, in phase
    ``dual``, when it configures none), plus GitHub and pages for ``classic``."""
    channels = settings.channels
    configured = {n for n in ("github", "pages", "oci") if getattr(channels, n) is not None}
    items = [] if configured else ["channels.phase=dual"]
    wanted = configured or {"github", "pages", "oci"}
    if classic:
        wanted |= {"github", "pages"}
    if "oci" in wanted:
        items += [
            f"channels.oci.repository={services.oci_base(namespace)}",
            "channels.oci.plain_http=true",
            "channels.oci.ca_file=null",
            "channels.oci.cert_file=null",
            "channels.oci.key_file=null",
            "channels.oci.insecure_skip_tls_verify=false",
            f"channels.oci.tag_window={TAG_WINDOW}",
        ]
    if "github" in wanted:
        items += [
            f"channels.github.repository={services.repository}",
            f"channels.github.api_url={services.github.api_url}",
            "channels.github.throttle=false",
        ]
    if "pages" in wanted:
        items += [
            f"channels.pages.index_url={services.pages.url}",
            "channels.pages.remote=origin",
            "channels.pages.token_env=null",
        ]
    return items


def run_environ(services: Services, settings: Settings) -> dict[str, str]:
    """This process's environment without credentials or CI files, plus the services'."""
    oci, pages = settings.channels.oci, settings.channels.pages
    # The variables chartship.yaml names for credentials, whatever they are called.
    named = {oci.username_env, oci.password_env} if oci else set()
    named |= {pages.token_env} if pages and pages.token_env else set()
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_DROPPED_PREFIXES) and k not in named
    }
    return services.environ(kept)


def run_commands(
    commands: Sequence[list[str]], texts: Sequence[str], global_args: Sequence[str],
    cwd: Path, environ: Mapping[str, str], out: TextIO,
) -> list[Run]:  # fmt: skip
    """Each command in order as ``python -m chartship``, stopping at the first failure."""
    done: list[Run] = []
    for words, text in zip(commands, texts, strict=True):
        print(f"\n$ chartship {shlex.join(words)}", file=out, flush=True)
        sys.stderr.flush()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "chartship", *global_args, *words],
                cwd=cwd,
                env=dict(environ),
                stdin=subprocess.DEVNULL,
                timeout=RUN_TIMEOUT,
                check=False,
            )
            # Killed by a signal: the status a shell would report for it.
            status = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
        except subprocess.TimeoutExpired:
            print(f"sandbox: `{text}` did not finish within {RUN_TIMEOUT:g}s", file=sys.stderr)
            status = 124
        except KeyboardInterrupt:
            # Ctrl-C reached the command too (same process group): it is over, and so
            # is the sequence; the services still stop and the report is still written.
            print(f"sandbox: `{text}` interrupted", file=sys.stderr)
            status = 128 + signal.SIGINT
        done.append(Run(text, status))
        if status != 0:
            break
        _sync(cwd, environ)
    return done


def _sync(cwd: Path, environ: Mapping[str, str]) -> None:
    """Between two runs, what a maintainer and the next CI checkout do: push what the
    run committed (``bump --commit``), since a release tags HEAD and GitHub knows
    pushed commits only; fetch the tags the run's releases made on the origin."""
    ahead = _git("-C", str(cwd), "rev-list", "--count", "@{upstream}..HEAD", env=environ)
    if ahead.strip() not in ("", "0"):
        _git("-C", str(cwd), "push", "-q", "origin", "HEAD", env=environ)
    _git("-C", str(cwd), "fetch", "-q", "--tags", "origin", env=environ)


# --------------------------------------------------------------------------- what the services hold


def holdings(services: Services, namespace: str, pages_branch: str) -> Rehearsal:
    """The OCI charts under ``namespace``, the index on the pages branch, the release tags."""
    held = Rehearsal()
    prefix = namespace.strip("/") + "/"
    for repo in catalog(services.registry):
        if not repo.startswith(prefix):
            continue
        tags = list_tags(services.registry, repo) or []
        found = [t.replace("_", "+") for t in tags if versions.is_valid(t.replace("_", "+"))]
        if found:
            held.oci[repo[len(prefix) :]] = sort_versions(found)
    shown = _GIT.run(
        ["git", "--git-dir", str(services.origin), "show", f"refs/heads/{pages_branch}:index.yaml"],
        check=False,
    )
    if shown.returncode == 0:
        data = load_data(shown.stdout, INDEX)
        entries = data.get("entries") if isinstance(data, dict) else None
        for chart, listed in (entries or {}).items():
            if isinstance(listed, list):
                found = [str(e.get("version")) for e in listed if isinstance(e, dict)]
                held.index[str(chart)] = sort_versions(found)
    held.releases = sorted(r.tag_name for r in services.github.releases(services.repository))
    return held


# --------------------------------------------------------------------------- --keep


def _wait_for_interrupt(poll: float = KEEP_POLL) -> None:
    """Until Ctrl-C or SIGTERM, which both end it as KeyboardInterrupt."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # SIGINT too, explicitly: a process started with SIGINT ignored (a shell's
    # background job, some test and CI runners) gets no KeyboardInterrupt from Python.
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    stopped = threading.Event()
    try:
        while not stopped.wait(poll):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def keep_instructions(
    services: Services, work: Path, global_args: Sequence[str], env_file: Path, namespace: str
) -> str:
    sets = shlex.join(global_args)
    return "\n".join(
        [
            "sandbox: the services stay up until Ctrl-C. To point chartship and helm at them:",
            f"  . {shlex.quote(str(env_file))}   # GITHUB_TOKEN of the stand-in, an isolated helm",
            f"  cd {shlex.quote(str(work))}",
            f"  chartship {sets} COMMAND",
            f"  helm pull {services.oci_base(namespace)}/CHART --version VERSION --plain-http",
            f"  helm repo add sandbox {services.pages.url}",
            f"  GitHub API stand-in: {services.github.api_url} (repository {services.repository})",
        ]
    )


def _write_env_file(path: Path, environ: Mapping[str, str], services: Services) -> None:
    wanted = {k: environ[k] for k in services.environ({}) if k in environ}
    text = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in wanted.items())
    # The token is a secret, if a local one: readable by the user only, never printed.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


# --------------------------------------------------------------------------- the command


def _namespace(settings: Settings) -> str:
    oci = settings.channels.oci
    if oci is None:
        return DEFAULT_NAMESPACE
    return oci_names.split(oci.repository)[1] or DEFAULT_NAMESPACE


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="chartship-sandbox-"))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@dataclass(frozen=True)
class Request:
    """What ``chartship sandbox`` was asked, checked before anything starts."""

    commands: list[list[str]]
    texts: list[str]
    classic_from: Path | None
    index: dict[str, Any] | None
    report: Path | None
    keep: bool
    forward: Sequence[str]
    out: TextIO
    wait: Callable[[], None]


def rehearse(
    settings: Settings,
    runs: Sequence[str] = (),
    *,
    classic_from: Path | None = None,
    report: Path | None = None,
    keep: bool = False,
    forward: Sequence[str] = (),
    out: TextIO | None = None,
    wait: Callable[[], None] = _wait_for_interrupt,
) -> Rehearsal:
    """Run ``runs`` (chartship command lines; default ``release``) in a sandbox.

    ``forward`` are ``--set`` items given to the sandbox itself, passed on to
    every run before the services' own. Raises :class:`RehearsalFailed` with the
    failed command's status; the report is written either way."""
    request = Request(
        commands=parse_runs(runs),
        texts=list(runs) or [DEFAULT_RUN],
        classic_from=classic_from,
        index=check_classic_dir(classic_from) if classic_from is not None else None,
        report=report,
        keep=keep,
        forward=forward,
        out=out or sys.stdout,
        wait=wait,
    )
    # What the user's machine lacks is said before anything is copied or started.
    find_registry_binary()
    source = find_source(settings)
    try:
        held = _rehearse(settings, source, request)
    except KeyboardInterrupt:
        raise RehearsalFailed("sandbox: interrupted; the services are stopped", 130) from None
    last = held.runs[-1]
    if last.exit != 0:
        skipped = len(request.commands) - len(held.runs)
        rest = f"; {skipped} command(s) after it not run" if skipped else ""
        raise RehearsalFailed(
            f"sandbox: `{last.command}` exited with status {last.exit}{rest}", last.exit
        )
    return held


def _rehearse(settings: Settings, source: Source, request: Request) -> Rehearsal:
    pages = settings.channels.pages
    pages_branch = pages.branch if pages else "gh-pages"
    github = settings.channels.github
    repository = github.repository if github else f"sandbox/{source.top.name}"
    namespace = _namespace(settings)
    out = request.out
    if Git(source.top).dirty_paths([source.top]):
        log.warning("sandbox: uncommitted changes are not rehearsed: the origin has commits only")
    with _scratch() as base:
        origin = base / "origin.git"
        make_origin(source, origin, pages.remote if pages else "origin")
        with open_services(
            base, origin, repository, default_branch=source.branch, pages_branch=pages_branch
        ) as services:
            if request.classic_from is not None and request.index is not None:
                load_classic(
                    request.classic_from, request.index, services.github, repository, origin,
                    pages_branch, out,
                )  # fmt: skip
            work = base / "work"
            _git("clone", "-q", "-b", source.branch, str(origin), str(work))
            overrides = channel_overrides(
                settings, services, namespace, classic=request.index is not None
            )
            global_args = [
                f"--set={item}"
                for item in [f"helm={settings.helm_binary}", *request.forward, *overrides]
            ]
            log.info(
                "sandbox: services on 127.0.0.1:\n  OCI registry        %s\n"
                "  GitHub API stand-in %s (repository %s)\n  pages site          %s (%s)\n"
                "  bare origin         %s\n  working copy        %s",
                services.oci_base(namespace), services.github.api_url, repository,
                services.pages.url, pages_branch, origin, work / source.relative,
            )  # fmt: skip
            environ = run_environ(services, settings)
            cwd = work / source.relative
            done = run_commands(request.commands, request.texts, global_args, cwd, environ, out)
            held = holdings(services, namespace, pages_branch)
            held.runs = done
            _report_violations(services)
            if request.report is not None:
                text = json.dumps(held.as_json(), indent=2) + "\n"
                request.report.write_text(text, encoding="utf-8")
                print(f"\nsandbox: report {request.report}", file=out)
            if request.keep:
                env_file = base / "sandbox.env"
                _write_env_file(env_file, environ, services)
                shown = keep_instructions(services, cwd, global_args, env_file, namespace)
                print("\n" + shown, file=out, flush=True)
                request.wait()
                print("sandbox: stopping the services", file=out, flush=True)
    return held


def _report_violations(services: Services) -> None:
    """The stand-in holds chartship to GitHub's API description: say where it did not."""
    for violation in services.github.violations:
        log.warning("sandbox: GitHub API description not honoured: %s", violation)

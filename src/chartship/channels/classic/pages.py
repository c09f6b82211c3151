"""Publishing index.yaml on the pages branch, with git.

Each run works in a throwaway shallow clone of the pages branch: it merges the
new entries into index.yaml (and, in ``packages: pages`` mode, copies the
archives next to it), commits, and pushes without force. When someone else
published meanwhile the push is rejected as non-fast-forward; the branch is
fetched again and the same entries are merged on top of the new tip, a few
times with a short randomised pause. After the push the branch tip is fetched
back and checked to hold every entry with its digest and URL. Other files of
the branch (the deprecation notice in its README) go through the same loop.

The remote's URL is never put on a command line: it goes into the clone's
own git config, and any credentials in it are masked in every message.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import secrets
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chartship.artifacts import Artifact, sha256_file
from chartship.channels.classic.entry import entry_for
from chartship.channels.classic.merge import INDEX_FILE, MergeResult, get, merge
from chartship.config import PagesSettings, Settings
from chartship.errors import (
    ChartError,
    ConfigError,
    GitRemoteError,
    GitRemoteUnavailable,
    ToolError,
    UsageError,
)
from chartship.runner import Result, Runner
from chartship.safetext import redact_url, url_secrets, userinfo
from chartship.yamlfiles import INDEX, read_text

log = logging.getLogger("chartship")

DEFAULT_NAME = "chartship"
DEFAULT_EMAIL = "chartship@users.noreply.github.com"
#: The clone's own branch; the remote branch names are only used in refspecs.
_LOCAL = "chartship-pages"
_REMOTE = "origin"
#: Push rejections that mean "the branch moved under us": fetch again and retry.
_MOVED = (
    "fetch first",
    "non-fast-forward",
    "stale info",
    "cannot lock ref",
    "failed to update ref",
    "incorrect old value",
)
_random = secrets.SystemRandom()


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class PagesResult:
    """What publishing index.yaml did (or, for a dry run, would do)."""

    branch: str  # where the commit went: the pages branch or the pull-request branch
    base_branch: str  # the pages branch
    remote: str  # the remote's URL with credentials masked
    added: tuple[tuple[str, str], ...] = ()
    present: tuple[tuple[str, str], ...] = ()
    archives: tuple[str, ...] = ()  # archives added to the branch (packages: pages)
    commit: str | None = None
    attempts: int = 0  # pushes tried
    rejections: int = 0  # of them rejected because the branch had moved
    created_branch: bool = False
    dry_run: bool = False
    pull_request: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.archives)

    @property
    def summary(self) -> str:
        listed = ", ".join(f"{n} {v}" for n, v in self.added) or ", ".join(self.archives)
        if not self.changed:
            there = ", ".join(f"{n} {v}" for n, v in self.present)
            return f"nothing changed: {there} already in index.yaml on {self.base_branch}"
        if self.dry_run:
            made = " (the branch would be created)" if self.created_branch else ""
            return f"dry run: would add {listed} to index.yaml on {self.branch}{made}"
        retried = f" after {self.rejections} rejected push(es)" if self.rejections else ""
        short = (self.commit or "")[:12]
        if self.pull_request:
            return (
                f"pushed {listed} to branch {self.branch} (commit {short}){retried} "
                f"for a pull request into {self.base_branch}"
            )
        return f"added {listed} to index.yaml on {self.branch} (commit {short}){retried}"


# --------------------------------------------------------------------------- remote


#: ``mask_url`` is the one redaction helper, under the name this module has always used.
mask_url = redact_url


@dataclass(frozen=True)
class _Remote:
    name: str
    url: str
    shown: str
    secrets: tuple[str, ...]
    #: git configuration given in the environment (the token's header), never in argv.
    env: Mapping[str, str] = field(default_factory=dict)


def _is_local_path(url: str) -> bool:
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", url):
        return False
    head = url.split("/", 1)[0]
    return ":" not in head  # "host:path" and "user@host:path" are scp-like remotes


def _is_http(url: str) -> bool:
    return urllib.parse.urlsplit(url).scheme in ("http", "https")


def _carries_credentials(url: str) -> bool:
    """A password, or any user part of an http(s) URL (a token); ``ssh://git@`` is a user."""
    info = userinfo(url)
    return info is not None and (":" in info or _is_http(url))


def _token_env(pages: PagesSettings, url: str, environ: Mapping[str, str]) -> _Remote | None:
    if pages.token_env is None:
        return None
    token = environ.get(pages.token_env, "")
    if not token:
        raise UsageError(
            f"channels.pages.token_env names {pages.token_env}, which is not set or empty"
        )
    if not _is_http(url):
        raise UsageError(
            f"channels.pages.token_env is for an http(s) remote; git remote {pages.remote!r} "
            f"is {redact_url(url)}"
        )
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")
    env = {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }
    return _Remote(pages.remote, url, url, (token, basic), env)


def _remote(
    settings: Settings,
    pages: PagesSettings,
    runner: Runner,
    environ: Mapping[str, str] | None = None,
) -> _Remote:
    got = runner.run(
        ["git", "-C", str(settings.root), "remote", "get-url", pages.remote],
        check=False,
        what="git remote get-url",
        timeout=60,
    )
    url = got.stdout.strip()
    if got.returncode != 0 or not url:
        raise UsageError(
            f"git remote {pages.remote!r} (channels.pages.remote) is not configured "
            f"in {settings.root}"
        )
    if _carries_credentials(url):
        plain = url[: url.index("://") + 3] + url[url.index("@") + 1 :]
        raise ConfigError(
            f"git remote {pages.remote!r} has credentials in its URL "
            f"({redact_url(url)}); they never go in a URL, where git, logs and messages "
            f"show them. Remove them (git remote set-url {pages.remote} {plain}) and name "
            "the environment variable holding the token in channels.pages.token_env",
            path=settings.source,
            key="channels.pages.remote",
        )
    if _is_local_path(url) and not Path(url).is_absolute():
        url = str((settings.root / url).resolve())
    with_token = _token_env(pages, url, os.environ if environ is None else environ)
    if with_token is not None:
        return with_token
    return _Remote(pages.remote, url, redact_url(url), url_secrets(url))


def check_remote(
    settings: Settings, *, runner: Runner | None = None, environ: Mapping[str, str] | None = None
) -> None:
    """Refuse a pages remote (and token setting) chartship will not push to, before anything
    is published anywhere."""
    if settings.channels.pages is not None:
        _remote(settings, settings.channels.pages, runner or Runner(), environ)


#: git's words for a remote it could not reach, as opposed to one that refused.
_UNREACHABLE = re.compile(
    r"could not resolve|couldn't connect|failed to connect|connection refused|connection "
    r"timed out|timed out|network is unreachable|returned error: 5\d\d|the remote end hung up "
    r"unexpectedly|connection reset",
    re.IGNORECASE,
)
#: git's words for a remote that refused the credentials (or their absence).
_REFUSED = re.compile(
    r"authentication failed|permission denied|returned error: 40[13]|could not read username"
    r"|access denied|not authorized|write access .* not granted",
    re.IGNORECASE,
)


def remote_failure(message: str, result: Result) -> ToolError:
    """A failed git command against a remote, as the error its cause calls for:
    unreachable and refusing remotes exit as a service does, anything else as git."""
    kind: type[ToolError] = ToolError
    if _UNREACHABLE.search(result.output):
        kind = GitRemoteUnavailable
    elif _REFUSED.search(result.output):
        kind = GitRemoteError
    return kind(message, argv=result.argv, returncode=result.returncode, output=result.output)


#: A branch name no pages remote has: what the push check offers to create.
_PROBE = "refs/heads/chartship-preflight-probe"


def check_push(
    settings: Settings, *, runner: Runner | None = None, environ: Mapping[str, str] | None = None
) -> None:
    """The pages remote reachable and (where it tells) letting this run push, pushing nothing.

    ``git push --dry-run`` of a new branch asks the remote for what a push asks
    (over http(s), the receive-pack service, which needs write access) and sends
    no object. A remote on a local path or over ssh lets any reader through
    this check; its push rights are known only at the push. The check runs in
    an empty scratch clone holding one empty commit, so it needs nothing of the
    repository's history, and the remote's URL stays off the command line as in
    every clone here.
    """
    pages = settings.channels.pages
    if pages is None:
        return
    runner = runner or Runner()
    remote = _remote(settings, pages, runner, environ)
    with _cloned(remote, runner) as clone:
        identity = [f"user.name={DEFAULT_NAME}", f"user.email={DEFAULT_EMAIL}"]
        clone.git("-c", identity[0], "-c", identity[1], "commit", "-q", "--allow-empty",
                  "-m", "chartship preflight: never pushed")  # fmt: skip
        got = clone.git(
            "push", "--dry-run", "--porcelain", "--no-verify", _REMOTE, f"HEAD:{_PROBE}",
            check=False, timeout=120,
        )  # fmt: skip
    if got.returncode != 0:
        raise remote_failure(f"cannot push to the pages remote {remote.name} ({remote.shown})", got)


def _config_value(value: str) -> str:
    if any(c in value for c in "\n\r\0"):
        raise UsageError("the pages remote's URL contains a line break")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --------------------------------------------------------------------------- the clone


@dataclass
class _Clone:
    work: Path
    runner: Runner
    remote: _Remote
    env: dict[str, str] = field(default_factory=dict)

    def git(self, *args: str, check: bool = True, timeout: float = 300) -> Result:
        return self.runner.run(
            ["git", "-C", str(self.work), *args],
            env={"GIT_TERMINAL_PROMPT": "0", **self.remote.env, **self.env},
            secrets=self.remote.secrets,
            check=check,
            what=f"git {args[0]}",
            timeout=timeout,
        )

    def init(self) -> None:
        self.work.mkdir(parents=True)
        self.git("init", "-q")
        config = self.work / ".git" / "config"
        with config.open("a", encoding="utf-8") as handle:
            handle.write(f'[remote "{_REMOTE}"]\n\turl = {_config_value(self.remote.url)}\n')

    def fail(self, what: str, result: Result) -> ToolError:
        return remote_failure(f"{what} ({self.remote.shown})", result)

    def exists(self, branch: str) -> bool:
        got = self.git("ls-remote", "--heads", _REMOTE, f"refs/heads/{branch}", check=False)
        if got.returncode != 0:
            raise self.fail(f"cannot list the branches of the pages remote {self.remote.name}", got)
        return any(line.endswith(f"\trefs/heads/{branch}") for line in got.stdout.splitlines())

    def fetch(self, branch: str) -> str | None:
        """Fetch ``branch``'s tip (depth 1); its commit, or None if there is no such branch."""
        tracking = f"refs/remotes/{_REMOTE}/{branch}"
        got = self.git(
            "fetch",
            "-q",
            "--no-tags",
            "--depth",
            "1",
            _REMOTE,
            f"+refs/heads/{branch}:{tracking}",
            check=False,
        )
        if got.returncode != 0:
            if not self.exists(branch):
                return None
            raise self.fail(f"cannot fetch branch {branch}", got)
        return self.git("rev-parse", "--verify", tracking).stdout.strip()

    def checkout(self, commit: str | None) -> None:
        """Make the work tree exactly ``commit``'s files, or empty on an unborn branch."""
        if commit is not None:
            self.git("checkout", "-q", "--force", "-B", _LOCAL, commit)
        else:
            self.git("symbolic-ref", "HEAD", f"refs/heads/{_LOCAL}")
            self.git("update-ref", "-d", f"refs/heads/{_LOCAL}", check=False)
            self.git("read-tree", "--empty")
        self.git("clean", "-q", "-f", "-d", "-x")

    def push(self, branch: str) -> Result:
        return self.git("push", "--porcelain", _REMOTE, f"HEAD:refs/heads/{branch}", check=False)


def _moved(result: Result) -> bool:
    text = result.output
    return "rejected]" in text and any(reason in text for reason in _MOVED)


@contextlib.contextmanager
def _cloned(
    remote: _Remote, runner: Runner, env: Mapping[str, str] | None = None
) -> Iterator[_Clone]:
    """An empty clone set up to fetch from ``remote``, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="chartship-pages-") as tmp:
        clone = _Clone(Path(tmp) / "pages", runner, remote, env=dict(env or {}))
        clone.init()
        yield clone


# --------------------------------------------------------------------------- the push loop


@dataclass(frozen=True)
class _Commit:
    """A change worked out on one tip of the branch, not yet in the work tree."""

    write: Callable[[], object]  # puts the change into the work tree
    paths: tuple[str, ...]  # what it wrote, relative to the work tree
    subject: str
    body: str = "Published by chartship."


#: Works a change out on the checked-out tip (None: the branch does not exist
#: yet): what to commit, or None when the tip has it already. Called once per
#: attempt, each time on the tip just fetched.
_Change = Callable[[str | None], _Commit | None]


@dataclass(frozen=True)
class _Pushed:
    """How the loop ended."""

    changed: bool  # the last tip fetched lacked the change
    commit: str | None  # the commit pushed; None: nothing (no change, or a dry run)
    pushes: int  # pushes tried
    rejections: int  # of them turned away because the branch had moved


def _push_change(
    clone: _Clone,
    change: _Change,
    *,
    base: str,
    target: str,
    dry_run: bool,
    max_attempts: int,
    failed: str,
    retry: bool = True,
    exhausted: str | None = None,
    again: str | None = None,
) -> _Pushed:
    """Fetch ``base``, apply ``change`` to it, commit, and push to ``target`` without force.

    A push turned away because the branch moved is fetched again and ``change``
    applied to the new tip, at most ``max_attempts`` times with a short
    randomised pause between (``again``, if given, is logged before each retry);
    with ``retry`` false it fails at once, as every other refusal does
    (``"<failed> failed"``). When every attempt was turned away, the error says
    ``exhausted`` if given. A dry run, or a tip that has the change already,
    stops before committing.
    """
    for attempt in range(1, max_attempts + 1):
        tip = clone.fetch(base)
        clone.checkout(tip)
        planned = change(tip)
        if planned is None or dry_run:
            return _Pushed(planned is not None, None, attempt - 1, attempt - 1)
        planned.write()
        clone.git("add", "--", *planned.paths)
        clone.git("commit", "-q", "-m", planned.subject, "-m", planned.body)
        commit = clone.git("rev-parse", "HEAD").stdout.strip()
        pushed = clone.push(target)
        if pushed.returncode == 0:
            return _Pushed(True, commit, attempt, attempt - 1)
        if not retry or not _moved(pushed):
            raise clone.fail(f"{failed} failed", pushed)
        if attempt == max_attempts:
            if exhausted is None:
                raise clone.fail(f"{failed} failed", pushed)
            raise ToolError(
                exhausted, argv=pushed.argv, returncode=pushed.returncode, output=pushed.output
            )
        if again is not None:
            log.info(
                "pages: %s moved while publishing (attempt %d of %d); %s",
                target,
                attempt,
                max_attempts,
                again,
            )
        time.sleep(_random.uniform(0.05, 0.25) * min(attempt, 4))
    raise AssertionError("unreachable")  # pragma: no cover (max_attempts is at least 1)


def _check_attempts(max_attempts: int) -> None:
    if max_attempts < 1:
        raise UsageError(f"max_attempts must be at least 1, not {max_attempts}")


# --------------------------------------------------------------------------- helpers


def _identity(environ: Mapping[str, str]) -> dict[str, str]:
    """Who commits, from ``environ``; set for git itself, or the process environment would win."""
    name = environ.get("GIT_AUTHOR_NAME") or environ.get("GIT_COMMITTER_NAME") or DEFAULT_NAME
    email = environ.get("GIT_AUTHOR_EMAIL") or environ.get("GIT_COMMITTER_EMAIL") or DEFAULT_EMAIL
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": environ.get("GIT_COMMITTER_NAME") or name,
        "GIT_COMMITTER_EMAIL": environ.get("GIT_COMMITTER_EMAIL") or email,
    }


def _subject(added: Sequence[tuple[str, str]], archives: Sequence[str]) -> str:
    if len(added) == 1:
        subject = f"Release {added[0][0]} {added[0][1]}"
    elif added:
        subject = f"Release {len(added)} charts: " + ", ".join(f"{n} {v}" for n, v in added)
    else:
        subject = "Add chart archives: " + ", ".join(archives)
    return subject


def base_url(index_url: str) -> str:
    """The repository URL helm is given: ``index_url`` without a trailing /index.yaml."""
    url = index_url.rstrip("/")
    suffix = "/" + INDEX_FILE
    return url[: -len(suffix)] if url.endswith(suffix) else url


def archive_url(pages: PagesSettings, artifact: Artifact) -> str:
    """Where an archive committed beside index.yaml is served (``packages: pages``)."""
    return f"{base_url(pages.index_url)}/{artifact.archive.name}"


def _place_archives(work: Path, artifacts: Sequence[Artifact], branch: str) -> list[str]:
    """Write the archives next to index.yaml; an archive already there must be identical."""
    copied: list[str] = []
    for artifact in artifacts:
        target = work / artifact.archive.name
        if target.exists():
            found = sha256_file(target)
            if found != artifact.sha256:
                raise ChartError(
                    f"{artifact.archive.name} on branch {branch} has sha256 {found}, but the "
                    f"archive to publish has {artifact.sha256}; a published archive is never "
                    "replaced; nothing pushed",
                    path=target.name,
                )
            continue
        # The bytes hashed when dist/ was read, not the dist/ file as it is now.
        target.write_bytes(artifact.content)
        copied.append(artifact.archive.name)
    return copied


def _verify(
    clone: _Clone,
    branch: str,
    entries: Sequence[Mapping[str, Any]],
    added: set[tuple[str, str]],
    artifacts: Sequence[Artifact],
    pages_mode: bool,
) -> None:
    """Fetch the branch tip back and check it serves what was published."""
    tip = clone.fetch(branch)
    where = f"branch {branch} of {clone.remote.shown}"
    if tip is None:
        raise ChartError(f"read-back: {where} does not exist after the push", path=INDEX_FILE)
    clone.git("checkout", "-q", "--force", "--detach", tip)
    clone.git("clean", "-q", "-f", "-d", "-x")
    index_file = clone.work / INDEX_FILE
    if not index_file.is_file():
        raise ChartError(f"read-back: missing on {where} at {tip[:12]}", path=INDEX_FILE)
    text = read_text(index_file, INDEX)
    for entry in entries:
        name, version = str(entry["name"]), str(entry["version"])
        found = get(text, name, version)
        problem = None
        if found is None:
            problem = "is missing"
        elif found.get("digest") != entry["digest"]:
            problem = f"has digest {found.get('digest')}, expected {entry['digest']}"
        elif (name, version) in added and entry["urls"][0] not in (found.get("urls") or []):
            problem = f"has urls {found.get('urls')}, expected {entry['urls'][0]}"
        if problem:
            raise ChartError(
                f"read-back: {name} {version} {problem} on {where} at {tip[:12]}",
                path=INDEX_FILE,
            )
    if pages_mode:
        for artifact in artifacts:
            archive = clone.work / artifact.archive.name
            digest = sha256_file(archive) if archive.is_file() else "(missing)"
            if digest != artifact.sha256:
                raise ChartError(
                    f"read-back: sha256 {digest} on {where} at {tip[:12]}, "
                    f"expected {artifact.sha256}",
                    path=artifact.archive.name,
                )


# --------------------------------------------------------------------------- publish


class _IndexChange:
    """The entries merged into index.yaml (and the archives placed beside it) on a tip.

    Keeps what it found on the last tip, for the result.
    """

    def __init__(
        self,
        work: Path,
        entries: Sequence[Mapping[str, Any]],
        archives: Sequence[Artifact],
        branch: str,
        where: str,
    ) -> None:
        self.work = work
        self.entries = entries
        self.archives = archives  # to place beside index.yaml (packages: pages)
        self.branch = branch
        self.where = where  # names the branch in messages
        self.tip: str | None = None
        self.merged = MergeResult()
        self.copied: list[str] = []

    def __call__(self, tip: str | None) -> _Commit | None:
        self.tip = tip
        index_file = self.work / INDEX_FILE
        old = read_text(index_file, INDEX) if index_file.is_file() else None
        try:
            text, self.merged = merge(old, self.entries)
            self.copied = _place_archives(self.work, self.archives, self.branch)
        except ChartError as exc:
            raise ChartError(
                f"{exc.message} (on {self.where})", path=exc.path, line=exc.line
            ) from None
        if not (self.merged.added or self.copied):
            return None
        return _Commit(
            lambda: index_file.write_bytes(text.encode("utf-8")),
            (INDEX_FILE, *self.copied),
            _subject(self.merged.added, self.copied),
        )


def publish_index(
    settings: Settings,
    artifacts: Sequence[Artifact],
    *,
    url_for: Callable[[Artifact], str],
    created_for: Callable[[Artifact], str | None] | None = None,
    dry_run: bool = False,
    runner: Runner | None = None,
    max_attempts: int = 8,
    pull_request_branch: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> PagesResult:
    """Add ``artifacts`` to index.yaml on the pages branch and push it.

    ``url_for`` gives each archive's download URL (``packages: releases``); with
    ``packages: pages`` the archives go onto the branch and are served from
    ``<index_url>/<archive name>``. ``pull_request_branch`` pushes to that new
    branch instead of the pages branch. A version already in the index with
    the same digest is left alone; with another digest nothing is published.
    ``created_for`` gives an entry's ``created`` time (default: now), for an
    archive released before it is indexed.
    """
    pages = settings.channels.pages
    if pages is None:
        raise UsageError("channels.pages is not configured in chartship.yaml")
    if not artifacts:
        raise UsageError("nothing to publish: no chart archives given")
    _check_attempts(max_attempts)
    if pull_request_branch is not None and pull_request_branch in ("", pages.branch):
        raise UsageError(
            f"the pull-request branch must be a new branch, not {pull_request_branch!r}"
        )
    runner = runner or Runner()
    environ = os.environ if environ is None else environ
    pages_mode = pages.packages == "pages"

    def url_of(artifact: Artifact) -> str:
        return archive_url(pages, artifact) if pages_mode else url_for(artifact)

    # Built once: a retry merges exactly these entries (same created time) again.
    entries = [entry_for(a, url_of(a), created_for(a) if created_for else None) for a in artifacts]
    remote = _remote(settings, pages, runner, environ)
    target = pull_request_branch or pages.branch
    with _cloned(remote, runner, _identity(environ)) as clone:
        if pull_request_branch is not None and clone.exists(pull_request_branch):
            raise UsageError(
                f"branch {pull_request_branch} already exists on {remote.shown}; "
                "name a new branch for the pull request"
            )
        if pull_request_branch is not None and not clone.exists(pages.branch):
            # GitHub opens no pull request into a branch that is not there.
            raise UsageError(
                f"a pull request needs its base, and branch {pages.branch} does not exist on "
                f"{remote.shown} yet: publish the first index.yaml without --pull-request"
            )
        where = f"branch {pages.branch} of {remote.shown}"
        change = _IndexChange(
            clone.work, entries, artifacts if pages_mode else (), pages.branch, where
        )
        pushed = _push_change(
            clone,
            change,
            base=pages.branch,
            target=target,
            dry_run=dry_run,
            max_attempts=max_attempts,
            failed=f"push to branch {target}",
            # A new branch turned away was not moved but taken: merging again cannot help.
            retry=pull_request_branch is None,
            exhausted=(
                f"push to branch {target} of {remote.shown} was still rejected after "
                f"{max_attempts} attempts: others kept publishing meanwhile; nothing of "
                "this run was published, run it again"
            ),
            again="merging again",
        )
        if pushed.commit is not None:
            _verify(clone, target, entries, set(change.merged.added), artifacts, pages_mode)
    result = PagesResult(
        branch=target,
        base_branch=pages.branch,
        remote=remote.shown,
        added=change.merged.added,
        present=change.merged.present,
        archives=tuple(change.copied),
        commit=pushed.commit,
        attempts=pushed.pushes,
        rejections=pushed.rejections,
        created_branch=change.tip is None,
        dry_run=dry_run,
        pull_request=pull_request_branch is not None,
    )
    log.info("pages: %s", result.summary)
    return result


# --------------------------------------------------------------------------- other files


@dataclass(frozen=True)
class FileUpdate:
    """What changing one file on the pages branch did (or, for a dry run, would do)."""

    branch: str
    path: str
    changed: bool
    commit: str | None = None
    dry_run: bool = False

    @property
    def summary(self) -> str:
        if not self.changed:
            return f"{self.path} on {self.branch} is already up to date"
        if self.dry_run:
            return f"dry run: would update {self.path} on {self.branch}"
        return f"updated {self.path} on {self.branch} (commit {(self.commit or '')[:12]})"


def update_file(
    settings: Settings,
    path: str,
    transform: Callable[[str | None], str],
    *,
    subject: str,
    dry_run: bool = False,
    runner: Runner | None = None,
    max_attempts: int = 8,
    environ: Mapping[str, str] | None = None,
) -> FileUpdate:
    """Rewrite one text file of the pages branch with ``transform`` (given None if absent).

    Pushed without force like index.yaml: a branch that moved meanwhile is fetched and
    ``transform`` applied again on the new tip, at most ``max_attempts`` times.
    """
    pages = settings.channels.pages
    if pages is None:
        raise UsageError("channels.pages is not configured in chartship.yaml")
    if "/" in path or path in ("", ".", "..", INDEX_FILE):
        raise UsageError(f"refusing to write {path!r} on the pages branch")
    _check_attempts(max_attempts)
    runner = runner or Runner()
    environ = os.environ if environ is None else environ
    remote = _remote(settings, pages, runner, environ)
    with _cloned(remote, runner, _identity(environ)) as clone:
        target = clone.work / path

        def change(tip: str | None) -> _Commit | None:
            old = target.read_text(encoding="utf-8") if target.is_file() else None
            new = transform(old)
            if new == old:
                return None
            return _Commit(lambda: target.write_text(new, encoding="utf-8"), (path,), subject)

        pushed = _push_change(
            clone,
            change,
            base=pages.branch,
            target=pages.branch,
            dry_run=dry_run,
            max_attempts=max_attempts,
            failed=f"push of {path} to branch {pages.branch}",
        )
    return FileUpdate(pages.branch, path, pushed.changed, pushed.commit, dry_run=dry_run)


def read_file(settings: Settings, path: str, *, runner: Runner | None = None) -> str | None:
    """One file of the pages branch's tip, or None when the file or the branch is absent."""
    pages = settings.channels.pages
    if pages is None:
        raise UsageError("channels.pages is not configured in chartship.yaml")
    runner = runner or Runner()
    remote = _remote(settings, pages, runner)
    with _cloned(remote, runner) as clone:
        tip = clone.fetch(pages.branch)
        if tip is None:
            return None
        clone.checkout(tip)
        target = clone.work / path
        return target.read_text(encoding="utf-8") if target.is_file() else None

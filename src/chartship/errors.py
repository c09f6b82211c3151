"""The one exception hierarchy of chartship.

The core raises these and never exits; the front ends (``chartship.cli``,
``chartship.tasks``, ``chartship.nox_sessions``) turn them into exit statuses
through :func:`chartship.exits.exit_status`.

Every error carries the file it is about where there is one, so that the
message a user sees always names the input that has to change.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from chartship.safetext import redact_urls


class ChartshipError(Exception):
    """Base of every error chartship raises on purpose."""

    #: Exit status a front end uses for this kind of failure.
    exit_code = 1
    #: Whether the same call may well succeed later, unchanged: a service
    #: having an outage, as opposed to a refusal or a bad input.
    transient = False
    #: Whether the failure concerns one channel's copy of one thing (an asset it
    #: will not download): that channel fails, and a release goes on with the others.
    contained = False

    def __init__(self, message: str, *, path: Path | str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None
        # As a Path, http://host/index.yaml would read http:/host/index.yaml.
        self.location = path if isinstance(path, str) and "://" in path else None
        self.line = line

    def __str__(self) -> str:
        # Whatever a message quotes (a URL from an index, a remote, a server's
        # answer), a user name and password in a URL never reach the reader.
        return redact_urls(self._text())

    def _text(self) -> str:
        if self.path is None:
            return self.message
        shown = self.location or str(self.path)
        where = shown if self.line is None else f"{shown}:{self.line}"
        return f"{where}: {self.message}"


class UsageError(ChartshipError):
    """A flag or argument given to a command is wrong."""

    exit_code = 2


class ConfigError(ChartshipError):
    """chartship.yaml (or an override of it) is invalid."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        key: str | None = None,
        line: int | None = None,
    ):
        self.key = key
        text = f"{key}: {message}" if key else message
        super().__init__(text, path=path, line=line)


class ChartError(ChartshipError):
    """A chart's own files are malformed: Chart.yaml, values, schema, lock."""

    exit_code = 3


class VersionError(ChartshipError):
    """A version is not SemVer, goes backwards, or is the unstamped placeholder."""

    exit_code = 3


class ToolError(ChartshipError):
    """An external command (helm, git, gpg) failed.

    ``argv`` is kept for the message with secrets already removed by the
    runner; ``output`` is the command's combined diagnostic output.
    """

    exit_code = 4

    def __init__(
        self,
        message: str,
        *,
        argv: Sequence[str] = (),
        returncode: int | None = None,
        output: str = "",
        path: Path | str | None = None,
    ):
        self.argv = tuple(argv)
        self.returncode = returncode
        self.output = output
        super().__init__(message, path=path)

    def _text(self) -> str:
        text = super()._text()
        detail = self.output.strip()
        return f"{text}\n{detail}" if detail else text


class DependencyError(ToolError):
    """A chart's dependency cannot be had: not vendored, and its repository (or mirror)
    unreachable, refusing, or ruled out by ``--offline``. The message says what to run."""


class ToolchainError(ChartshipError):
    """A pinned tool could not be obtained or failed its checksum."""

    exit_code = 4


class Unavailable(ChartshipError):
    """A service kept failing (5xx, 429, dropped connections) past every retry.

    Unlike a refusal, this says nothing about what the service holds: the same
    call may well succeed in a minute. Each service's errors have their own
    subclass (:class:`RegistryUnavailable`, :class:`GithubUnavailable`).
    """

    exit_code = 5
    transient = True


class RegistryError(ChartshipError):
    """An OCI registry refused, failed or could not be reached.

    Messages always name the registry and never carry credentials.
    """

    exit_code = 5


class NotFound(RegistryError):
    """A chart repository or registry answered 404 for something it was asked for."""


class RegistryUnavailable(RegistryError, Unavailable):
    """A registry or chart repository kept failing past every retry."""


class RedirectRefused(RegistryError):
    """A registry or chart repository redirected to a URL that is not http(s)."""


class GithubError(ChartshipError):
    """The GitHub API refused or failed a call; messages never carry the token."""

    exit_code = 5


class AssetUnreadable(GithubError):
    """A release asset chartship will not download: its download redirects to a URL
    that is not http(s), or from https to plain http, or too many times."""

    contained = True


class GithubUnavailable(GithubError, Unavailable):
    """GitHub kept failing (5xx, rate limits, dropped connections) past every retry."""

    transient = True


class GitRemoteError(ToolError):
    """A git remote (the pages branch's) refused the credentials or could not be reached.

    git is the tool, but the fault is the service's, as with a registry: exit 5.
    """

    exit_code = 5


class GitRemoteUnavailable(GitRemoteError, Unavailable):
    """A git remote could not be reached (refused connection, no such host, 5xx)."""

    exit_code = 5
    transient = True


class ChannelsNotReady(ChartshipError):
    """Preflight found channels that cannot be completed; nothing was published.

    Every channel's problem is listed at once, so one run shows all there is to
    fix. The exit status is that of the first problem in publishing order.
    """

    def __init__(self, what: str, problems: Sequence[tuple[str, ChartshipError]]):
        self.problems = tuple(problems)
        first = self.problems[0][1]
        self.exit_code = first.exit_code
        self.transient = all(e.transient for _, e in self.problems)
        advice = (
            "run it again once every channel answers"
            if self.transient
            else "fix what is listed and run it again"
        )
        listed = "\n".join(f"  {title}: {error}" for title, error in self.problems)
        super().__init__(
            f"{what}: nothing was published: {len(self.problems)} channel(s) cannot be "
            f"completed; {advice}:\n{listed}"
        )


class PublishIncomplete(ChartshipError):
    """Some artifacts were refused or failed to publish; the summary says which."""

    exit_code = 6

    def __init__(self, message: str, *, failed: int, refused: int):
        super().__init__(message)
        self.failed = failed
        self.refused = refused


class ChecksFailed(ChartshipError):
    """A check-type command (lint, verify) found problems.

    The problems themselves have been reported already; this only carries the
    count so the edge can exit non-zero with a one-line summary.
    """

    exit_code = 1

    def __init__(self, message: str, *, count: int):
        super().__init__(message)
        self.count = count


class PhaseRefused(ChecksFailed):
    """A phase refusal that a channel's error took part in (the channel could not be
    read): it exits with that error's status, as the channel's own commands would."""

    def __init__(self, message: str, *, count: int, cause: ChartshipError) -> None:
        super().__init__(message, count=count)
        self.exit_code = cause.exit_code


class RehearsalFailed(ChartshipError):
    """A command ``chartship sandbox`` ran failed (or the sandbox was interrupted): the
    sandbox exits with that command's status, as the command itself would."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.exit_code = status

"""Where errors become exit statuses: the one place every front end shares.

The CLI, the invoke tasks and (through the CLI) the nox sessions all call
:func:`outcome` on whatever a command raised, so a given failure exits with
the same status and the same message whichever front end ran it.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any

from chartship.errors import ChartshipError
from chartship.github_actions import inert
from chartship.safetext import redact_urls

#: Exit status for a bug in chartship itself, distinct from every expected failure.
INTERNAL_ERROR = 70

#: Every exit status and what it means; ``--help`` and README list the same.
STATUSES: dict[int, str] = {
    0: "success",
    1: "checks failed (lint found problems)",
    2: "usage or configuration error (chartship.yaml, flags, overrides)",
    3: "a chart's files or a version are wrong",
    4: (
        "an external tool (helm, git, gpg) failed or could not be obtained, "
        "or a dependency is neither vendored nor to be fetched"
    ),
    5: (
        "a registry, the GitHub API or the pages remote or site failed, refused the "
        "credentials, or could not be reached"
    ),
    6: (
        "publishing incomplete: something was refused, failed or is beyond repair "
        "(the summary says what)"
    ),
    INTERNAL_ERROR: "a bug in chartship",
}


def exit_status(error: BaseException) -> int:
    if isinstance(error, ChartshipError):
        return error.exit_code
    return INTERNAL_ERROR


def error_text(error: BaseException) -> str:
    """What went wrong, without the ``chartship: error:`` a terminal line starts with."""
    if isinstance(error, ChartshipError):
        return str(error)
    return f"{type(error).__name__}: {redact_urls(str(error))}"


def error_message(error: BaseException) -> str:
    """The line a front end prints; a tool's output quoted in it stays plain text in a
    GitHub Actions log (:func:`chartship.github_actions.inert`)."""
    kind = "error" if isinstance(error, ChartshipError) else "internal error"
    return inert(f"chartship: {kind}: {error_text(error)}")


class _Redacting(logging.Formatter):
    """Progress lines quote URLs from indexes and servers (never with their credentials)
    and tools' output (never as workflow commands)."""

    def format(self, record: logging.LogRecord) -> str:
        return inert(redact_urls(super().format(record)))


def outcome(error: Exception) -> tuple[int, str]:
    """The exit status and the one-line message for ``error``.

    A bug (anything not a :class:`ChartshipError`) also has its traceback
    printed on stderr first, for the report a user files.
    """
    if not isinstance(error, ChartshipError):
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    return exit_status(error), error_message(error)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record, not the one of
    the first configuration: an embedding program (or a test) may replace it later."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass  # always the current sys.stderr


def configure_logging(verbose: bool = False) -> None:
    """Progress to stderr so stdout stays for results a script may read."""
    logger = logging.getLogger("chartship")
    if not logger.handlers:
        handler = _CurrentStderr()
        handler.setFormatter(_Redacting("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False

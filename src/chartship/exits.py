"""Where errors become exit statuses: the one place front ends share."""

from __future__ import annotations

import logging
import sys

from chartship.errors import ChartshipError

#: Exit status for a bug in chartship itself, distinct from every expected failure.
INTERNAL_ERROR = 70


def exit_status(error: BaseException) -> int:
    if isinstance(error, ChartshipError):
        return error.exit_code
    return INTERNAL_ERROR


def error_message(error: BaseException) -> str:
    if isinstance(error, ChartshipError):
        return f"chartship: error: {error}"
    return f"chartship: internal error: {type(error).__name__}: {error}"


def configure_logging(verbose: bool = False) -> None:
    """Progress to stderr so stdout stays for results a script may read."""
    logger = logging.getLogger("chartship")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False

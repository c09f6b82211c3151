"""Running external commands: argv lists only, secrets kept out of every trace.

The runner is an object handed to whatever needs one (helm, git, gpg), so tests
and embedders can substitute or wrap it without patching module globals.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from chartship.errors import ToolError

log = logging.getLogger("chartship")

MASK = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """Both streams: helm 3 and helm 4 disagree on which one carries what."""
        return "\n".join(part for part in (self.stdout.strip(), self.stderr.strip()) if part)


class Runner:
    """Runs commands with a timeout and returns their output as text.

    ``secrets`` given to :meth:`run` are masked in logs, in the result and in
    errors; they may be passed on standard input but never in ``argv``.
    """

    def __init__(self, *, default_timeout: float = 600.0) -> None:
        self.default_timeout = default_timeout

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stdin: str | None = None,
        timeout: float | None = None,
        secrets: Sequence[str] = (),
        check: bool = True,
        what: str | None = None,
    ) -> Result:
        argv = tuple(str(a) for a in argv)
        for secret in secrets:
            if secret and any(secret in arg for arg in argv):
                # A programming error, but one that must never leak the value it guards.
                raise ToolError("refusing to run a command with a secret in its arguments")
        shown = redact(shlex.join(argv), secrets)
        log.debug("run: %s", shown)
        full_env = {**os.environ, **env} if env is not None else None
        try:
            proc = subprocess.run(
                argv,
                input=stdin if stdin is not None else None,
                stdin=subprocess.DEVNULL if stdin is None else None,
                capture_output=True,
                text=True,
                env=full_env,
                cwd=cwd,
                timeout=timeout if timeout is not None else self.default_timeout,
                check=False,
            )
        except FileNotFoundError:
            raise ToolError(
                f"{argv[0]}: command not found (install it or configure its path)", argv=()
            ) from None
        except subprocess.TimeoutExpired as exc:
            raise ToolError(
                f"{what or argv[0]} did not finish within {exc.timeout:g}s: {shown}"
            ) from None
        result = Result(
            argv=argv,
            returncode=proc.returncode,
            stdout=redact(proc.stdout, secrets),
            stderr=redact(proc.stderr, secrets),
        )
        if check and proc.returncode != 0:
            raise ToolError(
                f"{what or shown} failed (exit {proc.returncode})",
                argv=tuple(redact(a, secrets) for a in argv),
                returncode=proc.returncode,
                output=result.output,
            )
        return result

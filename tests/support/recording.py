"""A real runner that also keeps what it ran, for tests that count or inspect commands."""

from __future__ import annotations

from typing import Any

from chartship.runner import Result, Runner


class RecordingRunner(Runner):
    """A real runner that also keeps every argv it ran (secrets already masked)."""

    def __init__(self) -> None:
        super().__init__()
        self.argvs: list[tuple[str, ...]] = []
        self.outputs: list[str] = []
        #: The environment each command was given on top of this process's.
        self.envs: list[dict[str, str]] = []

    def run(self, argv: Any, **kwargs: Any) -> Result:
        self.argvs.append(tuple(str(a) for a in argv))
        self.envs.append(dict(kwargs.get("env") or {}))
        try:
            result = super().run(argv, **kwargs)
        except Exception as exc:
            self.outputs.append(str(exc))
            raise
        self.outputs.append(result.output)
        return result

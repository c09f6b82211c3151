"""This repository's invoke tasks: chartship's own collection, as any consumer uses it."""

from chartship.tasks import ns

__all__ = ["ns"]

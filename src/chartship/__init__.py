"""chartship: release Helm charts from invoke tasks and nox sessions.

The core modules import neither invoke nor nox; ``chartship.tasks`` and
``chartship.nox_sessions`` are the thin front ends. This module stays free of
third-party imports so that a noxfile can import the session helper cheaply.
"""

__version__ = "0.1.0"

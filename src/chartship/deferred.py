"""A module that a dependency imports eagerly but needs only on a path chartship never takes.

PyGithub's ``github.Auth`` runs ``import jwt`` at import time, and PyJWT pulls in
cryptography: about a third of PyGithub's import, paid by every command that
reads GitHub, for the JWTs of GitHub App authentication, which chartship does
not use. :func:`defer` puts a stand-in under the module's name until
something reads one of its attributes; then the real module is imported, takes
its place in ``sys.modules``, and answers that read and every later one. An
importer that wants the module itself (``from jwt import encode``, a submodule
import) reads an attribute, so it gets the real one; nothing sees the stand-in
behave differently, only later.

:mod:`importlib.util.LazyLoader` is not enough here: on Python 3.11 the import
statement itself reads the module's ``__spec__`` and so loads it at once.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

# Two threads reading a deferred module at once must not import it twice.
_LOCK = threading.RLock()


class _Deferred(types.ModuleType):
    """Stands in ``sys.modules`` for a module not imported yet."""

    def __getattr__(self, attribute: str) -> Any:
        return getattr(_real(self), attribute)


def _real(stand_in: _Deferred) -> types.ModuleType:
    name = stand_in.__name__
    with _LOCK:
        current = sys.modules.get(name)
        if current is not None and current is not stand_in:
            return current
        sys.modules.pop(name, None)
        try:
            return importlib.import_module(name)
        except BaseException:
            # Importable later, as it was before, with the same error then.
            sys.modules[name] = stand_in
            raise


def defer(name: str) -> None:
    """Import ``name`` only when something first reads one of its attributes.

    A module already imported, or one this process already deferred, is left
    as it is; so is a module that is not installed, whose importer gets the
    usual error.
    """
    if name in sys.modules or importlib.util.find_spec(name) is None:
        return
    sys.modules[name] = _Deferred(name)

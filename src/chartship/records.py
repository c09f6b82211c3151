"""Value records without :mod:`dataclasses`, for the modules an index merge loads.

Importing dataclasses imports inspect (and with it ast, dis and tokenize),
about 8 ms, and every frozen dataclass generates and execs its methods at
import, near 1 ms each: together about a fifth of the process that merges
one chart into a small index.yaml, which must not be slower than
``helm repo index --merge``. A record lists its fields in ``__slots__``,
declares them ``Final`` (so mypy refuses an assignment after ``__init__``,
as a frozen dataclass refuses it at run time) and sets them in ``__init__``;
:class:`Record` gives it equality, a hash and a repr over those fields.
Modules an index merge does not load keep using dataclasses.

For the same reason these modules import :mod:`typing` (about 4 ms) only for
mypy, under ``TYPE_CHECKING = False``, a constant mypy takes as true; with
postponed annotations nothing else of typing is needed at run time.
"""

from __future__ import annotations

# typing only for mypy: an index merge's start-up does not import it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar


class Record:
    """Equality, hash and repr over the fields a subclass names in ``__slots__``, in order."""

    __slots__ = ()
    #: Fields that take no part in equality and the hash (a cache of what the others decide).
    uncompared: ClassVar[frozenset[str]] = frozenset()
    #: Fields the repr leaves out (bytes nobody wants printed).
    unshown: ClassVar[frozenset[str]] = frozenset()

    def _compared(self) -> tuple[object, ...]:
        names: tuple[str, ...] = type(self).__slots__
        return tuple(getattr(self, name) for name in names if name not in self.uncompared)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record) or type(other) is not type(self):
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def __repr__(self) -> str:
        names: tuple[str, ...] = type(self).__slots__
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in names if n not in self.unshown)
        return f"{type(self).__name__}({fields})"

"""Reading YAML files so that every later complaint can name a file and a line.

Every YAML file chartship reads comes through here, and so does every bound
on one (JSON files through :mod:`chartship.jsonfiles`, with the same
:class:`Bounds`). A file is refused, naming it and the line, when it is

* larger than its kind's ``max_bytes`` (checked before it is read);
* nested deeper than ``max_depth`` collections;
* larger than ``max_nodes`` values once every alias is counted as the whole
  node it repeats. This is counted while the document is composed, before
  anything is expanded, so a "billion laughs" of nine nested aliases is
  refused after a few hundred events instead of filling memory;
* holding an alias to a node that contains it (a recursive structure, which
  nothing in a chart or a configuration ever needs).

The limits (:data:`CONFIG`, :data:`CHART`, :data:`LOCK`, :data:`VALUES`, :data:`INDEX`,
...) are far above any real file of the kind; README.md lists them.
"""

from __future__ import annotations

import functools
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
import yaml.composer
import yaml.constructor
import yaml.resolver
from yaml._yaml import CParser as _CParser

from chartship.errors import ChartError

KeyPath = tuple[str | int, ...]

_MIB = 2**20


@dataclass(frozen=True)
class Bounds:
    """How large one input of a kind may be: as a file, as nesting and as values."""

    what: str
    max_bytes: int
    max_depth: int = 64
    max_nodes: int = 100_000


#: chartship.yaml.
CONFIG = Bounds("chartship.yaml", 1 * _MIB)
#: chart-testing's ct.yaml, read where chartship.yaml is silent.
CT_CONFIG = Bounds("ct.yaml", 1 * _MIB)
#: Chart.yaml, in a chart directory or inside an archive.
CHART = Bounds("Chart.yaml", 1 * _MIB)
#: values.yaml and ci/*-values.yaml (helm refuses a chart file over 5 MiB).
VALUES = Bounds("values file", 5 * _MIB, max_nodes=1_000_000)
#: values.schema.json (helm refuses a chart file over 5 MiB).
SCHEMA = Bounds("values.schema.json", 5 * _MIB, max_nodes=1_000_000)
#: A classic index.yaml: the largest public ones are tens of MiB.
INDEX = Bounds("index.yaml", 256 * _MIB, max_nodes=100_000_000)
#: A chart's Chart.lock: one entry per dependency.
LOCK = Bounds("Chart.lock", 1 * _MIB)
#: dist/SHA256SUMS: one line per archive and signature.
SUMS = Bounds("SHA256SUMS", 1 * _MIB)
#: A chart's artifacthub.io/changes annotation, read for release notes.
ANNOTATION = Bounds("annotation", 1 * _MIB)


class LimitExceeded(yaml.MarkedYAMLError):
    """A document over one of its :class:`Bounds`; raised while it is composed."""


class _BoundedComposer(yaml.composer.Composer):
    """A composer that counts what each alias stands for instead of trusting it.

    Nodes are shared, never copied, when an alias is composed; it is whoever
    walks the data afterwards (a validator, a schema check, a merge) that pays
    for the expansion. So the count here is the size of the data as a walker
    sees it: every node once, and for every alias the size of the node it
    names, known because an anchored node is finished before it can be named.
    """

    bounds: Bounds = CONFIG

    if TYPE_CHECKING:  # provided by the parser the composer is mixed with

        def peek_event(self) -> Any: ...

    def _start_bounds(self, text: str) -> None:
        self._depth = 0
        self._nodes = 0
        self._sizes: dict[int, int] = {}
        if len(text) > self.bounds.max_bytes:
            raise LimitExceeded(
                problem=f"is over {self.bounds.max_bytes} bytes, the most chartship reads "
                f"for a {self.bounds.what}"
            )

    def _count(self, size: int, mark: Any) -> None:
        self._nodes += size
        if self._nodes > self.bounds.max_nodes:
            raise LimitExceeded(
                problem=f"holds over {self.bounds.max_nodes} values once its aliases are "
                f"expanded (an alias bomb?), the most chartship reads for a {self.bounds.what}",
                problem_mark=mark,
            )

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        # libyaml's marks are of its own type; both carry the line.
        mark: Any = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:
                size = self._sizes.get(id(target))
                if size is None:
                    raise LimitExceeded(
                        problem=f"alias *{event.anchor} refers to a node that contains it",
                        problem_mark=mark,
                    )
                self._count(size, mark)
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > self.bounds.max_depth:
                raise LimitExceeded(
                    problem=f"nests deeper than {self.bounds.max_depth} levels, the most "
                    f"chartship reads for a {self.bounds.what}",
                    problem_mark=mark,
                )
            before = self._nodes
            self._count(1, mark)
            node = super().compose_node(parent, index)
            if getattr(event, "anchor", None) is not None:
                self._sizes[id(node)] = self._nodes - before
            return node
        finally:
            self._depth -= 1


class BoundedSafeLoader(_BoundedComposer, yaml.SafeLoader):
    """PyYAML's safe loader, composing within :attr:`bounds` (a class attribute)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._start_bounds(stream)


class BoundedCSafeLoader(
    _BoundedComposer, _CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
):
    """libyaml's parser with the bounded composer: fast for big files such as index.yaml.

    libyaml's own composer cannot be bounded (and recurses in C on deep
    nesting), so only its events are used.
    """

    def __init__(self, stream: str) -> None:
        _CParser.__init__(self, stream)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        yaml.composer.Composer.__init__(self)
        self._start_bounds(stream)


@functools.cache
def _loader(bounds: Bounds, base: type[_BoundedComposer]) -> type[Any]:
    return type(base.__name__, (base,), {"bounds": bounds})


def load_data(text: str, bounds: Bounds, *, fast: bool = False) -> Any:
    """One YAML document as plain data, within ``bounds``; raises PyYAML's errors."""
    loader = _loader(bounds, BoundedCSafeLoader if fast else BoundedSafeLoader)(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _mark_line(exc: yaml.MarkedYAMLError) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    return mark.line + 1 if mark is not None else None


def parse_data(text: str, path: Path | str, bounds: Bounds) -> Any:
    """:func:`load_data`, with every error a :class:`ChartError` naming ``path``."""
    try:
        return load_data(text, bounds)
    except LimitExceeded as exc:
        raise ChartError(str(exc.problem), path=path, line=_mark_line(exc)) from None
    except yaml.MarkedYAMLError as exc:
        reason = exc.problem or exc.context or "invalid YAML"
        raise ChartError(f"malformed YAML: {reason}", path=path, line=_mark_line(exc)) from None
    except yaml.YAMLError as exc:
        raise ChartError(f"malformed YAML: {exc}", path=path) from None


def read_text(path: Path, bounds: Bounds) -> str:
    """A regular file's text; refused over ``bounds``, unreadable, or not strict UTF-8.

    Only a regular file is opened: a FIFO or a device would block or never end.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ChartError("file not found", path=path) from None
    except OSError as exc:
        raise ChartError(f"cannot read: {exc.strerror or exc}", path=path) from None
    if not stat.S_ISREG(info.st_mode):
        raise ChartError("is not a regular file", path=path)
    if info.st_size > bounds.max_bytes:
        raise ChartError(
            f"is {info.st_size} bytes, over {bounds.max_bytes}, the most chartship reads "
            f"for a {bounds.what}",
            path=path,
        )
    try:
        with path.open("rb") as handle:
            # The size may grow between stat and read: never read more than the bound.
            data = handle.read(bounds.max_bytes + 1)
    except OSError as exc:
        raise ChartError(f"cannot read: {exc.strerror or exc}", path=path) from None
    if len(data) > bounds.max_bytes:
        raise ChartError(f"is over {bounds.max_bytes} bytes", path=path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ChartError(
            f"is not UTF-8 text (invalid byte at offset {exc.start})", path=path
        ) from None


@dataclass
class YamlDocument:
    """Parsed YAML plus the line (1-based) where each key or item starts."""

    path: Path
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    duplicate_keys: list[tuple[KeyPath, int]] = field(default_factory=list)

    def line(self, *keys: str | int) -> int | None:
        """Line of the deepest known prefix of ``keys``."""
        for end in range(len(keys), -1, -1):
            found = self.lines.get(tuple(keys[:end]))
            if found is not None:
                return found
        return None


def _index(node: yaml.Node, prefix: KeyPath, doc: YamlDocument) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            where = (*prefix, key)
            line = key_node.start_mark.line + 1
            if key in seen:
                doc.duplicate_keys.append((where, line))
            seen.add(key)
            doc.lines.setdefault(where, line)
            _index(value_node, where, doc)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            where = (*prefix, position)
            doc.lines[where] = item.start_mark.line + 1
            _index(item, where, doc)


def parse_yaml(text: str, path: Path, bounds: Bounds = CONFIG) -> YamlDocument:
    """Parse one YAML document within ``bounds``; bad input raises :class:`ChartError`
    with its line."""
    loader = _loader(bounds, BoundedSafeLoader)(text) if len(text) <= bounds.max_bytes else None
    if loader is None:
        raise ChartError(
            f"is over {bounds.max_bytes} bytes, the most chartship reads for a {bounds.what}",
            path=path,
        )
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except LimitExceeded as exc:
        raise ChartError(str(exc.problem), path=path, line=_mark_line(exc)) from None
    except yaml.MarkedYAMLError as exc:
        reason = exc.problem or exc.context or "invalid YAML"
        raise ChartError(f"malformed YAML: {reason}", path=path, line=_mark_line(exc)) from None
    except yaml.YAMLError as exc:
        raise ChartError(f"malformed YAML: {exc}", path=path) from None
    except RecursionError:
        # Bounded depth keeps the composer far from this; the constructor is the backstop.
        raise ChartError("nests too deeply", path=path) from None
    finally:
        loader.dispose()
    doc = YamlDocument(path=path, data=data)
    if node is not None:
        _index(node, (), doc)
    return doc


def load_yaml(path: Path, bounds: Bounds = CONFIG) -> YamlDocument:
    return parse_yaml(read_text(path, bounds), path, bounds)

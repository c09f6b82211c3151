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
  nothing in a chart or a configuration ever needs);
* giving one mapping key twice (:func:`duplicate_keys`). YAML forbids it and
  readers disagree on the outcome: helm refuses it in index.yaml ("key already
  set in map") yet silently takes the last one in Chart.yaml and values files,
  so a reviewer reading the first sees another chart than helm builds.

The limits (:data:`CONFIG`, :data:`CHART`, :data:`LOCK`, :data:`VALUES`, :data:`INDEX`,
...) are far above any real file of the kind; README.md lists them.
"""

from __future__ import annotations

import functools
import re
import stat
from pathlib import Path

import yaml
import yaml.composer
import yaml.constructor
import yaml.resolver
from yaml._yaml import CParser as _CParser

from chartship.errors import ChartError
from chartship.records import Record
from chartship.safetext import shown

# typing only for mypy: an index merge's start-up does not import it (chartship.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Final

KeyPath = tuple[str | int, ...]

_MIB = 2**20


class Bounds(Record):
    """How large one input of a kind may be: as a file, as nesting and as values."""

    __slots__ = ("max_bytes", "max_depth", "max_nodes", "what")
    what: Final[str]
    max_bytes: Final[int]
    max_depth: Final[int]
    max_nodes: Final[int]

    def __init__(
        self, what: str, max_bytes: int, max_depth: int = 64, max_nodes: int = 100_000
    ) -> None:
        self.what = what
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.max_nodes = max_nodes


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
#: A chart's Chart.lock (requirements.lock for apiVersion v1): one entry per dependency.
LOCK = Bounds("lock file", 1 * _MIB)
#: An apiVersion v1 chart's requirements.yaml: its dependencies.
REQUIREMENTS = Bounds("requirements.yaml", 1 * _MIB)
#: dist/SHA256SUMS: one line per archive and signature.
SUMS = Bounds("SHA256SUMS", 1 * _MIB)
#: A chart's artifacthub.io/changes annotation, read for release notes.
ANNOTATION = Bounds("annotation", 1 * _MIB)


class Refused(yaml.MarkedYAMLError):
    """Well-formed YAML that chartship will not read: over its bounds, or ambiguous."""


class LimitExceeded(Refused):
    """A document over one of its :class:`Bounds`; raised while it is composed."""


class DuplicateKey(Record):
    """A mapping key given a second time: where it sits and both of its lines (1-based)."""

    __slots__ = ("first_line", "keys", "line")
    keys: Final[KeyPath]
    first_line: Final[int]
    line: Final[int]

    def __init__(self, keys: KeyPath, first_line: int, line: int) -> None:
        self.keys = keys
        self.first_line = first_line
        self.line = line

    @property
    def dotted(self) -> str:
        """``entries.demo[0].version``: keys joined by dots, positions in brackets."""
        text = ""
        for key in self.keys:
            text += f"[{key}]" if isinstance(key, int) else f".{key}" if text else key
        return text

    def describe(self) -> str:
        return (
            f"key {shown(self.dotted, quote=False)} appears twice "
            f"(lines {self.first_line} and {self.line})"
        )


class DuplicateKeyError(Refused):
    """A document that gives one mapping key twice (:class:`DuplicateKey`)."""

    def __init__(self, duplicate: DuplicateKey) -> None:
        super().__init__(problem=duplicate.describe())
        self.duplicate = duplicate


def duplicate_keys(text: str) -> list[DuplicateKey]:
    """Every repeated key of every mapping of one document, in document order.

    A pass over libyaml's events that builds nothing: cheap enough for a large
    index.yaml that is otherwise merged as text. Keys compare by their text,
    as helm's YAML-to-JSON conversion sees them; aliases are never expanded
    (an alias names a node already checked where it was anchored).
    Malformed YAML raises PyYAML's errors.
    """
    found: list[DuplicateKey] = []
    stack: list[_Frame] = []
    parser = _CParser(text)
    try:
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                stack.pop()
                if stack:
                    stack[-1].advance()
                continue
            if not isinstance(event, yaml.NodeEvent):
                continue
            top = stack[-1] if stack else None
            if top is None:
                path: KeyPath = ()
            elif top.seen is not None and top.expect_key:
                path = (*top.path, "?")
                if isinstance(event, yaml.ScalarEvent):
                    top.key = str(event.value)
                    line = event.start_mark.line + 1 if event.start_mark else 0
                    if top.key in top.seen:
                        found.append(DuplicateKey((*top.path, top.key), top.seen[top.key], line))
                    else:
                        top.seen[top.key] = line
                else:
                    top.key = "?"  # a collection or alias as a key: not comparable
            else:
                path = (*top.path, top.key if top.seen is not None else top.index)
            if isinstance(event, yaml.CollectionStartEvent):
                mapping = isinstance(event, yaml.MappingStartEvent)
                stack.append(_Frame(path, {} if mapping else None))
            elif top is not None:
                top.advance()
    finally:
        parser.dispose()
    return found


class _Frame:
    """An open mapping (``seen``: key -> line) or sequence (``seen`` None) of a document."""

    __slots__ = ("expect_key", "index", "key", "path", "seen")

    def __init__(self, path: KeyPath, seen: dict[str, int] | None) -> None:
        self.path = path
        self.seen = seen
        self.expect_key = True
        self.key = "?"
        self.index = 0

    def advance(self) -> None:
        """One key or value of this mapping, or one item of this sequence, is complete."""
        if self.seen is not None:
            self.expect_key = not self.expect_key
        else:
            self.index += 1


def too_deep(bounds: Bounds, mark: Any) -> LimitExceeded:
    return LimitExceeded(
        problem=f"nests deeper than {bounds.max_depth} levels, the most chartship reads "
        f"for a {bounds.what}",
        problem_mark=mark,
    )


def _as_read(text: str, mark: Any) -> yaml.Mark:
    """libyaml's mark as PyYAML's reader of ``text`` makes it, the line quoted."""
    index, line, column = mark.index, mark.line, mark.column
    return yaml.Mark("<unicode string>", index, line, column, text + "\0", index)


#: libyaml's refusal past its own nesting limit (1000 levels, far above any bound here).
_LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"


def refuse_deep(text: str, bounds: Bounds) -> None:
    """Refuse a node nested deeper than ``bounds.max_depth``, found in libyaml's events.

    PyYAML's scanner keeps each open flow collection as a possible simple key
    and looks at all of them for every token: on ``[[[[...`` it spends
    seconds before its composer reaches the depth it refuses. libyaml's
    events get there at C speed; the error is the composer's own, at the same
    node (a node counts its collections and itself, as the composer does).
    Anything else libyaml cannot parse is left to PyYAML to word.
    """
    parser = _CParser(text)
    open_collections = 0
    try:
        while True:
            try:
                if not parser.check_event():
                    return
                event = parser.get_event()
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                if mark is None or _LIBYAML_TOO_DEEP not in str(getattr(exc, "problem", "")):
                    return
                # libyaml stops at its own limit while it looks ahead for a key, before
                # any event: the node the composer refuses lies in the text before that.
                refuse_deep(text[: mark.index], bounds)
                raise too_deep(bounds, _as_read(text, mark)) from None
            if isinstance(event, yaml.CollectionEndEvent):
                open_collections -= 1
            elif isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
                if open_collections + 1 > bounds.max_depth:
                    raise too_deep(bounds, _as_read(text, event.start_mark))
                if isinstance(event, yaml.CollectionStartEvent):
                    open_collections += 1
    finally:
        parser.dispose()


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
                raise too_deep(self.bounds, mark)
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
    """One YAML document as plain data, within ``bounds`` and without a repeated key.

    Raises PyYAML's errors (:class:`Refused` for the bounds and the keys).
    ``fast`` makes the reference path (see :func:`checked_load`) compose
    libyaml's events rather than PyYAML's, so its errors are libyaml's.
    """
    checked = checked_load(text, bounds)
    if checked is not None:
        for duplicate in checked.duplicates:
            raise DuplicateKeyError(duplicate)
        return checked.data
    if not fast:
        refuse_deep(text, bounds)
    loader = _loader(bounds, BoundedCSafeLoader if fast else BoundedSafeLoader)(text)
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()
    refuse_duplicates(text)
    return data


@functools.cache
def _tag() -> re.Pattern[str]:
    """A tag: ``!`` where a token starts. libyaml makes an empty node with the
    non-specific tag ``!`` an empty string where PyYAML makes it null.

    Compiled at first use: few files hold a ``!``, and start-up pays for every compile.
    """
    return re.compile(r"(?:^|[\s\[\]{},])!", re.MULTILINE)


def _scanners_differ(text: str) -> bool:
    """Whether libyaml may read ``text`` otherwise than PyYAML does.

    Coarse on purpose (a false alarm only costs the reference path's time):
    libyaml takes a tab as separation where PyYAML refuses it (``a:<tab>1``);
    it skips a byte order mark at the start of any line where PyYAML keeps it
    in the key; it reads ``?`` inside a plain scalar in a flow collection
    (``[a?b]``) where PyYAML refuses it; and it differs on a tag (:func:`_tag`).
    """
    if "\t" in text or text.find("\ufeff", 1) != -1:
        return True
    if "?" in text and ("[" in text or "{" in text):
        return True
    return "!" in text and _tag().search(text) is not None


class Checked(Record):
    """One document read by :func:`checked_load`.

    ``node`` is the composed graph, None for an empty document; constructing
    ``data`` has flattened its merge keys, as the reference path's graph is.
    """

    __slots__ = ("data", "duplicates", "node")
    node: Final[yaml.Node | None]
    data: Final[Any]
    duplicates: Final[list[DuplicateKey]]

    def __init__(self, node: yaml.Node | None, data: Any, duplicates: list[DuplicateKey]) -> None:
        self.node = node
        self.data = data
        self.duplicates = duplicates


class _Unsure(Exception):
    """The fast path found a problem: the reference path names it, as it always has."""


def checked_load(
    text: str, bounds: Bounds, loader: type[yaml.CSafeLoader] = yaml.CSafeLoader
) -> Checked | None:
    """One document parsed and composed by libyaml: its data and its repeated keys.

    The fast path, taken when libyaml is present: C composes the node graph,
    then one walk over it (:func:`_survey`) applies :class:`Bounds` and finds
    the repeated keys without expanding an alias. It is None, and the caller
    takes the reference path (PyYAML's composer, bounded as it composes) when
    the text is one the two scanners read differently, or when anything is
    wrong: the reference path then says what and where, in today's words.
    ``loader`` is :class:`yaml.CSafeLoader` or a subclass that only changes
    the resolvers.
    """
    if not yaml.__with_libyaml__ or len(text) > bounds.max_bytes:
        return None
    if _scanners_differ(text):
        return None
    parser = loader(text)
    try:
        node = parser.get_single_node()
        if node is None:
            return Checked(None, None, [])
        duplicates = _survey(node, bounds)
        return Checked(node, parser.construct_document(node), duplicates)
    except Exception:  # the reference path raises it again, in its own words
        return None
    finally:
        parser.dispose()


def _survey(root: yaml.Node, bounds: Bounds) -> list[DuplicateKey]:
    """Bounds and repeated keys of a composed graph, as the composer and the event pass see them.

    An alias is a node met again: it counts as the whole node (memoised, so
    nine nested laughs cost nine sums), it is not walked again (so its keys
    are checked where it was anchored, its nesting where it was written), and
    as a key it is not compared (``?``). Raises :class:`_Unsure` for a graph
    over ``bounds`` or holding a cycle.
    """
    sizes: dict[int, int] = {}
    walking: set[int] = set()
    found: list[DuplicateKey] = []

    def visit(node: yaml.Node, path: KeyPath, depth: int) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in walking or depth > bounds.max_depth:
            raise _Unsure
        size = 1
        walking.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                name = "?"
                if isinstance(key_node, yaml.ScalarNode) and id(key_node) not in sizes:
                    name = str(key_node.value)
                    line = key_node.start_mark.line + 1
                    if name in seen:
                        found.append(DuplicateKey((*path, name), seen[name], line))
                    else:
                        seen[name] = line
                size += visit(key_node, (*path, "?"), depth + 1)
                size += visit(value_node, (*path, name), depth + 1)
        elif isinstance(node, yaml.SequenceNode):
            for position, item in enumerate(node.value):
                size += visit(item, (*path, position), depth + 1)
        walking.discard(id(node))
        if size > bounds.max_nodes:
            raise _Unsure
        sizes[id(node)] = size
        return size

    visit(root, (), 1)
    return found


def refuse_duplicates(text: str) -> None:
    """Raise :class:`DuplicateKeyError` for the first repeated key of a document."""
    for duplicate in duplicate_keys(text):
        raise DuplicateKeyError(duplicate)


def _mark_line(exc: yaml.MarkedYAMLError) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    return mark.line + 1 if mark is not None else None


def parse_data(text: str, path: Path | str, bounds: Bounds) -> Any:
    """:func:`load_data`, with every error a :class:`ChartError` naming ``path``."""
    try:
        return load_data(text, bounds)
    except DuplicateKeyError as exc:
        raise ChartError(str(exc.problem), path=path, line=exc.duplicate.line) from None
    except Refused as exc:
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


class YamlDocument:
    """Parsed YAML plus the line (1-based) where each key or item starts."""

    __slots__ = ("data", "duplicate_keys", "lines", "path")

    def __init__(
        self,
        path: Path,
        data: Any,
        lines: dict[KeyPath, int] | None = None,
        duplicate_keys: list[DuplicateKey] | None = None,
    ) -> None:
        self.path = path
        self.data = data
        self.lines: dict[KeyPath, int] = {} if lines is None else lines
        self.duplicate_keys: list[DuplicateKey] = [] if duplicate_keys is None else duplicate_keys

    def line(self, *keys: str | int) -> int | None:
        """Line of the deepest known prefix of ``keys``."""
        for end in range(len(keys), -1, -1):
            found = self.lines.get(tuple(keys[:end]))
            if found is not None:
                return found
        return None


def _index(node: yaml.Node, prefix: KeyPath, doc: YamlDocument) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            where = (*prefix, str(key_node.value))
            doc.lines.setdefault(where, key_node.start_mark.line + 1)
            _index(value_node, where, doc)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            where = (*prefix, position)
            doc.lines[where] = item.start_mark.line + 1
            _index(item, where, doc)


def _reference_parse(text: str, path: Path, bounds: Bounds) -> Checked:
    """PyYAML's composer, bounded as it composes: what decides, and words, every error."""
    loader = _loader(bounds, BoundedSafeLoader)(text)
    try:
        refuse_deep(text, bounds)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
        duplicates = duplicate_keys(text) if node is not None else []
    except Refused as exc:
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
    return Checked(node, data, duplicates)


def parse_yaml(
    text: str, path: Path, bounds: Bounds = CONFIG, *, keep_duplicates: bool = False
) -> YamlDocument:
    """Parse one YAML document within ``bounds``; bad input raises :class:`ChartError`
    with its line.

    A repeated key is refused too, unless ``keep_duplicates``: then every one is
    in :attr:`YamlDocument.duplicate_keys`, for a caller that reports them all.
    """
    if len(text) > bounds.max_bytes:
        raise ChartError(
            f"is over {bounds.max_bytes} bytes, the most chartship reads for a {bounds.what}",
            path=path,
        )
    checked = checked_load(text, bounds) or _reference_parse(text, path, bounds)
    node, data, duplicates = checked.node, checked.data, checked.duplicates
    if duplicates and not keep_duplicates:
        raise ChartError(duplicates[0].describe(), path=path, line=duplicates[0].line)
    doc = YamlDocument(path=path, data=data, duplicate_keys=duplicates)
    if node is not None:
        _index(node, (), doc)
    return doc


def load_yaml(
    path: Path, bounds: Bounds = CONFIG, *, keep_duplicates: bool = False
) -> YamlDocument:
    return parse_yaml(read_text(path, bounds), path, bounds, keep_duplicates=keep_duplicates)

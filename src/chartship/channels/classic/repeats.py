"""A fast proof that an index merged as text repeats no key, or "unsure".

libyaml's event scan (:func:`chartship.yamlfiles.duplicate_keys`) costs
about 2 s on a 15,000-entry index: a Python step per event, a million events.
:func:`unique_keys` proves the same answer for the index helm, chart-releaser
and chartship write, at C speed: one compiled pattern per chart block that
matches only text it fully understands, with every mapping key accounted for.

- The top level outside ``entries`` is a few lines: the event scan checks
  them, with the entries' body left out.
- Chart names are the scanner's (:mod:`~chartship.channels.classic.scan`),
  compared as libyaml reads them (``"a"`` and ``a`` are one key).
- An entry's keys, a maintainer's, a dependency's and the usual annotations
  (artifacthub.io's, Bitnami's) are a fixed vocabulary in sorted order, the
  order every one of those writers gives (Go's YAML encoder and PyYAML sort
  mapping keys). The pattern gives each key one slot, in order, so it cannot
  match a mapping that gives a key twice, out of order or quoted.
- Other annotation keys are matched by a second pattern, tried only when the
  first fails: a lookahead refuses a key that a later line of the same mapping
  gives again (a quoted key is not matched at all).

Anything else (another key, another layout, a flow mapping, an anchor, a
comment or a blank line between keys, a control character, ...) makes both
patterns fail, and the answer is False: the caller runs the event scan, which
words any error. So the only cost of a layout not foreseen here is the event
scan's time.

Each value is matched as libyaml reads it: plain scalars with their
continuation lines (more indented than their key, none that a comment or
``: `` would end), quoted scalars to their closing quote (only valid
escapes), ``|``/``>`` block scalars whose body is every following line
indented two more than their key or empty, ``[]``/``{}`` and one-line flow
sequences of simple scalars, and indentless ``- `` sequences of those.
Every repetition is maximal and each alternative starts differently, so a
match has one way to succeed and a failing one gives up in linear time.
"""

from __future__ import annotations

import functools
import re

import yaml

from chartship import yamlfiles
from chartship.channels.classic.scan import Layout

#: Keys of an entry (helm's ChartVersion: Chart.yaml's metadata, urls, created,
#: removed, digest), of a maintainer and of a dependency, with what each holds.
_SCALAR, _SEQUENCE, _MAPPING, _MAINTAINERS, _DEPENDENCIES = range(5)
_MAINTAINER_KEYS = {"email": _SCALAR, "name": _SCALAR, "url": _SCALAR}
_DEPENDENCY_KEYS = {
    "alias": _SCALAR,
    "condition": _SCALAR,
    "enabled": _SCALAR,
    "import-values": _SEQUENCE,
    "name": _SCALAR,
    "repository": _SCALAR,
    "tags": _SEQUENCE,
    "version": _SCALAR,
}
#: artifacthub.io's annotations, and Bitnami's.
_ANNOTATION_KEYS = dict.fromkeys(
    [
        *(
            f"artifacthub.io/{name}"
            for name in [
                "alternativeName",
                "category",
                "changes",
                "containsSecurityUpdates",
                "crds",
                "crdsExamples",
                "images",
                "license",
                "links",
                "maintainers",
                "operator",
                "operatorCapabilities",
                "prerelease",
                "recommendations",
                "screenshots",
                "signKey",
            ]
        ),
        "category",
        "images",
        "licenses",
        "tanzuCategory",
    ],
    _SCALAR,
)
_ENTRY_KEYS = {
    "annotations": _MAPPING,
    "apiVersion": _SCALAR,
    "appVersion": _SCALAR,
    "condition": _SCALAR,
    "created": _SCALAR,
    "dependencies": _DEPENDENCIES,
    "deprecated": _SCALAR,
    "description": _SCALAR,
    "digest": _SCALAR,
    "home": _SCALAR,
    "icon": _SCALAR,
    "keywords": _SEQUENCE,
    "kubeVersion": _SCALAR,
    "maintainers": _MAINTAINERS,
    "name": _SCALAR,
    "removed": _SCALAR,
    "sources": _SEQUENCE,
    "tags": _SEQUENCE,
    "type": _SCALAR,
    "urls": _SEQUENCE,
    "version": _SCALAR,
}

#: ASCII characters libyaml reads otherwise than as text, or refuses: the control
#: characters, tab and carriage return included. Every class below excludes them,
#: so a match proves each character of the entries printable (the odd non-ASCII
#: ones are refused before: a class naming them costs too much to compile).
_ODD = r"\x00-\x1f\x7f"
#: One character of text on a line.
_CHAR = rf"[^{_ODD}]"
#: The rest of the line is empty.
_EOL = rf"(?!{_CHAR})"
#: What may start a plain scalar, and a line of one: no `` #`` (a comment),
#: no ``: `` or final ``:`` (a key).
_PLAIN_FIRST = rf"""(?:[^{_ODD} \-?:,\[\]{{}}#&*!|>'"%@`]|-(?=[^{_ODD} ]))"""
_PLAIN_RUN = rf"[^{_ODD}:#]*"
_PLAIN_LINE = rf"{_PLAIN_FIRST}{_PLAIN_RUN}(?:(?::(?=[^{_ODD} ])|(?<! )#){_PLAIN_RUN})*{_EOL}"
_ESCAPE = r"""\\(?:[0abtnvfre "/\\N_LP]|x[0-9A-Fa-f]{2}|u(?![dD][89a-fA-F])[0-9A-Fa-f]{4})"""
_SINGLE_RUN = rf"[^{_ODD}']*"
_DOUBLE_RUN = rf'[^{_ODD}"\\]*'
_FLOW_ITEM = rf"""(?:[\w./+=~][\w./+=~-]*|'{_SINGLE_RUN}'|"{_DOUBLE_RUN}")"""
_FLOW = rf"(?:\[[ ]*{_FLOW_ITEM}(?:[ ]*,[ ]*{_FLOW_ITEM})*[ ]*,?[ ]*\])[ ]*{_EOL}"
_EMPTY = rf"(?:\[\]|\{{\}})[ ]*{_EOL}"
#: A key of a mapping: libyaml refuses one over 1,024 characters (a "simple key").
_PLAIN_KEY = r"[A-Za-z0-9_][\w./+-]{0,999}"
_KEY = rf"""{_PLAIN_KEY}|"[^{_ODD}"\\]{{0,998}}"|'[^{_ODD}']{{0,998}}'"""
_COMMENT = rf"(?:[ ]+#{_CHAR}*)?"


def _line_break(column: int) -> str:
    """A line break inside a quoted scalar whose key sits at ``column``."""
    return rf"\n(?:[ ]{{{column + 1},}}(?=[^{_ODD} ])|[ ]*(?=\n))"


def _quoted(column: int) -> str:
    wrap = _line_break(column)
    single = rf"'{_SINGLE_RUN}(?:(?:''|{wrap}){_SINGLE_RUN})*'"
    double = rf'"{_DOUBLE_RUN}(?:(?:{_ESCAPE}|\\?{wrap}){_DOUBLE_RUN})*"'
    return rf"(?:{double}|{single})[ ]*{_EOL}"


def _plain(column: int) -> str:
    return rf"{_PLAIN_LINE}(?:\n[ ]{{{column + 1},}}{_PLAIN_LINE})*"


def _scalar(column: int) -> str:
    """A scalar value after ``key:``, the key at ``column``; or nothing (null)."""
    body = (
        rf"(?:\n[ ]{{{column + 2}}}[^{_ODD} ]{_CHAR}*(?:\n[ ]{{{column + 2}}}{_CHAR}*|\n{_EOL})*)?"
    )
    block = rf"[|>][-+]?{_EOL}{body}(?!\n(?:[ ]{{{column + 1}}}|{_EOL}))"
    return rf"(?:[ ]+(?:{_plain(column)}|{_quoted(column)}|{block}|{_EMPTY})|[ ]*{_EOL})"


def _sequence(column: int) -> str:
    """Scalars as a sequence at the column of its key (helm's layout), or a flow one."""
    item = rf"(?:{_plain(column)}|{_quoted(column)})"
    return rf"(?:[ ]+(?:{_EMPTY}|{_FLOW})|[ ]*{_EOL}(?:\n[ ]{{{column}}}-[ ]{item})*)"


def _string_map(column: int) -> str:
    """Annotations: any simple keys, each refused if a later line of the mapping repeats it."""
    inner = column + 2
    rest = rf"(?:{_CHAR}*\n(?=[ ]{{{inner}}}|\n))*?"
    again = rf"(?!{rest}[ ]{{{inner}}}(?P=k):)"
    key = rf"(?P<k>{_PLAIN_KEY}):{again}"
    return rf"(?:[ ]+{_EMPTY}|[ ]*{_EOL}(?:\n[ ]{{{inner}}}{key}{_scalar(inner)})*)"


def _value(kind: int, column: int, annotations: str) -> str:
    """What follows ``key:`` for a key of ``kind`` at ``column``."""
    if kind == _SCALAR:
        return _scalar(column)
    if kind == _SEQUENCE:
        return _sequence(column)
    if kind == _MAPPING:
        return annotations
    schema = _MAINTAINER_KEYS if kind == _MAINTAINERS else _DEPENDENCY_KEYS
    item = _slots(schema, column + 2, rf"(?<=\n[ ]{{{column}}}- )", annotations)
    return rf"(?:[ ]+{_EMPTY}|[ ]*{_EOL}(?:\n[ ]{{{column}}}- {item})*)"


def _slots(schema: dict[str, int], column: int, first: str, annotations: str) -> str:
    """A block mapping at ``column``: each key of ``schema`` at most once, in order.

    Each key is a slot of its own, its value matched by its kind: a mapping that
    gives a key twice, or out of order, does not match. The first key stands
    where ``first`` matches (just after an item's ``- ``), or on a line of its own.
    """
    parts = []
    for name in sorted(schema):
        value = _value(schema[name], column, annotations)
        parts.append(rf"(?:(?:{first}|\n[ ]{{{column}}}){re.escape(name)}:{value})?")
    return "".join(parts)


@functools.cache
def _block_pattern(indent: int, seq: int, keys: int, any_annotations: bool) -> re.Pattern[str]:
    """One chart's key line and its entries, the chart key at ``indent``.

    Annotation keys are a known vocabulary, in order; ``any_annotations`` takes
    any simple ones instead, each checked against the rest of its mapping (slower).
    """
    if any_annotations:
        annotations = _string_map(keys)
    else:
        known = _slots(_ANNOTATION_KEYS, keys + 2, "(?!)", "")
        annotations = rf"(?:[ ]+{_EMPTY}|[ ]*{_EOL}{known})"
    dash = rf"\n[ ]{{{seq}}}-[ ]{{{keys - seq - 1}}}"
    entry = _slots(_ENTRY_KEYS, keys, rf"(?<={dash})", annotations)
    head = rf"\n[ ]{{{indent}}}(?:{_KEY}):{_COMMENT}[ ]*{_EOL}"
    return re.compile(rf"{head}(?:{dash}{entry})*")


#: Below this size the event scan (about 0.15 s a MiB) costs about as much as
#: compiling the patterns (about 0.1 s) and matching: it is left to decide alone.
SMALL = 2 << 20


def unique_keys(layout: Layout, *, smallest: int | None = None) -> bool:
    """True: the index scanned as ``layout`` gives no mapping key twice, and libyaml
    reads it. False: not proven, or smaller than ``smallest`` (:data:`SMALL`; not
    worth proving): the event scan must decide."""
    text = layout.text
    if len(text) < (SMALL if smallest is None else smallest):
        return False
    # str.isprintable refuses more than libyaml does (a no-break space, say): that
    # only costs the event scan.
    if not text.isascii() and not text.replace("\n", " ").isprintable():
        return False
    names = [block.name for block in layout.blocks]
    if len(set(names)) != len(names):
        return False
    # Before the first chart: blank and comment lines (the scanner saw no content).
    before = text[layout.entries_body : layout.blocks[0].start] if layout.blocks else ""
    outside = text[: layout.entries_body] + before + text[layout.end :]
    try:
        if yamlfiles.duplicate_keys(outside):
            return False
    except yaml.YAMLError:
        return False
    seq, keys = next(((b.seq, b.keys) for b in layout.blocks if b.seq >= 0), (0, 0))
    # A chart's neighbours mostly share its annotations: the pattern that matched last goes first.
    tries = [False, True]
    for block in layout.blocks:
        if block.seq >= 0:
            seq, keys = block.seq, block.keys
        for any_annotations in tries:
            pattern = _block_pattern(layout.indent, seq, keys, any_annotations)
            if pattern.fullmatch(text, block.start - 1, block.end - 1) is not None:
                tries.sort(key=lambda other: other != any_annotations)
                break
        else:
            return False
    return True

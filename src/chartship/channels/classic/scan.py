"""The text scanner: where each chart and each version sits in index.yaml, unparsed.

It finds the ``entries`` mapping, every chart's block and every version's
item with line-anchored searches, and reads only their one-line ``version``
and ``digest`` values. It understands block-style YAML as helm, chart-releaser,
PyYAML and chartship write it; for anything else (flow style, CRLF line
ends, anchors, ...) it answers None and the caller parses the whole
document instead (:mod:`chartship.channels.classic.merge`).
"""

from __future__ import annotations

import re

import yaml

from chartship.yamlfiles import BoundedCSafeLoader

# typing only for mypy: an index merge's start-up does not import it (chartship.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


# Plain classes, not dataclasses: an index merge would import dataclasses for
# them alone (see chartship.records).
class Item:
    """One version's item of a chart's block: its span, ``version`` and ``digest``."""

    __slots__ = ("digest", "end", "start", "version")

    def __init__(self, start: int, end: int, version: str, digest: str | None) -> None:
        self.start = start
        self.end = end
        self.version = version
        self.digest = digest


class Block:
    """One chart's key line and the version items under it."""

    __slots__ = ("body", "end", "keys", "name", "seq", "start")

    def __init__(self, name: str, start: int, body: int, end: int) -> None:
        self.name = name
        self.start = start  # the key line
        self.body = body  # the line after it
        self.end = end  # the next chart's key line, or the end of entries
        self.seq = -1  # indentation of its "- " lines; -1: no versions
        self.keys = -1  # indentation of its entries' keys


class Layout:
    """Where the ``entries`` mapping, each chart's block and ``generated`` sit."""

    __slots__ = (
        "blocks",
        "end",
        "entries_body",
        "entries_flow_empty",
        "entries_start",
        "generated",
        "indent",
        "text",
    )

    def __init__(
        self,
        text: str,
        entries_start: int,
        entries_body: int,
        entries_flow_empty: bool,
        end: int,
        generated: tuple[int, int] | None,
    ) -> None:
        self.text = text
        self.entries_start = entries_start
        self.entries_body = entries_body
        self.entries_flow_empty = entries_flow_empty
        self.end = end
        self.indent = -1  # of chart keys; -1: none yet
        self.blocks: list[Block] = []
        self.generated = generated  # line span

    def block(self, name: str) -> Block | None:
        for block in self.blocks:
            if block.name == name:
                return block
        return None


_TOP_LINE = re.compile(r"\n(?=[^ \n#])")
_CONTENT_LINE = re.compile(r"\n( *)(?=[^ \n#])")
_KEY = r"""(?P<key>[A-Za-z0-9_][\w.+/-]*|"[^"\\\n]*"|'[^'\n]*')"""
_TOP_KEY = re.compile(_KEY + r"[ \t]*:(?:[ \t]+(?P<value>.*?))?[ \t]*$")
_BARE_KEY = re.compile(_KEY + r"[ \t]*:[ \t]*(?:#.*)?$")
PLAIN_SAFE = re.compile(r"^[A-Za-z0-9_./:+-][\w./:+@=~-]*$")


def _scalar(raw: str) -> str | None:
    """A one-line scalar value as text; None if it is anything more complicated."""
    raw = raw.strip()
    if PLAIN_SAFE.match(raw):
        return raw
    if " #" in raw and raw[:1] not in ("'", '"'):
        raw = raw.split(" #", 1)[0].rstrip()
        if PLAIN_SAFE.match(raw):
            return raw
    if raw[:1] in ("'", '"'):
        try:
            value = load_with(yaml.CBaseLoader, f"v: {raw}")
        except yaml.YAMLError:
            return None
        if isinstance(value, dict) and isinstance(value.get("v"), str):
            return str(value["v"])
    return None


def _key_text(key: str) -> str | None:
    if key[:1] in ("'", '"'):
        return _scalar(key)
    return key


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def scan_layout(text: str) -> Layout | None:
    """Where things are in a helm-style index; None when the layout is not one the
    scan understands (the caller then parses the whole document instead)."""
    if "\r" in text or not text.endswith("\n"):
        return None  # merge() adds a missing final newline before scanning
    starts = ([0] if text[:1] not in (" ", "\n", "#", "") else []) + [
        m.end() for m in _TOP_LINE.finditer(text)
    ]
    entries: tuple[int, int, bool] | None = None
    generated: tuple[int, int] | None = None
    api_version = False
    entries_end = len(text)
    seen: set[str] = set()
    for number, start in enumerate(starts):
        end = _line_end(text, start)
        line = text[start:end]
        if line.startswith("---") and number == 0 and line[3:].strip() in ("", "#"):
            continue
        match = _TOP_KEY.match(line)
        if match is None:
            return None
        key = _key_text(match.group("key"))
        if key is None or key in seen:
            return None
        seen.add(key)
        value = match.group("value") or ""
        if entries is not None and entries_end == len(text):
            entries_end = start
        if key == "entries":
            if value == "" or value.startswith("#"):
                entries = (start, end + 1, False)
            elif re.fullmatch(r"\{\}(?:[ \t]+#.*)?", value):
                entries = (start, end + 1, True)
            else:
                return None
        elif key == "apiVersion":
            api_version = bool(_scalar(value))
        elif key == "generated":
            generated = (start, end)
    if entries is None or not api_version:
        return None
    entries_start, body, flow_empty = entries
    layout = Layout(text, entries_start, body, flow_empty, entries_end, generated)
    first = _CONTENT_LINE.search(text, body - 1, entries_end)
    if first is None:
        return layout
    if flow_empty:
        return None
    indent = len(first.group(1))
    if indent == 0 or text.startswith("-", first.end()):
        return None
    layout.indent = indent
    # One pass over entries finds every line indented no deeper than the chart keys:
    # chart keys, helm's "- " items beside them, and anything that breaks the layout.
    key_lines: list[int] = []
    items: list[int] = []  # per chart key line, its items at the chart keys' indentation
    for match in re.compile(rf"\n(?! {{{indent + 1}}})").finditer(text, body - 1, entries_end):
        start = match.end()
        if start >= entries_end:
            break  # the newline that ends entries
        content = start
        while text[content] == " ":
            content += 1
        if text[content] in "\n#":
            continue  # a blank line or a comment
        if content - start < indent:
            return None  # shallower than the chart keys, inside entries
        if text[content] != "-":
            key_lines.append(start)
            items.append(0)
        elif text[content + 1] == " " and key_lines:
            items[-1] += 1
        else:
            return None  # "-x" beside the chart keys, or an item before any chart
    for number, start in enumerate(key_lines):
        end = _line_end(text, start)
        match = _BARE_KEY.match(text, start + indent, end)
        name = _key_text(match.group("key")) if match else None
        if name is None:
            return None
        block_end = key_lines[number + 1] if number + 1 < len(key_lines) else entries_end
        block = Block(name, start, end + 1, block_end)
        if not _scan_block(text, block, indent, items[number]):
            return None
        layout.blocks.append(block)
    return layout


def _scan_block(text: str, block: Block, indent: int, beside: int) -> bool:
    """Find the block's item indentation and check every item has one version key.

    ``beside``: how many of its items the layout scan found at the chart keys'
    indentation, as helm writes them (counted here when they sit deeper).
    """
    first = _CONTENT_LINE.search(text, block.body - 1, block.end)
    if first is None:
        return True
    seq = len(first.group(1))
    dash = re.compile(r"- +").match(text, first.end())
    if seq < indent or dash is None or text[dash.end()] in (" ", "\n", "#"):
        return False
    block.seq = seq
    block.keys = seq + len(dash.group())
    if seq == indent:
        items = beside
    elif beside:
        return False  # items at two indentations
    else:
        items = text.count("\n" + " " * seq + "- ", block.body - 1, block.end)
    versions = text.count("\n" + " " * block.keys + "version:", block.body - 1, block.end)
    versions += text.count("\n" + " " * seq + dash.group() + "version:", block.body - 1, block.end)
    return items == versions


def _item_value(text: str, item: Item, block: Block, key: str) -> str | bool | None:
    """The item's ``key`` as text; None when absent; False when the scan cannot tell."""
    eol = _line_end(text, item.start)
    head = text[item.start + block.keys : eol]
    found: list[str] = []
    if head.startswith(key + ":"):
        found.append(head[len(key) + 1 :])
    needle = "\n" + " " * block.keys + key + ":"
    pos = text.find(needle, item.start, item.end)
    while pos >= 0:
        found.append(text[pos + len(needle) : _line_end(text, pos + 1)])
        pos = text.find(needle, pos + 1, item.end)
    if not found:
        return None
    if len(found) > 1:
        return False
    value = _scalar(found[0])
    return False if value is None else value


def scan_items(text: str, block: Block) -> list[Item] | None:
    if block.seq < 0:
        return []
    needle = "\n" + " " * block.seq + "- "
    starts: list[int] = []
    pos = text.find(needle, block.body - 1, block.end)
    while pos >= 0:
        starts.append(pos + 1)
        pos = text.find(needle, pos + 1, block.end)
    items: list[Item] = []
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else block.end
        item = Item(start, end, "", None)
        version = _item_value(text, item, block, "version")
        digest = _item_value(text, item, block, "digest")
        if not isinstance(version, str) or digest is False:
            return None
        item.version = version
        item.digest = digest if isinstance(digest, str) else None
        items.append(item)
    return items


def load_with(
    loader_class: type[yaml.CBaseLoader] | type[yaml.CSafeLoader] | type[BoundedCSafeLoader],
    text: str,
) -> Any:
    """One document with one of the C loaders (all build plain data only)."""
    loader = loader_class(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()

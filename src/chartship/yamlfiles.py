"""Reading YAML files so that every later complaint can name a file and a line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chartship.errors import ChartError

KeyPath = tuple[str | int, ...]


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


def parse_yaml(text: str, path: Path) -> YamlDocument:
    """Parse one YAML document; malformed input raises :class:`ChartError` with its line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = exc.problem or exc.context or "invalid YAML"
        raise ChartError(f"malformed YAML: {reason}", path=path, line=line) from None
    except yaml.YAMLError as exc:
        raise ChartError(f"malformed YAML: {exc}", path=path) from None
    finally:
        loader.dispose()
    doc = YamlDocument(path=path, data=data)
    if node is not None:
        _index(node, (), doc)
    return doc


def load_yaml(path: Path) -> YamlDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ChartError("file not found", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ChartError(f"cannot read: {exc}", path=path) from None
    return parse_yaml(text, path)

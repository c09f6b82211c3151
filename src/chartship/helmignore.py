"""Which files of a chart directory helm packages: .helmignore, the way helm reads it.

A port of helm's ``pkg/ignore`` (the same in helm 3.19 and 4.3) and of the
walk in its directory loader, so that chartship's idea of "the chart's files"
is exactly the set ``helm package`` puts in the archive. Helm's rules are not
git's: patterns are Go ``filepath.Match`` globs (``*`` never crosses ``/``,
``**`` is refused), a pattern without ``/`` is matched against the base name
only, a leading ``/`` anchors it to the chart root, a trailing ``/`` limits it
to directories, and a ``!`` rule ignores every path it does *not* match
(helm's own reading of negation, kept as it is). ``templates/.?*`` is always
added after the file's rules.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from chartship.errors import ChartError

HELMIGNORE = ".helmignore"
_DEFAULT_RULE = "templates/.?*"
_UTF8_BOM = b"\xef\xbb\xbf"
#: helm follows symbolic links; a link back up the tree would otherwise never end.
_MAX_DEPTH = 64


class BadPattern(ValueError):
    """A glob Go's filepath.Match would refuse with ErrBadPattern."""


def _class_char(pattern: str, at: int) -> tuple[str, int]:
    """One character of a ``[...]`` class (Go's getEsc); returns it and the next index."""
    if at >= len(pattern) or pattern[at] in "-]":
        raise BadPattern(pattern)
    if pattern[at] == "\\":
        at += 1
        if at >= len(pattern):
            raise BadPattern(pattern)
    char = pattern[at]
    at += 1
    if at >= len(pattern):
        raise BadPattern(pattern)
    return char, at


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Go's ``filepath.Match`` pattern as a regex matching the whole name.

    Raises :class:`BadPattern` wherever Go reports ErrBadPattern, whether or
    not matching would have reached that part of the pattern.
    """
    out: list[str] = []
    at = 0
    while at < len(pattern):
        char = pattern[at]
        if char == "*":
            out.append("[^/]*")
            at += 1
        elif char == "?":
            out.append("[^/]")
            at += 1
        elif char == "\\":
            if at + 1 >= len(pattern):
                raise BadPattern(pattern)
            out.append(re.escape(pattern[at + 1]))
            at += 2
        elif char == "[":
            at += 1
            negated = at < len(pattern) and pattern[at] == "^"
            if negated:
                at += 1
            ranges: list[str] = []
            while True:
                if at < len(pattern) and pattern[at] == "]" and ranges:
                    at += 1
                    break
                low, at = _class_char(pattern, at)
                high = low
                if pattern[at] == "-":
                    high, at = _class_char(pattern, at + 1)
                if low > high:
                    # Go accepts such a range and it matches nothing.
                    ranges.append("")
                    continue
                ranges.append(
                    re.escape(low) if low == high else f"{re.escape(low)}-{re.escape(high)}"
                )
            body = "".join(ranges)
            if not body:
                out.append("[^\\s\\S]" if not negated else "[\\s\\S]")
            else:
                # Unlike ``?`` and ``*``, a class may match the separator, as in Go.
                out.append(f"[{'^' if negated else ''}{body}]")
        else:
            out.append(re.escape(char))
            at += 1
    return re.compile("".join(out), re.DOTALL)


@dataclass(frozen=True)
class _Rule:
    raw: str
    match: Callable[[str], bool]
    negate: bool
    must_dir: bool


def _parse_rule(raw: str) -> _Rule | None:
    rule = raw.strip()
    if not rule or rule.startswith("#"):
        return None
    if "**" in rule:
        raise BadPattern("double-star (**) syntax is not supported")
    # helm compiles the rule as written, before taking off ! and /.
    glob_regex(rule)
    negate = rule.startswith("!")
    if negate:
        rule = rule[1:]
    must_dir = rule.endswith("/")
    if must_dir:
        rule = rule[:-1]
    if rule.startswith("/"):
        return _Rule(raw, _compiled(rule[1:]), negate, must_dir)
    if "/" in rule:
        return _Rule(raw, _compiled(rule), negate, must_dir)
    base = _compiled(rule)
    return _Rule(raw, lambda name: base(PurePosixPath(name).name or name), negate, must_dir)


def _compiled(rule: str) -> Callable[[str], bool]:
    try:
        regex = glob_regex(rule)
    except BadPattern:
        # helm logs "failed to compile" and treats the rule as matching nothing.
        return lambda _name: False
    return lambda name: regex.fullmatch(name) is not None


class Rules:
    """A parsed .helmignore plus helm's default rule."""

    def __init__(self, rules: list[_Rule]) -> None:
        self._rules = rules

    @classmethod
    def parse(cls, text: str, *, source: Path | None = None, defaults: bool = True) -> Rules:
        """The rules of a .helmignore's text; ``defaults`` adds helm's own (as its loader does)."""
        rules: list[_Rule] = []
        for number, line in enumerate(text.splitlines(), 1):
            try:
                rule = _parse_rule(line)
            except BadPattern as exc:
                detail = str(exc) if "double-star" in str(exc) else f"bad pattern {line.strip()!r}"
                raise ChartError(
                    f"{detail}; helm refuses this .helmignore", path=source, line=number
                ) from None
            if rule is not None:
                rules.append(rule)
        if defaults:
            default = _parse_rule(_DEFAULT_RULE)
            assert default is not None
            rules.append(default)
        return cls(rules)

    @classmethod
    def of(cls, directory: Path) -> Rules:
        path = directory / HELMIGNORE
        if not path.is_file():
            return cls.parse("")
        data = path.read_bytes().removeprefix(_UTF8_BOM)
        return cls.parse(data.decode("utf-8", errors="surrogateescape"), source=path)

    def ignored(self, name: str, is_dir: bool) -> bool:
        """helm's ``Rules.Ignore``: ``name`` is relative to the chart, with ``/``."""
        if name in ("", ".", "./"):
            return False
        for rule in self._rules:
            if rule.negate:
                if rule.must_dir and not is_dir:
                    return True
                if not rule.match(name):
                    return True
                continue
            if rule.must_dir and not is_dir:
                continue
            if rule.match(name):
                return True
        return False


def chart_files(directory: Path) -> Iterator[tuple[str, Path]]:
    """(name relative to the chart, path) of every file helm would load, in lexical order.

    Symbolic links are followed as helm follows them; an ignored directory is
    not entered. A file helm refuses to load (a device, a socket) is an error.
    """
    rules = Rules.of(directory)
    yield from _walk(directory, "", rules, 0)


def _walk(path: Path, prefix: str, rules: Rules, depth: int) -> Iterator[tuple[str, Path]]:
    if depth > _MAX_DEPTH:
        raise ChartError(
            f"directories nest deeper than {_MAX_DEPTH} levels (a symbolic link loop?)", path=path
        )
    for entry in sorted(os.listdir(path)):
        child = path / entry
        name = f"{prefix}{entry}"
        try:
            info = child.stat()  # follows links, as helm's walk does
        except OSError as exc:
            raise ChartError(f"cannot read: {exc.strerror}", path=child) from None
        if stat.S_ISDIR(info.st_mode):
            if not rules.ignored(name, True):
                yield from _walk(child, f"{name}/", rules, depth + 1)
            continue
        if rules.ignored(name, False):
            continue
        if not stat.S_ISREG(info.st_mode):
            raise ChartError("helm cannot package an irregular file (device, socket)", path=child)
        yield name, child


def read_chart_file(path: Path) -> bytes:
    """A file's bytes as helm's loader keeps them (a leading UTF-8 BOM dropped)."""
    return path.read_bytes().removeprefix(_UTF8_BOM)

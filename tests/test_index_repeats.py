"""The fast repeated-key proof for an index merged as text, held to libyaml's event scan.

:func:`chartship.channels.classic.repeats.unique_keys` may only say "clean"
when :func:`chartship.yamlfiles.duplicate_keys` finds no repeat and libyaml
reads the text. Generated helm-layout indexes (every value form helm, PyYAML
and chartship write) must take the fast path; the same indexes with a key
repeated at each depth, and thousands of random edits of them, must never be
called clean unless the event scan agrees. Pure Python: no helm involved.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest
import yaml

from chartship.channels.classic import repeats
from chartship.channels.classic.merge import merge
from chartship.channels.classic.repeats import unique_keys
from chartship.channels.classic.scan import scan_layout
from chartship.errors import ChartError
from chartship.yamlfiles import DuplicateKey, duplicate_keys
from tests.support.builders import rich_index, synthetic_index

# Scalars as helm, PyYAML and chartship write them, each as (text after "key:", the
# lines that follow it, indented relative to the key).
_SCALARS: list[tuple[str, list[str]]] = [
    (" 1.2.3", []),
    (" https://example.invalid/a#b:c", []),
    (" A long description that goes on", ["  and on over a second line", "  and a third"]),
    (" '>= 1.19.0-0'", []),
    (" 'it''s: quoted'", []),
    (" 'a quoted value folded", ["  over two lines'"]),
    (' "2024-06-10T06:31:05.729709374Z"', []),
    (' ""', []),
    (' "tab\\tand \\u00e9 and \\" quote"', []),
    (' "folded over\\', ['  two lines"']),
    (" |", ["  - kind: added", "    description: version: 1.0", "  - kind: added", "", "  last"]),
    (" |-", ["  name: same key twice is text", "  name: in a block scalar"]),
    (" >", ["  folded", "  text"]),
    (" []", []),
    (" {}", []),
    ("", []),
    (" true", []),
    (" -1", []),
    (" ünïcödé ✓", []),
]
_SEQUENCE_ITEMS = ["load-balancer", "'quoted: item'", '"double"', "wrapped item", "x"]
_ANNOTATIONS = [
    "artifacthub.io/changes",
    "artifacthub.io/images",
    "artifacthub.io/license",
    "example.com/custom",
    "zz-last",
]
_ENTRY_SCALARS = ["apiVersion", "appVersion", "created", "description", "digest", "home"]
_ENTRY_SCALARS += ["icon", "kubeVersion", "type"]


def _value(rng: random.Random, column: int) -> list[str]:
    head, rest = rng.choice(_SCALARS)
    return [head] + [" " * column + line if line else "" for line in rest]


def _mapping(rng: random.Random, keys: list[str], column: int) -> list[tuple[str, list[str]]]:
    """(key, lines of its value) for a random sorted subset of ``keys``."""
    chosen = sorted(rng.sample(keys, rng.randint(1, len(keys))))
    return [(key, _value(rng, column)) for key in chosen]


def _render(pairs: list[tuple[str, list[str]]], column: int, first: str) -> list[str]:
    """Lines of a mapping at ``column``; its first key follows ``first`` on one line."""
    lines: list[str] = []
    for number, (key, value) in enumerate(pairs):
        prefix = first if number == 0 else " " * column
        lines.append(f"{prefix}{key}:{value[0]}")
        lines.extend(value[1:])
    return lines


def _entry(rng: random.Random, name: str, version: str) -> list[tuple[str, list[str]]]:
    pairs = _mapping(rng, _ENTRY_SCALARS, 4)
    pairs += [("name", [f" {name}"]), ("version", [f" {version}"])]
    if rng.random() < 0.8:
        notes = _mapping(rng, _ANNOTATIONS, 6)
        pairs.append(("annotations", ["", *_render(notes, 6, " " * 6)]))
    for key, fields in (
        ("maintainers", ["email", "name", "url"]),
        ("dependencies", ["alias", "condition", "name", "repository", "version"]),
    ):
        if rng.random() < 0.7:
            lines = [""]
            for _ in range(rng.randint(1, 3)):
                item = _mapping(rng, fields, 6)
                if key == "dependencies" and rng.random() < 0.5:
                    item = sorted([*item, ("tags", ["", "      - routing", "      - 'quoted'"])])
                lines += _render(item, 6, "    - ")
            pairs.append((key, lines))
    for key in ("keywords", "sources", "urls"):
        if rng.random() < 0.7:
            items = rng.sample(_SEQUENCE_ITEMS, rng.randint(1, 3))
            lines = [""] + [f"    - {item}" for item in items]
            if "wrapped item" in items:
                lines.insert(lines.index("    - wrapped item") + 1, "      continued")
            pairs.append((key, rng.choice([lines, [" []"], [" [a, 'b', c]"]])))
    return sorted(pairs)


def generated_index(seed: int) -> tuple[str, list[list[tuple[str, list[str]]]]]:
    """A helm-layout index of random entries, and its entries' (key, value) pairs."""
    rng = random.Random(seed)  # noqa: S311 (replayable, not secret)
    lines = ["apiVersion: v1", "entries:"]
    entries = []
    for chart in range(rng.randint(1, 3)):
        name = rng.choice([f"chart-{chart}", f'"chart-{chart}"'])
        lines.append(f"  {name}:")
        for number in range(rng.randint(1, 3)):
            pairs = _entry(rng, f"chart-{chart}", f"1.0.{number}")
            entries.append(pairs)
            lines += _render(pairs, 4, "  - ")
    lines.append('generated: "2024-01-01T00:00:00Z"')
    return "\n".join(lines) + "\n", entries


def _fast(text: str) -> bool:
    layout = scan_layout(text)
    assert layout is not None, text
    return unique_keys(layout, smallest=0)


def _agrees(text: str) -> bool:
    """The fast answer "clean" only where libyaml reads the text and repeats nothing."""
    layout = scan_layout(text)
    if layout is None or not unique_keys(layout, smallest=0):
        return False
    assert duplicate_keys(text) == [], text
    return True


SEEDS = range(40)


@pytest.mark.parametrize("seed", SEEDS)
def test_generated_indexes_take_the_fast_path(seed: int) -> None:
    text, _ = generated_index(seed)
    assert duplicate_keys(text) == []
    assert _fast(text), text


def _repeats(text: str) -> Iterator[tuple[str, str]]:
    """(what, text) for each way of giving one key twice at some depth."""
    lines = text.split("\n")

    def edited(index: int, *added: str) -> str:
        return "\n".join(lines[: index + 1] + list(added) + lines[index + 1 :])

    for index, line in enumerate(lines):
        stripped = line.lstrip(" ")
        column = len(line) - len(stripped)
        key = stripped.removeprefix("- ").split(":", 1)[0]
        if ":" not in stripped or key.startswith("#") or " " in key:
            continue
        if column == 0:
            yield "top-level key", edited(index, f"{key}: again")
        elif stripped.startswith("- ") and column in (2, 4):
            # The first key of an item, on its "- " line, given again on the next line.
            yield f"first key at {column}", edited(index, " " * (column + 2) + f"{key}: again")
        elif column == 2:
            yield "chart name", edited(index, f"  {key.strip(chr(34))}:")
        elif column in (4, 6):
            yield f"key at {column}", edited(index, " " * column + f'"{key}": again')
            yield f"key at {column} after", edited(index, " " * column + f"{key}: again")


@pytest.mark.parametrize("seed", range(8))
def test_a_key_given_twice_at_any_depth_is_never_called_clean(seed: int) -> None:
    text, _ = generated_index(seed)
    seen = set()
    found = 0
    rng = random.Random(seed)  # noqa: S311 (replayable, not secret)
    for what, repeated in _repeats(text):
        if what in seen and rng.random() > 60 / len(text.split("\n")):
            continue  # a sample of each kind keeps this fast on the larger indexes
        seen.add(what)
        layout = scan_layout(repeated)
        if layout is not None and unique_keys(layout, smallest=0):
            # Only a line that did not repeat its key (it landed inside a value).
            assert duplicate_keys(repeated) == [], (what, repeated)
        else:
            found += bool(_found(repeated))
    assert {"top-level key", "chart name", "first key at 2", "first key at 4"} <= seen
    assert {"key at 4", "key at 6", "key at 4 after", "key at 6 after"} <= seen
    assert found >= 5  # most of them are repeats as the event scan sees them


def _found(text: str) -> list[DuplicateKey]:
    try:
        return duplicate_keys(text)
    except yaml.YAMLError:
        return []  # malformed: a repeat placed inside a value


def _mutations(text: str, rng: random.Random) -> Iterator[str]:
    lines = text.split("\n")
    marks = list(" \n:-#'\"|>[]{},&*!?\\%@`a0\t\x01\u2028")
    for _ in range(120):
        choice = rng.randrange(5)
        at = rng.randrange(len(text))
        if choice == 0:
            yield text[:at] + text[at + 1 :]
        elif choice == 1:
            yield text[:at] + rng.choice(marks) + text[at:]
        else:
            index = rng.randrange(len(lines) - 1)
            copy = list(lines)
            if choice == 2:
                copy.insert(rng.randrange(len(copy)), copy[index])
            elif choice == 3:
                copy[index] = " " * rng.choice([-1, 1, 2]) + copy[index] if copy[index] else ""
            else:
                other = rng.randrange(len(lines) - 1)
                copy[index], copy[other] = copy[other], copy[index]
            yield "\n".join(copy)


@pytest.mark.parametrize("seed", range(15))
def test_random_edits_are_called_clean_only_when_the_event_scan_agrees(seed: int) -> None:
    text, _ = generated_index(seed)
    proven = 0
    for mutated in _mutations(text, random.Random(seed)):  # noqa: S311 (replayable)
        try:
            proven += _agrees(mutated)
        except yaml.YAMLError:
            raise AssertionError(f"called clean, but libyaml refuses it:\n{mutated}") from None
    assert proven > 0  # some edits keep the index clean, and the fast path proves it


def test_a_key_libyaml_finds_too_long_is_never_called_clean() -> None:
    # libyaml takes a key of at most 1,024 characters: a longer one is malformed.
    for size, clean in ((900, True), (1030, False)):
        long = "k" * size
        for chart, annotation in ((long, "team"), ("a", long)):
            text = (
                f"apiVersion: v1\nentries:\n  {chart}:\n  - annotations:\n      {annotation}: x\n"
                "    name: a\n    version: 1.0.0\n"
            )
            assert _agrees(text) is clean
            if not clean:
                with pytest.raises(yaml.YAMLError):
                    duplicate_keys(text)


@pytest.mark.parametrize("build", [synthetic_index, rich_index])
def test_the_benchmark_indexes_take_the_fast_path(build: Callable[[int], str]) -> None:
    assert _fast(build(120))


def test_an_index_repeating_a_key_is_refused_in_the_event_scans_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(repeats, "SMALL", 0)  # take the fast path at any size
    text = rich_index(60)
    line = text.index("\n      artifacthub.io/license:", len(text) // 2)
    repeated = text[:line] + "\n      artifacthub.io/changes: again" + text[line:]
    twice = duplicate_keys(repeated)[0]
    entry = {"name": "chart-0001", "version": "9.0.0", "digest": "a" * 64, "urls": ["x.tgz"]}
    with pytest.raises(ChartError) as refused:
        merge(repeated, [entry])
    assert str(refused.value) == (
        f"index.yaml:{twice.line}: {twice.describe()}; helm refuses to load an index that "
        "repeats a key"
    )
    merged, result = merge(text, [entry])
    assert result.added == (("chart-0001", "9.0.0"),)
    assert duplicate_keys(merged) == []

"""libyaml's composer (the fast path) reads every input as PyYAML's does (the reference path).

The fast path may only ever give the reference path's document, lines and
repeated keys, or hand the text back so the reference path words the error.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from chartship import charts, yamlfiles
from chartship.channels.classic import merge
from chartship.config import ChartSettings
from chartship.errors import ChartError

DATA = Path(__file__).parent / "data"
CORPUS = sorted(p for p in DATA.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file())
BOUNDS = {
    "Chart.yaml": yamlfiles.CHART,
    "index.yaml": yamlfiles.INDEX,
    "values.yaml": yamlfiles.VALUES,
}
SMALL = yamlfiles.Bounds("test file", 4096, max_depth=4, max_nodes=40)

#: Inputs where the two parsers are known to part, and the bounds' edge cases.
HOSTILE = [
    "a:\t1\n",
    "a: 1\n\ufeffb: 2\n",
    "\ufeffa: 1\n",
    "k: [a?b]\n",
    "k: {a?b, z}\n",
    "k: [a:, z]\n",
    "k: {a:[b]}\n",
    "a: !\n",
    "- !\n- b\n",
    "? !\n: b\n",
    "a: !!str\n",
    "a: !x 1\n",
    "k" * 1100 + ": 1\n",
    "? " + "k" * 2000 + "\n: 1\n",
    "a: &x 1\nb: &x 2\n",
    "a: &a [1, *a]\n",
    "a: &a {b: *a}\n",
    "a: " + "[" * 65 + "]" * 65,
    "- " * 70 + "x\n",
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
    "a: 1\na: 2\nb: {c: 1, c: 2}\n",
    "a: &k x\n*k : 1\nx: 2\n",
    "'1': a\n1: b\n? [c]\n: d\n? [c]\n: e\n",
    "base: &b {port: 80, name: b}\nweb:\n  <<: *b\n  name: web\nboth: [*b, *b]\n",
    "a: 1\r\nb: 2\rc: 3\x85d: 4\u2028e: 5\n",
    "a: \x7f\n",
    "a: \x00\n",
    "%YAML 1.2\n---\na: 1\n",
    "%YAML 2.0\n---\na: 1\n",
    "a: 1\n---\nb: 2\n",
    "",
    "# only a comment\n",
    "a: 2001-12-14t21:59:43.10-05:00\nb: 0o17\nc: 1e3\nd: ~\ne: !!binary AAA=\n",
    "a: [b\n",
    "a: b\n c: d\n",
]


def outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except (ChartError, yaml.YAMLError) as exc:
        return type(exc).__name__, str(exc)


def shown(doc: yamlfiles.YamlDocument) -> tuple[str, Any, Any]:
    return repr(doc.data), doc.lines, doc.duplicate_keys


def reference_parse_yaml(
    text: str, path: Path, bounds: yamlfiles.Bounds, *, keep: bool
) -> yamlfiles.YamlDocument:
    """:func:`yamlfiles.parse_yaml` as it was: the pure-Python path alone."""
    checked = yamlfiles._reference_parse(text, path, bounds)
    if checked.duplicates and not keep:
        first = checked.duplicates[0]
        raise ChartError(first.describe(), path=path, line=first.line)
    doc = yamlfiles.YamlDocument(path, checked.data, duplicate_keys=checked.duplicates)
    if checked.node is not None:
        yamlfiles._index(checked.node, (), doc)
    return doc


def reference_load_data(text: str, bounds: yamlfiles.Bounds) -> Any:
    """:func:`yamlfiles.load_data` as it was."""
    loader = yamlfiles._loader(bounds, yamlfiles.BoundedSafeLoader)(text)
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()
    yamlfiles.refuse_duplicates(text)
    return data


def same_on_both_paths(text: str, bounds: yamlfiles.Bounds) -> bool:
    """Assert both paths agree on ``text``; whether the fast one read it itself."""
    path = Path("x.yaml")
    kept = outcome(functools.partial(reference_parse_yaml, text, path, bounds, keep=True))
    public = outcome(
        functools.partial(yamlfiles.parse_yaml, text, path, bounds, keep_duplicates=True)
    )
    assert (public[0], public[1] if public[0] != "ok" else shown(public[1])) == (
        kept[0],
        kept[1] if kept[0] != "ok" else shown(kept[1]),
    ), text
    if public[0] == "ok" and public[1].duplicate_keys:
        # Refused, the document's first repeated key is the error, as before.
        assert outcome(functools.partial(yamlfiles.parse_yaml, text, path, bounds)) == outcome(
            functools.partial(reference_parse_yaml, text, path, bounds, keep=False)
        ), text
    assert outcome(lambda: repr(yamlfiles.load_data(text, bounds))) == outcome(
        lambda: repr(reference_load_data(text, bounds))
    ), text
    return yamlfiles.checked_load(text, bounds) is not None


def test_every_yaml_file_of_the_test_data_reads_the_same_on_both_paths() -> None:
    fast = 0
    for path in CORPUS:
        text = path.read_text(encoding="utf-8")
        fast += same_on_both_paths(text, BOUNDS.get(path.name, yamlfiles.CONFIG))
    # The corpus holds the bad-input cases, so not every file is the fast path's to read;
    # most are, or the fast path would be no faster.
    assert len(CORPUS) > 100
    assert fast > len(CORPUS) * 3 // 4


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("bounds", [yamlfiles.VALUES, SMALL], ids=["values", "small"])
def test_inputs_the_parsers_disagree_on_read_as_pure_python_reads_them(
    text: str, bounds: yamlfiles.Bounds
) -> None:
    same_on_both_paths(text, bounds)


#: Nesting past the bound: within libyaml's own limit (1000), and far past it, where
#: libyaml refuses before any event and PyYAML's scanner would take seconds.
DEEP = [
    "a: " + "[\n" * 70 + "]" * 70 + "\n",
    "a:\n" + "".join("  " * i + "- \n" for i in range(1, 70)),
    "a: " + "{b: " * 80 + "1" + "}" * 80 + "\n",
    "a: " + "[\n" * 1200 + "]" * 1200 + "\n",
    "a: " + "[" * 200_000,
]


@pytest.mark.parametrize("text", DEEP, ids=["flow", "block", "maps", "past-libyaml", "200k"])
def test_deep_nesting_is_refused_at_the_node_the_composer_refuses(text: str) -> None:
    composer = yamlfiles._loader(yamlfiles.CHART, yamlfiles.BoundedSafeLoader)
    bounded = text[: 70 * 3] if len(text) > 10_000 else text
    # Where PyYAML's own composer stops (on text short enough for its scanner).
    with pytest.raises(yamlfiles.LimitExceeded) as expected:
        composer(bounded).get_single_node()
    with pytest.raises(ChartError) as raised:
        yamlfiles.parse_yaml(text, Path("Chart.yaml"), yamlfiles.CHART)
    mark = expected.value.problem_mark
    assert mark is not None
    assert raised.value.line == mark.line + 1
    assert raised.value.message == str(expected.value.problem)
    with pytest.raises(yamlfiles.LimitExceeded) as loaded:
        yamlfiles.load_data(text, yamlfiles.CHART)
    got = loaded.value.problem_mark
    assert got is not None
    assert loaded.value.problem == expected.value.problem
    assert (got.line, got.column) == (mark.line, mark.column)


def test_the_index_reader_gives_data_and_repeated_keys_from_one_parse() -> None:
    texts = [p.read_text(encoding="utf-8") for p in CORPUS if p.name == "index.yaml"]
    texts.append("apiVersion: v1\nentries:\n  demo:\n  - {version: 1.10, version: 1.1.0}\n")
    fast = 0
    for text in texts:
        checked = yamlfiles.checked_load(text, yamlfiles.INDEX, merge._IndexNodeLoader)
        if checked is not None:
            fast += 1
            reference = merge._load_reference(text, "index.yaml")
            assert (checked.data, checked.duplicates) == reference
    assert fast > len(texts) // 2
    data, duplicates = merge.load_keeping_duplicates(texts[-1])
    assert [d.dotted for d in duplicates] == ["entries.demo[0].version"]
    assert data["entries"]["demo"][0]["version"] == "1.1.0"


def test_a_run_parses_each_chart_yaml_once_and_never_serves_a_stale_one(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    directory.mkdir()
    chart_yaml = directory / "Chart.yaml"
    chart_yaml.write_text("apiVersion: v2\nname: demo\nversion: 1.0.0\n")
    where = charts.ChartDir("demo", directory, ChartSettings())
    # Outside a run every read is a fresh one: a library caller never sees an old file.
    assert charts.load(where).doc is not charts.load(where).doc
    with charts.reading_once():
        first = charts.load(where)
        with charts.reading_once():  # a command run inside another shares its reads
            assert charts.load(where).doc is first.doc
        assert charts.read_document(chart_yaml) is first.doc
        # The same size within one timestamp tick keeps the stat identity: the
        # writer's word is what makes the next read see the new text.
        chart_yaml.write_text("apiVersion: v2\nname: demo\nversion: 1.0.1\n")
        charts.written(chart_yaml)
        assert charts.load(where).version == "1.0.1"
        # A writer that does not say so is still seen once the file's identity moves.
        chart_yaml.write_text("apiVersion: v2\nname: demo\nversion: 1.0.10\n")
        assert charts.load(where).version == "1.0.10"
        chart_yaml.write_text("apiVersion: v2\nname: demo\nversion: 1.0.0\nversion: 2.0.0\n")
        with pytest.raises(ChartError, match=r"Chart.yaml:4: key version appears twice"):
            charts.load(where)
        assert [d.line for d in charts.read_document(chart_yaml).duplicate_keys] == [4]
    assert charts.read_document(chart_yaml) is not charts.read_document(chart_yaml)

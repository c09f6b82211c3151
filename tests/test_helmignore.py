"""chartship's reading of .helmignore against helm's own: its rule tests, then real packages."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from chartship.errors import ChartError
from chartship.helm import Helm
from chartship.helmignore import BadPattern, Rules, chart_files, glob_regex

# helm's pkg/ignore/rules_test.go TestIgnore, case for case:
# (pattern, name, is a directory, ignored).
HELM_CASES = [
    ("helm.txt", "helm.txt", False, True),
    ("helm.*", "helm.txt", False, True),
    ("helm.*", "rudder.txt", False, False),
    ("*.txt", "tiller.txt", False, True),
    ("*.txt", "cargo/a.txt", False, True),
    ("cargo/*.txt", "cargo/a.txt", False, True),
    ("cargo/*.*", "cargo/a.txt", False, True),
    ("cargo/*.txt", "mast/a.txt", False, False),
    ("ru[c-e]?er.txt", "rudder.txt", False, True),
    ("templates/.?*", "templates/.dotfile", False, True),
    (".*", ".", True, False),
    (".*", "./", True, False),
    (".*", ".joonix", False, True),
    (".*", "helm.txt", False, False),
    (".*", "", True, False),
    ("cargo/", "cargo", True, True),
    ("cargo/", "cargo/", True, True),
    ("cargo/", "mast/", True, False),
    ("helm.txt/", "helm.txt", False, False),
    ("!helm.txt", "helm.txt", False, False),
    ("!helm.txt", "tiller.txt", False, True),
    ("!*.txt", "cargo", True, True),
    ("!cargo/", "mast/", True, True),
    ("/a.txt", "a.txt", False, True),
    ("/a.txt", "cargo/a.txt", False, False),
    ("/cargo/a.txt", "cargo/a.txt", False, True),
]


@pytest.mark.parametrize(("pattern", "name", "is_dir", "ignored"), HELM_CASES)
def test_helm_rule_cases(pattern: str, name: str, is_dir: bool, ignored: bool) -> None:
    rules = Rules.parse(pattern, defaults=False)
    assert rules.ignored(name, is_dir) is ignored


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("*", "a/b", False),  # a star never crosses the separator, unlike fnmatch
        ("a?c", "a/c", False),
        ("a[/]c", "a/c", True),  # but a class may match it, as in Go
        ("[^a]bc", "xbc", True),
        ("[^a]bc", "abc", False),
        ("[!a]bc", "!bc", True),  # ! has no meaning in a Go class
        (r"a\*b", "a*b", True),
        (r"a\*b", "axb", False),
        ("[a-c]x", "bx", True),
        ("[c-a]x", "bx", False),  # an inverted range matches nothing
    ],
)
def test_glob_is_go_filepath_match(pattern: str, name: str, matches: bool) -> None:
    assert (glob_regex(pattern).fullmatch(name) is not None) is matches


@pytest.mark.parametrize("pattern", ["[z-", "[]", "[a", "a\\", "[-a]", "x[a-]"])
def test_bad_patterns_are_refused_like_go(pattern: str) -> None:
    with pytest.raises(BadPattern):
        glob_regex(pattern)


def test_bad_helmignore_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: x\nversion: 1.0.0\n")
    ignore = tmp_path / ".helmignore"
    ignore.write_text("# fine\n*.md\nfoo/**/bar\n")
    with pytest.raises(ChartError) as exc:
        list(chart_files(tmp_path))
    assert (exc.value.path, exc.value.line) == (ignore, 3)
    assert "double-star (**) syntax is not supported" in str(exc.value)
    ignore.write_text("[z-\n")
    with pytest.raises(ChartError, match=r"\.helmignore:1: bad pattern '\[z-'"):
        list(chart_files(tmp_path))


CHART = {
    "Chart.yaml": "apiVersion: v2\nname: ignoring\nversion: 1.0.0\nappVersion: '1'\n",
    "values.yaml": "a: 1\n",
    "templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    "templates/_helpers.tpl": "{{/* helpers */}}\n",
    "templates/.editor-swap": "ignored by helm's default rule\n",
    "templates/sub/.hidden": "not ignored: the default rule is one level deep\n",
    "README.md": "# readme\n",
    "docs/guide.md": "# guide\n",
    "docs/notes.txt": "kept\n",
    "notes.txt": "anchored rule drops this one\n",
    "build/out.bin": "directory rule drops this\n",
    "keep/build": "a file named like the directory rule stays\n",
    "data/a1.json": "{}\n",
    "data/b1.json": "{}\n",
    "data/c1.json": "{}\n",
    ".gitkeep": "\n",
    ".helmignore": "# comment\n*.md\n/notes.txt\nbuild/\ndata/[a-b]?.json\n.git*\n",
}


def test_files_are_those_helm_packages(tmp_path: Path, helm: Helm) -> None:
    chart = tmp_path / "ignoring"
    for name, text in CHART.items():
        path = chart / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (chart / "linked.yaml").symlink_to(chart / "values.yaml")  # helm follows links

    helm.run(["package", str(chart), "--destination", str(tmp_path / "out")])
    with tarfile.open(tmp_path / "out" / "ignoring-1.0.0.tgz") as tar:
        packaged = {m.name.removeprefix("ignoring/") for m in tar.getmembers() if m.isfile()}

    ours = {name for name, _ in chart_files(chart)}
    assert ours == packaged
    # The rules really were exercised: each dropped something.
    assert {"README.md", "docs/guide.md", "notes.txt", "build/out.bin", "data/a1.json",
            "data/b1.json", "templates/.editor-swap", ".gitkeep"}.isdisjoint(ours)  # fmt: skip
    assert {"docs/notes.txt", "keep/build", "data/c1.json", "templates/sub/.hidden",
            "linked.yaml", ".helmignore"} <= ours  # fmt: skip

"""index.yaml entries and merges, checked against what real helm 3 and helm 4 write and read."""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import re
import shutil
import tarfile
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from chartship.artifacts import Artifact
from chartship.bump import bump
from chartship.channels.classic.entry import _created, entry_for, timestamp
from chartship.channels.classic.merge import get, load, merge
from chartship.errors import ChartError
from chartship.helm import Helm
from chartship.package import package
from chartship.toolchain import DEFAULT_HELM_VERSIONS
from tests.support import bench_index
from tests.support.builders import (
    VERSIONS_PER_CHART,
    Workspace,
    chart_archive,
    chart_name,
    installed_helm,
    synthetic_index,
)
from tests.support.chartrepo import StaticServer

ServerFactory = Callable[[Path], StaticServer]
URL = "http://127.0.0.1:9/charts"
#: Go's RFC3339Nano in UTC, as helm writes created and generated.
RFC3339NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z$")

DEMO_CHART = """\
apiVersion: v2
name: demo
description: A demo chart
type: application
version: 0.1.0
appVersion: "1.0"
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def artifact(archive: Path) -> Artifact:
    return Artifact.read(archive)


def demo_archives(helm: Helm, tmp: Path, versions: Sequence[str]) -> list[Artifact]:
    """``demo`` packaged by helm at each of ``versions``."""
    chart = tmp / "src" / "demo"
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(DEMO_CHART)
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
    )
    out = tmp / "archives"
    found = []
    for version in versions:
        helm.run(["package", str(chart), "--version", version, "--destination", str(out)])
        found.append(artifact(out / f"demo-{version}.tgz"))
    return found


def helm_index(helm: Helm, archives: Sequence[Path], directory: Path) -> dict[str, Any]:
    """What ``helm repo index`` writes for ``archives`` served at URL."""
    directory.mkdir(parents=True)
    for archive in archives:
        shutil.copy2(archive, directory / archive.name)
    helm.run(["repo", "index", str(directory), "--url", URL])
    data: dict[str, Any] = yaml.safe_load((directory / "index.yaml").read_text())
    return data


def without_created(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "created"}


def served_versions(
    helm: Helm, text: str, site: Path, start: ServerFactory, chart: str
) -> tuple[str, list[str]]:
    """Serve ``text`` as index.yaml from ``site``; helm repo add + search: (repo, versions)."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "index.yaml").write_text(text)
    server = start(site)
    repo = f"r{abs(hash(site)) % 10**8}"
    helm.run(["repo", "add", repo, server.url])
    out = helm.run(["search", "repo", f"{repo}/{chart}", "--versions", "--devel", "-o", "json"])
    found = [row["version"] for row in json.loads(out.stdout) if row["name"] == f"{repo}/{chart}"]
    return repo, found


# --------------------------------------------------------------------------- entries


def test_entry_matches_what_helm_writes(workspace: Workspace, helm: Helm, tmp_path: Path) -> None:
    settings = workspace.settings()
    bump(settings, "0.16.2", ["metallb"])
    packaged = package(settings, ["metallb", "metallb-dashboards"])
    ours = {p.chart: entry_for(artifact(p.archive), f"{URL}/{p.archive.name}") for p in packaged}
    theirs = helm_index(helm, [p.archive for p in packaged], tmp_path / "helm")
    assert sorted(theirs["entries"]) == sorted(ours)
    for name, entry in ours.items():
        (helm_entry,) = theirs["entries"][name]
        assert list(entry) == sorted(entry)
        assert without_created(entry) == without_created(helm_entry), name
        assert RFC3339NANO.match(entry["created"]), entry["created"]
        assert RFC3339NANO.match(helm_entry["created"]), helm_entry["created"]
    # The fields the comparison is about are really there.
    metallb = ours["metallb"]
    for key in ("apiVersion", "appVersion", "dependencies", "annotations", "kubeVersion", "type"):
        assert key in metallb, key
    assert {"name": "crds", "repository": "", "version": "0.16.2", "condition": "crds.enabled"} in (
        metallb["dependencies"]
    )


def odd_archive(directory: Path, app_version: str) -> Path:
    """A chart archive not made by helm, whose Chart.yaml helm has to normalise."""
    chart_yaml = f"""\
name: odd
version: 1.10.0-rc.1+build.5
appVersion: {app_version}
description: "Two lines,\\nwith\\ta tab, a bell\\a, a no-break\\u00a0space and\\u2028more"
home: 1.5
extraKey: dropped by helm
deprecated: true
condition: odd.enabled
tags: a,b
type: library
kubeVersion: ">=1.20.0-0"
keywords: [x, 10, "y", "1e3", "n"]
sources: []
maintainers:
  - name: "Some\\tOne"
    email: someone@example.com
  - name: NoMail
annotations:
  plain: text
  number: 10
  flag: true
dependencies:
  - name: sub
    version: 1.0.0
    enabled: true
    tags: [t1]
    import-values:
      - child: a
        parent: b
      - simple
    alias: zz
"""
    files = {
        "odd/Chart.yaml": chart_yaml,
        "odd/charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
    }
    directory.mkdir(parents=True, exist_ok=True)
    archive = directory / "odd-1.10.0-rc.1+build.5.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return archive


@pytest.mark.parametrize(
    "app_version",
    ["1.10", "1234567.5", "0.00001", "100000000.0", "3.14159265358979", "010", "0x10", "true"],
)
def test_entry_normalises_chart_yaml_like_helm(
    helm: Helm, tmp_path: Path, app_version: str
) -> None:
    """Unknown keys dropped, numbers as helm prints them (float32!), whitespace sanitised,
    dependency repository always written, apiVersion defaulted to v1."""
    archive = odd_archive(tmp_path / "src", app_version)
    ours = entry_for(artifact(archive), f"{URL}/{archive.name}")
    (theirs,) = helm_index(helm, [archive], tmp_path / "helm")["entries"]["odd"]
    assert without_created(ours) == without_created(theirs)
    assert "extraKey" not in ours
    assert ours["apiVersion"] == "v1"
    assert ours["dependencies"][0]["repository"] == ""


def test_entry_refuses_an_archive_of_another_chart(tmp_path: Path) -> None:
    archive = odd_archive(tmp_path, "1.0")
    with pytest.raises(ChartError, match=r"holds odd 1\.10\.0-rc\.1\+build\.5, expected odd 9"):
        entry_for(Artifact.read(archive, "odd", "9.0.0"), URL)


def test_created_is_rfc3339_nano_in_utc() -> None:
    assert timestamp(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert timestamp(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert timestamp(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert RFC3339NANO.match(timestamp())
    moment = datetime(2024, 1, 2, 3, 4, 5, 600, tzinfo=timezone.utc)
    assert _created(moment) == "2024-01-02T03:04:05.0006Z"


# --------------------------------------------------------------------------- merging


def line_edits(old: str, new: str) -> list[tuple[str, list[str], list[str]]]:
    """Every change from ``old`` to ``new``, as (kind, old lines, new lines)."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    return [
        (tag, a[i1:i2], b[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
    ]


def test_merge_keeps_every_existing_byte(
    helm: Helm, tmp_path: Path, static_server_factory: ServerFactory
) -> None:
    old_versions = ["0.1.0", "0.3.0", "1.0.0-rc.1"]
    made = demo_archives(helm, tmp_path, [*old_versions, "0.2.0"])
    existing = tmp_path / "existing"
    helm_index(helm, [a.archive for a in made[:3]], existing)
    old_text = (existing / "index.yaml").read_text()
    new = made[3]
    new_text, result = merge(old_text, [entry_for(new, f"{URL}/{new.archive.name}")])
    assert result.added == (("demo", "0.2.0"),)
    assert result.changed
    assert not result.rewritten
    edits = line_edits(old_text, new_text)
    generated = [e for e in edits if e[0] == "replace"]
    assert len(generated) == 1
    assert generated[0][1][0].startswith("generated: ")
    assert generated[0][2] == [f'generated: "{result.generated}"\n']
    inserted = [e for e in edits if e[0] == "insert"]
    assert len(inserted) == 1
    assert len(edits) == 2
    assert "    version: 0.2.0\n" in inserted[0][2]
    # Existing entries, their order and created times: unchanged; the new one in helm's order.
    old_entries = yaml.safe_load(old_text)["entries"]["demo"]
    new_entries = yaml.safe_load(new_text)["entries"]["demo"]
    assert [e["version"] for e in new_entries] == ["1.0.0-rc.1", "0.3.0", "0.2.0", "0.1.0"]
    assert [e for e in new_entries if e["version"] != "0.2.0"] == old_entries
    # helm reads the result and serves the new version byte for byte.
    _repo, versions = served_versions(
        helm, new_text, tmp_path / "site", static_server_factory, "demo"
    )
    assert versions == ["1.0.0-rc.1", "0.3.0", "0.2.0", "0.1.0"]


def test_same_digest_is_a_no_op(helm: Helm, tmp_path: Path) -> None:
    (made,) = demo_archives(helm, tmp_path, ["0.1.0"])
    entry = entry_for(made, f"{URL}/{made.archive.name}")
    first, added = merge(None, [entry])
    again = entry_for(made, "http://127.0.0.1:9/elsewhere.tgz")
    second, result = merge(first, [again])
    assert added.added == (("demo", "0.1.0"),)
    assert second == first
    assert result.present == (("demo", "0.1.0"),)
    assert not result.changed
    assert result.generated is None
    assert "nothing changed" in result.describe()


def test_other_digest_is_refused_and_nothing_merged(helm: Helm, tmp_path: Path) -> None:
    made = demo_archives(helm, tmp_path, ["0.1.0", "0.2.0"])
    entry = entry_for(made[0], f"{URL}/{made[0].archive.name}")
    text, _ = merge(None, [entry])
    other = "f" * 64
    clash = {**entry, "digest": other}
    fresh = entry_for(made[1], f"{URL}/{made[1].archive.name}")
    with pytest.raises(ChartError) as caught:
        merge(text, [fresh, clash], path=tmp_path / "index.yaml")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'index.yaml'}: demo 0.1.0 ")
    assert made[0].sha256 in message
    assert other in message
    assert "nothing merged" in message
    # The same refusal when the index had to be parsed whole.
    data = yaml.safe_load(text)
    with pytest.raises(ChartError, match=other):
        merge(data, [fresh, clash])


MALFORMED = {
    "not-yaml": ("apiVersion: v1\nentries: [\n  - {\n", "not valid YAML"),
    "empty": ("", "is not a chart repository index"),
    "a-list": ("- apiVersion: v1\n", "is not a chart repository index"),
    "no-entries": ("apiVersion: v1\ngenerated: x\n", "has no entries mapping"),
    "entries-a-list": ("apiVersion: v1\nentries:\n- demo\n", "entries must be a mapping"),
    "no-api-version": ("entries: {}\n", "has no apiVersion"),
    "chart-not-a-list": ("apiVersion: v1\nentries:\n  demo: 1\n", r"entries\.demo must be a list"),
    "no-version": (
        "apiVersion: v1\nentries:\n  other:\n  - name: other\n    version: 1.0.0\n"
        "  - name: other\n    digest: abc\n",
        r"entries\.other\[1\] has no version",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_index_is_a_clear_error(tmp_path: Path, case: str) -> None:
    text, message = MALFORMED[case]
    path = tmp_path / "index.yaml"
    entry = {"name": "demo", "version": "0.1.0", "digest": "a" * 64, "urls": [URL]}
    with pytest.raises(ChartError, match=message) as caught:
        merge(text, [entry], path=path)
    assert str(caught.value).startswith(f"{path}")


def test_non_utf8_index_is_a_clear_error(tmp_path: Path) -> None:
    entry = {"name": "demo", "version": "0.1.0", "digest": "a" * 64, "urls": [URL]}
    with pytest.raises(ChartError, match="not UTF-8") as caught:
        merge(b"apiVersion: v1\nentries: {}\n\xff\n", [entry], path=tmp_path / "index.yaml")
    assert str(caught.value).startswith(str(tmp_path / "index.yaml"))


SORT_VERSIONS = [
    "1.0.0",
    "1.0.0-rc.1",
    "1.0.0-rc.10",
    "1.0.0-rc.2",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "0.9.0",
    "0.10.0",
    "0.9.10",
    "1.1.0-0",
    "2.0.0+build.7",
    "1.0.1-rc.1+meta",
]


def test_versions_sort_like_helm(helm: Helm, tmp_path: Path) -> None:
    made = demo_archives(helm, tmp_path, SORT_VERSIONS)
    theirs = helm_index(helm, [a.archive for a in made], tmp_path / "helm")
    helm_order = [e["version"] for e in theirs["entries"]["demo"]]
    shuffled = list(made)
    shuffled.sort(key=lambda a: hashlib.sha256(a.version.encode()).hexdigest())
    text: str | None = None
    for one in shuffled:  # one release at a time, in no particular order
        text, _ = merge(text, [entry_for(one, f"{URL}/{one.archive.name}")])
    assert text is not None
    ours = [e["version"] for e in yaml.safe_load(text)["entries"]["demo"]]
    assert ours == helm_order
    # All at once gives the same order.
    together, _ = merge(None, [entry_for(a, URL) for a in shuffled])
    assert [e["version"] for e in yaml.safe_load(together)["entries"]["demo"]] == helm_order


def test_build_metadata_only_versions_are_distinct(
    helm: Helm, tmp_path: Path, static_server_factory: ServerFactory
) -> None:
    """1.0.0+a and 1.0.0+b have equal precedence: both kept, the newer after the older.

    (helm's own ``repo index --merge`` would silently drop the second: it asks
    "is 1.0.0+b there?" with a version constraint, which ignores build metadata.)
    """
    made = demo_archives(helm, tmp_path, ["1.0.0+a", "1.0.0+b", "0.9.0"])
    text, _ = merge(None, [entry_for(made[2], "u2"), entry_for(made[0], "u0")])
    text, result = merge(text, [entry_for(made[1], "u1")])
    assert result.added == (("demo", "1.0.0+b"),)
    assert [e["version"] for e in yaml.safe_load(text)["entries"]["demo"]] == [
        "1.0.0+a",
        "1.0.0+b",
        "0.9.0",
    ]
    _, versions = served_versions(helm, text, tmp_path / "site", static_server_factory, "demo")
    assert sorted(versions) == ["0.9.0", "1.0.0+a", "1.0.0+b"]


def test_fresh_index_new_charts_and_helm_pulls_byte_identical(
    helm: Helm, tmp_path: Path, static_server_factory: ServerFactory
) -> None:
    made = demo_archives(helm, tmp_path, ["0.1.0", "0.2.0-beta.1"])
    other = odd_archive(tmp_path / "odd", "2.0")
    site = tmp_path / "site"
    site.mkdir()
    server = static_server_factory(site)
    for one in [*made, artifact(other)]:
        shutil.copy2(one.archive, site / one.archive.name)
    text, first = merge(None, [entry_for(made[0], f"{server.url}/{made[0].archive.name}")])
    assert text.startswith("apiVersion: v1\nentries:\n  demo:\n  - ")
    # A chart sorted before the existing one, then a new version of the existing one.
    text, second = merge(text, [entry_for(artifact(other), f"{server.url}/{other.name}")])
    text, third = merge(text, [entry_for(made[1], f"{server.url}/{made[1].archive.name}")])
    assert list(yaml.safe_load(text)["entries"]) == ["demo", "odd"]
    assert not (first.rewritten)
    assert not (second.rewritten)
    assert not (third.rewritten)
    (site / "index.yaml").write_text(text)
    helm.run(["repo", "add", "fresh", server.url])
    out = helm.run(["search", "repo", "fresh/", "--versions", "--devel", "-o", "json"])
    assert sorted((r["name"], r["version"]) for r in json.loads(out.stdout)) == [
        ("fresh/demo", "0.1.0"),
        ("fresh/demo", "0.2.0-beta.1"),
        ("fresh/odd", "1.10.0-rc.1+build.5"),
    ]
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    for one in [*made, artifact(other)]:
        helm.run(
            [
                "pull",
                f"fresh/{one.chart}",
                "--version",
                one.version,
                "--destination",
                str(pulled),
            ]
        )
        assert sha256(pulled / one.archive.name) == one.sha256


def test_unrecognised_layout_is_merged_through_a_full_parse(helm: Helm, tmp_path: Path) -> None:
    made = demo_archives(helm, tmp_path, ["0.1.0", "0.2.0"])
    existing = entry_for(made[0], URL, created="2020-01-02T03:04:05.123456789Z")
    # JSON is YAML, but no block layout: flow style is parsed whole and rewritten.
    flow = json.dumps({"apiVersion": "v1", "entries": {"demo": [existing]}, "generated": "x"})
    text, result = merge(flow, [entry_for(made[1], URL)])
    assert result.rewritten
    assert result.added == (("demo", "0.2.0"),)
    data = load(text)
    assert data["entries"]["demo"][1] == existing
    assert data["entries"]["demo"][1]["created"] == "2020-01-02T03:04:05.123456789Z"
    assert [e["version"] for e in data["entries"]["demo"]] == ["0.2.0", "0.1.0"]
    # CRLF line ends: the same.
    crlf = merge(None, [existing])[0].replace("\n", "\r\n")
    text, result = merge(crlf, [entry_for(made[1], URL)])
    assert result.rewritten
    assert get(text, "demo", "0.1.0") == existing


def test_get_reads_one_entry(helm: Helm, tmp_path: Path) -> None:
    made = demo_archives(helm, tmp_path, ["0.1.0", "0.2.0"])
    entries = [entry_for(m, f"{URL}/{m.archive.name}") for m in made]
    text, _ = merge(None, entries)
    assert get(text, "demo", "0.2.0") == entries[1]
    assert get(text, "demo", "9.9.9") is None
    assert get(text, "nothing", "0.1.0") is None


def test_merge_into_15000_entries_touches_one_chart_only(tmp_path: Path) -> None:
    """The new entry is spliced into its chart's block; every other byte stays put.

    How fast that is, against helm, is measured by ``nox -s bench``, not here.
    """
    old_text = synthetic_index(15000)
    archive = chart_archive(tmp_path, chart_name(150), "99.0.0")
    entry = entry_for(artifact(archive), f"{URL}/{archive.name}")
    new_text, result = merge(old_text, [entry])
    assert result.added == (("chart-0150", "99.0.0"),)
    assert not result.rewritten
    # A 500,000-line diff is too slow for difflib; compare around the splice instead.
    old_generated = old_text.rindex("\ngenerated: ") + 1
    new_generated = new_text.rindex("\ngenerated: ") + 1
    assert old_text[old_generated:] == 'generated: "2024-06-01T00:00:00.123456789Z"\n'
    assert new_text[new_generated:] == f'generated: "{result.generated}"\n'
    old_body, new_body = old_text[:old_generated], new_text[:new_generated]
    key = "  chart-0150:\n"
    position = new_body.index(key) + len(key)
    grown = len(new_body) - len(old_body)
    assert new_body[:position] == old_body[:position]
    assert new_body[position + grown :] == old_body[position:]
    spliced = new_body[position : position + grown]
    # The new version is first in its chart, in helm's layout.
    assert spliced.startswith("  - annotations:\n      artifacthub.io/license:")
    assert spliced.count("\n  - ") == 0
    assert "    version: 99.0.0\n" in spliced
    assert get(new_text, "chart-0150", "99.0.0") == entry


def test_bench_runs_and_both_indexes_serve_the_new_entry(
    tmp_path: Path, static_server_factory: ServerFactory
) -> None:
    rows = bench_index.run((200,), repeat=1, workdir=tmp_path / "bench")
    assert [r["helm"] for r in rows] == list(DEFAULT_HELM_VERSIONS)
    for row in rows:
        assert row["chartship_s"] > 0
        assert row["helm_s"] > 0
        assert row["chartship_inprocess_s"] > 0
        assert row["helm_rss_mb"] > 0
        assert row["chartship_rss_mb"] > 0
        assert row["speedup"] == pytest.approx(row["helm_s"] / row["chartship_s"], abs=0.06)
    assert "| 200 |" in bench_index.table(rows)
    outputs = [rows[0]["chartship_index"], *(r["helm_index"] for r in rows)]
    for number, output in enumerate(outputs):
        site = tmp_path / f"site{number}"
        site.mkdir()
        shutil.copy2(output, site / "index.yaml")
        server = static_server_factory(site)
        for version in DEFAULT_HELM_VERSIONS:
            reader = Helm(str(installed_helm(version)))
            repo = f"bench{number}v{version.split('.')[0]}"
            reader.run(["repo", "add", repo, server.url])
            chart = f"{repo}/{rows[0]['chart']}"
            out = reader.run(["search", "repo", chart, "--versions", "-o", "json"])
            found = [r["version"] for r in json.loads(out.stdout) if r["name"] == chart]
            assert found[0] == "99.0.0", found
            assert len(found) == VERSIONS_PER_CHART + 1

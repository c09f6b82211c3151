"""Hostile repositories: the cases the bad-input corpus cannot hold as text files.

Alias bombs run in a subprocess with a memory limit and a timeout; schema
references are proven never fetched by a server that counts its requests;
chartship's own archive is held to the safetar rules right after ``helm
package``; huge values are echoed short; notes files are bounded and strict.
The rest of each class (links, dist/ entries, names, URLs with credentials,
tag templates) is in tests/data/bad_inputs.
"""

from __future__ import annotations

import http.server
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown_it import MarkdownIt

from chartship import charts as chartfiles
from chartship import exits, github_actions, jsonfiles, redirects, safetext, yamlfiles
from chartship.artifacts import Artifact
from chartship.channels.classic import served
from chartship.channels.classic.entry import entry_for
from chartship.channels.classic.merge import merge
from chartship.channels.classic.scan import scan_layout
from chartship.channels.github import channel as github_channel
from chartship.channels.github.channel import publish_releases
from chartship.commands import run_migrate_status
from chartship.config import load_settings, template_problem
from chartship.errors import (
    ChartError,
    ChartshipError,
    ConfigError,
    RedirectRefused,
    ToolError,
    VersionError,
)
from chartship.gitrepo import ref_name_problem
from chartship.lint import foreign_references, lint
from chartship.package import package
from chartship.runner import Runner
from chartship.sandbox.registry import RegistryServer
from chartship.sandbox.servers import BackgroundServer
from chartship.toolchain import DEFAULT_HELM_VERSIONS
from tests.support.actions_runner import parse_file_commands
from tests.support.builders import Workspace, chart_archive, git, installed_helm, write_channels
from tests.support.chartrepo import RedirectServer

DASH = "metallb-dashboards"
NEWEST_HELM = DEFAULT_HELM_VERSIONS[-1]
#: Far more than chartship needs, far less than an expanded alias bomb.
MEMORY_LIMIT = 2 * 2**30
COMMAND_TIMEOUT = 60


@pytest.fixture
def newest(tmp_path: Path, _workspace_template: Path, upstream: str) -> Workspace:
    """A workspace on the newest helm, for refusals that happen before helm runs."""
    root = tmp_path / "repo"
    shutil.copytree(_workspace_template, root)
    git(root, "init", "-q", "-b", "main")
    ws = Workspace(root, installed_helm(NEWEST_HELM), upstream)
    ws.commit("initial")
    return ws


def bounded_chartship(
    ws: Workspace, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    """``chartship <args>`` under a memory limit and a timeout; the result and its seconds."""
    program = (
        "import resource, runpy, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))\n"
        "sys.argv = ['chartship', *sys.argv[1:]]\n"
        "runpy.run_module('chartship', run_name='__main__')\n"
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", program, *args, "--helm", str(ws.helm_bin)],
        cwd=ws.root,
        capture_output=True,
        text=True,
        check=False,
        timeout=COMMAND_TIMEOUT,
        env={**os.environ, **(env or {})},
    )
    return result, time.monotonic() - started


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def billion_laughs(key: str = "x") -> str:
    lines = [f'{key}0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 9):
        lines.append(f"{key}{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- bounded inputs


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("chartship.yaml", {"lint": 2, "package": 2}),
        (f"charts/{DASH}/Chart.yaml", {"lint": 1, "package": 3}),
        (f"charts/{DASH}/values.yaml", {"lint": 1, "package": 3}),
    ],
)
def test_an_alias_bomb_is_refused_quickly_in_bounded_memory(
    newest: Workspace, target: str, status: dict[str, int]
) -> None:
    path = newest.path(target)
    path.write_text(path.read_text() + billion_laughs())
    for command, expected in status.items():
        result, seconds = bounded_chartship(newest, command, DASH)
        text = output(result)
        assert result.returncode == expected, text
        assert "Traceback" not in text
        assert f"{target}:" in text
        assert "once its aliases are expanded (an alias bomb?)" in text
        assert seconds < COMMAND_TIMEOUT / 2, f"{command} took {seconds:.1f}s"


def test_yaml_bounds_refuse_depth_recursion_and_size_before_building_anything() -> None:
    where = Path("values.yaml")
    for fast in (False, True):
        with pytest.raises(yamlfiles.LimitExceeded, match="nests deeper than 64 levels"):
            yamlfiles.load_data("a: " + "[" * 65 + "]" * 65, yamlfiles.VALUES, fast=fast)
        with pytest.raises(yamlfiles.LimitExceeded, match=r"alias \*a refers to a node"):
            yamlfiles.load_data("a: &a [1, *a]\n", yamlfiles.VALUES, fast=fast)
        small = yamlfiles.Bounds("test file", 64)
        with pytest.raises(yamlfiles.LimitExceeded, match="is over 64 bytes"):
            yamlfiles.load_data("a: " + "b" * 64, small, fast=fast)
        # Anchors and merge keys within the bounds are ordinary YAML and stay readable.
        text = "base: &b {port: 80}\nweb:\n  <<: *b\n  name: web\nboth: [*b, *b]\n"
        assert yamlfiles.load_data(text, yamlfiles.VALUES, fast=fast) == {
            "base": {"port": 80},
            "web": {"port": 80, "name": "web"},
            "both": [{"port": 80}, {"port": 80}],
        }
    with pytest.raises(ChartError, match=r"values.yaml:1: nests deeper than 64 levels"):
        yamlfiles.parse_yaml("- " * 70 + "x\n", where, yamlfiles.VALUES)
    # 63 levels of a 64-level limit pass, so the limit is what it says.
    yamlfiles.parse_yaml("a: " + "[" * 63 + "]" * 63, where, yamlfiles.VALUES)


def test_a_repeated_key_is_found_anywhere_with_both_lines(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\n"
        "entries:\n"
        "  demo:\n"
        "  - {version: 1.0.0, digest: a, version: 1.1.0}\n"
        "  - version: 2.0.0\n"
        "    urls: [x]\n"
        "    annotations: {a: &x {b: 1, c: 2}, c: *x}\n"
        "  demo: []\n"
        "? [complex, key]\n"
        ": 1\n"
        "apiVersion: v2\n"
    )
    found = [(d.dotted, d.first_line, d.line) for d in yamlfiles.duplicate_keys(text)]
    assert found == [
        ("entries.demo[0].version", 4, 4),
        ("entries.demo", 3, 8),
        ("apiVersion", 1, 11),
    ]
    # Keys compare as text (helm's YAML-to-JSON view), and an alias is never expanded.
    assert [d.dotted for d in yamlfiles.duplicate_keys("1: a\n'1': b\n")] == ["1"]
    assert yamlfiles.duplicate_keys("a: &x {b: 1}\nc: *x\nd: [*x, *x]\n") == []
    for fast in (False, True):
        with pytest.raises(yamlfiles.DuplicateKeyError, match=r"key a\.b appears twice"):
            yamlfiles.load_data("a:\n  b: 1\n  b: 2\n", yamlfiles.VALUES, fast=fast)
    with pytest.raises(ChartError, match=r"values.yaml:3: key a.b appears twice \(lines 2 and 3\)"):
        yamlfiles.parse_yaml("a:\n  b: 1\n  b: 2\n", Path("values.yaml"), yamlfiles.VALUES)
    schema = '{"properties": {\n "a": {},\n "a": {"type": "string"}}}'
    with pytest.raises(
        ChartError, match=r"s.json:3: key properties.a appears twice \(lines 2 and 3"
    ):
        jsonfiles.parse_json(schema, Path("s.json"), yamlfiles.SCHEMA)
    # ct.yaml, read where chartship.yaml says nothing, is one more such file.
    (tmp_path / "ct.yaml").write_text("target-branch: main\ntarget-branch: next\n")
    with pytest.raises(ConfigError, match=r"key target-branch appears twice \(lines 1 and 2\)"):
        load_settings(None, root=tmp_path)
    kept = yamlfiles.parse_yaml("a: 1\na: 2\n", Path("x.yaml"), keep_duplicates=True)
    assert (kept.data, [d.describe() for d in kept.duplicate_keys]) == (
        {"a": 2},
        ["key a appears twice (lines 1 and 2)"],
    )


def test_an_index_repeating_a_key_is_never_merged() -> None:
    entry = {"name": DASH, "version": "1.3.0", "digest": "b" * 64, "urls": ["x.tgz"]}
    item = f"  - name: {DASH}\n    version: 1.2.0\n    urls:\n    - a.tgz\n"
    repeated = (
        f"apiVersion: v1\nentries:\n  {DASH}:\n{item}  {DASH}:\n{item}"
        'generated: "2024-01-01T00:00:00Z"\n'
    )
    # Merged as text (the scanner reads it) or parsed whole (flow style): the same refusal.
    assert scan_layout(repeated) is not None
    flow = f"{{apiVersion: v1, entries: {{{DASH}: [{{version: 1.2.0}}],\n {DASH}: []}}}}\n"
    for text, lines in ((repeated, (3, 8)), (flow, (1, 2))):
        message = rf"index.yaml:{lines[1]}: key entries.{DASH} appears twice \(lines {lines[0]} and"
        with pytest.raises(ChartError, match=message):
            merge(text, [entry])
    with pytest.raises(ChartError, match=r"index.yaml:3: key apiVersion appears twice"):
        merge("apiVersion: v1\nentries: {}\napiVersion: v1\n", [entry])


def test_an_item_the_scanner_cannot_read_is_never_made_up_for_by_another() -> None:
    """A bare ``-`` starts an item whose keys follow on the next lines.

    The scanner once counted only ``- key`` lines: here two of them and two version
    lines, so it took the layout for helm's and read the first item's version from
    the third item. It refuses any item line beside the chart keys but ``- ``; the
    whole parse finds the item without a version.
    """
    entry = {"name": DASH, "version": "1.3.0", "digest": "b" * 64, "urls": ["x.tgz"]}
    text = (
        f"apiVersion: v1\nentries:\n  {DASH}:\n  - name: {DASH}\n    urls:\n    - a.tgz\n"
        f"  -\n    name: {DASH}\n    version: 1.2.0\n  - name: {DASH}\n    version: 1.2.1\n"
        'generated: "2024-01-01T00:00:00Z"\n'
    )
    assert yaml.safe_load(text)["entries"][DASH][0] == {"name": DASH, "urls": ["a.tgz"]}
    assert scan_layout(text) is None
    with pytest.raises(ChartError, match=rf"entries.{DASH}\[0\] has no version"):
        merge(text, [entry])


def test_json_bounds_refuse_depth_before_parsing(tmp_path: Path) -> None:
    schema = tmp_path / "values.schema.json"
    schema.write_text('{"a": "[[[[", "b": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ChartError, match=r"values.schema.json:1: nests deeper than 64 levels"):
        jsonfiles.load_json(schema, yamlfiles.SCHEMA)
    schema.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(ChartError, match="is not UTF-8 text"):
        jsonfiles.load_json(schema, yamlfiles.SCHEMA)
    schema.write_text('{"brackets in a string": "[[[[[[[[[[[[[[[[[[[[", "\\"[": 1}')
    assert jsonfiles.load_json(schema, yamlfiles.Bounds("t", 1000, max_depth=1)) == {
        "brackets in a string": "[[[[[[[[[[[[[[[[[[[[",
        '"[': 1,
    }


def test_the_packaging_record_in_dist_is_read_within_bounds(newest: Workspace) -> None:
    package(newest.settings(), [DASH])
    record = newest.path("dist/SOURCES.json")
    good = record.read_text()
    for text, message in (
        ('{"archives": {}, "archives": {}}', "key archives appears twice (lines 1 and 1)"),
        (" " * (16 * 2**20 + 1), "is 16777217 bytes, over 16777216"),
    ):
        record.write_text(text)
        with pytest.raises(ChartError, match=re.escape(message)) as refused:
            package(newest.settings(), [DASH])
        assert refused.value.path == record
        assert "remove the file to repackage every chart" in refused.value.message
    record.write_text(good)
    package(newest.settings(), [DASH])


def test_a_fifo_in_a_chart_is_refused_without_reading_it(newest: Workspace) -> None:
    fifo = newest.path(f"charts/{DASH}/templates/pipe.yaml")
    os.mkfifo(fifo)
    result, _ = bounded_chartship(newest, "lint", DASH)
    assert result.returncode == 1, output(result)
    assert (
        f"charts/{DASH}/templates/pipe.yaml: error: [files] is not a regular file, "
        "a directory or a link" in output(result)
    )
    result, _ = bounded_chartship(newest, "package", DASH)
    assert result.returncode == 3, output(result)
    assert "pipe.yaml: is not a regular file" in output(result)
    assert not newest.path("dist").exists() or not list(newest.path("dist").glob("*.tgz"))


# --------------------------------------------------------------------------- schema references


class _Counting(http.server.BaseHTTPRequestHandler):
    requests: list[str]
    lock = threading.Lock()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        with self.lock:
            self.requests.append(self.path)
        body = b'{"type": "object"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def counting_server() -> Iterator[tuple[str, list[str]]]:
    requests: list[str] = []

    class Handler(_Counting):
        pass

    Handler.requests = requests
    with BackgroundServer(Handler) as running:
        yield running.url, requests


def test_schema_references_outside_the_chart_are_lint_errors_and_never_fetched(
    workspace: Workspace, counting_server: tuple[str, list[str]]
) -> None:
    url, requests = counting_server
    schema = workspace.path(f"charts/{DASH}/values.schema.json")
    schema.write_text(
        "{\n"
        '  "type": "object",\n'
        '  "properties": {\n'
        f'    "grafana": {{"$ref": "{url}/grafana.schema.json"}},\n'
        '    "dashboards": {"items": {"$ref": "file:///etc/passwd"}},\n'
        '    "extraLabels": {"$ref": "labels.schema.json"},\n'
        '    "nameOverride": {"$ref": "#/definitions/name"}\n'
        "  },\n"
        '  "definitions": {"name": {"type": "string"}}\n'
        "}\n"
    )
    report = lint(workspace.settings(), [DASH])
    # lint says that helm lint did not run for this chart, and why (a warning).
    (skipped,) = [p for p in report.problems if p.check == "helm-lint"]
    assert skipped.severity == "warning"
    assert "helm lint --strict was not run for metallb-dashboards" in skipped.message
    problems = [p for p in report.problems if p is not skipped]
    found = sorted(p.message.split(": reference")[0] for p in problems)
    assert found == [
        "/properties/dashboards/items/$ref",
        "/properties/extraLabels/$ref",
        "/properties/grafana/$ref",
    ], report.problems
    assert {p.check for p in problems} == {"schema-ref"}
    assert all(p.path == schema for p in problems)
    # Neither chartship nor helm (whose lint would follow the reference) asked the server.
    assert requests == []


def test_references_inside_the_document_are_its_own() -> None:
    schema: dict[str, Any] = {
        "$id": "https://charts.example/values.schema.json",
        "properties": {
            "a": {"$ref": "#/$defs/a"},
            "b": {"$ref": "https://charts.example/values.schema.json#/$defs/a"},
            "c": {"$ref": "item.json"},
            "d": {"$ref": "http://json-schema.org/draft-07/schema#"},
            "e": {"$ref": "other.json"},
            "f": {"$dynamicRef": "https://elsewhere.example/x"},
        },
        "$defs": {"a": {"type": "string"}, "item": {"$id": "item.json", "type": "integer"}},
    }
    assert foreign_references(schema) == [
        ("/properties/e/$ref", "other.json"),
        ("/properties/f/$dynamicRef", "https://elsewhere.example/x"),
    ]


# --------------------------------------------------------------------------- our own archive


def test_the_archive_helm_wrote_is_held_to_the_safetar_rules(workspace: Workspace) -> None:
    many = workspace.path(f"charts/{DASH}/files")
    many.mkdir()
    # Over safetar's 10,000 members: what no downloaded archive may hold, ours may not either.
    for number in range(10_001):
        (many / f"f{number}.txt").write_text("x")
    with pytest.raises(ChartError, match="unsafe chart archive: more than 10000 members"):
        package(workspace.settings(), [DASH])
    assert not list(workspace.path("dist").glob("*.tgz"))


def test_dependencies_and_links_outside_are_refused_by_lint_and_package(
    newest: Workspace, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    shutil.copytree(newest.path(f"charts/{DASH}"), outside / "common")
    newest.replace(
        f"charts/{DASH}/Chart.yaml",
        "annotations:",
        f"dependencies:\n  - name: common\n    version: 1.2.0\n"
        f"    repository: file://{outside / 'common'}\nannotations:",
    )
    inside_link = newest.path(f"charts/{DASH}/templates/again.yaml")
    inside_link.symlink_to("configmaps.yaml")
    report = lint(newest.settings(), [DASH])
    messages = [(p.path.name, p.message) for p in report.problems if p.check != "helm-lint"]
    assert [p.severity for p in report.problems if p.check == "helm-lint"] == ["warning"]
    assert messages == [
        ("Chart.yaml", f"dependency 'common': 'file://{outside / 'common'}' is outside the "
         f"repository {newest.root.resolve()}"),
    ]  # fmt: skip
    with pytest.raises(ChartError, match="is outside the repository"):
        package(newest.settings(), [DASH])


# --------------------------------------------------------------------------- echoed input


def test_a_huge_version_is_refused_with_a_short_message(newest: Workspace) -> None:
    huge = "1.2.0-" + "a" * 199_994
    newest.replace(f"charts/{DASH}/Chart.yaml", "version: 1.2.0", f"version: {huge}")
    for command, status in (("lint", 1), ("package", 3)):
        result, _ = bounded_chartship(newest, command, DASH)
        text = output(result)
        assert result.returncode == status, text[:2000]
        assert "(200000 characters) is longer than 128 characters" in text
        assert len(text) < 8000, f"{command} printed {len(text)} characters"


def test_shown_values_are_short_escaped_and_masked() -> None:
    assert safetext.shown("ok") == "'ok'"
    assert safetext.shown(1.5) == "1.5"
    assert safetext.shown("a\u202eb\nc\x1b") == "'a\\u202eb\\nc\\x1b'"
    cut = safetext.shown("x" * 1000)
    assert cut == "'" + "x" * 80 + "'... (1000 characters)"
    assert safetext.shown("https://user:hunter2@host/x") == "'https://***@host/x'"
    assert (
        safetext.redact_urls("see oci://u:p@h/ns and git@github.com:o/r and https://h/x")
        == "see oci://***@h/ns and git@github.com:o/r and https://h/x"
    )
    error = ChartError("fetching https://tok@h/i.yaml failed", path="https://a:b@h/index.yaml")
    assert "tok" not in str(error)
    assert ":b@" not in str(error)


# --------------------------------------------------------------------------- names and tags


@pytest.mark.parametrize(
    "name",
    ["ok=true", "a<<x", "metallb\u202edashboards", ".", "..", "a/b", "a b", "x" * 251, ""],
)
def test_names_outside_helms_rule_are_refused(name: str) -> None:
    assert chartfiles.name_problem(name) is not None


@pytest.mark.parametrize("name", ["metallb", "metallb-dashboards", "a.b_c-D9", "x" * 250])
def test_names_inside_helms_rule_are_accepted(name: str) -> None:
    assert chartfiles.name_problem(name) is None


@pytest.mark.parametrize(
    "template",
    [
        "{name.__class__}-{version}",
        "{version[0]}",
        "{name}-{version!r}",
        "{name}-{version:>20}",
        "{}-{version}",
        "{0}-{version}",
        "{name}-{version",
        "{chart}-{version}",
    ],
)
def test_tag_templates_name_only_the_documented_fields(template: str) -> None:
    assert template_problem(template) is not None


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{name} {version}", "it holds ' '"),
        ("{name}..{version}", "'..'"),
        ("{name}-{version}.lock", "ends with '.lock'"),
        ("/{version}", "starts with '/'"),
        ("{name}~{version}", "it holds '~'"),
        ("{name}@{{{version}}}", "'@{'"),
    ],
)
def test_tag_templates_giving_invalid_git_refs_are_refused_at_load(
    tmp_path: Path, template: str, problem: str
) -> None:
    config = tmp_path / "chartship.yaml"
    config.write_text(f"release:\n  tag: {template!r}\n".replace("'", '"'))
    with pytest.raises(ConfigError, match="is not a valid git tag name") as refused:
        load_settings(config)
    assert problem in str(refused.value)
    assert str(refused.value).startswith(f"{config}:2: release.tag: ")


def test_a_version_that_makes_an_invalid_tag_is_refused_where_the_tag_is_made(
    tmp_path: Path,
) -> None:
    config = tmp_path / "chartship.yaml"
    config.write_text('release:\n  tag: "{name}/v{version}"\n')
    settings = load_settings(config)
    assert settings.release_tag("metallb", "1.2.3") == "metallb/v1.2.3"
    with pytest.raises(VersionError, match=r"ends with '.lock'"):
        settings.release_tag("metallb", "1.2.3-rc.lock")
    assert ref_name_problem("metallb-chart-1.2.3+build.5") is None


# --------------------------------------------------------------------------- notes


def test_notes_files_are_strict_utf8_and_at_most_a_release_body(
    newest: Workspace, tmp_path: Path
) -> None:
    package(newest.settings(), [DASH])
    notes = tmp_path / "NOTES.md"
    # Nothing listens on port 9: a refusal must come before any request.
    api = [
        "--set",
        "channels.github.repository=metallb/metallb",
        "--set",
        "channels.github.api_url=http://127.0.0.1:9/api/v3",
        "--set",
        "channels.pages.index_url=http://127.0.0.1:9/charts",
    ]
    env = {"GITHUB_TOKEN": "sentinel-token-never-used"}
    for data, message in (
        (b"# Notes\n\xff\xfe\n", "NOTES.md: --notes: is not UTF-8 text (invalid byte at offset 8)"),
        (b"n" * 125_001, "NOTES.md: --notes: 125001 characters, over the 125000 GitHub takes"),
        (b"n" * 40 * 2**20, "NOTES.md: --notes: is 41943040 bytes, over 500000"),
    ):
        notes.write_bytes(data)
        result, seconds = bounded_chartship(
            newest, "github-release", "--notes", str(notes), *api, env=env
        )
        text = output(result)
        assert result.returncode == 2, text
        assert message in text, text
        assert "Traceback" not in text
        assert "127.0.0.1:9" not in text  # no request was tried
        assert seconds < COMMAND_TIMEOUT / 2


def test_notes_of_exactly_the_limit_are_the_body(
    newest: Workspace, github: Any, tmp_path: Path
) -> None:
    path = newest.path("chartship.yaml")
    path.write_text(
        path.read_text()
        + f"\nchannels:\n  phase: classic\n  github:\n    repository: metallb/metallb\n"
        f"    api_url: {github.api_url}\n    throttle: false\n"
        "  pages:\n    index_url: http://127.0.0.1:9/charts\n"
    )
    settings = newest.settings()
    package(settings, [DASH])
    notes = tmp_path / "NOTES.md"
    notes.write_text("é" * github_channel.MAX_BODY_CHARS)
    publish_releases(settings, environ={"GITHUB_TOKEN": github.token}, notes_file=notes)
    body = github.release("metallb/metallb", "metallb-dashboards-chart-1.2.0").body
    assert body == "é" * github_channel.MAX_BODY_CHARS


# --------------------------------------------------------------------------- URLs and redirects

INDEX_URL = "https://charts.example.test/repo"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("file:///etc/passwd", "is not http(s)"),
        ("ftp://127.0.0.1/x.tgz", "is not http(s)"),
        ("gopher://127.0.0.1/x.tgz", "is not http(s)"),
        ("http:///x.tgz", "names no host"),
        ("http://[::1/x.tgz", "is not a valid URL"),
        ("https://user:secret@charts.example.test/x.tgz", "carries credentials"),
        ("../x.tgz", "resolves outside the repository 'https://charts.example.test/repo/'"),
        ("sub/../../other/x.tgz", "resolves outside the repository"),
    ],
)
def test_an_entry_url_helm_must_not_fetch_is_named(url: str, problem: str) -> None:
    found = served.url_problem(INDEX_URL, url)
    assert found is not None
    assert problem in found
    assert "secret" not in found


@pytest.mark.parametrize(
    "url",
    ["x-1.0.0.tgz", "sub/x-1.0.0.tgz", "https://github.com/o/r/releases/download/t/x.tgz",
     "http://127.0.0.1:8080/x.tgz", "//cdn.example.test/x.tgz"],
)  # fmt: skip
def test_entry_urls_helm_fetches_over_http_are_accepted(url: str) -> None:
    assert served.url_problem(INDEX_URL, url) is None
    assert served.url_problem(INDEX_URL + "/index.yaml", url) is None


def test_redirects_stay_on_http_and_credentials_stay_with_their_origin(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("ok")
    first, other = RedirectServer(tmp_path).start(), RedirectServer(tmp_path).start()
    try:
        first.routes.update(
            {
                "/same": "/f.txt",
                "/other": f"{other.url}/f.txt",
                "/ftp": "ftp://127.0.0.1/f.txt",
                "/file": "file:///etc/passwd",
                "/data": "data:text/plain,x",
            }
        )
        auth = "Basic c2VjcmV0"
        opener = redirects.opener()

        def get(path: str) -> bytes:
            headers = {"Authorization": auth}
            request = urllib.request.Request(first.url + path, headers=headers)  # noqa: S310
            with opener.open(request, timeout=10) as response:
                data: bytes = response.read()
            return data

        assert get("/same") == get("/other") == b"ok"
        assert first.seen == [("/same", auth), ("/f.txt", auth), ("/other", auth)]
        assert other.seen == [("/f.txt", None)]  # another port is another origin
        for path in ("/ftp", "/file", "/data"):
            with pytest.raises(RedirectRefused, match="follows redirects only to http"):
                get(path)
            # The classic channel's reader (index.yaml, archives) refuses the same way.
            with pytest.raises(RedirectRefused, match=f"{path}' redirects to"):
                served.fetch(first.url + path, limit=100, timeout=10, what="archive")
    finally:
        first.stop()
        other.stop()


def test_entries_with_urls_never_fetched_and_repeated_keys_are_anomalies(
    newest: Workspace, registry: RegistryServer, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    (site / "repo").mkdir(parents=True)
    server = RedirectServer(site).start()
    try:
        write_channels(
            newest.path("chartship.yaml"),
            phase="dual",
            pages={"index_url": f"{server.url}/repo", "packages": "pages"},
            oci={"repository": registry.oci_base("bad-urls"), "plain_http": True},
        )
        good = Artifact.read(chart_archive(site / "repo", "demo", "1.0.0"), "demo", "1.0.0")
        server.routes["/repo/to-ftp.tgz"] = f"ftp://127.0.0.1:{server.port}/repo/x.tgz"
        host = server.url.removeprefix("http://")
        bad = {
            "2.0.0": "file:///etc/passwd",
            "2.1.0": f"ftp://{host}/repo/{good.archive.name}",
            "2.2.0": "../outside/demo-2.2.0.tgz",
            "2.3.0": f"{server.url}/repo/to-ftp.tgz",
            "2.4.0": f"http://user:secret@{host}/repo/{good.archive.name}",
        }
        entries = [entry_for(good, good.archive.name, "2022-01-01T00:00:00Z")]
        for version, url in bad.items():
            entries.append({**entries[0], "version": version, "urls": [url]})
        other = f"{{name: other, version: 1.0.0, digest: {good.sha256}, urls: [o.tgz]}}"
        repeated = f"  other:\n  - {other}\n  other:\n  - {other.replace('1.0.0', '1.1.0')}\n"
        listed = yaml.safe_dump({"apiVersion": "v1", "entries": {"demo": entries}})
        text = listed + repeated + 'generated: "2024-01-01T00:00:00Z"\n'
        (site / "repo" / "index.yaml").write_text(text)

        out = io.StringIO()
        found = run_migrate_status(newest.settings(), environ={}, out=out)
    finally:
        server.stop()
    rows = {(r.chart, r.version): [a.kind for a in r.anomalies] for r in found.rows}
    assert rows.pop(("demo", "1.0.0")) == []
    assert rows.pop(("other", "1.1.0")) == ["repeated-key"]  # the last "other" is what is read
    assert rows == {("demo", version): ["bad-url"] for version in bad}
    printed = out.getvalue()
    assert "secret" not in printed
    assert "to-ftp.tgz' redirects to 'ftp://" in printed
    lines = text.splitlines()
    first, second = (n for n, line in enumerate(lines, 1) if line == "  other:")
    assert f"key entries.other appears twice (lines {first} and {second})" in printed
    # Read: the index, the good archive and the redirect, which was not followed.
    assert sorted(path for path, _ in server.seen) == [
        "/repo/demo-1.0.0.tgz", "/repo/index.yaml", "/repo/to-ftp.tgz",
    ]  # fmt: skip


# --------------------------------------------------------------------------- GitHub Actions

#: Values that would forge an output, end a block or add a name in a naive writer.
FORGING = [
    "1.0.0\nok=true",
    "x\nchanged<<EOF\nforged\nEOF",
    "ghadelimiter_\nghadelimiter_0123",
    "a\r\nok=true\r\n",
    "",
    "\n",
    "%0Aok=true",
    '[{"chart": "a<<x", "version": "1=2"}]',
]


def test_no_output_value_can_forge_an_output(tmp_path: Path) -> None:
    target = tmp_path / "output"
    target.write_text("before=1\n")
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(target)}
    values = {f"metallb.dashboards_{n}-version": value for n, value in enumerate(FORGING)}
    assert github_actions.set_outputs(values, environ)
    written = target.read_bytes().decode("utf-8")  # as the runner reads it, line ends kept
    assert parse_file_commands(written) == {"before": "1", **values}
    # Each entry is a block of its own with a fresh 128-bit delimiter.
    delimiters = [line.split("<<", 1)[1] for line in written.splitlines() if "-version<<" in line]
    assert len(set(delimiters)) == len(values)
    assert all(re.fullmatch(r"ghadelimiter_[0-9a-f]{32}", d) for d in delimiters)


@pytest.mark.parametrize(
    "name", ["ok=true", "a<<x", "a b", "a\nb", "", "-x", "\u202ex", "é", "x" * 301]
)
def test_an_output_name_outside_the_charset_writes_nothing(tmp_path: Path, name: str) -> None:
    target = tmp_path / "output"
    target.touch()
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(target)}
    with pytest.raises(ChartshipError, match="GitHub Actions output name"):
        github_actions.set_outputs({"fine": "1", name: "2"}, environ)
    assert target.read_text() == ""


def _commands_run(log: str) -> list[str]:
    """The workflow commands GitHub's runner would act on in ``log``: a line that
    starts (leading blanks ignored) with ``::`` or ``##[``, except between
    ``::stop-commands::TOKEN`` and ``::TOKEN::``."""
    run: list[str] = []
    stopped: str | None = None
    for line in log.splitlines():
        text = line.lstrip()
        if stopped is not None:
            if text == f"::{stopped}::":
                stopped = None
            continue
        if text.startswith("::stop-commands::"):
            stopped = text.removeprefix("::stop-commands::")
        elif text.startswith(("::", "##[")):
            run.append(text)
    return run


def test_a_tools_output_in_an_error_runs_no_workflow_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hostile = "boom\n::add-mask::hidden\n  ::error file=x::forged\r##[set-output name=ok;]true\n"
    script = f"printf '{hostile}' >&2; exit 3"
    with pytest.raises(ToolError) as raised:
        Runner().run(["sh", "-c", script], what="the tool")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    status, plain = exits.outcome(raised.value)
    assert status == 4
    assert len(_commands_run(plain)) == 3  # what a naive print would let the runner do
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    status, message = exits.outcome(raised.value)
    assert status == 4
    assert _commands_run(message) == []
    assert plain in message  # every line still shown, between the stop and the resume
    # The token is fresh each time, so the quoted text cannot know it in advance.
    assert exits.outcome(raised.value)[1].splitlines()[0] != message.splitlines()[0]
    # Progress lines go through the same guard.
    formatter = exits._Redacting("%(message)s")
    record = logging.LogRecord("chartship", logging.INFO, "", 0, plain, None, None)
    assert _commands_run(formatter.format(record)) == []
    # Text without a command-like line is left alone.
    assert (
        github_actions.inert("chartship: error: plain\nline 2") == "chartship: error: plain\nline 2"
    )


def test_summary_text_stays_literal_text_on_its_line(tmp_path: Path) -> None:
    hostile = (
        "x | forged | row |\n\n# heading\n<script>alert(1)</script> <img src=x> "
        "[link](http://127.0.0.1/) ![i](http://127.0.0.1/i.png) **b** `c` &lt; \\|\r> quote"
    )
    table = github_actions.markdown_table([["chart", "detail"], ["a|b", hostile]])
    summary = tmp_path / "summary.md"
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    assert github_actions.append_summary(table + "\n> " + github_actions.inline(hostile), environ)
    html = MarkdownIt("commonmark").enable("table").render(summary.read_text())
    # One table of one row of two cells, one quote; nothing else became markup.
    tags = sorted(set(re.findall(r"<(\w+)", html)))
    assert tags == ["blockquote", "p", "table", "tbody", "td", "th", "thead", "tr"]
    assert html.count("<td>") == 2
    assert html.count("<blockquote>") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "[link](http://127.0.0.1/)" in html
    assert "&amp;lt;" in html

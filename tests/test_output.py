"""``--output json`` and ``--output sarif``: every command's document, checked
against the schema the package ships (and SARIF's own), in one sandbox.

Rendering is pure Python over the result objects, so one helm major serves;
the helm-facing work under it is covered on both majors elsewhere.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from invoke.config import Config
from invoke.context import Context
from invoke.exceptions import Exit

from chartship import cli, commands, output, tasks
from tests.support.builders import chart_archive
from tests.support.sandbox import REPOSITORY, Sandbox, newest_helm_sandbox

VERSION = "0.16.0"
TAG = f"metallb-chart-{VERSION}"
SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def box(
    tmp_path_factory: pytest.TempPathFactory, _workspace_template: Path, upstream: str
) -> Iterator[Sandbox]:
    with newest_helm_sandbox(tmp_path_factory, _workspace_template, "output") as sandbox:
        sandbox.stamp(VERSION)
        yield sandbox


@pytest.fixture
def env(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    for key, value in box.environ.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(box.work)
    return box


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    """``chartship ARGV``: its exit status, its one stdout document, its stderr."""
    capsys.readouterr()
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    document: dict[str, Any] = json.loads(captured.out)
    return status, document, captured.err


def valid(document: dict[str, Any], status: int, command: str) -> dict[str, Any]:
    """The document against output-v1.json; its result."""
    jsonschema.validate(document, output.schema(), format_checker=jsonschema.FormatChecker())
    assert document["schema_version"] == output.SCHEMA_VERSION
    assert document["command"] == command
    assert document["exit_status"] == status
    assert document["ok"] is (status == 0)
    result: dict[str, Any] = document["result"]
    return result


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(output.schema())


def test_every_command_writes_one_document_the_schema_accepts(
    env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    status, doc, _ = run(capsys, "lint", "--output", "json")
    lint = valid(doc, status, "lint")["lint"]
    assert status == 0
    assert lint["ok"]
    assert lint["errors"] == 0
    assert "metallb" in lint["charts"]

    status, doc, _ = run(capsys, "--output", "json", "release", "--dry-run", "--tag", TAG)
    dry = valid(doc, status, "release")
    assert status == 0
    assert dry["dry_run"]
    assert [c["chart"] for c in dry["candidates"] if c["selected"]] == ["metallb"]
    (row,) = dry["rows"]
    assert {cell["status"] for cell in row["channels"].values()} == {"planned"}
    assert row["sha256"] is None, "a dry run's fresh build is not the published archive"

    status, doc, _ = run(capsys, "release", "--tag", TAG, "--output", "json")
    done = valid(doc, status, "release")
    assert status == 0
    assert done["ok"]
    assert done["changed"]
    (row,) = done["rows"]
    assert set(row["channels"]) == {"oci", "github", "classic"}
    oci = row["channels"]["oci"]
    assert oci["status"] == "pushed"
    assert oci["reference"].endswith(f"/charts/metallb:{VERSION}")
    assert oci["manifest_digest"].startswith("sha256:")
    assert row["channels"]["github"]["download_url"].endswith(f"metallb-{VERSION}.tgz")
    assert done["lint"]["ok"]
    archive = env.settings().dist_path / f"metallb-{VERSION}.tgz"
    assert row["archive"] == "dist/" + archive.name

    # Each channel command on the archive just released: the same bytes, skipped.
    for argv, command in (
        (["push", "metallb"], "push"),
        (["github-release", "metallb"], "github-release"),
    ):
        status, doc, _ = run(capsys, *argv, "--output", "json")
        result = valid(doc, status, command)
        assert status == 0
        assert [(v["chart"], v["status"]) for v in result["versions"]] == [("metallb", "skipped")]
    status, doc, _ = run(capsys, "index", "metallb", "--output", "json")
    index = valid(doc, status, "index")
    assert status == 0
    assert not index["changed"]
    assert index["present"] == [{"chart": "metallb", "version": VERSION}]
    assert index["pull_request"] is None

    status, doc, err = run(capsys, "matrix", "--tag", TAG, "--output", "json")
    matrix = valid(doc, status, "matrix")
    assert matrix["matrix"]["include"] == [{"chart": "metallb", "version": VERSION, "tag": TAG}]
    assert matrix["count"] == 1
    assert "matrix: metallb" in err, "progress stays on stderr"

    status, doc, _ = run(capsys, "migrate", "status", "--output", "json")
    status_doc = valid(doc, status, "migrate status")
    rows = {(r["chart"], r["version"]): r for r in status_doc["inventory"]["rows"]}
    assert rows[("metallb", VERSION)]["state"] == "both"
    assert all(Path(env.work, p).is_file() for p in status_doc["reports"])

    status, doc, _ = run(capsys, "migrate", "backfill", "--dry-run", "--output", "json")
    backfill = valid(doc, status, "migrate backfill")
    assert backfill["dry_run"]
    assert backfill["already"] >= 1

    status, doc, _ = run(capsys, "migrate", "verify", "--output", "json")
    assert valid(doc, status, "migrate verify")["clean"]

    status, doc, _ = run(capsys, "migrate", "phase", "oci-primary", "--dry-run", "--output", "json")
    phase = valid(doc, status, "migrate phase")
    assert (phase["from"], phase["to"], phase["changed"]) == ("dual", "oci-primary", False)
    status, doc, _ = run(capsys, "migrate", "phase", "oci-primary", "--output", "json")
    assert valid(doc, status, "migrate phase")["changed"]

    status, doc, _ = run(capsys, "migrate", "repair", "--dry-run", "--output", "json")
    repair = valid(doc, status, "migrate repair")
    assert status == 0
    assert (repair["dry_run"], repair["entries"], repair["unread"]) == (True, [], [])

    sunset = ("--set", "channels.pages.sunset=2027-06-30")
    status, doc, _ = run(capsys, "migrate", "deprecate", "--dry-run", *sunset, "--output", "json")
    deprecate = valid(doc, status, "migrate deprecate")
    assert status == 0, doc["error"]
    assert "2027-06-30" in deprecate["notice"]
    assert deprecate["dry_run"]
    assert deprecate["changed"]
    assert deprecate["branch"] == "gh-pages"


def test_index_pull_request_opens_it_then_finds_it_open(
    env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = env.settings()
    # The pages branch exists (a pull request needs its base) whichever test ran first.
    for chart in ("metallb", "metallb-dashboards"):
        commands.run_package(settings, [chart], out=io.StringIO())
        commands.run_github_release(settings, [chart], out=io.StringIO(), environ=env.environ)
    commands.run_index(settings, ["metallb"], out=io.StringIO(), environ=env.environ)
    pages_tip = env.git("ls-remote", "origin", "refs/heads/gh-pages")
    branch = "index/metallb-dashboards-1.2.0"
    argv = ("index", "metallb-dashboards", "--pull-request", branch)

    status, doc, _ = run(capsys, *argv, "--output", "json")
    assert status == 0, doc["error"]
    index = valid(doc, status, "index")
    opened = index["pull_request"]
    assert (opened["head"], opened["base"], opened["created"]) == (branch, "gh-pages", True)
    (pull,) = env.github.repo(REPOSITORY).pulls.values()
    assert opened["number"] == pull.number
    assert opened["url"].endswith(f"/{REPOSITORY}/pull/{pull.number}")
    assert (pull.head, pull.base, pull.state) == (branch, "gh-pages", "open")
    assert pull.title == "index.yaml: add metallb-dashboards 1.2.0"
    (entry,) = index["added"]
    assert f"- metallb-dashboards 1.2.0: {entry['url']}" in (pull.body or "")
    assert pull.head_sha == index["commit"]
    assert env.git("ls-remote", "origin", "refs/heads/gh-pages") == pages_tip

    # A rerun finds it open, says where, and pushes nothing.
    branch_tip = env.git("ls-remote", "origin", f"refs/heads/{branch}")
    capsys.readouterr()
    assert cli.main(list(argv)) == 0
    text = capsys.readouterr().out
    assert f"already open from {branch} into gh-pages: {opened['url']}; nothing pushed" in text
    assert len(env.github.repo(REPOSITORY).pulls) == 1
    assert env.git("ls-remote", "origin", f"refs/heads/{branch}") == branch_tip
    status, doc, _ = run(capsys, *argv, "--output", "json")
    assert valid(doc, status, "index")["pull_request"] == {**opened, "created": False}


def test_lint_problems_as_json_and_as_sarif(
    env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    chart_yaml = env.work / "charts" / "metallb" / "Chart.yaml"
    original = chart_yaml.read_text()
    chart_yaml.write_text(original.replace(f"version: {VERSION}", "version: not-semver", 1))
    try:
        status, doc, _ = run(capsys, "lint", "metallb", "--output", "json")
        capsys.readouterr()
        sarif_status = cli.main(["lint", "metallb", "--output", "sarif"])
        sarif = json.loads(capsys.readouterr().out)
    finally:
        chart_yaml.write_text(original)
    lint = valid(doc, status, "lint")["lint"]
    assert status == sarif_status == 1
    assert doc["error"]["type"] == "ChecksFailed"
    bad = [p for p in lint["problems"] if p["path"] == "charts/metallb/Chart.yaml"]
    assert bad
    assert bad[0]["severity"] == "error"
    assert bad[0]["line"] is not None

    jsonschema.validate(sarif, json.loads(SARIF_SCHEMA.read_text()))
    (sarif_run,) = sarif["runs"]
    rules = [r["id"] for r in sarif_run["tool"]["driver"]["rules"]]
    results = sarif_run["results"]
    assert len(results) == len(lint["problems"])
    for problem, result in zip(lint["problems"], results, strict=True):
        assert result["ruleId"] == problem["rule"] == rules[result["ruleIndex"]]
        assert result["level"] == problem["severity"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == problem["path"]
        if problem["line"] is not None:
            assert location["region"]["startLine"] == problem["line"]
    assert sarif_run["invocations"] == [{"executionSuccessful": True, "exitCode": 1}]


def test_sarif_severity_follows_the_problem(tmp_path: Path) -> None:
    from chartship.lint import LintReport, Problem

    report = LintReport(
        charts=["a"],
        problems=[
            Problem("a", tmp_path / "charts/a/values.yaml", "odd", "values", 3, "warning"),
            Problem("a", tmp_path / "charts/a/Chart.yaml", "bad", "chart-yaml"),
        ],
    )
    log = output.sarif_log((report, tmp_path), 1, None)
    jsonschema.validate(log, json.loads(SARIF_SCHEMA.read_text()))
    results = log["runs"][0]["results"]
    assert [r["level"] for r in results] == ["warning", "error"]
    assert "region" not in results[1]["locations"][0]["physicalLocation"]


def test_sarif_of_a_lint_that_could_not_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(["lint", "--config", str(tmp_path / "none.yaml"), "--output", "sarif"])
    log = json.loads(capsys.readouterr().out)
    jsonschema.validate(log, json.loads(SARIF_SCHEMA.read_text()))
    (invocation,) = log["runs"][0]["invocations"]
    assert status == 2
    assert invocation["exitCode"] == 2
    assert not invocation["executionSuccessful"]
    assert (
        "configuration file not found"
        in (invocation["toolExecutionNotifications"][0]["message"]["text"])
    )


def test_a_wrong_command_line_is_a_document_when_json_was_asked_for(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, doc, err = run(capsys, "migrate", "verify", "--no-such-flag", "--output", "json")
    assert status == 2
    assert valid(doc, status, "migrate verify") is None
    assert doc["error"] == {
        "type": "UsageError",
        "message": "unrecognized arguments: --no-such-flag",
    }
    assert err.startswith("usage: chartship")
    assert err.endswith("chartship: error: unrecognized arguments: --no-such-flag\n")

    # Text asked for, or a format nobody has: argparse's usual answer, nothing on stdout.
    for argv in (["lint", "--no-such-flag"], ["lint", "--output", "xml"]):
        assert cli.main(argv) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "usage: chartship" in captured.err


@pytest.mark.parametrize("argv", [["push", "--output", "sarif"], ["bump", "--output", "json"]])
def test_a_format_the_command_has_not_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"--output {argv[-1]}" in captured.err


def test_the_invoke_task_writes_the_same_document(
    env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    context = Context(Config(overrides={"chartship": dict(tasks.DEFAULTS)}))
    capsys.readouterr()
    tasks.matrix(context, tag=TAG, output="json")
    valid(json.loads(capsys.readouterr().out), 0, "matrix")
    with pytest.raises(Exit) as refused:
        tasks.lint(context, config="nowhere.yaml", output="json")
    assert refused.value.code == 2
    document = json.loads(capsys.readouterr().out)
    assert valid(document, 2, "lint") is None
    assert refused.value.message == f"chartship: error: {document['error']['message']}"
    # A flag the task needs, missing: a document too.
    with pytest.raises(Exit) as missing:
        tasks.migrate_phase(context, output="json")
    assert missing.value.code == 2
    document = json.loads(capsys.readouterr().out)
    assert valid(document, 2, "migrate phase") is None
    assert document["error"]["message"] == "migrate.phase needs --to PHASE"


def test_a_failure_is_a_document_too(
    env: Sandbox, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.yaml"
    status, doc, err = run(capsys, "push", "--config", str(missing), "--output", "json")
    assert status == 2
    assert valid(doc, status, "push") is None
    assert doc["error"]["type"] == "ConfigError"
    assert "configuration file not found" in doc["error"]["message"]
    assert doc["error"]["message"] in err, "the message is also the usual stderr line"

    # A channel that did not complete: the error and every outcome reached.
    # Another archive sits under the tag already; the registry never takes a second.
    other = chart_archive(tmp_path / "other", "metallb-dashboards", "1.2.0")
    env.helm().run(["push", str(other), env.oci_base, "--plain-http"])
    commands.run_package(env.settings(), ["metallb-dashboards"], out=io.StringIO())
    status, doc, _ = run(capsys, "push", "metallb-dashboards", "--output", "json")
    result = valid(doc, status, "push")
    assert status == 6, doc
    assert doc["error"]["type"] == "PublishIncomplete"
    assert not result["ok"]
    (refused,) = result["versions"]
    assert (refused["chart"], refused["status"], refused["ok"]) == (
        "metallb-dashboards",
        "refused",
        False,
    )

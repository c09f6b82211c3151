"""bump's --patch, --minor, --major and --pre, the app_version policy and
--app-version, several charts at once: through the library, the command line
and invoke, on the three-chart repository (tests.support.builders)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from chartship import commands, versions
from chartship.bump import bump
from chartship.errors import UsageError, VersionError
from chartship.toolchain import DEFAULT_HELM_VERSIONS
from tests.support.builders import APP, BASE, OTHER, SiblingRepo, installed_helm, make_sibling_repo

PATCH = versions.version_request(patch=True)
MINOR = versions.version_request(minor=True)
MAJOR = versions.version_request(major=True)


@pytest.fixture
def repo(tmp_path: Path) -> SiblingRepo:
    # The flags are chartship's own arithmetic; the helm-facing parts (Chart.lock
    # of a dependent) are covered on both majors in test_siblings.
    return make_sibling_repo(tmp_path / "repo", installed_helm(DEFAULT_HELM_VERSIONS[-1]))


def stamped(repo: SiblingRepo, relative: str) -> tuple[str, str]:
    data = yaml.safe_load(repo.read(relative))
    return str(data["version"]), str(data["appVersion"])


def run(repo: SiblingRepo, *args: str, tool: str = "chartship") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", tool, *args],
        cwd=repo.root,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ},
    )


# --------------------------------------------------------------------------- levels


def test_each_named_chart_gets_its_own_next_version(repo: SiblingRepo) -> None:
    settings = repo.settings()

    results = bump(settings, PATCH, ["base", "other"])
    assert [(r.chart, r.version) for r in results if r.because is None] == [
        ("base", "0.1.1"),
        ("other", "1.4.1"),
    ]
    assert stamped(repo, BASE) == ("0.1.1", "0.1.1")
    assert stamped(repo, OTHER) == ("1.4.1", "1.4.1")

    bump(settings, MINOR, ["base", "other"])
    assert stamped(repo, BASE) == ("0.2.0", "0.2.0")
    assert stamped(repo, OTHER) == ("1.5.0", "1.5.0")

    bump(settings, MAJOR, ["base", "other"])
    assert stamped(repo, BASE) == ("1.0.0", "1.0.0")
    assert stamped(repo, OTHER) == ("2.0.0", "2.0.0")
    # app followed base each time: its pinned constraint moved with it.
    assert yaml.safe_load(repo.read(APP))["dependencies"][0]["version"] == "1.0.0"


def test_pre_counts_up_from_the_chart_and_its_tags(repo: SiblingRepo) -> None:
    settings = repo.settings()
    rc = versions.version_request(pre="rc")

    bump(settings, rc, ["other"])
    assert stamped(repo, OTHER)[0] == "1.4.1-rc.1"
    bump(settings, rc, ["other"])
    assert stamped(repo, OTHER)[0] == "1.4.1-rc.2"
    bump(settings, PATCH, ["other"])
    assert stamped(repo, OTHER)[0] == "1.4.1"

    # Someone already released beta.3 of 1.5.0: the next beta is 4.
    repo.git("tag", "other-1.5.0-beta.3")
    bump(settings, versions.version_request(minor=True, pre="beta"), ["other"])
    assert stamped(repo, OTHER)[0] == "1.5.0-beta.4"

    # Back to an earlier prerelease ID would go down: refused, nothing written.
    before = repo.snapshot()
    with pytest.raises(VersionError, match=r"1\.5\.0-alpha\.1 \(--pre alpha\) would not be higher"):
        bump(settings, versions.version_request(pre="alpha"), ["other"])
    assert repo.snapshot() == before


def test_the_placeholder_counts_from_the_last_release_tag(repo: SiblingRepo) -> None:
    repo.replace(OTHER, "version: 1.4.0", "version: 0.0.0")
    repo.commit("placeholder")
    settings = repo.settings()

    with pytest.raises(VersionError, match="has no version to count from") as exc:
        bump(settings, PATCH, ["other"])
    assert "give --version X.Y.Z" in str(exc.value)

    repo.git("tag", "other-1.4.0")
    repo.git("tag", "other-1.3.9")
    [result] = bump(settings, PATCH, ["other"])
    assert result.version == "1.4.1"


# --------------------------------------------------------------------------- appVersion


def test_an_app_versioned_apart_is_not_rewritten(repo: SiblingRepo) -> None:
    before = repo.read(APP)
    out = io.StringIO()

    commands.run_bump(repo.settings(), MINOR, ["app"], out=out)

    assert stamped(repo, APP) == ("0.4.0", "1.16.0")
    assert [line for line in repo.read(APP).splitlines() if line not in before.splitlines()] == [
        "version: 0.4.0"
    ]
    assert out.getvalue().splitlines() == [
        "app: set charts/app/Chart.yaml version: 0.3.0 -> 0.4.0",
        # Its dependencies did not change: Chart.lock stays byte for byte, as with helm.
        "app: kept appVersion 1.16.0: it is not 0.3.0, so the app is versioned apart "
        "(app_version: auto; set app_version: follow, or give --app-version)",
    ]


def test_app_version_follow_and_keep(repo: SiblingRepo) -> None:
    repo.write(
        "chartship.yaml",
        "charts:\n  app:\n    app_version: follow\n  other:\n    app_version: keep\n",
    )
    out = io.StringIO()

    commands.run_bump(repo.settings(), PATCH, ["app", "other"], out=out)

    # follow: appVersion moves though it was versioned apart; quoting and comment stay.
    assert "appVersion: \"0.3.1\" # the application's own release, not the chart's" in (
        repo.read(APP).splitlines()
    )
    # keep: never touched, even while it agreed with the version.
    assert stamped(repo, OTHER) == ("1.4.1", "1.4.0")
    assert "other: kept appVersion 1.4.0 (app_version: keep)" in out.getvalue().splitlines()


def test_app_version_flag_wins_over_the_policy(repo: SiblingRepo) -> None:
    repo.write("chartship.yaml", "charts:\n  other:\n    app_version: keep\n")

    bump(repo.settings(), PATCH, ["app", "other"], app_version="2.0.0-beta")

    assert stamped(repo, APP) == ("0.3.1", "2.0.0-beta")
    assert stamped(repo, OTHER) == ("1.4.1", "2.0.0-beta")
    # Only the appVersion, at the version the chart already has.
    bump(repo.settings(), "1.4.1", ["other"], app_version="2.0.0")
    assert stamped(repo, OTHER) == ("1.4.1", "2.0.0")


def test_a_bad_policy_is_a_config_error_naming_the_key(repo: SiblingRepo) -> None:
    repo.write("chartship.yaml", "charts:\n  app:\n    app_version: sometimes\n")
    result = run(repo, "bump", "--patch", "app")
    assert result.returncode == 2
    assert "charts.app.app_version: must be 'auto' or 'follow' or 'keep'" in result.stderr
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- front ends


def test_command_line_flags(repo: SiblingRepo) -> None:
    helm = ["--helm", str(repo.helm_bin)]
    result = run(repo, "bump", "--minor", "base", "other", *helm)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "base: set charts/base/Chart.yaml version: 0.1.0 -> 0.2.0" in lines
    assert "other: set charts/other/Chart.yaml version: 1.4.0 -> 1.5.0" in lines
    assert "app: refreshed Chart.lock (depends on base)" in lines

    result = run(repo, "bump", "--pre", "rc", "--app-version", "1.17.0-rc", "app", *helm)
    assert result.returncode == 0, result.stderr
    assert stamped(repo, APP) == ("0.3.1-rc.1", "1.17.0-rc")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--version", "1.0.0", "--patch"], "not allowed with argument --version"),
        (["--minor", "--major"], "not allowed with argument --minor"),
        (["--version", "1.0.0", "--pre", "rc"], "cannot be combined with"),
        (["--pre", "7"], "--pre '7': a prerelease identifier is letters, digits and '-'"),
        ([], "bump needs --version X.Y.Z, --patch, --minor, --major or --pre ID"),
    ],
)
def test_wrong_flags_are_usage_errors(repo: SiblingRepo, args: list[str], message: str) -> None:
    before = repo.snapshot()
    result = run(repo, "bump", *args, "base")
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert repo.snapshot() == before


def test_version_request_rules() -> None:
    assert versions.version_request("1.2.3") == "1.2.3"
    assert versions.version_request(pre="rc") == versions.Increment(None, "rc")
    assert versions.version_request(major=True, pre="rc") == versions.Increment("major", "rc")
    with pytest.raises(VersionError, match="SemVer"):
        versions.version_request("1.2")
    with pytest.raises(UsageError, match="only one of"):
        versions.version_request(patch=True, minor=True)


def test_invoke_task_flags(repo: SiblingRepo) -> None:
    repo.write("tasks.py", "from chartship.tasks import ns\n")
    result = run(
        repo,
        "bump",
        "--patch",
        "--chart",
        "base",
        "--chart",
        "other",
        "--helm",
        str(repo.helm_bin),
        tool="invoke",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert stamped(repo, BASE) == ("0.1.1", "0.1.1")
    assert stamped(repo, OTHER) == ("1.4.1", "1.4.1")

    result = run(
        repo, "bump", "--major", "--pre", "rc", "--app-version", "9", "--chart", "other",
        "--helm", str(repo.helm_bin), tool="invoke",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert stamped(repo, OTHER) == ("2.0.0-rc.1", "9")

    result = run(repo, "bump", "--version", "3.0.0", "--minor", "--chart", "other", tool="invoke")
    assert result.returncode == 2
    assert "cannot be combined with" in result.stderr


# --------------------------------------------------------------------------- --commit


def test_commit_commits_exactly_the_files_bump_changed(repo: SiblingRepo) -> None:
    # Something else staged, and something else changed outside the bumped charts.
    repo.write("NOTES.md", "staged, not the bump's\n")
    repo.git("add", "NOTES.md")
    repo.replace("charts/other/values.yaml", "hello", "hi")
    before = repo.git("rev-parse", "HEAD").strip()

    helm = ["--helm", str(repo.helm_bin)]
    planned = run(repo, "bump", "--patch", "--commit", "--dry-run", "base", *helm)
    assert planned.returncode == 0, planned.stderr
    assert "bump: would commit: Release base 0.1.1" in planned.stdout.splitlines()
    assert repo.git("rev-parse", "HEAD").strip() == before

    result = run(repo, "bump", "--patch", "--commit", "base", *helm)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].endswith(": Release base 0.1.1")
    assert repo.git("rev-parse", "HEAD~1").strip() == before
    assert repo.git("log", "-1", "--format=%B").strip() == (
        "Release base 0.1.1\n\nAlso updated: app (depends on base)"
    )
    committed = set(repo.git("show", "--name-only", "--format=", "HEAD").split())
    assert committed == {"charts/base/Chart.yaml", "charts/app/Chart.yaml", "charts/app/Chart.lock"}
    # What was staged stays staged; what was changed stays changed.
    status = set(repo.git("status", "--porcelain").splitlines())
    assert status == {"A  NOTES.md", " M charts/other/values.yaml"}


def test_commit_refuses_a_chart_with_other_uncommitted_changes(repo: SiblingRepo) -> None:
    repo.replace("charts/base/values.yaml", "hello", "hi")
    chart_yaml = repo.read(BASE)
    result = run(repo, "bump", "--patch", "--commit", "base")
    assert result.returncode == 2
    assert (
        "--commit commits only what bump changes, but these charts have other uncommitted "
        "changes: charts/base/values.yaml; commit or stash them first"
    ) in result.stderr
    assert repo.read(BASE) == chart_yaml  # refused before any edit

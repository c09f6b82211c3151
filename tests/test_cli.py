"""The ``chartship`` command line as the nox sessions run it: real processes, real helm."""

from __future__ import annotations

import re

import chartship
from tests.support.builders import Workspace, chartship_cli, combined

PROBLEM = re.compile(r"^charts/metallb/Chart\.yaml:(\d+): error: \[chart-yaml\] .+$", re.MULTILINE)
ANNOTATION = re.compile(
    r"^::error file=charts/metallb/Chart\.yaml,line=(\d+),title=chartship chart-yaml::.+$",
    re.MULTILINE,
)
SHA_LINE = re.compile(
    r"^(\S+) (\S+): \w+ dist/(\S+\.tgz) sha256:([0-9a-f]{64})$",
    re.MULTILINE,
)


def version_line(ws: Workspace) -> int:
    lines = ws.path("charts/metallb/Chart.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith("version:"))


def break_version(ws: Workspace) -> None:
    ws.replace(
        "charts/metallb/Chart.yaml", "version: 0.0.0 # stamped", 'version: "1.2.3.4" # stamped'
    )


def test_lint_clean_workspace(workspace: Workspace) -> None:
    result = chartship_cli(workspace, "lint")
    assert result.returncode == 0, combined(result)
    last = result.stdout.strip().splitlines()[-1]
    assert last == "lint: metallb, metallb-dashboards: no problems"
    assert "::error" not in result.stdout


def test_lint_broken_chart_reports_file_line_and_count(workspace: Workspace) -> None:
    break_version(workspace)
    result = chartship_cli(workspace, "lint")
    assert result.returncode == 1, combined(result)
    problems = PROBLEM.findall(result.stdout)
    assert problems, result.stdout
    assert str(version_line(workspace)) in problems
    count = len(re.findall(r"^\S+: error: ", result.stdout, re.MULTILINE))
    assert f"chartship: error: lint found {count} problem(s)" in result.stderr
    # Results on stdout, the verdict on stderr; no annotations outside Actions.
    assert "chartship: error" not in result.stdout
    assert "::error" not in result.stdout


def test_lint_in_github_actions_prints_annotations(workspace: Workspace) -> None:
    break_version(workspace)
    result = chartship_cli(workspace, "lint", env={"GITHUB_ACTIONS": "true"})
    assert result.returncode == 1, combined(result)
    annotations = ANNOTATION.findall(result.stdout)
    assert str(version_line(workspace)) in annotations, result.stdout
    # Every plain problem line still comes first, annotations are in addition.
    assert PROBLEM.findall(result.stdout) == annotations


def test_set_invalid_value_names_the_key(workspace: Workspace) -> None:
    result = chartship_cli(workspace, "lint", "--set", "lint.workers=0")
    assert result.returncode == 2, combined(result)
    assert "lint.workers: must be at least 1, not 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_set_unknown_key_names_the_key(workspace: Workspace) -> None:
    result = chartship_cli(workspace, "lint", "--set", "bogus=1")
    assert result.returncode == 2, combined(result)
    assert "bogus: unknown key" in result.stderr


def test_set_without_equals_is_a_config_error(workspace: Workspace) -> None:
    result = chartship_cli(workspace, "lint", "--set", "lint.workers")
    assert result.returncode == 2, combined(result)
    assert "'lint.workers' is not of the form key=value" in result.stderr


def test_missing_config_file_names_the_file(workspace: Workspace) -> None:
    result = chartship_cli(workspace, "lint", "--config", "missing.yaml")
    assert result.returncode == 2, combined(result)
    assert "missing.yaml: configuration file not found" in result.stderr


def test_unknown_chart_lists_known_charts(workspace: Workspace) -> None:
    result = chartship_cli(workspace, "lint", "nosuchchart")
    assert result.returncode == 2, combined(result)
    assert "unknown chart nosuchchart" in result.stderr
    assert "metallb" in result.stderr
    assert "metallb-dashboards" in result.stderr


def test_lint_one_chart_by_name(workspace: Workspace) -> None:
    result = chartship_cli(workspace, "lint", "metallb-dashboards")
    assert result.returncode == 0, combined(result)
    assert "lint: metallb-dashboards: no problems" in result.stdout


def test_package_placeholder_needs_dev(workspace: Workspace) -> None:
    result = chartship_cli(workspace, "package", "metallb")
    assert result.returncode == 3, combined(result)
    assert "charts/metallb/Chart.yaml" in result.stderr
    assert "--dev" in result.stderr
    assert not (workspace.root / "dist" / "SHA256SUMS").exists()


def test_package_dev_prints_sha256_and_writes_sums(workspace: Workspace) -> None:
    result = chartship_cli(workspace, "package", "--dev")
    assert result.returncode == 0, combined(result)
    packaged = SHA_LINE.findall(result.stdout)
    assert sorted(chart for chart, *_ in packaged) == ["metallb", "metallb-dashboards"]
    sums = (workspace.root / "dist" / "SHA256SUMS").read_text().splitlines()
    for _chart, _version, archive, digest in packaged:
        assert (workspace.root / "dist" / archive).is_file()
        assert f"{digest}  {archive}" in sums


def test_bump_then_lint_is_consistent(workspace: Workspace) -> None:
    bumped = chartship_cli(workspace, "bump", "--version", "0.16.2", "metallb")
    assert bumped.returncode == 0, combined(bumped)
    assert "metallb: set charts/metallb/Chart.yaml version: 0.0.0 -> 0.16.2" in bumped.stdout
    crds = workspace.path("charts/metallb/charts/crds/Chart.yaml").read_text()
    assert "version: 0.16.2" in crds

    linted = chartship_cli(workspace, "lint")
    assert linted.returncode == 0, combined(linted)
    assert "no problems" in linted.stdout


def test_bump_rejects_non_semver(workspace: Workspace) -> None:
    before = workspace.path("charts/metallb/Chart.yaml").read_text()
    result = chartship_cli(workspace, "bump", "--version", "nope", "metallb")
    assert result.returncode == 3, combined(result)
    assert "nope" in result.stderr
    assert workspace.path("charts/metallb/Chart.yaml").read_text() == before


def test_version_flag(workspace: Workspace) -> None:
    result = chartship_cli(workspace, "--version", helm=False)
    assert result.returncode == 0, combined(result)
    assert result.stdout.strip() == f"chartship {chartship.__version__}"


def test_missing_subcommand_is_a_usage_error(workspace: Workspace) -> None:
    result = chartship_cli(workspace, helm=False)
    assert result.returncode == 2, combined(result)
    assert "usage: chartship" in result.stderr

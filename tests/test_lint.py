"""lint against real helm 3 and helm 4: every problem reported, with file and line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from chartship.commands import run_lint
from chartship.errors import ChecksFailed
from chartship.lint import LintReport, Problem, lint
from tests.support.builders import Workspace


def problems_for(report: LintReport, check: str | None = None) -> list[Problem]:
    return [p for p in report.problems if check is None or p.check == check]


def rel(ws: Workspace, problem: Problem) -> str:
    return str(problem.path.relative_to(ws.root))


def line_of(path: Path, text: str, occurrence: int = 1) -> int:
    """The number of the ``occurrence``-th line of ``path`` that, stripped, starts with ``text``."""
    lines = path.read_text().splitlines()
    found = [n for n, line in enumerate(lines, 1) if line.strip().startswith(text)]
    assert len(found) >= occurrence, f"{text!r} not {occurrence} time(s) in {path}"
    return found[occurrence - 1]


def located(ws: Workspace, problem: Problem) -> tuple[str, int | None]:
    """Where a problem is reported: the file relative to the workspace, and the line."""
    return rel(ws, problem), problem.line


def test_clean_charts_pass(workspace: Workspace) -> None:
    report = lint(workspace.settings())
    assert report.charts == ["metallb", "metallb-dashboards"]
    assert report.problems == []
    assert report.ok
    # The dependency from the classic repository was fetched for helm lint into a
    # scratch copy of the chart: the working tree is as it was.
    assert not list((workspace.chart_dir() / "charts").glob("frr-k8s-*.tgz"))
    assert workspace.git("status", "--porcelain", "--ignored") == ""


def test_names_select_charts(workspace: Workspace) -> None:
    report = lint(workspace.settings(), ["metallb-dashboards"])
    assert report.charts == ["metallb-dashboards"]
    assert report.ok


def test_malformed_chart_yaml_is_reported_with_its_line_and_others_still_linted(
    workspace: Workspace,
) -> None:
    workspace.write("charts/metallb-dashboards/Chart.yaml", "apiVersion: v2\nname: [unclosed\n")
    report = lint(workspace.settings())
    (problem,) = [p for p in report.problems if p.severity == "error"]
    # Said, not silently skipped.
    (skipped,) = [p for p in report.problems if p.severity == "warning"]
    assert skipped.check == "helm-lint"
    assert skipped.message == (
        "helm lint --strict was not run for metallb-dashboards: its Chart.yaml cannot be read"
    )
    assert rel(workspace, problem) == "charts/metallb-dashboards/Chart.yaml"
    assert problem.line in (2, 3)
    assert "malformed YAML" in problem.message
    assert report.charts == ["metallb", "metallb-dashboards"]


def test_missing_name_and_version(workspace: Workspace) -> None:
    path = workspace.chart_dir("metallb-dashboards") / "Chart.yaml"
    text = path.read_text()
    text = "\n".join(
        line for line in text.splitlines() if not line.startswith(("name:", "version:"))
    )
    path.write_text(text + "\n")
    problems = lint(workspace.settings()).problems
    messages = {p.message for p in problems}
    assert {"name is missing", "version is missing"} <= messages
    # A key that is absent has no line of its own: the file's first line is named.
    missing = [p for p in problems if p.message in ("name is missing", "version is missing")]
    assert {located(workspace, p) for p in missing} == {("charts/metallb-dashboards/Chart.yaml", 1)}


@pytest.mark.parametrize(
    ("bad", "rule"),
    [
        # YAML reads 1.2 as a number, and helm refuses 1.2.3.4: helm's rule.
        ("1.2", "chart-yaml"),
        ("1.2.3.4", "chart-yaml"),
        # helm reads these loosely; strict SemVer is chartship's rule.
        ("v1.2.3", "strict-semver"),
        ("01.2.3", "strict-semver"),
    ],
)
def test_non_semver_version(workspace: Workspace, bad: str, rule: str) -> None:
    workspace.replace("charts/metallb-dashboards/Chart.yaml", "version: 1.2.0", f"version: {bad}")
    report = lint(workspace.settings(), ["metallb-dashboards"])
    found = [p for p in report.problems if p.check in ("chart-yaml", "strict-semver")]
    assert [p.check for p in found] == [rule]
    assert len(found) == 1
    assert bad in found[0].message
    assert "SemVer" in found[0].message
    assert rel(workspace, found[0]) == "charts/metallb-dashboards/Chart.yaml"
    version_line = next(
        n
        for n, line in enumerate(
            (workspace.chart_dir("metallb-dashboards") / "Chart.yaml").read_text().splitlines(), 1
        )
        if line.startswith("version:")
    )
    assert found[0].line == version_line


def test_name_must_match_directory(workspace: Workspace) -> None:
    workspace.replace(
        "charts/metallb-dashboards/Chart.yaml", "name: metallb-dashboards", "name: dashboards"
    )
    report = lint(workspace.settings(), ["metallb-dashboards"])
    differs = [
        p
        for p in report.problems
        if "'dashboards' differs from its directory 'metallb-dashboards'" in p.message
    ]
    assert len(differs) == 1
    chart_yaml = workspace.chart_dir("metallb-dashboards") / "Chart.yaml"
    assert located(workspace, differs[0]) == (
        "charts/metallb-dashboards/Chart.yaml",
        line_of(chart_yaml, "name: dashboards"),
    )


def test_api_version_kube_version_and_app_version(workspace: Workspace) -> None:
    path = workspace.chart_dir("metallb-dashboards") / "Chart.yaml"
    text = path.read_text().replace("apiVersion: v2", "apiVersion: v3")
    lines = [
        line for line in text.splitlines() if not line.startswith(("appVersion:", "kubeVersion:"))
    ]
    lines.append('kubeVersion: ">== banana"')
    path.write_text("\n".join(lines) + "\n")
    problems = lint(workspace.settings(), ["metallb-dashboards"]).problems
    messages = [p.message for p in problems]
    assert any("apiVersion must be v1 or v2, not 'v3'" in m for m in messages)
    assert any("kubeVersion '>== banana' is not a valid version constraint" in m for m in messages)
    assert "appVersion is missing" in messages
    where = {
        fragment: {located(workspace, p) for p in problems if fragment in p.message}
        for fragment in (
            "apiVersion must be v1 or v2",
            "kubeVersion '>== banana'",
            "appVersion is missing",
        )
    }
    chart_yaml = "charts/metallb-dashboards/Chart.yaml"
    assert where == {
        "apiVersion must be v1 or v2": {(chart_yaml, line_of(path, "apiVersion: v3"))},
        "kubeVersion '>== banana'": {(chart_yaml, line_of(path, "kubeVersion:"))},
        "appVersion is missing": {(chart_yaml, 1)},
    }


def test_duplicate_key_in_chart_yaml(workspace: Workspace) -> None:
    path = workspace.chart_dir("metallb-dashboards") / "Chart.yaml"
    path.write_text(path.read_text() + "version: 1.2.0\n")
    report = lint(workspace.settings(), ["metallb-dashboards"])
    first, second = (line_of(path, "version:", occurrence=n) for n in (1, 2))
    message = f"key version appears twice (lines {first} and {second})"
    (twice,) = [p for p in report.problems if p.message == message]
    # The second occurrence is the one to remove.
    assert located(workspace, twice) == ("charts/metallb-dashboards/Chart.yaml", second)


def test_values_breaking_the_schema_name_file_and_line(workspace: Workspace) -> None:
    values = workspace.chart_dir() / "values.yaml"
    lines = values.read_text().splitlines()
    number = next(n for n, line in enumerate(lines, 1) if line.strip() == "logLevel: info")
    lines[number - 1] = lines[number - 1].replace("info", "chatty")
    values.write_text("\n".join(lines) + "\n")
    ci = workspace.write(
        "charts/metallb/ci/typo-values.yaml", "controller:\n  imagee:\n    tag: x\n"
    )
    report = lint(workspace.settings(), ["metallb"])
    schema = problems_for(report, "schema")
    in_values = [p for p in schema if p.path == values]
    in_ci = [p for p in schema if p.path == ci]
    assert len(in_values) == 1
    assert in_values[0].line == number
    assert "'chatty' is not one of" in in_values[0].message
    assert len(in_ci) == 1
    assert in_ci[0].line == 2
    assert "imagee" in in_ci[0].message
    # helm lint agrees, but its less precise restatement is not repeated.
    assert not any("schema" in p.message for p in problems_for(report, "helm-lint"))


def test_schema_verdict_of_helm_is_kept_when_ours_is_silent(workspace: Workspace) -> None:
    # A schema the chart's own check cannot see: a subchart's (frr-k8s) applies to its values.
    workspace.write(
        "charts/metallb/ci/sub-values.yaml",
        "frrk8s:\n  enabled: true\nfrr-k8s:\n  frrk8s:\n    logLevel: chatty\n",
    )
    report = lint(workspace.settings(), ["metallb"])
    helm_said = problems_for(report, "helm-lint")
    assert any("sub-values.yaml" in p.message and "logLevel" in p.message for p in helm_said)


def test_malformed_values_file(workspace: Workspace) -> None:
    workspace.write("charts/metallb-dashboards/ci/broken-values.yaml", "a: b: c\n")
    report = lint(workspace.settings(), ["metallb-dashboards"])
    broken = [p for p in report.problems if p.path.name == "broken-values.yaml"]
    assert broken
    assert broken[0].line == 1
    assert "malformed YAML" in broken[0].message
    assert rel(workspace, broken[0]) == "charts/metallb-dashboards/ci/broken-values.yaml"


def test_malformed_schema(workspace: Workspace) -> None:
    workspace.write("charts/metallb-dashboards/values.schema.json", '{"type": "object",\n  oops}\n')
    report = lint(workspace.settings(), ["metallb-dashboards"])
    assert any(
        p.check == "schema" and p.line == 2 and "malformed JSON" in p.message
        for p in report.problems
    )
    malformed = [p for p in report.problems if "malformed JSON" in p.message]
    assert [located(workspace, p) for p in malformed] == [
        ("charts/metallb-dashboards/values.schema.json", 2)
    ]


def test_unreachable_dependency_repository(workspace: Workspace) -> None:
    workspace.replace("charts/metallb/Chart.yaml", workspace.upstream, "http://127.0.0.1:9/frr-k8s")
    workspace.path("charts/metallb/Chart.lock").unlink()
    report = lint(workspace.settings(), ["metallb"])
    (error,) = [p for p in report.problems if p.severity == "error"]
    assert error.check == "dependencies"
    assert error.message.startswith(
        "metallb: dependency frr-k8s 0.0.16 from http://127.0.0.1:9/frr-k8s is not vendored "
        "(charts/metallb/charts has no frr-k8s archive); http://127.0.0.1:9/frr-k8s cannot be "
        "used: "
    )
    assert "connection refused" in error.message
    assert error.message.endswith(
        "run `helm dependency update charts/metallb` where the repository can be reached and "
        "commit charts/metallb/charts/frr-k8s-0.0.16.tgz with Chart.lock, or point "
        "dependencies.mirrors at a copy of the repository"
    )
    assert located(workspace, error) == (
        "charts/metallb/Chart.yaml",
        line_of(workspace.chart_dir() / "Chart.yaml", "repository: http://127.0.0.1:9/"),
    )
    (skipped,) = [p for p in report.problems if p.severity == "warning"]
    assert skipped.message == (
        "helm lint --strict was not run for metallb: its dependencies could not be put "
        "together (see above)"
    )


def test_dependency_version_missing_from_repository(workspace: Workspace) -> None:
    chart_yaml = workspace.replace("charts/metallb/Chart.yaml", "version: 0.0.16", "version: 9.9.9")
    workspace.path("charts/metallb/Chart.lock").unlink()
    report = lint(workspace.settings(), ["metallb"])
    wanted = f"{workspace.upstream} has no version 9.9.9 (it has 0.0.16)"
    (missing,) = [p for p in report.problems if wanted in p.message]
    assert located(workspace, missing) == (
        "charts/metallb/Chart.yaml",
        line_of(chart_yaml, "version: 9.9.9"),
    )


def test_chart_lock_out_of_sync_is_named_with_what_differs(workspace: Workspace) -> None:
    workspace.replace("charts/metallb/Chart.yaml", "version: 0.0.16", "version: 0.0.17")
    report = lint(workspace.settings(), ["metallb"])
    errors = [p for p in report.problems if p.severity == "error"]
    assert [(rel(workspace, p), p.check, p.message) for p in errors] == [
        (
            "charts/metallb/Chart.lock",
            "dependencies",
            "is out of sync with Chart.yaml (its frr-k8s 0.0.16 is not admitted by '0.0.17'); "
            "run `helm dependency update charts/metallb` and commit it",
        )
    ]
    assert any(p.check == "helm-lint" and p.severity == "warning" for p in report.problems)


def test_local_dependency_must_exist(workspace: Workspace) -> None:
    import shutil

    shutil.rmtree(workspace.chart_dir() / "charts" / "crds")
    report = lint(workspace.settings(), ["metallb"])
    assert any("dependency crds declares no repository" in p.message for p in report.problems)
    (absent,) = [
        p for p in report.problems if "dependency crds declares no repository" in p.message
    ]
    # The dependency's entry in the parent's Chart.yaml is what names it.
    assert located(workspace, absent) == (
        "charts/metallb/Chart.yaml",
        line_of(workspace.chart_dir() / "Chart.yaml", "- name: crds"),
    )


def test_lockstep_subchart_versions(workspace: Workspace) -> None:
    crds = workspace.replace(
        "charts/metallb/charts/crds/Chart.yaml", "version: 0.0.0", "version: 0.0.1"
    )
    report = lint(workspace.settings(), ["metallb"])
    lockstep = problems_for(report, "lockstep")
    assert [p.path for p in lockstep] == [crds]
    assert "parent chart metallb is at 0.0.0" in lockstep[0].message
    assert lockstep[0].line == line_of(crds, "version: 0.0.1")


def test_version_increment_against_release_tag(workspace: Workspace) -> None:
    workspace.git("tag", "metallb-dashboards-chart-1.2.0")
    settings = workspace.settings()
    assert lint(settings, ["metallb-dashboards"]).ok  # unchanged since the release
    workspace.replace("charts/metallb-dashboards/values.yaml", "\n", "\n# tweak\n")
    report = lint(settings, ["metallb-dashboards"])
    (problem,) = problems_for(report, "version-increment")
    assert "changed since its release 1.2.0 (tag metallb-dashboards-chart-1.2.0)" in problem.message
    chart_yaml = workspace.chart_dir("metallb-dashboards") / "Chart.yaml"
    assert located(workspace, problem) == (
        "charts/metallb-dashboards/Chart.yaml",
        line_of(chart_yaml, "version: 1.2.0"),
    )
    workspace.replace("charts/metallb-dashboards/Chart.yaml", "version: 1.2.0", "version: 1.2.1")
    assert lint(settings, ["metallb-dashboards"]).ok


def test_placeholder_version_is_not_an_increment_error(workspace: Workspace) -> None:
    workspace.git("tag", "metallb-chart-0.15.0")
    workspace.replace("charts/metallb/values.yaml", "\n", "\n# tweak\n")
    assert problems_for(lint(workspace.settings(), ["metallb"]), "version-increment") == []


def test_template_error_is_located(workspace: Workspace) -> None:
    bad = workspace.write(
        "charts/metallb-dashboards/templates/bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
        "data:\n  a: {{ .Values.nope.deeper }}\n",
    )
    report = lint(workspace.settings(), ["metallb-dashboards"])
    located = [p for p in problems_for(report, "helm-lint") if p.path == bad]
    assert located
    assert located[0].line == 6
    assert "nil pointer" in located[0].message


def test_every_problem_is_reported_at_once(workspace: Workspace) -> None:
    workspace.replace("charts/metallb-dashboards/Chart.yaml", "version: 1.2.0", "version: 1.2")
    workspace.replace("charts/metallb/charts/crds/Chart.yaml", "version: 0.0.0", "version: 0.0.1")
    workspace.write("charts/metallb/ci/typo-values.yaml", "speaker:\n  logLevel: chatty\n")
    report = lint(workspace.settings())
    checks = {(p.chart, p.check) for p in report.problems}
    assert {
        ("metallb-dashboards", "chart-yaml"),
        ("metallb", "lockstep"),
        ("metallb", "schema"),
    } <= checks
    dashboards = workspace.chart_dir("metallb-dashboards") / "Chart.yaml"
    crds = workspace.chart_dir() / "charts" / "crds" / "Chart.yaml"
    assert {
        (p.check, *located(workspace, p))
        for p in report.problems
        if p.check in ("chart-yaml", "lockstep", "schema")
    } == {
        ("chart-yaml", "charts/metallb-dashboards/Chart.yaml", line_of(dashboards, "version:")),
        ("lockstep", "charts/metallb/charts/crds/Chart.yaml", line_of(crds, "version:")),
        ("schema", "charts/metallb/ci/typo-values.yaml", 2),
    }


def test_output_lines_and_github_annotations(workspace: Workspace) -> None:
    workspace.replace("charts/metallb-dashboards/Chart.yaml", "version: 1.2.0", "version: 1.2")
    out = io.StringIO()
    with pytest.raises(ChecksFailed) as failed:
        run_lint(
            workspace.settings(),
            ["metallb-dashboards"],
            out=out,
            environ={"GITHUB_ACTIONS": "true"},
        )
    assert failed.value.exit_code == 1
    lines = out.getvalue().splitlines()
    plain = [line for line in lines if line.startswith("charts/")]
    annotations = [line for line in lines if line.startswith("::error ")]
    assert plain
    assert plain[0].startswith("charts/metallb-dashboards/Chart.yaml:")
    assert ": error: [chart-yaml] version '1.2' is not a SemVer 2 version" in plain[0]
    assert annotations[0].startswith("::error file=charts/metallb-dashboards/Chart.yaml,line=")
    # The README's shape, `file:line: error: [check] message`, with the version's line.
    line = line_of(workspace.chart_dir("metallb-dashboards") / "Chart.yaml", "version:")
    assert plain[0].startswith(
        f"charts/metallb-dashboards/Chart.yaml:{line}: error: [chart-yaml] "
        "version '1.2' is not a SemVer 2 version"
    )
    assert annotations[0].startswith(
        f"::error file=charts/metallb-dashboards/Chart.yaml,line={line},"
    )
    assert "title=chartship chart-yaml::" in annotations[0]
    # Without GitHub Actions there are no workflow commands.
    quiet = io.StringIO()
    with pytest.raises(ChecksFailed):
        run_lint(workspace.settings(), ["metallb-dashboards"], out=quiet, environ={})
    assert "::error" not in quiet.getvalue()


def test_schema_file_is_json_schema_draft7_by_default(workspace: Workspace) -> None:
    schema_path = workspace.chart_dir("metallb-dashboards") / "values.schema.json"
    schema = json.loads(schema_path.read_text())
    schema.pop("$schema", None)
    schema["properties"]["extra"] = {"type": "integer"}
    schema_path.write_text(json.dumps(schema))
    workspace.write("charts/metallb-dashboards/ci/extra-values.yaml", "extra: notanumber\n")
    report = lint(workspace.settings(), ["metallb-dashboards"])
    assert any(p.check == "schema" and p.path.name == "extra-values.yaml" for p in report.problems)
    extra = [p for p in report.problems if p.check == "schema"]
    assert [located(workspace, p) for p in extra] == [
        ("charts/metallb-dashboards/ci/extra-values.yaml", 1)
    ]


def test_missing_chart_yaml_directory_is_not_a_chart(workspace: Workspace, tmp_path: Path) -> None:
    (workspace.root / "charts" / "notachart").mkdir()
    assert lint(workspace.settings()).charts == ["metallb", "metallb-dashboards"]

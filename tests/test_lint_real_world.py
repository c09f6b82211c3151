"""lint on the shapes of a large real chart repository, on helm 3 and helm 4.

The fixture (tests/support/lint_repo.py) passes chart-testing and ``helm lint
--strict`` with its ci values files; lint must agree, and add only its
documented findings (here: the template that fails with default values).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from chartship.commands import run_lint
from chartship.config import load_settings
from chartship.errors import ChecksFailed, ConfigError
from chartship.lint import LintReport, Problem, coalesce, lint
from tests.support.builders import git
from tests.support.lint_repo import real_world_repo


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real_world_repo(tmp_path_factory.mktemp("real-world") / "repo")


def settings(repo: Path, helm_bin: Path, **overrides: Any) -> Any:
    return load_settings(repo / "chartship.yaml", {"helm": str(helm_bin), **overrides})


def found(report: LintReport) -> list[tuple[str, str, str, int | None]]:
    return [(p.chart, p.check, p.severity, p.line) for p in report.problems]


def only(report: LintReport, chart: str) -> list[Problem]:
    return [p for p in report.problems if p.chart == chart]


def test_pull_request_lints_as_chart_testing_plus_the_default_values_finding(
    repo: Path, helm_bin: Path
) -> None:
    before = git(repo, "status", "--porcelain", "--ignored")
    report = lint(settings(repo, helm_bin))
    # ct.yaml's excluded-charts: the broken chart is left out, and said to be.
    assert report.excluded == ["broken"]
    assert report.charts == ["alertmanager", "changed", "defaults", "legacy", "nullable"]
    # v1, kubeVersion >=1.05.0, a null override and a change only in .helmignore'd
    # files (compared with ct.yaml's target branch) are all fine, as for helm and ct.
    assert found(report) == [
        ("changed", "version-increment", "error", 3),
        ("defaults", "default-values", "error", 6),
    ]
    increment, defaults = report.problems
    assert increment.message.startswith("the chart changed since main (merge base ")
    assert increment.message.endswith(
        "but its version 1.0.0 is not higher than 1.0.0 there; changed: templates/configmap.yaml"
    )
    # One problem per line: helm's log line (helm 3 `engine.go:...: [INFO]`, helm 4
    # `level=WARN ...`) and its verdict are not glued on.
    assert "\n" not in defaults.message
    assert defaults.message.endswith(
        "nil pointer evaluating interface {}.level (with default values)"
    )
    for noise in ("engine.go", "[INFO]", "level=", "Missing required", "chart(s) linted"):
        assert noise not in defaults.message
    assert defaults.path == repo / "charts/defaults/templates/config.yaml"
    assert report.notes == []
    assert git(repo, "status", "--porcelain", "--ignored") == before


def test_release_tags_count_only_packaged_files_and_untagged_charts_are_noted(
    repo: Path, helm_bin: Path
) -> None:
    # chartship.yaml (here an override) setting lint.since, even to nothing, wins over ct.yaml.
    report = lint(settings(repo, helm_bin, **{"lint.since": None}))
    increments = [p for p in report.problems if p.check == "version-increment"]
    # alertmanager changed only under unittests/ and ci/, which its .helmignore excludes.
    assert [p.chart for p in increments] == ["changed"]
    assert "since its release 1.0.0 (tag changed-1.0.0)" in increments[0].message
    assert report.notes == [
        "version-increment was not checked for defaults, legacy, nullable: no release tag, "
        "and no lint.since (`--since REF`) to compare with"
    ]
    # Without the .helmignore reading, alertmanager's test and ci files count.
    counted = lint(
        settings(repo, helm_bin, **{"lint.since": None, "lint.use_helmignore": False}),
        ["alertmanager"],
    )
    (problem,) = [p for p in counted.problems if p.check == "version-increment"]
    assert problem.message.endswith(
        "changed: ci/config-values.yaml and unittests/configmap_test.yaml"
    )


def test_severities_per_rule_and_per_chart_and_strict(repo: Path, helm_bin: Path) -> None:
    chosen = settings(
        repo,
        helm_bin,
        **{
            "lint.rules": {"api-version-v1": "warning", "version-increment": "off"},
            "charts.defaults.lint_rules": {"default-values": "warning"},
        },
    )
    out = io.StringIO()
    report = run_lint(chosen, out=out, environ={"GITHUB_ACTIONS": "true"})
    assert found(report) == [
        ("defaults", "default-values", "warning", 6),
        ("legacy", "api-version-v1", "warning", 1),
    ]
    assert report.ok
    lines = out.getvalue().splitlines()
    assert "::warning file=charts/legacy/Chart.yaml,line=1,title=chartship api-version-v1::" in (
        "\n".join(lines)
    )
    assert lines[-1] == (
        "lint: passed: 2 warning(s) in defaults, legacy; 3 of 5 chart(s) without problems"
    )
    strict = settings(repo, helm_bin, **{"lint.strict": True, "lint.rules": chosen.lint.rules})
    with pytest.raises(ChecksFailed):
        run_lint(strict, ["legacy"], out=io.StringIO())


def test_a_named_excluded_chart_is_linted(repo: Path, helm_bin: Path) -> None:
    report = lint(settings(repo, helm_bin), ["broken"])
    assert report.excluded == []
    assert [p.check for p in report.problems] == ["helm-lint"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("lint.rules", {"helm-lint": "off"}, "lint.rules.helm-lint: is helm's own rule"),
        ("lint.rules", {"no-such-rule": "off"}, "lint.rules.no-such-rule: is not a lint rule"),
        ("lint.rules", {"app-version": "loud"}, "must be 'error' or 'warning' or 'off'"),
        ("lint.since", "--output=x", "lint.since: must name a branch or commit"),
    ],
)
def test_bad_lint_settings_are_refused(
    tmp_path: Path, key: str, value: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        load_settings(None, {key: value}, root=tmp_path)
    assert message in str(caught.value)


def test_ct_yaml_is_bounded_and_checked(tmp_path: Path) -> None:
    (tmp_path / "ct.yaml").write_text("excluded-charts: broken\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(None, root=tmp_path)
    assert caught.value.path == tmp_path / "ct.yaml"
    assert "excluded-charts: must be a list of strings" in str(caught.value)
    (tmp_path / "ct.yaml").write_text("a: &a [1]\nb: [*a, *a, *a]\n" + "x: " + "y" * 2**21)
    with pytest.raises(ConfigError):
        load_settings(None, root=tmp_path)


def test_ct_yaml_maps_key_by_key_where_chartship_yaml_is_silent(tmp_path: Path) -> None:
    (tmp_path / ".github" / "linters").mkdir(parents=True)
    (tmp_path / ".github" / "linters" / "ct.yaml").write_text(
        "chart-dirs: [stable, incubator]\nexcluded-charts: [old]\ntarget-branch: develop\n"
        "remote: upstream\nuse-helmignore: false\nvalidate-maintainers: true\n"
        "check-version-increment: false\nchart-repos: [bitnami=https://example.invalid]\n"
    )
    (tmp_path / "incubator" / "new").mkdir(parents=True)
    (tmp_path / "incubator" / "new" / "Chart.yaml").write_text("name: new\n")
    (tmp_path / "chartship.yaml").write_text("lint:\n  use_helmignore: true\n")
    s = load_settings(tmp_path / "chartship.yaml")
    assert s.charts_dir == "stable"
    assert s.charts["new"].path == "incubator/new"
    assert s.lint.exclude == ("old",)
    assert s.lint.since == "upstream/develop"
    assert s.lint.use_helmignore is True  # chartship.yaml said so
    assert s.lint.rules == {"maintainers": "error"}
    assert s.lint.version_increment is False


def test_null_override_deletes_as_helm_merges() -> None:
    values = {"a": {"b": 1, "c": [1, 2]}, "d": {"e": 1}, "s": "x", "keep": None}
    override = {"a": {"b": None, "c": [3]}, "d": None, "top": None, "s": {"t": 1}, "n": {"m": None}}
    assert coalesce(values, override) == {
        "a": {"c": [3]},  # null deletes, lists replace
        "s": {"t": 1},  # the override wins (helm warns, keeps it)
        "n": {"m": None},  # no table in values to delete from: helm keeps the null
        "keep": None,
    }
    assert values["a"] == {"b": 1, "c": [1, 2]}  # the inputs are left alone


def test_front_ends_take_strict_and_since(
    repo: Path, helm_bin: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from invoke.context import Context
    from invoke.exceptions import Exit

    from chartship import cli, tasks

    config = str(repo / "chartship.yaml")
    # With HEAD itself as REF nothing changed (ct.yaml's main would make `changed` an
    # error), so only defaults' warning is left, and --strict fails on it.
    summary = "lint: failed (--strict: warnings fail): 1 warning(s) in defaults; 1 of 2 chart(s)"
    argv = ["lint", "changed", "defaults", "--config", config, "--helm", str(helm_bin)]
    argv += ["--since", "pr", "--strict", "--set", "lint.rules.default-values=warning"]
    assert cli.main(argv) == 1
    assert summary in capsys.readouterr().out
    with pytest.raises(Exit) as caught:
        tasks.lint(
            Context(),
            chart=["changed", "defaults"],
            config=config,
            helm=str(helm_bin),
            set=["lint.rules.default-values=warning"],
            since="pr",
            strict=True,
        )
    assert caught.value.code == 1
    assert summary in capsys.readouterr().out


def test_every_rule_is_in_the_readme_table() -> None:
    from chartship.lint.rules import RULES

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for rule in RULES.values():
        settable = "yes" if rule.configurable else "no"
        row = f"| `{rule.name}` | `{rule.default}` | {settable} | {rule.reason} |"
        assert row in readme, rule.name


def test_a_since_ref_this_clone_lacks_is_a_warning_saying_what_to_fetch(
    repo: Path, helm_bin: Path
) -> None:
    report = lint(settings(repo, helm_bin, **{"lint.since": "origin/release-9"}), ["changed"])
    (problem,) = report.problems
    assert (problem.check, problem.severity) == ("version-increment", "warning")
    assert problem.message.startswith(
        "cannot check that the version went up since origin/release-9: this clone has no such "
        "branch or commit"
    )

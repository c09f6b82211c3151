"""Several charts' default-values runs in one helm process, each finding still the right chart's.

On helm 3 and helm 4: lint over a repository where one chart passes, one
fails, one has a warning (a failure under ``--strict``) and one fails only
with a ci values file gives exactly what linting each chart alone gives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from chartship.config import load_settings
from chartship.helm import LINT_RUNTIME, Helm
from chartship.lint import LintReport, lint
from chartship.lint.helm_output import split_by_chart
from chartship.toolchain import DEFAULT_HELM_VERSIONS
from tests.support.builders import CONFIGMAP, git, installed_helm
from tests.support.recording import RecordingRunner

CHARTS = ("passes", "fails", "warns", "ci-fails")


def _chart(name: str, **files: str) -> dict[str, str]:
    return {
        "Chart.yaml": (
            f"apiVersion: v2\nname: {name}\nversion: 1.0.0\nappVersion: v1.0.0\n"
            f"description: {name}\nicon: https://example.invalid/icon.png\n"
        ),
        "values.yaml": "greeting: hello\n",
        "templates/configmap.yaml": CONFIGMAP % name,
        "ci/other-values.yaml": "greeting: hi\n",
        **files,
    }


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("together") / "repo"
    charts = {
        "passes": _chart("passes"),
        "fails": _chart("fails", **{"templates/bad.yaml": "{{ .Values.nope.nope }}\n"}),
        "warns": _chart(
            "warns",
            **{
                "templates/named.yaml": (
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_A_Name\n"
                )
            },
        ),
        "ci-fails": _chart(
            "ci-fails",
            **{
                "templates/boom.yaml": "{{ if .Values.boom }}{{ .Values.boom.x.y }}{{ end }}\n",
                "ci/boom-values.yaml": "boom:\n  set: true\n",
            },
        ),
    }
    for name, files in charts.items():
        for relative, text in files.items():
            target = root / "charts" / name / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    # One worker: every chart's default-values run falls to one helm process.
    (root / "chartship.yaml").write_text("lint:\n  version_increment: false\n  workers: 1\n")
    git(root, "init", "-q", "-b", "main")
    return root


def _lint(repo: Path, helm_bin: Path, names: Sequence[str] = (), **kw: object) -> LintReport:
    settings = load_settings(repo / "chartship.yaml", {"helm": str(helm_bin)})
    return lint(settings, names, **kw)  # type: ignore[arg-type]


def _by_chart(report: LintReport) -> Mapping[str, list[tuple[str, str, str, int | None]]]:
    found: dict[str, list[tuple[str, str, str, int | None]]] = {}
    for p in report.problems:
        found.setdefault(p.chart, []).append((str(p.path), p.message, p.check, p.line))
    return found


def test_one_process_lints_every_chart_and_each_finding_is_its_own(
    repo: Path, helm_bin: Path
) -> None:
    runner = RecordingRunner()
    report = _lint(repo, helm_bin, runner=runner)
    lints = [argv[1:] for argv in runner.argvs if argv[1:2] == ("lint",)]
    (together,) = [argv for argv in lints if "--values" not in argv]
    assert together[:2] == ("lint", "--strict")
    assert sorted(together[2:]) == sorted(str(repo / "charts" / n) for n in CHARTS)
    # Each ci values file still has a run of its own.
    assert len(lints) == 1 + 5

    charts = repo / "charts"
    found = _by_chart(report)
    assert sorted(found) == ["ci-fails", "fails", "warns"]
    ((path, message, check, line),) = found["fails"]
    assert (path, check, line) == (str(charts / "fails/templates/bad.yaml"), "helm-lint", 1)
    assert message.endswith("nil pointer evaluating interface {}.nope")
    ((path, message, check, line),) = found["warns"]
    assert (path, check) == (str(charts / "warns/templates/named.yaml"), "helm-lint")
    assert message.startswith("object name does not conform to Kubernetes naming requirements")
    ((path, message, check, line),) = found["ci-fails"]
    assert (path, check, line) == (str(charts / "ci-fails/templates/boom.yaml"), "helm-lint", 1)
    assert message.endswith("nil pointer evaluating interface {}.y (with ci/boom-values.yaml)")

    # Exactly what each chart linted on its own gives.
    for name in CHARTS:
        alone = _lint(repo, helm_bin, [name])
        assert _by_chart(alone).get(name, []) == found.get(name, [])


def test_output_is_split_as_each_chart_alone_would_print_it(repo: Path, helm_bin: Path) -> None:
    helm = Helm(str(helm_bin))
    directories = [repo / "charts" / name for name in CHARTS]
    together = helm.lint(directories)
    assert together.returncode == 1
    parts = split_by_chart(together, directories)
    assert parts is not None
    for directory, part in zip(directories, parts, strict=True):
        alone = helm.lint([directory])
        assert (part.returncode, part.stdout) == (alone.returncode, alone.stdout)
        assert alone.stderr.strip().endswith(part.stderr.strip())
    assert [p.returncode for p in parts] == [0, 1, 1, 0]


def test_output_that_is_not_one_section_per_chart_is_not_split(
    repo: Path, helm_bin: Path, tmp_path: Path
) -> None:
    helm = Helm(str(helm_bin))
    directories = [repo / "charts" / name for name in CHARTS[:2]]
    # helm stops before linting any chart: nothing to tell apart.
    broken = tmp_path / "broken-values.yaml"
    broken.write_text("greeting: [unclosed\n")
    assert split_by_chart(helm.lint(directories, broken), directories) is None
    # Sections for other charts, or in another order, are not these charts' runs.
    clean = helm.lint(directories)
    assert split_by_chart(clean, directories[::-1]) is None
    assert split_by_chart(clean, directories[:1]) is None


def test_lint_runs_collect_garbage_less_often_unless_the_environment_says(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pure argument logic: one helm major is enough.
    runner = RecordingRunner()
    helm = Helm(str(installed_helm(DEFAULT_HELM_VERSIONS[-1])), runner=runner)
    chart = [repo / "charts" / "passes"]
    monkeypatch.delenv("GOGC", raising=False)
    assert helm.lint(chart).returncode == 0
    assert runner.envs[-1] == LINT_RUNTIME == {"GOGC": "200"}
    # The user's own setting wins.
    monkeypatch.setenv("GOGC", "50")
    assert helm.lint(chart).returncode == 0
    assert runner.envs[-1] == {}

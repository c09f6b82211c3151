"""Dependencies that name their repository by alias (``@name``, ``alias:name``).

helm resolves the name against repositories.yaml (``helm repo add``), and
chart-testing adds its ``chart-repos`` there first. chartship resolves it from
``dependencies.repositories`` (ct.yaml's ``chart-repos`` where chartship.yaml is
silent), then, with ``repository_config: helm``, from the user's own helm
repositories; every command that reads dependencies sees the URL, as helm's do.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import yaml

from chartship import dependencies, siblings
from chartship.bump import bump
from chartship.charts import ChartDir, load
from chartship.commands import run_lint
from chartship.config import Settings, load_settings
from chartship.errors import ChecksFailed, ConfigError, DependencyError
from chartship.helm import Helm
from chartship.lint import lint
from chartship.migrate import phases
from chartship.package import package
from chartship.toolchain import DEFAULT_HELM_VERSIONS
from tests.support.builders import installed_helm
from tests.support.recording import RecordingRunner
from tests.support.sandbox import helm_homes
from tests.test_dependencies import without_generated

#: A host that never resolves: what a dependency named through a mirror must never reach.
UNREACHABLE = "https://charts.invalid/frr-k8s"


def alias_chart(root: Path, repository: str) -> Path:
    """charts/app depending on the upstream frr-k8s through ``repository`` (an alias)."""
    app = root / "charts" / "app"
    (app / "templates").mkdir(parents=True)
    (app / "Chart.yaml").write_text(
        "apiVersion: v2\nname: app\nversion: 1.0.0\nappVersion: 1.0.0\n"
        "dependencies:\n"
        "  - name: frr-k8s\n"
        '    version: "~0.0.16"\n'
        f'    repository: "{repository}"\n'
    )
    (app / "values.yaml").write_text("{}\n")
    (app / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
    )
    return app


def settings_in(root: Path, helm: Helm | Path, body: str = "", **overrides: object) -> Settings:
    binary = helm.binary if isinstance(helm, Helm) else str(helm)
    (root / "chartship.yaml").write_text(f"helm: {binary}\n{body}")
    return load_settings(root / "chartship.yaml", dict(overrides))


def empty_config(root: Path) -> Path:
    (root / "chartship.yaml").write_text("")
    return root / "chartship.yaml"


def files_of(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def packaged_members(settings: Settings, helm: Helm) -> list[str]:
    made = package(settings, helm=helm)
    with tarfile.open(made[0].archive, "r:gz") as tar:
        return sorted(tar.getnames())


def test_alias_from_chartship_yaml_lints_with_helm_and_packages_the_dependency(
    helm: Helm, tmp_path: Path, upstream: str
) -> None:
    app = alias_chart(tmp_path, "@upstream")
    settings = settings_in(
        tmp_path, helm, f"dependencies:\n  repositories:\n    upstream: {upstream}\n"
    )
    before = files_of(app)
    runner = RecordingRunner()
    report = lint(settings, helm=Helm(helm.binary, runner=runner), runner=runner)

    assert [p.message for p in report.problems] == []
    assert any(argv[1:2] == ("lint",) for argv in runner.argvs)  # helm lint did run
    assert "app/charts/frr-k8s/Chart.yaml" in packaged_members(settings, helm)
    # Neither lint nor package writes the chart: its Chart.yaml keeps the alias.
    assert files_of(app) == before


def test_alias_from_ct_yaml_chart_repos_resolves_through_a_mirror(
    helm: Helm, tmp_path: Path, upstream: str
) -> None:
    # ct.yaml names the repository; the mirror keyed by that URL is where it is fetched.
    alias_chart(tmp_path, "alias:frr")
    (tmp_path / "ct.yaml").write_text(
        f"chart-repos:\n  - other=https://charts.invalid/other\n  - frr={UNREACHABLE}\n"
    )
    settings = settings_in(
        tmp_path, helm, f"dependencies:\n  mirrors:\n    {UNREACHABLE}: {upstream}\n"
    )
    assert settings.dependencies.repositories == {
        "other": "https://charts.invalid/other",
        "frr": UNREACHABLE,
    }
    report = lint(settings, helm=helm)
    assert [p.message for p in report.problems] == []
    assert "app/charts/frr-k8s/Chart.yaml" in packaged_members(settings, helm)


def test_lock_refresh_writes_what_helm_writes_and_a_vendored_alias_needs_no_network(
    helm: Helm, tmp_path: Path, upstream: str
) -> None:
    # helm itself, with the name added by `helm repo add`: Chart.lock records the URL.
    by_helm = alias_chart(tmp_path / "helm", "@upstream")
    scoped = Helm(helm.binary, env=helm_homes(tmp_path / "helm-home"))
    scoped.run(["repo", "add", "upstream", upstream])
    scoped.run(["dependency", "update", str(by_helm)])
    written = (by_helm / "Chart.lock").read_text()
    assert f"repository: {upstream}" in written

    root = tmp_path / "ours"
    app = alias_chart(root, "@upstream")
    settings = settings_in(
        root, helm, f"dependencies:\n  repositories:\n    upstream: {upstream}\n"
    )
    chart = load(ChartDir("app", app, settings.chart("app")))
    assert dependencies.refresh_lock(chart, settings, helm=helm) is True
    assert without_generated((app / "Chart.lock").read_text()) == without_generated(written)
    assert (app / "charts" / "frr-k8s-0.0.16.tgz").is_file()

    # Vendored, it is used as it is: offline, with the repository now unreachable.
    offline = settings_in(
        root,
        helm,
        f"dependencies:\n  offline: true\n  repositories:\n    upstream: {UNREACHABLE}\n",
    )
    # The lock records the URL the alias stood for: another URL puts it out of sync, as for helm.
    stale = lint(offline, helm=helm)
    assert any(
        "is out of sync with Chart.yaml (frr-k8s comes from "
        f"{upstream} in it, from @upstream ({UNREACHABLE}) in Chart.yaml); run `helm repo add "
        f"upstream {UNREACHABLE}`, then `helm dependency update charts/app` and commit it"
        in p.message
        for p in stale.problems
    )
    offline = settings_in(
        root, helm, f"dependencies:\n  offline: true\n  repositories:\n    upstream: {upstream}\n"
    )
    assert [p.message for p in lint(offline, helm=helm).problems] == []
    assert "app/charts/frr-k8s/Chart.yaml" in packaged_members(offline, helm)

    # bump refreshes the lock offline (unchanged, so not rewritten); with the alias
    # unresolved it refuses and puts the stamped Chart.yaml back.
    lock, chart_yaml = (app / "Chart.lock").read_text(), (app / "Chart.yaml").read_text()
    bump(offline, "1.1.0", ["app"], helm=helm)
    assert (app / "Chart.lock").read_text() == lock
    assert "version: 1.1.0" in (app / "Chart.yaml").read_text()
    stamped = (app / "Chart.yaml").read_text()
    with pytest.raises(DependencyError, match="add `upstream: <url>` under"):
        bump(settings_in(root, helm, "dependencies:\n  offline: true\n"), "1.2.0", ["app"])
    assert (app / "Chart.yaml").read_text() == stamped != chart_yaml


def test_alias_from_the_users_helm_repositories(
    helm: Helm, tmp_path: Path, upstream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = tmp_path / "own-repositories.yaml"
    monkeypatch.setenv("HELM_REPOSITORY_CONFIG", str(own))
    helm.run(["repo", "add", "mine", upstream])
    before = own.read_bytes()
    alias_chart(tmp_path, "@mine")
    settings = settings_in(tmp_path, helm, "dependencies:\n  repository_config: helm\n")
    assert [p.message for p in lint(settings, helm=helm).problems] == []
    assert own.read_bytes() == before
    # A URL of yours with a password in it would be shown in messages: refused, masked.
    config = yaml.safe_load(before)
    config["repositories"][0]["url"] = upstream.replace("http://", "http://me:hunter2@")
    own.write_text(yaml.safe_dump(config))
    with pytest.raises(DependencyError) as caught:
        lint(settings, helm=helm)
    assert "your helm repository 'mine': its URL carries credentials" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_unresolved_alias_is_a_lint_error_naming_the_line_and_the_setting(
    tmp_path: Path,
) -> None:
    helm = Helm(str(installed_helm(DEFAULT_HELM_VERSIONS[-1])))
    alias_chart(tmp_path, "@nowhere")
    settings = settings_in(tmp_path, helm)
    report = lint(settings, helm=helm)
    errors = [p for p in report.problems if p.severity == "error"]
    assert len(errors) == 1
    assert errors[0].path == tmp_path / "charts" / "app" / "Chart.yaml"
    assert errors[0].line == 8
    assert "'@nowhere' by alias" in errors[0].message
    assert "add `nowhere: <url>` under dependencies.repositories" in errors[0].message
    assert "chart-repos in ct.yaml" in errors[0].message
    assert any("was not run for app" in p.message for p in report.problems)
    with pytest.raises(ChecksFailed):
        run_lint(settings, out=io.StringIO())
    with pytest.raises(DependencyError) as caught:
        package(settings, helm=helm)
    assert caught.value.line == 8
    assert "dependencies.repositories" in caught.value.message


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("stable", "entry 'stable' is not name=url"),
        ("a/b=https://charts.example", "repository name 'a/b' contains '/'"),
        ("=https://charts.example", "repository name is empty"),
        ("ftp=ftp://charts.example", "must be an http://, https:// or oci:// URL"),
        (
            "private=https://user:hunter2@charts.example",
            "carries credentials ('https://***@charts.example')",
        ),
    ],
)
def test_bad_chart_repos_entry_names_ct_yaml_and_the_line(
    tmp_path: Path, entry: str, message: str
) -> None:
    (tmp_path / "ct.yaml").write_text(
        f"chart-repos:\n  - ok=https://charts.example/ok\n  - {entry}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(empty_config(tmp_path))
    assert caught.value.path == tmp_path / "ct.yaml"
    assert caught.value.line == 3
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_chart_repos_forms_chart_testing_takes(tmp_path: Path) -> None:
    # An oci:// entry is a registry login for chart-testing, no name helm resolves;
    # a URL may hold '=' (chart-testing splits at the first one); a name twice with one URL.
    (tmp_path / "ct.yaml").write_text(
        "chart-repos:\n"
        "  - reg=oci://ghcr.io/example\n"
        "  - q=https://charts.example/index?a=b\n"
        "  - q=https://charts.example/index?a=b\n"
    )
    assert load_settings(empty_config(tmp_path)).dependencies.repositories == {
        "q": "https://charts.example/index?a=b"
    }
    (tmp_path / "ct.yaml").write_text(
        "chart-repos:\n  - q=https://charts.example/one\n  - q=https://charts.example/two\n"
    )
    with pytest.raises(ConfigError, match="'q' is given twice, with different URLs"):
        load_settings(empty_config(tmp_path))
    # chartship.yaml's own repositories win over ct.yaml's, as for every mapped key.
    (tmp_path / "ct.yaml").write_text("chart-repos:\n  - q=https://charts.example/one\n")
    (tmp_path / "chartship.yaml").write_text(
        "dependencies:\n  repositories:\n    mine: https://charts.example/mine\n"
    )
    assert load_settings(tmp_path / "chartship.yaml").dependencies.repositories == {
        "mine": "https://charts.example/mine"
    }


@pytest.mark.parametrize(
    ("repositories", "message"),
    [
        (
            "    up: https://user:hunter2@charts.example/up\n",
            "dependencies.repositories.up: carries credentials ('https://***@charts.example/up')",
        ),
        ("    up: oci://user:hunter2@ghcr.io/up\n", "carries credentials ('oci://***@ghcr.io/up')"),
        ("    up: charts.example/up\n", "must be an http://, https:// or oci:// URL"),
        ("    a/b: https://charts.example\n", "repository name 'a/b' contains '/'"),
    ],
)
def test_bad_repository_setting_is_refused_masked(
    tmp_path: Path, repositories: str, message: str
) -> None:
    config = tmp_path / "chartship.yaml"
    config.write_text("dependencies:\n  repositories:\n" + repositories)
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.path == config
    assert caught.value.line == 3
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_aliases_resolve_in_the_lock_digest(tmp_path: Path) -> None:
    # Chart.lock's digest covers the URL the alias stood for, as helm's HashReq does.
    app = alias_chart(tmp_path, "@up")
    settings = load_settings(empty_config(tmp_path), {"dependencies.repositories.up": UNREACHABLE})
    chart = load(ChartDir("app", app, settings.chart("app")))
    resolved = dependencies.resolved(chart, dependencies.Repositories(settings, None))
    assert resolved.dependencies[0].repository == UNREACHABLE
    assert (
        yaml.safe_load((app / "Chart.yaml").read_text())["dependencies"][0]["repository"] == "@up"
    )
    assert chart.dependencies[0].repository == "@up"


def test_aliases_resolve_for_siblings_and_migration_checks(tmp_path: Path) -> None:
    # An alias for the repository's own channel makes a sibling; one for a classic
    # repository is a classic dependency that holds back an OCI-only phase.
    for name, repository in (("base", None), ("app", "@own"), ("web", "alias:classic")):
        chart = tmp_path / "charts" / name
        chart.mkdir(parents=True)
        deps = (
            []
            if repository is None
            else [{"name": "base", "version": "0.1.0", "repository": repository}]
        )
        (chart / "Chart.yaml").write_text(
            yaml.safe_dump(
                {"apiVersion": "v2", "name": name, "version": "0.1.0", "dependencies": deps}
            )
        )
    config = tmp_path / "chartship.yaml"
    config.write_text(
        "channels:\n  phase: oci-only\n  oci: {repository: 'oci://127.0.0.1:9/charts'}\n"
        "dependencies:\n  repositories:\n"
        "    own: oci://127.0.0.1:9/charts\n    classic: http://127.0.0.1:9/classic\n"
    )
    settings = load_settings(config)
    links = [(link.dependent, link.sibling, link.via) for link in siblings.graph(settings).links]
    assert links == [("app", "base", "oci")]
    found = phases._classic_dependencies(settings)
    assert len(found) == 1
    assert (
        "web depends on base 0.1.0 from the classic repository http://127.0.0.1:9/classic"
        in (found[0])
    )

"""Sibling charts in one repository, on helm 3 and helm 4: ``app`` depends on
``base`` through ``file://../base``, ``other`` stands alone. bump keeps app's
constraint and Chart.lock in step with base, lint and release take app along
with base, package builds base first and vendors it into app."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from chartship import commands, siblings, versions
from chartship.bump import bump
from chartship.errors import ChartError, VersionError
from chartship.helm import Helm
from chartship.lint import lint
from chartship.package import package
from chartship.release.selection import select
from chartship.sandbox.registry import RegistryServer
from chartship.toolchain import DEFAULT_HELM_VERSIONS
from tests.support.builders import (
    APP,
    APP_LOCK,
    BASE,
    CONFIGMAP,
    OTHER,
    SiblingRepo,
    installed_helm,
    make_sibling_repo,
)


@pytest.fixture
def repo(tmp_path: Path, helm_bin: Path) -> SiblingRepo:
    """The three charts, Chart.lock made by the helm under test."""
    return make_sibling_repo(tmp_path / "repo", helm_bin)


@pytest.fixture
def any_helm() -> Path:
    """For tests of chartship's own decisions, where no helm behaviour is at stake."""
    return installed_helm(DEFAULT_HELM_VERSIONS[-1])


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def dependency_build(repo: SiblingRepo, chart: str = "app") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(repo.helm_bin), "dependency", "build", str(repo.path(f"charts/{chart}"))],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def member(archive: Path, name: str) -> bytes:
    with tarfile.open(archive, "r:gz") as tar:
        handle = tar.extractfile(name)
        assert handle is not None, f"{name} is not in {archive}"
        return handle.read()


def cli(repo: SiblingRepo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chartship", *args, "--helm", str(repo.helm_bin)],
        cwd=repo.root,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


# --------------------------------------------------------------------------- the graph


def test_graph_links_file_and_own_channel_dependencies(tmp_path: Path, any_helm: Path) -> None:
    repo = make_sibling_repo(
        tmp_path / "repo",
        any_helm,
        config=(
            "channels:\n  phase: dual\n"
            "  github: {repository: example/charts}\n"
            "  pages: {index_url: 'https://example.github.io/charts/index.yaml'}\n"
            "  oci: {repository: 'oci://registry.example/charts'}\n"
        ),
    )
    repo.write(
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 2.0.0\nappVersion: '2'\ndependencies:\n"
        "  - {name: app, version: 0.3.0, repository: 'https://example.github.io/charts/'}\n"
        "  - {name: other, version: 1.4.0, repository: 'oci://registry.example/charts'}\n"
        # Same name, another repository: not this repository's chart.
        "  - {name: base, version: 0.1.0, repository: 'https://charts.example.org/'}\n",
    )

    graph = siblings.graph(repo.settings())

    assert sorted((lk.dependent, lk.sibling, lk.via) for lk in graph.links) == [
        ("app", "base", "file"),
        ("web", "app", "classic"),
        ("web", "other", "oci"),
    ]
    assert graph.with_dependents(["base"]) == {
        "base": "",
        "app": "depends on base",
        "web": "depends on app, which depends on base",
    }
    assert graph.with_dependents(["other"]) == {"other": "", "web": "depends on other"}
    ordered = graph.build_order(graph.charts[n] for n in ("web", "app", "other", "base"))
    assert [c.name for c in ordered] == ["base", "app", "other", "web"]
    assert graph.inputs("web") == [
        repo.path("charts/web").resolve(),
        repo.path("charts/app").resolve(),
        repo.path("charts/other").resolve(),
        repo.path("charts/base").resolve(),
    ]


def test_a_cycle_of_siblings_is_named(tmp_path: Path, any_helm: Path) -> None:
    repo = make_sibling_repo(tmp_path / "repo", any_helm)
    repo.replace(
        BASE,
        'appVersion: "0.1.0"\n',
        'appVersion: "0.1.0"\ndependencies:\n  - {name: app, version: 0.3.0, '
        "repository: 'file://../app'}\n",
    )
    graph = siblings.graph(repo.settings())
    with pytest.raises(ChartError, match=r"in a cycle: (base -> app -> base|app -> base -> app)"):
        graph.build_order(list(graph.charts.values()))
    report = lint(repo.settings(), ["other"])
    assert report.charts == ["other"]
    assert report.ok
    report = lint(repo.settings(), ["base"])
    assert any("in a cycle" in p.message and p.check == "siblings" for p in report.problems)


# --------------------------------------------------------------------------- bump


def test_bump_moves_a_pinned_constraint_and_refreshes_the_lock(repo: SiblingRepo) -> None:
    app_before = repo.read(APP)
    other_before = repo.read(OTHER)
    out = io.StringIO()

    results = commands.run_bump(repo.settings(), "0.2.0", ["base"], out=out)

    assert changed_lines(app_before, repo.read(APP)) == [
        (
            '    version: "0.1.0" # keep in step with charts/base',
            '    version: "0.2.0" # keep in step with charts/base',
        )
    ]
    assert repo.locked() == "0.2.0"
    assert repo.read(OTHER) == other_before
    assert [(r.chart, r.because, r.lock_refreshed) for r in results] == [
        ("base", None, False),
        ("app", "depends on base", True),
    ]
    assert out.getvalue().splitlines() == [
        "base: set charts/base/Chart.yaml version: 0.1.0 -> 0.2.0",
        "base: set charts/base/Chart.yaml appVersion: 0.1.0 -> 0.2.0",
        "app: set charts/app/Chart.yaml dependencies[base].version: 0.1.0 -> 0.2.0 "
        "(depends on base)",
        "app: refreshed Chart.lock (depends on base)",
    ]
    # helm takes the result as it is: lock in sync, base 0.2.0 vendored.
    built = dependency_build(repo)
    assert built.returncode == 0, built.stderr
    assert (repo.path("charts/app/charts/base-0.2.0.tgz")).is_file()


def test_bump_within_the_constraint_refreshes_the_lock_only(tmp_path: Path, helm_bin: Path) -> None:
    repo = make_sibling_repo(tmp_path / "repo", helm_bin, constraint="~0.1.0")
    # Control: the lock pins base 0.1.0, so helm refuses base 0.1.1 though ~0.1.0 admits it.
    repo.replace(BASE, "version: 0.1.0", "version: 0.1.1")
    refused = dependency_build(repo)
    assert refused.returncode != 0
    assert "can't get a valid version for dependency base" in refused.stderr
    repo.git("checkout", "--", BASE)
    app_before = repo.read(APP)

    [base, app] = bump(repo.settings(), versions_increment("patch"), ["base"])

    assert (base.chart, base.version) == ("base", "0.1.1")
    assert (app.chart, app.edits, app.lock_refreshed) == ("app", [], True)
    assert repo.read(APP) == app_before
    assert repo.locked() == "0.1.1"
    assert dependency_build(repo).returncode == 0


def test_bump_refuses_a_constraint_it_cannot_move(tmp_path: Path, any_helm: Path) -> None:
    repo = make_sibling_repo(tmp_path / "repo", any_helm, constraint=">=0.1.0 <0.2.0")
    before = repo.snapshot()

    with pytest.raises(VersionError) as refused:
        bump(repo.settings(), "0.2.0", ["base"])

    message = str(refused.value)
    assert message.startswith(f"{repo.path(APP)}:9: ")
    assert "app depends on base with the constraint '>=0.1.0 <0.2.0'" in message
    assert "does not admit 0.2.0" in message
    assert repo.snapshot() == before  # base was not stamped either

    # A dry run refuses the same way, before printing anything.
    out = io.StringIO()
    with pytest.raises(VersionError):
        commands.run_bump(repo.settings(), "0.2.0", ["base"], dry_run=True, out=out)
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("constraint", "moved"),
    [("0.1.0", "0.2.0"), ("~0.1.0", "~0.2.0"), ("^0.1", "^0.2"), ("0.1.x", "0.2.x")],
)
def test_dry_run_shows_the_constraint_it_would_move(
    tmp_path: Path, any_helm: Path, constraint: str, moved: str
) -> None:
    repo = make_sibling_repo(tmp_path / "repo", any_helm, constraint=constraint)
    before = repo.snapshot()
    out = io.StringIO()

    commands.run_bump(repo.settings(), "0.2.0", ["base"], dry_run=True, out=out)

    assert (
        f"app: would set charts/app/Chart.yaml dependencies[base].version: {constraint} -> "
        f"{moved} (depends on base)"
    ) in out.getvalue().splitlines()
    assert "app: would refresh Chart.lock (depends on base)" in out.getvalue().splitlines()
    assert repo.snapshot() == before


def test_bumping_base_and_app_together(repo: SiblingRepo) -> None:
    [base, app] = bump(repo.settings(), versions_increment("minor"), ["app", "base"])[::-1]

    assert (base.version, app.version) == ("0.2.0", "0.4.0")
    stamped = yaml.safe_load(repo.read(APP))
    assert stamped["version"] == "0.4.0"
    assert stamped["dependencies"][0]["version"] == "0.2.0"
    assert stamped["appVersion"] == "1.16.0"
    assert repo.locked() == "0.2.0"
    assert app.lock_refreshed
    assert app.because is None


def test_a_dependent_from_the_own_channel_follows_its_lock_waits(
    tmp_path: Path, any_helm: Path
) -> None:
    repo = make_sibling_repo(
        tmp_path / "repo",
        any_helm,
        config=(
            "channels:\n  phase: classic\n  github: {repository: example/charts}\n"
            "  pages: {index_url: 'https://charts.invalid/index.yaml'}\n"
        ),
    )
    repo.write(
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 2.0.0\nappVersion: '2'\ndependencies:\n"
        "  - {name: app, version: 0.3.0, repository: 'https://charts.invalid'}\n",
    )
    lock = (
        "dependencies:\n- name: app\n  repository: https://charts.invalid\n  version: 0.3.0\n"
        "digest: sha256:" + "0" * 64 + "\ngenerated: '2026-01-01T00:00:00Z'\n"
    )
    repo.write("charts/web/Chart.lock", lock)
    out = io.StringIO()

    results = commands.run_bump(repo.settings(), versions_increment("minor"), ["app"], out=out)

    web = next(r for r in results if r.chart == "web")
    assert (web.because, web.lock_planned, web.lock_refreshed) == ("depends on app", False, False)
    assert yaml.safe_load(repo.read("charts/web/Chart.yaml"))["dependencies"][0]["version"] == (
        "0.4.0"
    )
    assert repo.read("charts/web/Chart.lock") == lock
    assert (
        "web: Chart.lock pins app 0.3.0 from https://charts.invalid; run `helm dependency "
        "update charts/web` once app 0.4.0 is published there"
    ) in out.getvalue().splitlines()


# --------------------------------------------------------------------------- lint


def test_lint_of_base_lints_app_too(repo: SiblingRepo) -> None:
    out = io.StringIO()
    report = commands.run_lint(repo.settings(), ["base"], out=out)

    assert report.charts == ["base", "app"]
    assert report.included == {"app": "depends on base"}
    assert out.getvalue().splitlines() == [
        "lint: also app: it depends on base",
        "lint: base, app: no problems",
    ]


def test_lint_names_the_constraint_a_hand_edited_sibling_left_behind(repo: SiblingRepo) -> None:
    repo.replace(BASE, "version: 0.1.0", "version: 0.2.0")

    report = lint(repo.settings(), ["base"])

    assert report.charts == ["base", "app"]
    [problem] = [p for p in report.problems if p.severity == "error"]
    [skipped] = [p for p in report.problems if p.severity == "warning"]
    assert skipped.message == (
        "helm lint --strict was not run for app: it is out of step with its sibling charts "
        "(see above)"
    )
    assert (problem.chart, problem.path, problem.line, problem.check) == (
        "app",
        repo.path(APP),
        9,
        "siblings",
    )
    assert problem.message == (
        "dependency base: constraint '0.1.0' does not admit base 0.2.0, the version in "
        "charts/base/Chart.yaml; run `chartship bump --version 0.2.0 base` to update it, "
        "or edit it"
    )


def test_lint_advises_on_a_stale_lock_and_the_advice_works(tmp_path: Path, helm_bin: Path) -> None:
    repo = make_sibling_repo(tmp_path / "repo", helm_bin, constraint="~0.1.0")
    repo.replace(BASE, "version: 0.1.0", "version: 0.1.1")

    report = lint(repo.settings(), ["base"])

    [problem] = [p for p in report.problems if p.severity == "error"]
    assert [p.check for p in report.problems if p.severity == "warning"] == ["helm-lint"]
    lock_line = repo.read(APP_LOCK).splitlines().index("  version: 0.1.0") + 1
    assert (problem.chart, problem.path, problem.line) == ("app", repo.path(APP_LOCK), lock_line)
    assert problem.message == (
        "pins base 0.1.0, but base is now 0.1.1; run `chartship bump --version 0.1.1 base` "
        "to refresh it (or `helm dependency update charts/app`)"
    )
    # What it says to run, run: lint passes.
    ran = cli(repo, "bump", "--version", "0.1.1", "base")
    assert ran.returncode == 0, ran.stderr
    assert "app: refreshed Chart.lock (depends on base)" in ran.stdout
    assert lint(repo.settings(), ["base"]).ok


# --------------------------------------------------------------------------- release selection


def test_release_selection_of_base_takes_app_along(repo: SiblingRepo) -> None:
    selection = select(repo.settings(), ["base"])
    assert [(c.chart, c.selected, c.reason) for c in selection.candidates] == [
        ("base", True, "named"),
        ("app", True, "depends on base; never released"),
    ]

    repo.git("tag", "app-0.3.0")
    selection = select(repo.settings(), ["base"])
    assert [(c.chart, c.selected, c.reason) for c in selection.candidates] == [
        ("base", True, "named"),
        ("app", False, "depends on base; unchanged since app-0.3.0"),
    ]

    # Without names: base changed since its tag, app is released and unchanged.
    repo.git("tag", "base-0.1.0")
    repo.git("tag", "other-1.4.0")
    repo.replace("charts/base/values.yaml", "hello", "hi")
    selection = select(repo.settings())
    assert [(c.chart, c.selected, c.reason) for c in selection.candidates] == [
        (
            "app",
            False,
            "unchanged since app-0.3.0; depends on base (bump app to release it with that)",
        ),
        ("base", True, "changed since base-0.1.0: values.yaml"),
        ("other", False, "unchanged since other-1.4.0"),
    ]

    # A chart's release tag covers that chart alone.
    selection = select(repo.settings(), tag="base-0.1.0")
    assert [(c.chart, c.selected, c.reason) for c in selection.candidates] == [
        ("base", True, "tag base-0.1.0"),
        ("app", False, "depends on base; the release tag base-0.1.0 does not cover it"),
    ]


def test_dry_run_release_of_base_says_why_app_is_in_it(
    repo: SiblingRepo, registry: RegistryServer
) -> None:
    repo.write(
        "chartship.yaml",
        "channels:\n  phase: oci-only\n  oci:\n"
        f"    repository: oci://{registry.host}/charts\n    plain_http: true\n",
    )
    repo.commit("channel")
    before = repo.git("status", "--porcelain")
    out = io.StringIO()

    result = commands.run_release(repo.settings(), ["base"], dry_run=True, out=out, environ={})

    lines = out.getvalue().splitlines()
    assert "  base 0.1.0: release (named)" in lines
    assert "  app 0.3.0: release (depends on base; never released)" in lines
    assert "lint: also app: it depends on base" not in lines  # already selected
    assert sorted(r.artifact.chart for r in result.rows) == ["app", "base"]
    assert repo.git("status", "--porcelain") == before


# --------------------------------------------------------------------------- package


def test_package_builds_base_first_and_vendors_it_into_app(repo: SiblingRepo) -> None:
    # base's sources change after app's copy of it was vendored; its version does not.
    repo.replace("charts/base/templates/configmap.yaml", "greeting:", "salutation:")
    (repo.path("charts/app/charts/base-0.0.9.tgz")).write_bytes(b"an older copy")

    results = package(repo.settings(), ["app", "other", "base"])

    assert [r.chart for r in results] == ["base", "app", "other"]
    dist = repo.path("dist")
    vendored = repo.path("charts/app/charts/base-0.1.0.tgz")
    assert vendored.read_bytes() == (dist / "base-0.1.0.tgz").read_bytes()
    assert not repo.path("charts/app/charts/base-0.0.9.tgz").exists()
    # helm package unpacks the vendored archive into app/charts/base/.
    assert b"salutation:" in member(
        dist / "app-0.3.0.tgz", "app/charts/base/templates/configmap.yaml"
    )


def test_app_vendors_the_base_just_repackaged_not_the_one_in_dist(repo: SiblingRepo) -> None:
    package(repo.settings(), ["base"])
    before = repo.path("dist/base-0.1.0.tgz").read_bytes()
    repo.replace("charts/base/templates/configmap.yaml", "greeting:", "salutation:")

    [base, app] = package(repo.settings(), ["app", "base"])

    assert (base.outcome, app.outcome) == ("packaged", "packaged")
    fresh = repo.path("dist/base-0.1.0.tgz").read_bytes()
    assert b"salutation:" in member(
        repo.path("dist/base-0.1.0.tgz"), "base/templates/configmap.yaml"
    )
    assert repo.path("charts/app/charts/base-0.1.0.tgz").read_bytes() == fresh != before
    assert b"salutation:" in member(app.archive, "app/charts/base/templates/configmap.yaml")


def test_package_of_app_alone_rebuilds_base_from_its_sources(repo: SiblingRepo) -> None:
    repo.replace("charts/base/templates/configmap.yaml", "greeting:", "salutation:")

    [result] = package(repo.settings(), ["app"])

    assert b"salutation:" in member(result.archive, "app/charts/base/templates/configmap.yaml")
    assert not repo.path("dist/base-0.1.0.tgz").exists()


def test_a_sibling_from_the_own_channel_is_vendored_not_fetched(
    tmp_path: Path, helm_bin: Path
) -> None:
    # The pages site does not resolve: web's dependency on app must come from charts/app.
    repo = make_sibling_repo(
        tmp_path / "repo",
        helm_bin,
        config=(
            "channels:\n  phase: classic\n  github: {repository: example/charts}\n"
            "  pages: {index_url: 'https://charts.invalid/index.yaml'}\n"
        ),
    )
    repo.write(
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 2.0.0\nappVersion: '2'\ndependencies:\n"
        "  - {name: app, version: 0.3.0, repository: 'https://charts.invalid'}\n",
    )
    repo.write("charts/web/templates/configmap.yaml", CONFIGMAP % "web")
    repo.commit("web")

    report = lint(repo.settings(), ["app"])
    assert report.charts == ["app", "web"]
    assert report.included == {"web": "depends on app"}
    assert report.ok, report.problems

    results = package(repo.settings(), ["web"])
    assert [r.chart for r in results] == ["web"]
    assert member(results[0].archive, "web/charts/app/Chart.yaml").startswith(b"apiVersion: v2")
    assert b"greeting" in member(results[0].archive, "web/charts/app/charts/base/values.yaml")

    # Unchanged: kept. app's sources changed: web is packaged again, saying which file.
    [kept] = package(repo.settings(), ["web"])
    assert kept.outcome == "kept"
    repo.replace("charts/app/templates/configmap.yaml", "greeting:", "salutation:")
    [again] = package(repo.settings(), ["web"])
    assert again.outcome == "packaged"
    assert again.changed == ("https://charts.invalid/app/templates/configmap.yaml",)
    assert b"salutation:" in member(again.archive, "web/charts/app/templates/configmap.yaml")


def test_package_refuses_a_stale_sibling_lock_with_advice(tmp_path: Path, any_helm: Path) -> None:
    repo = make_sibling_repo(tmp_path / "repo", any_helm, constraint="~0.1.0")
    repo.replace(BASE, "version: 0.1.0", "version: 0.1.1")

    with pytest.raises(ChartError) as refused:
        package(repo.settings(), ["base", "app"])

    assert str(refused.value).startswith(f"{repo.path(APP_LOCK)}:")
    assert "run `chartship bump --version 0.1.1 base` to refresh it" in str(refused.value)
    assert not repo.path("dist/base-0.1.1.tgz").exists()


# --------------------------------------------------------------------------- constraints


@pytest.mark.parametrize(
    ("constraint", "version"),
    [
        ("~0.1.0", "0.1.5"),
        ("~0.1.0", "0.2.0"),
        ("^0.1.0", "0.2.0"),
        ("^0", "0.9.0"),
        ("0.1.x", "0.1.3"),
        (">=0.1.0", "0.2.0-rc.1"),
        (">=0.1.0-0", "0.2.0-rc.1"),
        ("~0.2.0-rc.1", "0.2.3"),
        (">1.2", "1.2.9"),
        ("<=1.2", "1.2.9"),
        ("1.2 - 1.4.5", "1.4.6"),
        ("!=1.2.x", "1.2.5"),
        ("1.0.0 || 2.0.0", "2.0.0"),
        ("^*", "1.0.0"),
    ],
)
def test_constraints_are_read_as_helm_reads_them(
    tmp_path: Path, helm: Helm, constraint: str, version: str
) -> None:
    for name, text in (
        ("base", f"apiVersion: v2\nname: base\nversion: {version}\n"),
        (
            "app",
            f"apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n"
            f"  - {{name: base, version: '{constraint}', repository: 'file://../base'}}\n",
        ),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Chart.yaml").write_text(text)
    helm_admits = (
        helm.run(["dependency", "update", str(tmp_path / "app")], check=False).returncode == 0
    )
    assert versions.satisfies(version, constraint) is helm_admits


def versions_increment(level: str | None = None, pre: str | None = None) -> Any:
    return versions.version_request(
        patch=level == "patch", minor=level == "minor", major=level == "major", pre=pre
    )

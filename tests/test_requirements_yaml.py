"""apiVersion v1 charts whose dependencies live in requirements.yaml, on helm 3 and helm 4.

helm's loader reads a v1 chart's dependencies from requirements.yaml and its
lock from requirements.lock, and ``helm dependency update`` writes that lock:
lint, package, bump, the index entry and the lock check must read and name the
same files. The locks here are written by real helm against a repository on
127.0.0.1; lint and package then run offline, from the archive vendored with it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from chartship import dependencies
from chartship.artifacts import Artifact
from chartship.bump import bump
from chartship.channels.classic.entry import entry_for
from chartship.charts import ChartDir, discover, load
from chartship.config import Settings, load_settings
from chartship.errors import ChartError, ToolError
from chartship.helm import Helm
from chartship.lint import lint
from chartship.package import package
from chartship.safetar import inspect_chart_archive
from chartship.sources import fingerprint
from chartship.toolchain import DEFAULT_HELM_VERSIONS
from tests.support.builders import CONFIGMAP, git, installed_helm
from tests.support.sandbox import helm_homes

URL = "http://127.0.0.1:9/charts"


def _chart(name: str, version: str, api_version: str = "v1") -> dict[str, str]:
    return {
        "Chart.yaml": (
            f"apiVersion: {api_version}\nname: {name}\nversion: {version}\n"
            f"appVersion: v{version}\ndescription: {name}\n"
            "icon: https://example.invalid/icon.png\n"
        ),
        "values.yaml": "greeting: hello\n",
        "templates/configmap.yaml": CONFIGMAP % name,
    }


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Path:
    """legacy (v1): a file:// dependency and one vendored from ``upstream``, locked by helm;
    dependent (v1): a sibling ``base`` by file://; modern (v2) with a requirements.yaml."""
    root = tmp_path_factory.mktemp("requirements") / "repo"
    _write(root / "libs" / "common", _chart("common", "0.2.0"))
    _write(root / "charts" / "base", _chart("base", "0.1.0"))
    _write(
        root / "charts" / "legacy",
        {
            **_chart("legacy", "2.0.0"),
            "requirements.yaml": (
                "dependencies:\n"
                "  - name: common\n    version: '>=0.1.0'\n"
                "    repository: file://../../libs/common\n"
                f"  - name: frr-k8s\n    version: 0.0.x\n    repository: {upstream}\n"
                "    condition: frrk8s.enabled\n"
            ),
        },
    )
    _write(
        root / "charts" / "dependent",
        {
            **_chart("dependent", "1.0.0"),
            "requirements.yaml": (
                "dependencies:\n- name: base\n  version: 0.1.0\n  repository: file://../base\n"
            ),
        },
    )
    _write(
        root / "charts" / "modern",
        {
            **_chart("modern", "3.0.0", api_version="v2"),
            "requirements.yaml": (
                "dependencies:\n- name: common\n  version: 0.2.0\n"
                "  repository: file://../../libs/common\n"
            ),
        },
    )
    (root / "chartship.yaml").write_text("release:\n  tag: '{name}-{version}'\n")
    helm = Helm(str(installed_helm(DEFAULT_HELM_VERSIONS[-1])), env=helm_homes(root.parent / "h"))
    with helm.isolated_repositories([upstream]) as scoped:
        for name in ("legacy", "dependent"):
            scoped.dependency_update(root / "charts" / name)
    # file:// charts are archived afresh on every build; only the remote one stays vendored.
    for built in (root / "charts").glob("*/charts/[bc]*.tgz"):
        built.unlink()
    assert not list((root / "charts").glob("*/Chart.lock"))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "charts")
    return root


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    """A copy of the template to change."""
    copy = tmp_path / "repo"
    shutil.copytree(template, copy, symlinks=True)
    return copy


def settings(root: Path, helm_bin: Path, **overrides: Any) -> Settings:
    return load_settings(
        root / "chartship.yaml", {"helm": str(helm_bin), "dependencies.offline": True, **overrides}
    )


def one_major() -> Path:
    """For what chartship decides before any helm runs: one major is enough."""
    return installed_helm(DEFAULT_HELM_VERSIONS[-1])


def test_v1_charts_lint_clean_offline_and_a_v2_requirements_yaml_warns(
    template: Path, helm_bin: Path
) -> None:
    before = git(template, "status", "--porcelain", "--ignored")
    report = lint(settings(template, helm_bin))
    problems = [(p.chart, p.path, p.check, p.severity, p.line) for p in report.problems]
    modern = template / "charts" / "modern" / "requirements.yaml"
    # helm warns on a v2 chart's requirements.yaml and uses it: so does lint.
    assert problems == [("modern", modern, "dependencies", "warning", 1)]
    assert "since apiVersion v2 they belong in Chart.yaml" in report.problems[0].message
    assert git(template, "status", "--porcelain", "--ignored") == before


def archive_tree(path: Path) -> dict[str, Any]:
    """Each file of an archive by name; an archive inside, by the files it holds."""
    import tarfile

    found: dict[str, Any] = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            handle = tar.extractfile(member)
            if handle is None:
                continue
            data = handle.read()
            found[member.name] = (
                inspect_chart_archive(data, source=member.name).files
                if member.name.endswith(".tgz")
                else data
            )
    return found


def test_a_v1_chart_packages_and_indexes_as_helm_does(
    repo: Path, helm: Helm, helm_bin: Path, upstream: str, tmp_path: Path
) -> None:
    (made,) = package(settings(repo, helm_bin), ["legacy"])
    assert git(repo, "status", "--porcelain") == "?? dist/\n"
    # helm itself, on a copy: dependency build (the lock is helm's), then package.
    theirs = tmp_path / "helm" / "legacy"
    shutil.copytree(repo / "charts" / "legacy", theirs)
    shutil.copytree(repo / "libs", tmp_path / "libs")
    with helm.isolated_repositories([upstream]) as scoped:
        scoped.run(["dependency", "build", str(theirs)])
    helm.run(["package", str(theirs), "--destination", str(tmp_path / "out")])
    ours_tree = archive_tree(made.archive)
    assert ours_tree == archive_tree(tmp_path / "out" / made.archive.name)
    assert "legacy/charts/common/Chart.yaml" in ours_tree
    assert "legacy/charts/frr-k8s/values.schema.json" in ours_tree
    assert "legacy/requirements.lock" in ours_tree
    # helm repo index takes the entry's dependencies from requirements.yaml.
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    shutil.copy2(made.archive, index_dir / made.archive.name)
    helm.run(["repo", "index", str(index_dir), "--url", URL])
    (helm_entry,) = yaml.safe_load((index_dir / "index.yaml").read_text())["entries"]["legacy"]
    ours = entry_for(Artifact.read(made.archive), f"{URL}/{made.archive.name}")
    assert {k: v for k, v in ours.items() if k != "created"} == {
        k: v for k, v in helm_entry.items() if k != "created"
    }
    assert [d["name"] for d in ours["dependencies"]] == ["common", "frr-k8s"]


def test_an_out_of_sync_requirements_lock_is_named(repo: Path) -> None:
    requirements = repo / "charts" / "legacy" / "requirements.yaml"
    requirements.write_text(requirements.read_text().replace("0.0.x", "0.1.x"))
    lock = repo / "charts" / "legacy" / "requirements.lock"
    report = lint(settings(repo, one_major()), ["legacy"])
    synced = [p for p in report.problems if p.path == lock]
    assert [p.check for p in synced] == ["dependencies"]
    assert synced[0].message.startswith(
        "is out of sync with requirements.yaml (its frr-k8s 0.0.16 is not admitted by '0.1.x')"
    )
    with pytest.raises(ChartError) as caught:
        package(settings(repo, one_major()), ["legacy"])
    assert caught.value.path == lock
    assert not (repo / "charts" / "legacy" / "Chart.lock").exists()


def test_a_file_dependency_outside_the_repository_is_refused_naming_requirements_yaml(
    repo: Path, tmp_path: Path
) -> None:
    shutil.copytree(repo / "libs" / "common", tmp_path / "outside")
    requirements = repo / "charts" / "dependent" / "requirements.yaml"
    requirements.write_text(
        requirements.read_text().replace("file://../base", "file://../../../outside")
    )
    report = lint(settings(repo, one_major()), ["dependent"])
    (outside,) = [p for p in report.problems if p.check == "files"]
    assert (outside.path, outside.line) == (requirements, 4)
    assert "'file://../../../outside' is outside the repository" in outside.message
    with pytest.raises(ChartError) as caught:
        package(settings(repo, one_major()), ["dependent"])
    assert (caught.value.path, caught.value.line) == (requirements, 4)


def test_a_sibling_bump_rewrites_requirements_yaml_and_its_lock(
    repo: Path, helm: Helm, helm_bin: Path
) -> None:
    results = {r.chart: r for r in bump(settings(repo, helm_bin), "0.2.0", ["base"])}
    dependent = repo / "charts" / "dependent"
    assert [(e.path, e.key, e.new) for e in results["dependent"].edits] == [
        (dependent / "requirements.yaml", "dependencies[base].version", "0.2.0")
    ]
    assert results["dependent"].lock_refreshed
    assert results["dependent"].lock_name == "requirements.lock"
    assert "version: 0.2.0" in (dependent / "requirements.yaml").read_text()
    assert "Chart.yaml" not in git(repo, "status", "--porcelain", "charts/dependent")
    locked = yaml.safe_load((dependent / "requirements.lock").read_text())
    assert [(d["name"], d["version"]) for d in locked["dependencies"]] == [("base", "0.2.0")]
    assert not (dependent / "Chart.lock").exists()
    # The very lock helm writes for these requirements, but for the time it is generated.
    ours = (dependent / "requirements.lock").read_text()
    helm.run(["dependency", "update", str(dependent)])
    theirs = (dependent / "requirements.lock").read_text()
    assert ours.split("generated:")[0] == theirs.split("generated:")[0]
    assert not (dependent / "Chart.lock").exists()


def test_a_requirements_lock_beside_a_v2_chart_is_a_warning(repo: Path) -> None:
    lock = repo / "charts" / "modern" / "requirements.lock"
    lock.write_text("dependencies: []\n")
    (problem,) = [
        p for p in lint(settings(repo, one_major()), ["modern"]).problems if p.path == lock
    ]
    assert (problem.check, problem.severity) == ("dependencies", "warning")
    assert "helm reads it in place of Chart.lock" in problem.message


def test_a_lock_with_helm_2s_digest_is_in_sync_as_helm_takes_it(repo: Path, helm: Helm) -> None:
    dependent = repo / "charts" / "dependent"
    lock = dependent / "requirements.lock"
    chart = load(ChartDir("dependent", dependent, settings(repo, one_major()).chart("dependent")))
    helm2 = dependencies.helm2_lock_digest(chart.raw_dependencies)
    text = lock.read_text()
    current = yaml.safe_load(text)["digest"]
    assert helm2 != current
    lock.write_text(text.replace(current, helm2))
    assert dependencies.check(chart, repo) == []
    # helm accepts it too, checking helm 2's digest once its own does not match...
    helm.run(["dependency", "build", str(dependent)])
    lock.write_text(text.replace(current, "sha256:" + "0" * 64))
    # ...and refuses any other digest, as chartship does.
    with pytest.raises(ToolError, match="out of sync"):
        helm.run(["dependency", "build", str(dependent)])
    (finding,) = dependencies.check(chart, repo)
    assert finding.path == lock


def test_a_requirements_yaml_helm_and_chartship_would_read_apart_is_refused(
    repo: Path,
) -> None:
    requirements = repo / "charts" / "dependent" / "requirements.yaml"
    requirements.write_text("dependencies: []\ndependencies:\n- name: base\n")
    report = lint(settings(repo, one_major()), ["dependent"])
    assert [(p.path, p.check, p.severity, p.line) for p in report.problems] == [
        (requirements, "chart-yaml", "error", 2),
        (requirements.parent, "helm-lint", "warning", None),
    ]
    assert report.problems[1].message.endswith("its requirements.yaml cannot be read")
    (where,) = discover(settings(repo, one_major()), ["dependent"])
    with pytest.raises(ChartError) as caught:
        load(where)
    assert caught.value.path == requirements
    assert "appears twice" in caught.value.message


def test_a_v1_charts_fingerprint_follows_its_requirements(template: Path) -> None:
    """What package and version-increment count: the file:// chart's own files in place of
    its archive, and the vendored archive requirements.lock pins as refetchable."""
    (where,) = discover(settings(template, one_major()), ["legacy"])
    found = fingerprint(load(where))
    assert "file://../../libs/common/values.yaml" in found.files
    assert found.fetched == {"charts/frr-k8s-0.0.16.tgz"}


def test_a_lockstep_subchart_of_a_v1_chart_is_stamped_in_requirements_yaml(
    tmp_path: Path,
) -> None:
    root = tmp_path / "repo"
    _write(
        root / "charts" / "app",
        {
            **_chart("app", "0.1.0"),
            "requirements.yaml": "dependencies:\n- name: crds\n  version: 0.1.0\n",
            "charts/crds/Chart.yaml": "apiVersion: v1\nname: crds\nversion: 0.1.0\n",
        },
    )
    (root / "chartship.yaml").write_text("charts:\n  app:\n    lockstep: [crds]\n")
    (result,) = bump(settings(root, one_major()), "0.2.0", ["app"])
    app = root / "charts" / "app"
    assert {(e.path, e.key) for e in result.edits} == {
        (app / "Chart.yaml", "version"),
        (app / "requirements.yaml", "dependencies[crds].version"),
        (app / "charts" / "crds" / "Chart.yaml", "version"),
    }
    assert (app / "requirements.yaml").read_text() == (
        "dependencies:\n- name: crds\n  version: 0.2.0\n"
    )


def test_a_repository_alias_in_requirements_yaml_resolves_or_is_named_there(
    repo: Path, upstream: str
) -> None:
    """helm 2 charts name repositories by alias (`@stable`) in requirements.yaml."""
    requirements = repo / "charts" / "legacy" / "requirements.yaml"
    requirements.write_text(requirements.read_text().replace(upstream, "'@up'"))
    # The lock helm wrote records the URL the alias stands for: in sync once it resolves.
    resolving = settings(repo, one_major(), **{"dependencies.repositories.up": upstream})
    assert lint(resolving, ["legacy"]).problems == []
    report = lint(settings(repo, one_major()), ["legacy"])
    errors = [p for p in report.problems if p.severity == "error"]
    assert [(p.path, p.line) for p in errors] == [(requirements, 7)]  # its repository:
    assert "'@up' by alias" in errors[0].message

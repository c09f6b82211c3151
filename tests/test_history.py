"""What git says about releases: the files that changed since one, and clones that
cannot say (shallow, without tags), through lint, release selection and the matrix."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from chartship import commands
from chartship.config import Settings, load_settings
from chartship.errors import UsageError
from chartship.gitrepo import name_some, release_tags, tag_pattern
from chartship.lint import lint
from chartship.release.selection import select
from tests.support.builders import Workspace

DASHBOARDS_TAG = "metallb-dashboards-chart-1.2.0"


def reasons(settings: Settings) -> dict[str, str]:
    return {c.chart: c.reason for c in select(settings).candidates}


def increment_problems(settings: Settings, chart: str) -> list[str]:
    report = lint(settings, [chart])
    return [p.message for p in report.problems if p.check == "version-increment"]


@pytest.mark.parametrize(
    ("names", "shown"),
    [
        ([], "nothing"),
        (["a"], "a"),
        (["a", "b"], "a and b"),
        (["a", "b", "c"], "a, b and c"),
        (["a", "b", "c", "d"], "a, b, c and 1 more"),
        (["a", "b", "c", "d", "e", "f"], "a, b, c and 3 more"),
    ],
)
def test_name_some(names: list[str], shown: str) -> None:
    assert name_some(names) == shown


TEMPLATES = ("{name}-{version}", "{name}-chart-{version}", "v{version}", "{version}/{name}",
             "{{{name}}}-{version}", "{name}-{version}-{version}")  # fmt: skip
VERSIONS = ("1.2.3", "0.0.1-rc.1+build.5", "10.20.30-alpha")


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_tag_pattern_reads_back_every_tag_its_template_makes(template: str) -> None:
    for name in ("metallb", "metallb-chart", "a"):
        pattern = tag_pattern(template, name)
        for version in VERSIONS:
            tag = template.format(name=name, version=version)
            assert pattern.version(tag) == version, (template, name, tag)


@pytest.mark.parametrize(
    "tag",
    ["metallb-", "metallb", "metallb 1.2.3", "metallb-1.2.3 ", "xmetallb-1.2.3",
     "metallb-1.2 .3", "other-1.2.3", ""],
)  # fmt: skip
def test_a_tag_pattern_refuses_tags_of_other_shapes(tag: str) -> None:
    assert tag_pattern("{name}-{version}", "metallb").version(tag) is None


def test_a_repeated_version_field_must_name_one_version() -> None:
    pattern = tag_pattern("{name}-{version}-{version}", "c")
    assert pattern.version("c-1.2.3-1.2.3") == "1.2.3"
    assert pattern.version("c-1.2.3-1.2.4") is None


def test_release_tags_of_names_that_prefix_one_another_stay_apart() -> None:
    tags = ["metallb-0.1.0", "metallb-chart-0.2.0", "metallb-crds-1.0.0", "metallb-notsemver"]
    assert release_tags(tags, "{name}-{version}", "metallb-chart") == {
        "0.2.0": "metallb-chart-0.2.0"
    }
    # "chart-0.2.0" and "crds-1.0.0" are no versions of metallb; only SemVer counts.
    assert release_tags(tags, "{name}-{version}", "metallb") == {"0.1.0": "metallb-0.1.0"}


def test_changed_since_release_names_the_files(workspace: Workspace) -> None:
    workspace.git("tag", DASHBOARDS_TAG)
    settings = workspace.settings()
    assert reasons(settings)["metallb-dashboards"] == f"unchanged since {DASHBOARDS_TAG}"

    # A committed edit, an uncommitted one, a new untracked file and a removal.
    workspace.replace("charts/metallb-dashboards/values.yaml", "\n", "\n# tweak\n")
    workspace.commit("tweak values")
    workspace.write("charts/metallb-dashboards/templates/x.yaml", "# new\n")
    workspace.replace("charts/metallb-dashboards/templates/NOTES.txt", "\n", "\n\n")
    workspace.path("charts/metallb-dashboards/dashboards/metallb-bgp.json").unlink()

    assert reasons(settings)["metallb-dashboards"] == (
        f"changed since {DASHBOARDS_TAG}: dashboards/metallb-bgp.json, templates/NOTES.txt, "
        "templates/x.yaml and 1 more"
    )
    assert increment_problems(settings, "metallb-dashboards") == [
        f"the chart changed since its release 1.2.0 (tag {DASHBOARDS_TAG}) but its version "
        "1.2.0 is not higher; changed: dashboards/metallb-bgp.json, templates/NOTES.txt, "
        "templates/x.yaml and 1 more"
    ]


def test_untracked_file_is_named(workspace: Workspace) -> None:
    # The case: an untracked Chart.lock made the chart "changed", unnamed.
    workspace.git("tag", DASHBOARDS_TAG)
    workspace.write("charts/metallb-dashboards/Chart.lock", "dependencies: []\n")
    settings = workspace.settings()
    assert reasons(settings)["metallb-dashboards"] == f"changed since {DASHBOARDS_TAG}: Chart.lock"
    (message,) = increment_problems(settings, "metallb-dashboards")
    assert message.endswith("is not higher; changed: Chart.lock")
    # An ignored file is no change.
    workspace.write(".gitignore", workspace.path(".gitignore").read_text() + "Chart.lock\n")
    workspace.commit("ignore locks")
    assert reasons(settings)["metallb-dashboards"] == f"unchanged since {DASHBOARDS_TAG}"
    assert increment_problems(settings, "metallb-dashboards") == []


# --------------------------------------------------------------------------- clones


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=120
    )
    return result.stdout


@pytest.fixture
def origin(workspace: Workspace, tmp_path: Path) -> str:
    """A bare origin of the workspace, metallb released as 0.16.0 and dashboards as 1.2.0."""
    workspace.replace("charts/metallb/Chart.yaml", "version: 0.0.0", "version: 0.16.0")
    workspace.commit("stamp metallb")
    workspace.git("tag", "metallb-chart-0.16.0")
    workspace.git("tag", DASHBOARDS_TAG)
    # Work goes on after the releases: the tags are behind the branch's tip.
    workspace.write("README.md", "# charts\n")
    workspace.commit("a readme")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(workspace.root), str(bare))
    return f"file://{bare}"


def clone(url: str, target: Path, *flags: str) -> Path:
    git(target.parent, "clone", "-q", *flags, url, str(target))
    return target


def settings_of(root: Path, workspace: Workspace) -> Settings:
    return load_settings(root / "chartship.yaml", {"helm": str(workspace.helm_bin)})


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (("--depth", "1"), "fetch-depth: 0"),
        (("--depth", "1"), "this clone is shallow and has no tags"),
        (("--no-tags",), "made without tags (`git clone --no-tags`)"),
    ],
    ids=["shallow-advice", "shallow", "no-tags"],
)
def test_clone_without_release_tags_is_named(
    workspace: Workspace, origin: str, tmp_path: Path, flags: tuple[str, ...], named: str
) -> None:
    root = clone(origin, tmp_path / "clone", *flags)
    settings = settings_of(root, workspace)

    with pytest.raises(UsageError) as exc:
        select(settings)
    assert named in str(exc.value)
    assert "cannot tell which charts changed since their release" in str(exc.value)
    with pytest.raises(UsageError, match="cannot tell which charts changed"):
        commands.run_matrix(settings, out=io.StringIO(), environ={})
    problems = increment_problems(settings, "metallb")
    assert len(problems) == 1
    assert problems[0].startswith("cannot check that the version went up since the last release")
    assert named in problems[0]
    assert "lint.version_increment: false" in problems[0]
    # Named charts and release tags need no history.
    assert [c.chart for c in select(settings, ["metallb"]).chosen] == ["metallb"]
    assert [c.chart for c in select(settings, tag="metallb-chart-0.16.0").chosen] == ["metallb"]


def test_the_advised_fetch_repairs_the_clone(
    workspace: Workspace, origin: str, tmp_path: Path
) -> None:
    root = clone(origin, tmp_path / "clone", "--depth", "1")
    git(root, "fetch", "-q", "--unshallow", "--tags")
    settings = settings_of(root, workspace)
    assert reasons(settings) == {
        "metallb": "unchanged since metallb-chart-0.16.0",
        "metallb-dashboards": f"unchanged since {DASHBOARDS_TAG}",
    }
    assert increment_problems(settings, "metallb") == []


def test_shallow_clone_with_its_tags_fetched_is_fine(
    workspace: Workspace, origin: str, tmp_path: Path
) -> None:
    # actions/checkout with fetch-tags: true and the default depth: tags, shallow history.
    root = clone(origin, tmp_path / "clone", "--depth", "1")
    git(root, "fetch", "-q", "--depth", "1", "--tags")
    settings = settings_of(root, workspace)
    assert reasons(settings)["metallb"] == "unchanged since metallb-chart-0.16.0"
    workspace_change = root / "charts" / "metallb" / "values.yaml"
    workspace_change.write_text(workspace_change.read_text() + "# edit\n")
    assert reasons(settings)["metallb"] == "changed since metallb-chart-0.16.0: values.yaml"


def test_repository_that_never_released_anything_is_not_a_gap(workspace: Workspace) -> None:
    # A full clone with no tags at all: every chart is new, and that is the truth.
    settings = workspace.settings()
    assert reasons(settings)["metallb-dashboards"] == "never released"
    assert increment_problems(settings, "metallb-dashboards") == []


def test_shallow_clone_of_a_repository_that_never_released_is_fine(
    workspace: Workspace, tmp_path: Path
) -> None:
    # The first CI run of a new chart repository: a shallow checkout, and no
    # release tag anywhere. The remote says so; every chart is new.
    workspace.write("README.md", "# charts\n")
    workspace.commit("a readme")
    workspace.commit("and more")
    workspace.git("tag", "v1.0.0-app")  # a tag, but no chart's release tag
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(workspace.root), str(bare))
    workspace.commit("after the app tag")
    git(bare, "fetch", "-q", str(workspace.root), "main:main")
    root = clone(f"file://{bare}", tmp_path / "clone", "--depth", "1")
    assert git(root, "tag").strip() == ""
    settings = settings_of(root, workspace)
    assert reasons(settings)["metallb-dashboards"] == "never released"
    assert increment_problems(settings, "metallb-dashboards") == []


def test_clone_whose_remote_cannot_be_asked_is_a_gap(
    workspace: Workspace, origin: str, tmp_path: Path
) -> None:
    root = clone(origin, tmp_path / "clone", "--depth", "1")
    git(root, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    settings = settings_of(root, workspace)
    with pytest.raises(UsageError, match="and its remote could not be asked for them"):
        select(settings)

"""bump against real helm 3 and helm 4: exactly the version lines change, nothing else."""

from __future__ import annotations

import io
import re

import pytest
import yaml

from chartship.bump import bump
from chartship.commands import run_bump
from chartship.errors import ToolError, UsageError, VersionError
from chartship.helm import Helm
from tests.support.builders import Workspace

METALLB = "charts/metallb/Chart.yaml"
CRDS = "charts/metallb/charts/crds/Chart.yaml"
LOCK = "charts/metallb/Chart.lock"
DASHBOARDS = "charts/metallb-dashboards/Chart.yaml"


def snapshot(ws: Workspace) -> dict[str, bytes]:
    """Every file of the workspace (outside .git) by relative path, byte for byte."""
    return {
        str(p.relative_to(ws.root)): p.read_bytes()
        for p in sorted(ws.root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(ws.root).parts
    }


def changed_lines(before: str, after: str) -> dict[int, tuple[str, str]]:
    """{line index: (old, new)} for the lines that differ; the line count must not change."""
    old = before.splitlines(keepends=True)
    new = after.splitlines(keepends=True)
    assert len(old) == len(new), "a bump must neither add nor remove lines"
    return {i: (a, b) for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b}


def index_of(text: str, line: str, after: int = 0) -> int:
    """Index of the first line equal to ``line`` (without its newline) at or after ``after``."""
    lines = text.splitlines()
    return lines.index(line, after)


def lock_digest(ws: Workspace) -> str:
    match = re.search(r"^digest: (sha256:[0-9a-f]{64})$", ws.path(LOCK).read_text(), re.M)
    assert match is not None
    return match.group(1)


def dependency_build(ws: Workspace, helm: Helm) -> str:
    with helm.isolated_repositories([ws.upstream]) as scoped:
        return scoped.dependency_build(ws.chart_dir()).output


def test_bump_changes_only_the_version_lines(workspace: Workspace) -> None:
    parent_before = workspace.path(METALLB).read_text()
    crds_before = workspace.path(CRDS).read_text()

    results = bump(workspace.settings(), "0.16.2", ["metallb"])

    parent_after = workspace.path(METALLB).read_text()
    crds_after = workspace.path(CRDS).read_text()
    crds_dep = index_of(parent_before, "  - name: crds")
    assert changed_lines(parent_before, parent_after) == {
        index_of(
            parent_before,
            "version: 0.0.0 # stamped at release time, keep in lockstep with charts/crds",
        ): (
            "version: 0.0.0 # stamped at release time, keep in lockstep with charts/crds\n",
            "version: 0.16.2 # stamped at release time, keep in lockstep with charts/crds\n",
        ),
        index_of(
            parent_before, "appVersion: v0.0.0 # image tag default for controller and speaker"
        ): (
            "appVersion: v0.0.0 # image tag default for controller and speaker\n",
            "appVersion: v0.16.2 # image tag default for controller and speaker\n",
        ),
        index_of(parent_before, "    version: 0.0.0", crds_dep): (
            "    version: 0.0.0\n",
            "    version: 0.16.2\n",
        ),
    }
    assert changed_lines(crds_before, crds_after) == {
        index_of(crds_before, "version: 0.0.0 # same as the parent metallb chart"): (
            "version: 0.0.0 # same as the parent metallb chart\n",
            "version: 0.16.2 # same as the parent metallb chart\n",
        ),
        index_of(crds_before, "appVersion: v0.0.0"): (
            "appVersion: v0.0.0\n",
            "appVersion: v0.16.2\n",
        ),
    }

    parent = yaml.safe_load(parent_after)
    deps = {d["name"]: d for d in parent["dependencies"]}
    assert (parent["version"], parent["appVersion"]) == ("0.16.2", "v0.16.2")
    assert deps["crds"]["version"] == "0.16.2"
    assert deps["frr-k8s"]["version"] == "0.0.16"
    crds = yaml.safe_load(crds_after)
    assert (crds["version"], crds["appVersion"]) == ("0.16.2", "v0.16.2")

    [result] = results
    assert (result.chart, result.version, result.changed) == ("metallb", "0.16.2", True)
    edits = {(str(e.path.relative_to(workspace.root)), e.key, e.old, e.new) for e in result.edits}
    assert len(result.edits) == len(edits) == 5
    assert edits == {
        (METALLB, "version", "0.0.0", "0.16.2"),
        (METALLB, "appVersion", "v0.0.0", "v0.16.2"),
        (METALLB, "dependencies[crds].version", "0.0.0", "0.16.2"),
        (CRDS, "version", "0.0.0", "0.16.2"),
        (CRDS, "appVersion", "v0.0.0", "v0.16.2"),
    }
    # The other chart was not named and is untouched.
    assert workspace.git("status", "--porcelain", "--", "charts/metallb-dashboards") == ""


def test_bump_refreshes_chart_lock(workspace: Workspace, helm: Helm) -> None:
    original = workspace.path(METALLB).read_text()
    # Control: stamping Chart.yaml by hand leaves the lock out of sync, which helm refuses.
    workspace.replace(
        METALLB, "  - name: crds\n    version: 0.0.0", "  - name: crds\n    version: 0.16.2"
    )
    with pytest.raises(ToolError) as stale:
        dependency_build(workspace, helm)
    assert "out of sync" in stale.value.output
    workspace.path(METALLB).write_text(original)

    digest_before = lock_digest(workspace)
    out = io.StringIO()
    [result] = run_bump(workspace.settings(), "0.16.2", ["metallb"], out=out)

    assert result.lock_refreshed
    assert "metallb: refreshed Chart.lock\n" in out.getvalue()
    assert lock_digest(workspace) != digest_before
    lock = yaml.safe_load(workspace.path(LOCK).read_text())
    assert {d["name"]: d["version"] for d in lock["dependencies"]} == {
        "crds": "0.16.2",
        "frr-k8s": "0.0.16",
    }
    output = dependency_build(workspace, helm)
    assert "out of sync" not in output
    assert (workspace.chart_dir() / "charts" / "frr-k8s-0.0.16.tgz").is_file()


def test_second_identical_bump_changes_nothing(workspace: Workspace) -> None:
    settings = workspace.settings()
    bump(settings, "0.16.2", ["metallb"])
    before = snapshot(workspace)

    out = io.StringIO()
    [result] = run_bump(settings, "0.16.2", ["metallb"], out=out)

    assert not result.changed
    assert result.edits == []
    assert not result.lock_refreshed
    assert out.getvalue() == "metallb: already at 0.16.2; nothing to change\n"
    assert snapshot(workspace) == before


def test_dry_run_reports_edits_and_writes_nothing(workspace: Workspace) -> None:
    settings = workspace.settings()
    before = snapshot(workspace)

    [result] = bump(settings, "0.16.2", ["metallb"], dry_run=True)
    assert result.changed
    assert not result.lock_refreshed
    assert {(e.key, e.old, e.new) for e in result.edits} == {
        ("version", "0.0.0", "0.16.2"),
        ("appVersion", "v0.0.0", "v0.16.2"),
        ("dependencies[crds].version", "0.0.0", "0.16.2"),
    }
    assert len(result.edits) == 5
    assert snapshot(workspace) == before

    out = io.StringIO()
    run_bump(settings, "0.16.2", ["metallb"], dry_run=True, out=out)
    assert out.getvalue().splitlines() == [
        f"metallb: would set {METALLB} version: 0.0.0 -> 0.16.2",
        f"metallb: would set {METALLB} appVersion: v0.0.0 -> v0.16.2",
        f"metallb: would set {METALLB} dependencies[crds].version: 0.0.0 -> 0.16.2",
        f"metallb: would set {CRDS} version: 0.0.0 -> 0.16.2",
        f"metallb: would set {CRDS} appVersion: v0.0.0 -> v0.16.2",
        "metallb: would refresh Chart.lock",
    ]
    assert snapshot(workspace) == before


@pytest.mark.parametrize("version", ["1.2", "v1.2.3", "banana"])
def test_non_semver_version_is_refused(workspace: Workspace, version: str) -> None:
    before = snapshot(workspace)
    with pytest.raises(VersionError, match="is not a SemVer 2 version") as exc:
        bump(workspace.settings(), version, ["metallb"])
    assert repr(version) in str(exc.value)
    assert snapshot(workspace) == before


def test_version_must_be_above_the_released_tag(workspace: Workspace) -> None:
    workspace.git("tag", "metallb-chart-0.16.0")
    # Another chart's tag does not count for metallb.
    workspace.git("tag", "metallb-dashboards-chart-9.0.0")
    settings = workspace.settings()
    before = snapshot(workspace)

    for version in ("0.15.9", "0.16.0"):
        with pytest.raises(VersionError) as exc:
            bump(settings, version, ["metallb"])
        message = str(exc.value)
        assert f"{version} is not higher than the released 0.16.0" in message
        assert "(tag metallb-chart-0.16.0)" in message
        assert snapshot(workspace) == before

    [rc] = bump(settings, "0.16.1-rc.1", ["metallb"])
    assert rc.changed
    assert yaml.safe_load(workspace.path(METALLB).read_text())["version"] == "0.16.1-rc.1"
    [final] = bump(settings, "0.16.1", ["metallb"])
    assert final.changed
    assert yaml.safe_load(workspace.path(METALLB).read_text())["version"] == "0.16.1"
    assert yaml.safe_load(workspace.path(CRDS).read_text())["version"] == "0.16.1"


def test_two_charts_and_no_names_is_a_usage_error(workspace: Workspace) -> None:
    before = snapshot(workspace)
    with pytest.raises(UsageError) as exc:
        bump(workspace.settings(), "0.16.2")
    assert "metallb, metallb-dashboards" in str(exc.value)
    assert snapshot(workspace) == before


def test_quoted_values_keep_their_quoting(workspace: Workspace) -> None:
    app_line = 'appVersion: "v0.0.0" # image tag default for controller and speaker'
    crds_line = "version: '0.0.0' # same as the parent metallb chart"
    workspace.replace(METALLB, "appVersion: v0.0.0 #", 'appVersion: "v0.0.0" #')
    workspace.replace(CRDS, "version: 0.0.0 #", "version: '0.0.0' #")
    parent_before = workspace.path(METALLB).read_text()
    crds_before = workspace.path(CRDS).read_text()

    bump(workspace.settings(), "0.16.2", ["metallb"])

    parent_changes = changed_lines(parent_before, workspace.path(METALLB).read_text())
    assert parent_changes.pop(index_of(parent_before, app_line)) == (
        app_line + "\n",
        'appVersion: "v0.16.2" # image tag default for controller and speaker\n',
    )
    # The two unquoted version lines stay unquoted.
    assert sorted(parent_changes.values()) == [
        ("    version: 0.0.0\n", "    version: 0.16.2\n"),
        (
            "version: 0.0.0 # stamped at release time, keep in lockstep with charts/crds\n",
            "version: 0.16.2 # stamped at release time, keep in lockstep with charts/crds\n",
        ),
    ]
    crds_changes = changed_lines(crds_before, workspace.path(CRDS).read_text())
    assert crds_changes == {
        index_of(crds_before, crds_line): (
            crds_line + "\n",
            "version: '0.16.2' # same as the parent metallb chart\n",
        ),
        index_of(crds_before, "appVersion: v0.0.0"): (
            "appVersion: v0.0.0\n",
            "appVersion: v0.16.2\n",
        ),
    }
    parent = yaml.safe_load(workspace.path(METALLB).read_text())
    assert parent["appVersion"] == "v0.16.2"


def test_chart_without_lockstep_or_prefix(workspace: Workspace) -> None:
    before_text = workspace.path(DASHBOARDS).read_text()
    metallb_before = snapshot(workspace)

    [result] = bump(workspace.settings(), "1.3.0", ["metallb-dashboards"])

    assert result.changed
    assert not result.lock_refreshed  # no dependencies, no Chart.lock
    assert {(e.key, e.old, e.new) for e in result.edits} == {
        ("version", "1.2.0", "1.3.0"),
        ("appVersion", "1.2.0", "1.3.0"),
    }
    changes = changed_lines(before_text, workspace.path(DASHBOARDS).read_text())
    assert sorted(changes.values()) == [
        ('appVersion: "1.2.0"\n', 'appVersion: "1.3.0"\n'),
        ("version: 1.2.0\n", "version: 1.3.0\n"),
    ]
    after = snapshot(workspace)
    assert {k for k in after if after[k] != metallb_before.get(k)} == {DASHBOARDS}


def test_flow_style_dependency_entry_is_stamped_in_place(workspace: Workspace) -> None:
    # Regression: the plain scalar used to run to the end of the line, eating the
    # rest of a flow mapping and leaving Chart.yaml unparseable.
    workspace.replace(
        METALLB,
        "  - name: crds\n    version: 0.0.0\n    condition: crds.enabled\n",
        "  - {name: crds, version: 0.0.0, condition: crds.enabled}\n",
    )
    before = workspace.path(METALLB).read_text()

    [result] = bump(workspace.settings(), "0.16.2", ["metallb"])

    after = workspace.path(METALLB).read_text()
    changes = changed_lines(before, after)
    assert changes[
        index_of(before, "  - {name: crds, version: 0.0.0, condition: crds.enabled}")
    ] == (
        "  - {name: crds, version: 0.0.0, condition: crds.enabled}\n",
        "  - {name: crds, version: 0.16.2, condition: crds.enabled}\n",
    )
    assert len(changes) == 3  # plus version and appVersion
    crds = next(d for d in yaml.safe_load(after)["dependencies"] if d["name"] == "crds")
    assert crds == {"name": "crds", "version": "0.16.2", "condition": "crds.enabled"}
    # helm read the edited Chart.yaml to refresh the lock.
    assert result.lock_refreshed
    lock = yaml.safe_load(workspace.path(LOCK).read_text())
    assert {d["name"]: d["version"] for d in lock["dependencies"]}["crds"] == "0.16.2"


def test_failed_lock_refresh_puts_every_file_back(workspace: Workspace) -> None:
    # The dependency repository is gone: Chart.lock cannot be refreshed after stamping.
    workspace.replace("charts/metallb/Chart.yaml", workspace.upstream, "http://127.0.0.1:9/frr-k8s")
    workspace.replace("charts/metallb/Chart.lock", workspace.upstream, "http://127.0.0.1:9/frr-k8s")
    before = snapshot(workspace)

    with pytest.raises(ToolError):
        bump(workspace.settings(), "0.16.2", ["metallb"])

    assert snapshot(workspace) == before

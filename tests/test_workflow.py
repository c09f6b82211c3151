"""The repository's workflows: what they run, and with which rights and secrets."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from chartship import commands
from chartship.config import load_settings, parse_assignment
from chartship.toolchain import DEFAULT_HELM_VERSIONS
from tests.support.actions_runner import Context, parse_file_commands
from tests.support.builders import Workspace
from tests.test_embedding import invoke

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "release-charts.yml"
MATRIX_WORKFLOW = ROOT / ".github" / "workflows" / "release-matrix.yml"


def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def action() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "action.yml").read_text())
    assert isinstance(data, dict)
    return data


def assert_pinned(steps: list[dict[str, Any]]) -> None:
    """Every action from elsewhere is pinned by commit; local ones are ./paths."""
    uses = [s["uses"] for s in steps if "uses" in s]
    assert uses, "no actions used"
    for one in uses:
        if one.startswith("./"):
            continue
        assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", one), f"{one} is not pinned"


def test_runs_the_action_on_chart_release_tags_with_least_rights() -> None:
    data = workflow()
    # PyYAML reads the key `on` as True.
    assert data[True] == {"push": {"tags": ["*-chart-*"]}}
    assert data["permissions"] == {}
    job = data["jobs"]["publish"]
    assert job["permissions"] == {"contents": "write", "packages": "write"}
    steps = job["steps"]
    assert_pinned(steps)
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    publish = next(s for s in steps if s.get("id") == "publish")
    # This repository's own action, as an adopter's workflow uses the released one.
    assert publish["uses"] == "./"
    assert set(publish["with"]) <= set(action()["inputs"])
    assert "secrets." not in json.dumps(publish["with"])
    assert set(publish["env"]) == {"CHARTSHIP_OCI_USERNAME", "CHARTSHIP_OCI_PASSWORD"}
    assert job["outputs"] == {
        "released": "${{ steps.publish.outputs.released }}",
        "ok": "${{ steps.publish.outputs.ok }}",
    }
    assert {"released", "ok"} <= set(action()["outputs"])


def test_its_overrides_make_a_valid_dual_phase_configuration(tmp_path: Path) -> None:
    steps = workflow()["jobs"]["publish"]["steps"]
    where = next(s for s in steps if s.get("id") == "where")
    output = tmp_path / "output"
    output.touch()
    env = {
        **os.environ,
        "GITHUB_OUTPUT": str(output),
        "GITHUB_REPOSITORY_OWNER": "MetalLB",
        "GITHUB_REPOSITORY": "MetalLB/metallb",
    }
    subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", where["run"]],
        env=env,
        check=True,
        timeout=60,
    )
    context = Context(
        inputs={},
        github={"repository": "MetalLB/metallb"},
        runner={},
        steps={"where": parse_file_commands(output.read_text())},
    )
    publish = next(s for s in steps if s.get("id") == "publish")
    lines = context.evaluate(publish["with"]["set"]).splitlines()
    overrides = dict(parse_assignment(line) for line in lines if line.strip())
    overrides["channels.phase"] = publish["with"]["phase"]
    settings = load_settings(ROOT / "chartship.yaml", overrides)
    assert settings.channels.phase == "dual"
    assert settings.channels.oci is not None
    assert settings.channels.oci.repository == "oci://ghcr.io/metallb/charts"
    assert settings.channels.pages is not None
    assert settings.channels.pages.index_url == "https://metallb.github.io/metallb/"
    assert settings.channels.github is not None
    assert settings.channels.github.repository == "MetalLB/metallb"


def test_reusable_workflow_shards_the_release_by_chart() -> None:
    data = yaml.safe_load(MATRIX_WORKFLOW.read_text())
    call = data[True]["workflow_call"]
    assert call["inputs"]["chartship-ref"]["required"] is True
    assert data["permissions"] == {}
    plan, release = data["jobs"]["plan"], data["jobs"]["release"]
    assert plan["permissions"] == {"contents": "read"}
    assert release["permissions"] == {"contents": "write", "packages": "write"}
    for job in (plan, release):
        assert_pinned(job["steps"])
        # The caller's repository with its release tags, and chartship's action beside it.
        mine, theirs = job["steps"][:2]
        assert mine["with"]["fetch-depth"] == 0
        assert theirs["with"]["repository"] == "chartship/chartship"
        assert theirs["with"]["ref"] == "${{ inputs.chartship-ref }}"
        step = job["steps"][2]
        assert step["uses"] == f"./{theirs['with']['path']}"
        assert set(step["with"]) <= set(action()["inputs"])
        # Every workflow input it reads is declared.
        used = set(re.findall(r"inputs\.([\w-]+)", json.dumps(job)))
        assert used <= set(call["inputs"]), used - set(call["inputs"])

    plan_step = plan["steps"][2]
    assert plan_step["with"]["command"] == "matrix"
    assert plan["outputs"] == {
        "matrix": f"${{{{ steps.{plan_step['id']}.outputs.matrix }}}}",
        "count": f"${{{{ steps.{plan_step['id']}.outputs.count }}}}",
    }
    assert {"matrix", "count"} <= set(action()["outputs"])
    assert release["needs"] == "plan"
    assert release["if"] == "needs.plan.outputs.count != '0'"
    assert release["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert release["strategy"]["fail-fast"] is False
    release_step = release["steps"][2]
    assert release_step["with"]["charts"] == "${{ matrix.chart }}"
    assert "command" not in release_step["with"]  # the action's default: release
    assert call["outputs"]["matrix"]["value"] == "${{ jobs.plan.outputs.matrix }}"


def test_matrix_entries_carry_what_the_release_jobs_read(workspace: Workspace) -> None:
    # The keys the release job reads from each matrix entry are the ones chartship writes.
    text = MATRIX_WORKFLOW.read_text()
    expressions = re.findall(r"\$\{\{(.*?)\}\}", text)
    read = {key for e in expressions for key in re.findall(r"(?<![\w.])matrix\.(\w+)", e)}
    assert read, "the release job reads nothing from its matrix entry"
    produced = commands.run_matrix(workspace.settings(), out=io.StringIO(), environ={})
    assert produced["include"], "the workspace's charts need a matrix entry for this check"
    for entry in produced["include"]:
        assert read <= set(entry), read - set(entry)


def test_readme_metallb_configuration_is_valid(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### MetalLB: adopting chartship", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "chartship.yaml").write_text(block)
    settings = load_settings(tmp_path / "chartship.yaml")
    assert settings.release_tag("metallb", "0.16.2") == "metallb-chart-0.16.2"
    assert settings.channels.phase == "dual"
    assert settings.channels.oci is not None
    assert settings.channels.oci.repository == "oci://quay.io/metallb/chart"
    assert settings.chart("metallb").lockstep == ("crds",)


# What is checked is the README's task, not helm: the newest helm serves.
@pytest.mark.parametrize("helm_version", [DEFAULT_HELM_VERSIONS[-1]])
def test_readme_metallb_bumprelease_stamps_what_the_sed_lines_did(workspace: Workspace) -> None:

    readme = (ROOT / "README.md").read_text()
    section = readme.split("### MetalLB: adopting chartship", 1)[1].split("\n## ", 1)[0]
    task = next(b for b in section.split("```python\n")[1:] if "def bumprelease" in b)
    task = task.split("```", 1)[0]
    workspace.write(
        "tasks.py",
        "from invoke import run, task\n\nimport chartship.tasks\n\n\n"
        + task
        + '\n\nns = chartship.tasks.namespace(__name__, name="chart")\n',
    )
    workspace.write("charts/metallb/README.md", "Current chart version is: `0.0.0`\n")
    # MetalLB's chartship.yaml names its pinned helm; here, the one under test.
    workspace.replace(
        "chartship.yaml", "helm: .tools/helm/v4.3.1/helm", f"helm: {workspace.helm_bin}"
    )
    result = invoke(workspace, "bumprelease", "--version", "0.16.2", "--previous-version", "0.16.1")
    assert result.returncode == 0, result.stdout + result.stderr

    parent = yaml.safe_load(workspace.path("charts/metallb/Chart.yaml").read_text())
    crds = yaml.safe_load(workspace.path("charts/metallb/charts/crds/Chart.yaml").read_text())
    assert (parent["version"], parent["appVersion"]) == ("0.16.2", "v0.16.2")
    assert (crds["version"], crds["appVersion"]) == ("0.16.2", "v0.16.2")
    (entry,) = [d for d in parent["dependencies"] if d["name"] == "crds"]
    assert entry["version"] == "0.16.2"
    lock = yaml.safe_load(workspace.path("charts/metallb/Chart.lock").read_text())
    assert {d["name"]: d["version"] for d in lock["dependencies"]}["crds"] == "0.16.2"
    readme_line = workspace.path("charts/metallb/README.md").read_text()
    assert readme_line == "Current chart version is: `0.16.2`\n"


def test_readme_quick_start_configuration_and_commands(tmp_path: Path) -> None:
    from chartship import cli

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    (tmp_path / "chartship.yaml").write_text(section.split("```yaml\n", 1)[1].split("```")[0])
    settings = load_settings(tmp_path / "chartship.yaml")
    assert settings.channels.phase == "dual"
    assert settings.channels.oci is not None
    assert settings.channels.github is not None
    assert settings.channels.pages is not None
    assert settings.release_tag("mychart", "1.0.0") == "mychart-1.0.0"
    # Every chartship command it shows is one the command line takes, as written.
    shown = [
        shlex.split(line.split("  #", 1)[0])[1:]
        for block in section.split("```sh\n")[1:]
        for line in block.split("```", 1)[0].splitlines()
        if line.startswith("chartship ")
    ]
    assert len(shown) == 4
    for argv in shown:
        cli._parser().parse_args(argv)
    assert "git tag mychart-1.0.0" in section


def test_readme_quick_start_runs_on_a_fresh_repository(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick start's own lines, in a repository that has only a chart, its
    rehearsal in the sandbox included; the dry run against the real registry and
    GitHub is the one line left out."""
    from chartship import cli
    from tests.support.builders import chart_files, git, installed_helm

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```sh\n")[1:]]
    repo = tmp_path / "repo"
    for relative, text in chart_files("mychart", "0.1.0").items():
        (repo / "charts" / "mychart" / relative).parent.mkdir(parents=True, exist_ok=True)
        (repo / "charts" / "mychart" / relative).write_text(text)
    (repo / "chartship.yaml").write_text(section.split("```yaml\n", 1)[1].split("```")[0])
    # What `python -m chartship.toolchain install` puts where chartship.yaml looks.
    pinned = repo / ".tools" / "helm" / "v4.3.1" / "helm"
    pinned.parent.mkdir(parents=True)
    pinned.symlink_to(installed_helm(DEFAULT_HELM_VERSIONS[-1]))
    git(repo, "init", "-q", "-b", "main")
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Quick Start")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "quick@example.invalid")
    monkeypatch.chdir(repo)
    for line in (ln.split("  #", 1)[0].strip() for b in blocks for ln in b.splitlines()):
        if line.startswith("printf "):
            (repo / ".gitignore").write_text("/.tools/\n/dist/\n")
        elif line.startswith("chartship ") and "--dry-run" not in line:
            assert cli.main(shlex.split(line)[1:]) == 0, capfd.readouterr()
        elif line.startswith("git "):
            for command in line.split(" && "):
                git(repo, *shlex.split(command)[1:])
    assert "version: 1.0.0" in (repo / "charts/mychart/Chart.yaml").read_text()
    assert "mychart-1.0.0" in git(repo, "tag")
    assert git(repo, "status", "--porcelain") == ""
    # The sandbox's rehearsal (a child process: capfd) released it to every channel.
    rehearsal = capfd.readouterr().out
    assert "release: 1 chart version(s) published and verified" in rehearsal, rehearsal

"""The GitHub Action at the repository root (action.yml), and the workflows that use it.

Its metadata and the workflows are checked against SchemaStore's schemas of
GitHub's action metadata and workflow syntax (npm ``@action-validator/cli``);
its steps' commands run here as a runner runs them (tests/support/actions_runner),
with the GITHUB_* files pointed at temporary files, against the sandbox's
registry (basic auth), GitHub stand-in and pages site.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import chartship
from chartship import commands
from chartship.channels.oci.registry import Credentials, RegistryClient, Tls
from chartship.config import Settings
from chartship.toolchain import DEFAULT_HELM_VERSIONS, HELM_PINS, helm_path
from tests.support import action_validator
from tests.support.actions_runner import ActionRun, CompositeAction, Context
from tests.support.builders import TOOLS, Workspace
from tests.support.distributions import source_tree
from tests.support.sandbox import Sandbox, open_sandbox, sha256

REPO = Path(__file__).resolve().parents[1]
ACTION = REPO / "action.yml"
WORKFLOWS = REPO / ".github" / "workflows"
VERSION = "0.16.0"
TAG = f"metallb-chart-{VERSION}"

INPUTS = {
    "command",
    "config",
    "charts",
    "tag",
    "phase",
    "set",
    "helm-version",
    "dry-run",
    "oci-username-env",
    "oci-password-env",
    "github-token",
    "working-directory",
}
RELEASE_OUTPUTS = {
    "released",
    "charts",
    "versions",
    "sha256s",
    "oci-references",
    "manifest-digests",
    "ok",
    "changed",
}


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


# --------------------------------------------------------------------------- metadata


def test_inputs_outputs_and_defaults() -> None:
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    assert set(inputs) == INPUTS
    assert all(spec["description"].strip() for spec in inputs.values())
    assert inputs["command"]["default"] == "release"
    assert inputs["dry-run"]["default"] == "false"
    assert inputs["github-token"]["default"] == "${{ github.token }}"
    # The newest pinned helm, so the action never names one it cannot install.
    assert inputs["helm-version"]["default"] == DEFAULT_HELM_VERSIONS[-1]
    assert inputs["helm-version"]["default"] in HELM_PINS

    outputs = action["outputs"]
    assert set(outputs) == RELEASE_OUTPUTS | {"matrix", "count"}
    for name, spec in outputs.items():
        assert spec["value"] == f"${{{{ steps.run.outputs.{name} }}}}"
        assert spec["description"].strip()


def test_steps_take_inputs_through_the_environment_only() -> None:
    steps = load(ACTION)["runs"]["steps"]
    assert [s["id"] for s in steps] == ["install", "helm", "run"]
    for step in steps:
        # An expression inside a script is spliced into it: a tag or chart name
        # could then run as shell code. Through env it stays data.
        assert "${{" not in step["run"], step["id"]
    install = steps[0]
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    assert 'pip install --quiet --disable-pip-version-check "$ACTION_PATH"' in install["run"]
    used = {m for s in steps for m in re.findall(r"inputs\.([\w-]+)", json.dumps(s.get("env")))}
    run_step = steps[2]
    assert used | {"working-directory"} == INPUTS
    assert run_step["working-directory"] == "${{ inputs.working-directory }}"


@pytest.fixture(scope="session")
def validator() -> Path:
    try:
        return action_validator.install(TOOLS)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.mark.parametrize(
    "path",
    [ACTION, WORKFLOWS / "release-charts.yml", WORKFLOWS / "release-matrix.yml"],
    ids=lambda p: p.name,
)
def test_valid_against_githubs_schemas(validator: Path, path: Path) -> None:
    verdict = action_validator.validate(validator, path)
    assert verdict.ok, verdict.report


def test_the_validator_catches_a_broken_action(validator: Path, tmp_path: Path) -> None:
    broken = load(ACTION)
    del broken["inputs"]["command"]["description"]
    broken["runs"]["steps"][0].pop("shell")
    (tmp_path / "action.yml").write_text(yaml.safe_dump(broken))
    verdict = action_validator.validate(validator, tmp_path / "action.yml")
    assert not verdict.ok
    assert "/inputs/command/description" in verdict.report
    assert "/runs/steps/0/shell" in verdict.report


# --------------------------------------------------------------------------- README's workflow


def readme_workflows() -> list[str]:
    """README's whole workflows (blocks with an ``on:``) that use chartship's action."""
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL)
    return [b for b in blocks if "uses: chartship/chartship" in b and "\non:" in f"\n{b}"]


def github_glob(pattern: str) -> re.Pattern[str]:
    """A tag filter of GitHub's as a regex: ``*``, ``?``, ``+``, ``[...]`` (no ``/``)."""
    out = ""
    for token in re.findall(r"\[[^\]]+\]|.", pattern):
        if token == "*":
            out += "[^/]*"
        elif token == "?":
            out += "[^/]?"
        elif token == "+":
            out += "+"
        elif token.startswith("["):
            out += token
        else:
            out += re.escape(token)
    return re.compile(out)


def test_readme_workflows_are_valid_and_paste_as_is(validator: Path, tmp_path: Path) -> None:
    workflows = readme_workflows()
    inputs = set(load(ACTION)["inputs"])
    reusable = load(WORKFLOWS / "release-matrix.yml")[True]["workflow_call"]["inputs"]
    ref = f"v{chartship.__version__}"  # the action as released with this version
    seen = {"action": 0, "reusable": 0}
    for number, text in enumerate(workflows):
        path = tmp_path / f"readme-{number}.yml"
        path.write_text(text)
        verdict = action_validator.validate(validator, path)
        assert verdict.ok, f"{text}\n{verdict.report}"
        data = yaml.safe_load(text)
        for job in data["jobs"].values():
            if job.get("uses", "").startswith("chartship/chartship/"):
                seen["reusable"] += 1
                assert (
                    job["uses"] == f"chartship/chartship/.github/workflows/release-matrix.yml@{ref}"
                )
                assert set(job["with"]) <= set(reusable)
                assert job["with"]["chartship-ref"] == ref
                assert {k for k, v in reusable.items() if v.get("required")} <= set(job["with"])
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("chartship/chartship@"):
                    seen["action"] += 1
                    assert step["uses"] == f"chartship/chartship@{ref}"
                    assert set(step.get("with", {})) <= inputs, step
        # Its tag filter triggers on the tags chartship's default release.tag makes.
        tags = data[True]["push"]["tags"]
        for tag in (Settings().release_tag("my-chart", "1.2.3"), "my-chart-1.2.3-rc.1"):
            assert any(github_glob(t).fullmatch(tag) for t in tags), (tags, tag)
        assert not any(github_glob(t).fullmatch("v1.2.3") for t in tags), tags
    assert seen == {"action": 1, "reusable": 1}, seen


def test_readme_tables_list_every_input_and_output() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("### GitHub Action\n", 1)[1].split("\n#", 1)[0]
    cells = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in section.splitlines()
        if re.match(r"\| `[\w-]+` \|", line)
    ]
    action = load(ACTION)
    assert [row[0].strip("`") for row in cells] == [*action["inputs"], *action["outputs"]]
    defaults = {row[0].strip("`"): row[1] for row in cells[: len(action["inputs"])]}
    for name, spec in action["inputs"].items():
        default = spec.get("default", "")
        shown = defaults[name].strip("`")
        assert shown == default.removeprefix("${{ ").removesuffix(" }}"), name


# --------------------------------------------------------------------------- running the steps


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "PYTHONPATH"} and not k.startswith(("GITHUB_", "CHARTSHIP_"))
    }
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


@dataclass
class Installed:
    """The action's checkout, and its install step's outputs from one real run."""

    action: CompositeAction
    install: dict[str, str]
    smoke: ActionRun


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Installed:
    """Every step once, installing chartship from a checkout of this repository."""
    base = tmp_path_factory.mktemp("action")
    checkout = source_tree(REPO, base / "checkout")
    action = CompositeAction(checkout / "action.yml")
    smoke = action.run(
        {"command": "--version", "helm-version": ""},
        workspace=base,
        files=base / "files",
        runner_temp=base / "temp",
        tool_cache=base / "tool-cache",
        env=clean_env(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse)),
        github={"token": "unused"},
    )
    assert smoke.ok, smoke.stdout + smoke.stderr
    return Installed(action, smoke.steps[0].outputs, smoke)


def test_install_step_installs_the_actions_own_checkout(installed: Installed) -> None:
    python = Path(installed.install["python"])
    assert python.is_file()
    assert installed.smoke.stdout.strip().splitlines()[-1] == f"chartship {chartship.__version__}"
    # helm-version empty: no helm installed, chartship.yaml's helm setting stands.
    assert installed.smoke.steps[1].outputs == {"path": ""}
    direct_url = next(python.parent.parent.glob("lib/python*/site-packages/chartship-*.dist-info"))
    record = json.loads((direct_url / "direct_url.json").read_text())
    assert record["url"] == installed.action.path.parent.as_uri()


def tool_cache_with(base: Path, version: str) -> Path:
    """A runner tool cache that kept the pinned helm of an earlier run."""
    cache = base / "tool-cache"
    target = helm_path(cache / "chartship", version)
    target.parent.mkdir(parents=True)
    try:
        os.link(helm_path(TOOLS, version), target)
    except OSError:
        shutil.copy2(helm_path(TOOLS, version), target)
    return cache


class Runner:
    """One job's runs of the action in ``workspace``, each with fresh GITHUB_* files."""

    def __init__(self, installed: Installed, workspace: Path, base: Path, env: dict[str, str]):
        self.installed = installed
        self.workspace = workspace
        self.base = base
        self.env = env
        self.runs = 0

    def __call__(self, token: str = "", **inputs: str) -> ActionRun:
        self.runs += 1
        files = self.base / f"run-{self.runs}"
        return self.installed.action.run(
            inputs,
            workspace=self.workspace,
            files=files,
            runner_temp=self.base / "temp",
            tool_cache=self.base / "tool-cache",
            env=self.env,
            github={"token": token},
            done={"install": self.installed.install},
        )


@pytest.fixture
def box(
    tmp_path: Path, _workspace_template: Path, helm_bin: Path, helm_version: str
) -> Iterator[tuple[Sandbox, str]]:
    """The sandbox with a registry that asks for basic auth as QUAY_USER."""
    password = secrets.token_urlsafe(16)
    with open_sandbox(
        tmp_path / "sandbox", _workspace_template, helm_bin, users={"robot": password}
    ) as sandbox:
        commands.run_bump(sandbox.settings(), VERSION, ["metallb"], out=io.StringIO())
        sandbox.commit(f"Release metallb {VERSION}")
        yield sandbox, password
    assert not sandbox.github.violations, sandbox.github.report()


def manifest_digest(box: Sandbox, password: str, chart: str) -> str | None:
    client = RegistryClient(
        box.registry.host, tls=Tls(plain_http=True), credentials=Credentials("robot", password)
    )
    manifest = client.manifest(f"charts/{chart}", VERSION)
    return manifest.digest if manifest else None


def test_release_through_the_action(
    box: tuple[Sandbox, str], installed: Installed, helm_version: str, tmp_path: Path
) -> None:
    sandbox, password = box
    tool_cache_with(tmp_path, helm_version)
    env = clean_env(
        **{k: v for k, v in sandbox.environ.items() if k.startswith(("HELM_", "GIT_"))},
        no_proxy="127.0.0.1,localhost",
        QUAY_USER="robot",
        QUAY_PASSWORD=password,
        GITHUB_REF_TYPE="tag",
        GITHUB_REF_NAME=TAG,
    )
    run = Runner(installed, sandbox.work, tmp_path, env)
    credentials = {
        "oci-username-env": "QUAY_USER",
        "oci-password-env": "QUAY_PASSWORD",
        "helm-version": helm_version,
    }

    # The matrix of that tag: what chartship itself computes for it.
    planned = run(command="matrix", **credentials)
    assert planned.ok, planned.stdout + planned.stderr
    expected = commands.run_matrix(sandbox.settings(), tag=TAG, out=io.StringIO(), environ={})
    assert json.loads(planned.outputs["matrix"]) == expected
    assert planned.outputs["count"] == str(len(expected["include"])) == "1"

    dry = run(token=sandbox.github.token, **credentials, **{"dry-run": "true"})
    assert dry.ok, dry.stdout + dry.stderr
    assert "release: dry run: nothing was changed" in dry.stdout
    assert json.loads(dry.outputs["versions"]) == {"metallb": VERSION}
    assert manifest_digest(sandbox, password, "metallb") is None

    real = run(token=sandbox.github.token, **credentials)
    assert real.ok, real.stdout + real.stderr
    out = real.outputs
    assert {k for k, v in out.items() if v} == RELEASE_OUTPUTS
    assert out["ok"] == "true"
    assert out["changed"] == "true"
    assert json.loads(out["charts"]) == ["metallb"]
    assert json.loads(out["versions"]) == {"metallb": VERSION}
    archive = sandbox.settings().dist_path / f"metallb-{VERSION}.tgz"
    assert json.loads(out["sha256s"]) == {"metallb": sha256(archive)}
    digest = manifest_digest(sandbox, password, "metallb")
    assert digest is not None
    assert json.loads(out["manifest-digests"]) == {"metallb": digest}
    assert json.loads(out["oci-references"]) == {
        "metallb": f"{sandbox.registry.host}/charts/metallb:{VERSION}"
    }
    (row,) = json.loads(out["released"])
    assert row["download_url"].endswith(f"/{TAG}/metallb-{VERSION}.tgz")
    assert "| metallb | 0.16.0 |" in real.summary
    # The pinned helm from the tool cache, by the path the helm step reported.
    assert real.steps[0].outputs["path"] == str(
        helm_path(tmp_path / "tool-cache" / "chartship", helm_version)
    )

    again = run(token=sandbox.github.token, **credentials)
    assert again.ok, again.stdout + again.stderr
    assert again.outputs["ok"] == "true"
    assert again.outputs["changed"] == "false"
    assert "release: nothing changed" in again.stdout


def test_bad_inputs_fail_the_step_with_a_clear_message(
    workspace: Workspace, installed: Installed, tmp_path: Path
) -> None:
    run = Runner(installed, workspace.root, tmp_path, clean_env())
    before = workspace.git("status", "--porcelain")

    phase = run(command="lint", phase="sideways", **{"helm-version": ""})
    assert not phase.ok
    assert phase.steps[-1].returncode == 2
    assert "channels.phase" in phase.stderr
    assert "sideways" in phase.stderr
    assert "Traceback" not in phase.stderr

    dry = run(command="lint", **{"dry-run": "maybe", "helm-version": ""})
    assert dry.steps[-1].returncode == 2
    assert "::error title=chartship::dry-run must be true or false, not 'maybe'" in dry.stdout

    assert workspace.git("status", "--porcelain") == before


def test_lint_through_the_action_in_a_working_directory(
    workspace: Workspace, installed: Installed, tmp_path: Path
) -> None:
    # A monorepo: the charts live below the repository root.
    (tmp_path / "mono").mkdir()
    shutil.move(workspace.root, tmp_path / "mono" / "deploy")
    run = Runner(installed, tmp_path / "mono", tmp_path, clean_env())
    result = run(
        command="lint",
        charts="metallb-dashboards\nmetallb",
        set=f"  helm={workspace.helm_bin}\n\n  lint.workers=1\n",
        **{"helm-version": "", "working-directory": "deploy"},
    )
    assert result.ok, result.stdout + result.stderr
    # Both charts, in the order given, each its own word of the input.
    assert "lint: metallb-dashboards, metallb: no problems" in result.stdout


def test_step_outputs_are_read_as_github_reads_them(tmp_path: Path) -> None:
    # What the runner emulation itself relies on, against chartship's own writer.
    from chartship import github_actions

    target = tmp_path / "output"
    target.touch()
    values = {"one": "1", "json": '{"a": [1]}', "lines": "a\nb=c\n"}
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(target)}
    assert github_actions.set_outputs(values, environ)
    from tests.support.actions_runner import parse_file_commands

    assert parse_file_commands(target.read_text()) == values
    context = Context(inputs={"x": "1"}, github={}, runner={}, steps={"s": {"y": "2"}})
    assert context.evaluate("${{ inputs.x }}-${{steps.s.outputs.y}}") == "1-2"
    with pytest.raises(ValueError, match="not an expression"):
        context.evaluate("${{ secrets.TOKEN }}")

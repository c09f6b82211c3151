"""chartship inside a consumer's tasks.py and noxfile.py, run as real processes.

Every test writes the consumer files into the ``workspace`` repository (which
already holds charts/ and chartship.yaml) and runs ``python -m invoke`` or
``python -m nox`` there with the interpreter chartship is installed in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chartship.config import load_settings
from tests.support.builders import Workspace, combined

TIMEOUT = 300

#: A tasks.py in MetalLB's style: module-level tasks, no ``ns``, plus chartship.
METALLB_TASKS = '''\
"""Tasks of a repository that has its own tasks, MetalLB's way."""

from invoke import run, task
from invoke.exceptions import Exit

import chartship.tasks


@task(help={"env": "which environment the Go code is linted for"})
def lint(ctx, env="dev"):
    """Lint the Go code."""
    print(f"own go lint ran for {env}")


@task(help={"controller_gen": "path of the controller-gen binary"})
def generatemanifests(ctx, controller_gen=""):
    """Regenerate the CRD manifests."""
    if not controller_gen:
        raise Exit(message="generatemanifests needs --controller-gen")
    run(f"{controller_gen} --version")


ns = chartship.tasks.namespace(__name__, name="chart")
'''

PLAIN_TASKS = "from chartship.tasks import ns\n"

NOXFILE = '''\
import nox

import chartship.nox_sessions

chartship.nox_sessions.register(prefix="chart-")


@nox.session(python=False)
def docs(session):
    """Build the documentation of this repository."""
    session.run("true")
'''

NOXFILE_TWICE = """\
import nox

import chartship.nox_sessions

first = chartship.nox_sessions.register(prefix="chart-")
second = chartship.nox_sessions.register(prefix="helm-")
assert first == [
    "chart-lint", "chart-package", "chart-push", "chart-github-release", "chart-index",
    "chart-publish", "chart-matrix", "chart-migrate", "chart-bump", "chart-sandbox",
], first
assert second == [
    "helm-lint", "helm-package", "helm-push", "helm-github-release", "helm-index",
    "helm-publish", "helm-matrix", "helm-migrate", "helm-bump", "helm-sandbox",
], second
"""


def run_python(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python <args>`` in ``root`` with this interpreter, output captured."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
        env={**os.environ, **(env or {})},
    )


def invoke(
    ws: Workspace, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_python(ws.root, "-m", "invoke", *args, env=env)


def nox(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return run_python(ws.root, "-m", "nox", *args)


def listed_tasks(output: str) -> list[str]:
    """Task names of ``invoke --list`` (first word of each indented line)."""
    names = []
    for line in output.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            names.append(line.split()[0])
    return names


def break_version(ws: Workspace) -> None:
    ws.replace(
        "charts/metallb/Chart.yaml", "version: 0.0.0 # stamped", 'version: "1.2.3.4" # stamped'
    )


# --------------------------------------------------------------------------- invoke


def test_metallb_style_tasks_list_own_and_chart_tasks(workspace: Workspace) -> None:
    workspace.write("tasks.py", METALLB_TASKS)
    result = invoke(workspace, "--list")
    assert result.returncode == 0, combined(result)
    names = listed_tasks(result.stdout)
    assert {
        "lint",
        "generatemanifests",
        "chart.lint",
        "chart.bump",
        "chart.package",
        "chart.push",
        "chart.github-release",
        "chart.index",
        "chart.migrate.status",
        "chart.migrate.backfill",
        "chart.migrate.repair",
        "chart.migrate.accept",
        "chart.migrate.verify",
        "chart.migrate.deprecate",
        "chart.migrate.phase",
        "chart.sandbox",
    } <= set(names), result.stdout
    # The repository's own tasks keep their own docstrings, chartship's keep theirs.
    assert "Lint the Go code." in result.stdout
    assert "Regenerate the CRD manifests." in result.stdout
    assert "Package each chart once into dist/" in result.stdout


def test_metallb_style_chart_lint_and_own_tasks_run(workspace: Workspace) -> None:
    workspace.write("tasks.py", METALLB_TASKS)
    result = invoke(workspace, "chart.lint", "--helm", str(workspace.helm_bin))
    assert result.returncode == 0, combined(result)
    assert "metallb, metallb-dashboards: no problems" in result.stdout

    own = invoke(workspace, "lint", "--env", "ci")
    assert own.returncode == 0, combined(own)
    assert "own go lint ran for ci" in own.stdout
    # The repository's own lint did not turn into chartship's.
    assert "no problems" not in own.stdout

    # Its own Exit(message=...) style still reaches the user with a failure status.
    gen = invoke(workspace, "generatemanifests")
    assert gen.returncode == 1, combined(gen)
    assert "generatemanifests needs --controller-gen" in gen.stderr

    help_text = invoke(workspace, "--help", "chart.lint")
    assert help_text.returncode == 0, combined(help_text)
    assert "helm binary to use" in help_text.stdout


def test_plain_ns_lists_tasks_at_top_level(workspace: Workspace) -> None:
    workspace.write("tasks.py", PLAIN_TASKS)
    result = invoke(workspace, "--list")
    assert result.returncode == 0, combined(result)
    assert sorted(listed_tasks(result.stdout)) == [
        "bump",
        "github-release",
        "index",
        "lint",
        "matrix",
        "migrate.accept",
        "migrate.backfill",
        "migrate.deprecate",
        "migrate.phase",
        "migrate.repair",
        "migrate.status",
        "migrate.verify",
        "package",
        "push",
        "release",
        "sandbox",
    ], result.stdout


def test_plain_ns_lint_fails_on_broken_chart_naming_the_file(workspace: Workspace) -> None:
    workspace.write("tasks.py", PLAIN_TASKS)
    break_version(workspace)
    result = invoke(workspace, "lint", "--helm", str(workspace.helm_bin))
    assert result.returncode == 1, combined(result)
    assert "charts/metallb/Chart.yaml:" in result.stdout
    assert "[chart-yaml]" in result.stdout
    assert "chartship: error: lint found" in result.stderr
    # An Exit with a message, not a traceback.
    assert "Traceback" not in combined(result)


def test_chart_flag_selects_charts_and_repeats(workspace: Workspace) -> None:
    workspace.write("tasks.py", METALLB_TASKS)
    helm = ("--helm", str(workspace.helm_bin))
    one = invoke(workspace, "chart.lint", "--chart", "metallb-dashboards", *helm)
    assert one.returncode == 0, combined(one)
    assert "lint: metallb-dashboards: no problems" in one.stdout

    both = invoke(
        workspace, "chart.lint", "--chart", "metallb", "--chart", "metallb-dashboards", *helm
    )
    assert both.returncode == 0, combined(both)
    assert "lint: metallb, metallb-dashboards: no problems" in both.stdout

    unknown = invoke(workspace, "chart.lint", "--chart", "nosuchchart", *helm)
    assert unknown.returncode == 2, combined(unknown)
    assert "unknown chart nosuchchart (charts here: metallb, metallb-dashboards)" in unknown.stderr


def test_helm_from_invoke_yaml(workspace: Workspace) -> None:
    workspace.write("tasks.py", PLAIN_TASKS)
    # chartship.yaml names a pinned helm under .tools/ that this workspace lacks.
    pinned = load_settings(workspace.path("chartship.yaml")).helm_binary
    assert not Path(pinned).exists()
    without = invoke(workspace, "lint")
    assert without.returncode == 4, combined(without)
    assert pinned in without.stderr

    workspace.write("invoke.yaml", f"chartship:\n  helm: {workspace.helm_bin}\n")
    result = invoke(workspace, "lint")
    assert result.returncode == 0, combined(result)
    assert "no problems" in result.stdout


def test_helm_from_environment(workspace: Workspace) -> None:
    workspace.write("tasks.py", METALLB_TASKS)
    result = invoke(workspace, "chart.lint", env={"INVOKE_CHARTSHIP_HELM": str(workspace.helm_bin)})
    assert result.returncode == 0, combined(result)
    assert "no problems" in result.stdout


def test_task_flag_wins_over_invoke_configuration(workspace: Workspace) -> None:
    workspace.write("tasks.py", PLAIN_TASKS)
    workspace.write("invoke.yaml", "chartship:\n  helm: /nonexistent/helm\n")
    broken = invoke(workspace, "lint")
    assert broken.returncode == 4, combined(broken)
    assert "/nonexistent/helm" in broken.stderr

    result = invoke(workspace, "lint", "--helm", str(workspace.helm_bin))
    assert result.returncode == 0, combined(result)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ('    lint.workers: "many"\n', "lint.workers: must be an integer, not 'many'"),
        ("    lint:\n      workers: 0\n", "lint.workers: must be at least 1, not 0"),
        ("    bogus: 1\n", "bogus: unknown key"),
    ],
    ids=["dotted", "nested", "unknown"],
)
def test_invalid_override_in_invoke_yaml(
    workspace: Workspace, overrides: str, expected: str
) -> None:
    workspace.write("tasks.py", PLAIN_TASKS)
    workspace.write(
        "invoke.yaml", f"chartship:\n  helm: {workspace.helm_bin}\n  overrides:\n{overrides}"
    )
    result = invoke(workspace, "lint")
    assert result.returncode == 2, combined(result)
    assert expected in result.stderr
    assert result.stderr.startswith("chartship: error: ")
    assert "Traceback" not in combined(result)


def test_valid_override_in_invoke_yaml_is_applied(workspace: Workspace) -> None:
    workspace.write("tasks.py", PLAIN_TASKS)
    workspace.write(
        "invoke.yaml",
        f"chartship:\n  helm: {workspace.helm_bin}\n  overrides:\n    dist_dir: out\n",
    )
    result = invoke(workspace, "package", "--dev")
    assert result.returncode == 0, combined(result)
    assert (workspace.root / "out" / "SHA256SUMS").is_file()
    assert not (workspace.root / "dist").exists()


def test_bump_without_version_is_a_usage_error(workspace: Workspace) -> None:
    workspace.write("tasks.py", METALLB_TASKS)
    before = workspace.path("charts/metallb/Chart.yaml").read_text()
    result = invoke(workspace, "chart.bump")
    assert result.returncode == 2, combined(result)
    assert "bump needs --version" in result.stderr
    assert workspace.path("charts/metallb/Chart.yaml").read_text() == before


def test_bump_through_invoke_stamps_the_version(workspace: Workspace) -> None:
    workspace.write("tasks.py", METALLB_TASKS)
    result = invoke(
        workspace,
        "chart.bump",
        "--version",
        "0.16.2",
        "--chart",
        "metallb",
        "--helm",
        str(workspace.helm_bin),
    )
    assert result.returncode == 0, combined(result)
    assert "version: 0.0.0 -> 0.16.2" in result.stdout
    assert "version: 0.16.2" in workspace.path("charts/metallb/Chart.yaml").read_text()


# --------------------------------------------------------------------------- nox


def test_nox_lists_registered_and_own_sessions(workspace: Workspace) -> None:
    workspace.write("noxfile.py", NOXFILE)
    result = nox(workspace, "-l")
    assert result.returncode == 0, combined(result)
    lines = result.stdout.splitlines()
    expected = {
        "chart-lint": "Lint every chart (helm lint --strict, schema, versions).",
        "chart-package": "Package every chart once into dist/ with SHA256SUMS.",
        "chart-push": "Push dist/ to the OCI registry, verified by reading back.",
        "chart-github-release": "One GitHub release per archive in dist/, assets verified.",
        "chart-index": "Merge dist/ into index.yaml on the pages branch and push it.",
        "chart-migrate": (
            "Classic to OCI: nox -s chart-migrate -- status|backfill|repair|accept VERSION ...|"
            "verify|deprecate|phase PHASE."
        ),
        "chart-bump": (
            "Stamp release versions (nox -s chart-bump -- --version X.Y.Z | --patch | --minor | "
            "--major [--pre ID] CHART...)."
        ),
        "chart-publish": (
            "Release: lint, package once, publish to every channel, verify "
            "(nox -s chart-publish -- --tag TAG | --dry-run | CHART...)."
        ),
        "chart-matrix": "Print the charts a release covers as a GitHub Actions matrix (JSON).",
        "chart-sandbox": (
            "Rehearse on local services: nox -s chart-sandbox -- [--classic-from DIR] "
            "[--report FILE] [--keep] [--run CMD]..."
        ),
        "docs": "Build the documentation of this repository.",
    }
    for name, doc in expected.items():
        assert any(line[2:] == f"{name} -> {doc}" for line in lines), result.stdout
    # lint is selected by default, the sessions that change things are not.
    assert "* chart-lint -> " in result.stdout
    assert "- chart-package -> " in result.stdout
    assert "- chart-push -> " in result.stdout
    assert "- chart-bump -> " in result.stdout
    assert "- chart-publish -> " in result.stdout
    assert "- chart-sandbox -> " in result.stdout
    # Listing creates no virtualenv.
    assert not (workspace.root / ".nox").exists()


def test_nox_register_twice_with_different_prefixes(workspace: Workspace) -> None:
    workspace.write("noxfile.py", NOXFILE_TWICE)
    result = nox(workspace, "-l")
    assert result.returncode == 0, combined(result)
    for prefix in ("chart-", "helm-"):
        for name in ("lint", "package", "bump"):
            assert f" {prefix}{name} -> " in result.stdout, result.stdout
    assert "nox -s helm-bump -- --version" in result.stdout


# --------------------------------------------------------------------------- imports


def imported_after(tmp_path: Path, statement: str, prefixes: list[str]) -> list[str]:
    """Top-level packages among ``prefixes`` in sys.modules after ``statement``."""
    code = (
        f"import sys\n{statement}\n"
        f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & {set(prefixes)!r})))\n"
    )
    result = run_python(tmp_path, "-c", code)
    assert result.returncode == 0, combined(result)
    return result.stdout.split()


def test_core_and_cli_do_not_import_invoke_or_nox(tmp_path: Path) -> None:
    statement = (
        "import chartship.config, chartship.lint, chartship.package, chartship.bump, "
        "chartship.commands, chartship.cli"
    )
    assert imported_after(tmp_path, statement, ["invoke", "nox"]) == []
    # The check itself sees what it looks for.
    assert imported_after(tmp_path, "import chartship.tasks", ["invoke", "nox"]) == ["invoke"]


def test_nox_sessions_module_is_cheap(tmp_path: Path) -> None:
    heavy = ["yaml", "semver", "ruamel", "jsonschema"]
    assert imported_after(tmp_path, "import chartship.nox_sessions", heavy) == []
    # The check sees what it looks for: the commands read YAML and versions at once,
    # while ruamel.yaml and jsonschema wait for the step that uses them (test_startup).
    assert imported_after(tmp_path, "import chartship.commands", heavy) == ["semver", "yaml"]


#: A consumer whose chartship has a bug: lint raises something no chartship error is.
BUGGY_TASKS = """\
import chartship.lint.command


def planted_bug(*args, **kwargs):
    raise RuntimeError("planted bug")


chartship.lint.command.lint = planted_bug

from chartship.tasks import ns  # noqa: E402
"""

BUGGY_CLI = (
    "import sys, chartship.lint.command as c\n"
    "def planted_bug(*args, **kwargs):\n"
    "    raise RuntimeError('planted bug')\n"
    "c.lint = planted_bug\n"
    "from chartship.cli import main\n"
    "sys.exit(main(['lint']))\n"
)


def test_a_bug_exits_70_with_the_same_message_under_invoke_and_the_cli(
    workspace: Workspace,
) -> None:
    workspace.write("tasks.py", BUGGY_TASKS)
    under_invoke = invoke(workspace, "lint")
    under_cli = run_python(workspace.root, "-c", BUGGY_CLI)
    message = "chartship: internal error: RuntimeError: planted bug"
    for result in (under_invoke, under_cli):
        assert result.returncode == 70, combined(result)
        assert result.stderr.strip().splitlines()[-1] == message, combined(result)
        # The traceback is there for the bug report, before the one-line message.
        assert "Traceback" in result.stderr

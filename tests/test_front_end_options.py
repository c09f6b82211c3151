"""The options every front end shares: where the command line takes them, the
invoke tasks' flags (no ``-h`` shadowed), and the exit statuses ``--help`` lists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chartship import tasks
from chartship.exits import STATUSES
from tests.support.builders import REPO, Workspace, combined
from tests.test_embedding import METALLB_TASKS, PLAIN_TASKS, invoke

TIMEOUT = 300


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chartship", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
        env=dict(os.environ),
    )


# --------------------------------------------------------------------------- command line


def test_global_options_before_or_after_the_command(workspace: Workspace) -> None:
    helm = str(workspace.helm_bin)
    for argv in (
        ["-v", "--helm", helm, "lint"],
        ["lint", "-v", "--helm", helm],
        ["-v", "lint", "--helm", helm],
    ):
        result = cli(workspace.root, *argv)
        assert result.returncode == 0, combined(result)
        assert "lint: metallb, metallb-dashboards: no problems" in result.stdout
        # -v logs every command run, wherever it was given.
        assert re.search(rf"^run: {re.escape(helm)} ", result.stderr, re.MULTILINE), argv
    quiet = cli(workspace.root, "--helm", helm, "lint")
    assert quiet.returncode == 0, combined(quiet)
    assert "run: " not in quiet.stderr


def test_set_before_and_after_the_command_both_apply(workspace: Workspace) -> None:
    helm = str(workspace.helm_bin)
    # The override before the command survives one after it.
    result = cli(
        workspace.root, "--set", "lint.workers=0", "lint", "--set", "lint.version_increment=true",
        "--helm", helm,
    )  # fmt: skip
    assert result.returncode == 2, combined(result)
    assert "lint.workers: must be at least 1, not 0" in result.stderr
    after = cli(workspace.root, "--set", "lint.workers=2", "lint", "--set", "bogus=1")
    assert after.returncode == 2, combined(after)
    assert "bogus: unknown key" in after.stderr


def test_the_later_of_two_places_wins(workspace: Workspace) -> None:
    helm = str(workspace.helm_bin)
    good = cli(workspace.root, "--helm", "/nonexistent/helm", "lint", "--helm", helm)
    assert good.returncode == 0, combined(good)
    bad = cli(workspace.root, "--helm", helm, "lint", "--helm", "/nonexistent/helm")
    assert bad.returncode == 4, combined(bad)
    assert "/nonexistent/helm" in bad.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--config", "missing.yaml", "migrate", "verify"],
        ["migrate", "--config", "missing.yaml", "verify"],
        ["migrate", "verify", "--config", "missing.yaml"],
        ["--config", "missing.yaml", "lint"],
    ],
    ids=["before", "between", "after-step", "before-lint"],
)
def test_config_at_every_level(tmp_path: Path, argv: list[str]) -> None:
    result = cli(tmp_path, *argv)
    assert result.returncode == 2, combined(result)
    assert "missing.yaml: configuration file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_every_exit_status(tmp_path: Path) -> None:
    result = cli(tmp_path, "--help")
    assert result.returncode == 0, combined(result)
    listed = result.stdout.split("exit statuses:\n", 1)[1]
    rows = re.findall(r"^  (\d+)\s+(.+)$", listed, re.MULTILINE)
    assert {int(code): meaning for code, meaning in rows} == STATUSES
    assert "global options (before or after the command)" in result.stdout


def test_readme_exit_status_table_is_the_one_source() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("Exit statuses\n", 1)[1]
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", section.split("\n#", 1)[0], re.MULTILINE)
    # Backticks are the README's formatting of file names, not a different text.
    assert {int(code): meaning.replace("`", "") for code, meaning in rows} == STATUSES


# --------------------------------------------------------------------------- invoke


def all_tasks() -> list[tuple[str, Any]]:
    collection = tasks.collection()
    return [(name, collection[name]) for name in sorted(collection.task_names)]


@pytest.mark.parametrize(("name", "task"), all_tasks(), ids=[n for n, _ in all_tasks()])
def test_every_task_takes_the_global_flags_and_leaves_h_alone(name: str, task: Any) -> None:
    arguments = {arg.name: arg for arg in task.get_arguments()}
    assert {"config", "set", "helm"} <= set(arguments), name
    assert arguments["set"].kind is list, "--set repeats"
    for arg in arguments.values():
        assert "h" not in arg.names, f"{name} --{arg.name} takes -h, invoke's help"
        # A positional would take the word after the task name, -h included.
        assert not arg.positional, f"{name} {arg.name} is positional"


def test_task_help_with_h(workspace: Workspace) -> None:
    workspace.write("tasks.py", METALLB_TASKS)
    for task_name in ("chart.lint", "chart.release", "chart.migrate.phase", "chart.bump"):
        result = invoke(workspace, task_name, "-h")
        assert result.returncode == 0, combined(result)
        assert result.stdout.startswith(f"Usage: inv[oke] [--core-opts] {task_name} "), (
            result.stdout
        )
        for flag in ("--config", "--set", "--helm"):
            assert flag in result.stdout, (task_name, flag)


def test_task_set_and_config(workspace: Workspace) -> None:
    workspace.write("tasks.py", PLAIN_TASKS)
    helm = ("--helm", str(workspace.helm_bin))
    bad = invoke(workspace, "lint", "--set", "lint.workers=0", *helm)
    assert bad.returncode == 2, combined(bad)
    assert "lint.workers: must be at least 1, not 0" in bad.stderr
    assert "Traceback" not in combined(bad)

    # --set repeats, and wins over invoke's own overrides.
    workspace.write("invoke.yaml", "chartship:\n  overrides:\n    lint.workers: 0\n")
    good = invoke(
        workspace, "lint", "--set", "lint.workers=2", "--set", "lint.version_increment=false",
        *helm,
    )  # fmt: skip
    assert good.returncode == 0, combined(good)
    assert "no problems" in good.stdout

    malformed = invoke(workspace, "lint", "--set", "lint.workers", *helm)
    assert malformed.returncode == 2, combined(malformed)
    assert "'lint.workers' is not of the form key=value" in malformed.stderr

    # --config wins over invoke's chartship.config.
    workspace.write("invoke.yaml", "chartship:\n  config: elsewhere.yaml\n")
    missing = invoke(workspace, "lint", *helm)
    assert missing.returncode == 2, combined(missing)
    assert "elsewhere.yaml: configuration file not found" in missing.stderr
    chosen = invoke(workspace, "lint", "--config", "chartship.yaml", *helm)
    assert chosen.returncode == 0, combined(chosen)


def test_migrate_phase_needs_to(workspace: Workspace) -> None:
    workspace.write("tasks.py", PLAIN_TASKS)
    result = invoke(workspace, "migrate.phase")
    assert result.returncode == 2, combined(result)
    assert "migrate.phase needs --to PHASE" in result.stderr

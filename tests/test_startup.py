"""Start-up: a command imports only what it uses.

Each probe runs in a fresh interpreter, since this process has imported
everything long before; it prints which of the libraries only some steps
need were loaded by the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TypedDict

from tests.support import bench_merge
from tests.support.builders import CLI_TIMEOUT, Workspace, chart_archive, synthetic_index

#: Libraries only some steps need: PyGithub (the GitHub channel) and requests
#: (its transport), jsonschema and referencing (a values schema), ruamel.yaml (a
#: bump), and the sandbox's rehearsal (which loads its GitHub stand-in).
HEAVY = ("github", "requests", "jsonschema", "referencing", "ruamel", "chartship.sandbox.rehearsal")

PROBE = """
import json, sys
from chartship import cli
{before}
try:
    status = cli.main(sys.argv[1:])
except SystemExit as exc:
    status = exc.code
print(json.dumps({{
    "status": status,
    "heavy": sorted(m for m in {heavy!r} if m in sys.modules),
    "channels": sorted(m for m in sys.modules if m.startswith("chartship.channels")),
}}))
"""


class Loaded(TypedDict):
    status: int
    heavy: list[str]
    channels: list[str]


def probe(
    *argv: str, cwd: Path | None = None, before: str = "", heavy: tuple[str, ...] = HEAVY
) -> Loaded:
    """What ``chartship <argv>`` loaded (of ``heavy``), run through the command line's own entry."""
    script = PROBE.format(heavy=heavy, before=before)
    done = subprocess.run(
        [sys.executable, "-c", script, *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=CLI_TIMEOUT,
    )
    loaded: Loaded = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


#: What reading settings, versions and git brings in: YAML, SemVer, the git
#: runner, and the configuration model built on them.
SETTINGS = ("yaml", "semver", "chartship.config", "chartship.gitrepo", "chartship.versions")


def test_help_imports_no_channel_and_no_library_a_step_may_need() -> None:
    loaded = probe("--help")
    assert loaded == {"status": 0, "heavy": [], "channels": []}


def test_help_and_a_refused_command_line_read_no_settings_yaml_semver_or_git() -> None:
    # One interpreter for all of them (what they load adds up), ending with a refusal.
    helps = (["--help"], ["release", "--help"], ["migrate", "backfill", "--help"])
    before = f"""
for argv in {helps!r}:
    try:
        cli.main(argv)
    except SystemExit:
        pass
"""
    loaded = probe("nope", before=before, heavy=SETTINGS)
    assert loaded == {"status": 2, "heavy": [], "channels": []}


#: What a merge's process has no use for, each a measurable part of its start-up:
#: unicodedata is for quoting outside text in a message; dataclasses brings
#: inspect, ast, dis and tokenize, and typing is for mypy (chartship.records
#: says why the merge's modules define plain classes and import typing only
#: when type checking).
NOT_FOR_A_MERGE = ("unicodedata", "dataclasses", "inspect", "typing")


def imported_by(argv: list[str]) -> set[str]:
    """Every module a Python process imports, as ``-X importtime`` lists them.

    The process is run as it is, not from a probe that would add imports of its own.
    """
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        capture_output=True,
        text=True,
        check=True,
        timeout=CLI_TIMEOUT,
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    # "import time: self [us] | cumulative | imported package", the name indented by depth.
    return {line.rsplit("|", 1)[1].strip() for line in lines[1:]}


def test_an_index_merge_loads_no_settings_packaging_git_or_type_machinery(
    tmp_path: Path,
) -> None:
    # The merge benchmark's process, run whole: it must not pay for packaging's
    # imports, or a 10-entry merge loses to helm on start-up alone.
    old = tmp_path / "index.yaml"
    old.write_text(synthetic_index(10), encoding="utf-8")
    archive = chart_archive(tmp_path / "new", "chart-0000", "9.9.9")
    out = tmp_path / "merged.yaml"
    loaded = imported_by(
        [bench_merge.__file__, str(old), str(archive), str(out), "https://example.test"]
    )
    assert "chart-0000-9.9.9.tgz" in out.read_text(encoding="utf-8")
    assert "yaml._yaml" in loaded  # the listing is whole: the C loader is in it
    assert sorted(m for m in NOT_FOR_A_MERGE if m in loaded) == []
    assert sorted(m for m in loaded if m.startswith("chartship") or m == "semver") == [
        "chartship",
        "chartship.artifacts",
        "chartship.channels",
        "chartship.channels.classic",
        "chartship.channels.classic.entry",
        "chartship.channels.classic.merge",
        "chartship.channels.classic.order",
        "chartship.channels.classic.repeats",  # builds its patterns only for a big index
        "chartship.channels.classic.scan",
        "chartship.errors",
        "chartship.records",
        "chartship.safetext",
        "chartship.yamlfiles",
    ]


def test_the_release_machinery_imports_without_pygithub_jsonschema_or_ruamel() -> None:
    # Every command module, as a front end (invoke, nox, an embedding program) loads it.
    loaded = probe(
        "release", "--help", before="import chartship.commands, chartship.release.pipeline"
    )
    assert loaded["status"] == 0
    assert loaded["heavy"] == []


#: What only a release with something to release, or another command, needs.
NOT_FOR_A_NO_OP = (
    "chartship.bump",
    "chartship.dependencies",
    "chartship.lint.command",
    "chartship.lint.increment",
    "chartship.migrate.backfill",
    "chartship.migrate.inventory",
    "chartship.migrate.phases",
    "chartship.package",
    "chartship.release.settle",
    "chartship.sources",
)


def test_release_with_its_settings_loaded_imports_no_packaging_lint_engine_or_migration(
    tmp_path: Path,
) -> None:
    # Loading the settings imports the lint package (its rules and ct.yaml): that
    # must not bring the lint engine's dependencies, siblings or helm with it.
    loaded = probe(
        "release",
        "--help",
        cwd=tmp_path,
        before="import chartship.commands, chartship.release.pipeline\n"
        "chartship.commands.settings_from(None)",
        heavy=NOT_FOR_A_NO_OP,
    )
    assert loaded["status"] == 0
    assert loaded["heavy"] == []


def test_lint_reads_every_chart_without_the_github_channel(workspace: Workspace) -> None:
    loaded = probe("lint", "--helm", str(workspace.helm_bin), cwd=workspace.root)
    assert loaded["status"] == 0
    # jsonschema is the values schema's (metallb has one); the rest no lint step uses.
    assert loaded["heavy"] == ["jsonschema", "referencing"]


def test_the_benchmarks_run_without_pytest() -> None:
    """`nox -s bench` installs chartship alone: its modules import no pytest, even
    for a type annotation."""
    probe = "import sys; sys.modules['pytest'] = None; import tests.support.bench"
    root = Path(__file__).parents[1]
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True,
        timeout=CLI_TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

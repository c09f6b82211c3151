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

from tests.support.builders import CLI_TIMEOUT, Workspace

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


def probe(*argv: str, cwd: Path | None = None, before: str = "") -> Loaded:
    """What ``chartship <argv>`` loaded, run through the command line's own entry."""
    script = PROBE.format(heavy=HEAVY, before=before)
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


def test_help_imports_no_channel_and_no_library_a_step_may_need() -> None:
    loaded = probe("--help")
    assert loaded == {"status": 0, "heavy": [], "channels": []}


def test_the_release_machinery_imports_without_pygithub_jsonschema_or_ruamel() -> None:
    # Every command module, as a front end (invoke, nox, an embedding program) loads it.
    loaded = probe(
        "release", "--help", before="import chartship.commands, chartship.release.pipeline"
    )
    assert loaded["status"] == 0
    assert loaded["heavy"] == []


def test_lint_reads_every_chart_without_the_github_channel(workspace: Workspace) -> None:
    loaded = probe("lint", "--helm", str(workspace.helm_bin), cwd=workspace.root)
    assert loaded["status"] == 0
    # jsonschema is the values schema's (metallb has one); the rest no lint step uses.
    assert loaded["heavy"] == ["jsonschema", "referencing"]

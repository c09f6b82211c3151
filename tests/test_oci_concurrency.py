"""Immutability under concurrency: writers of one version with different bytes, at
the same time, against a real docker-registry, on helm 3 and helm 4.

The registry has no conditional PUT; chartship's protocol (the OCI channel's
module docstring) must leave the tag holding one content, with every writer of
the other content refused and none of them reporting success.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from chartship.bump import bump
from chartship.channels.contract import Status
from chartship.config import load_settings
from chartship.errors import PublishIncomplete
from chartship.package import package
from chartship.release import pipeline
from chartship.runner import Result, Runner
from chartship.sandbox.registry import RegistryServer, get_manifest
from tests.support.builders import Workspace, chart_archive
from tests.support.sandbox import REPOSITORY, Sandbox, open_sandbox
from tests.test_push import DASH, configure

WRITERS = 4
ROUNDS = 2
#: Seconds one round may take, all writers included.
ROUND_TIMEOUT = 120
#: Every writer imports chartship first, then waits for this moment: their looks
#: at the tag fall within milliseconds, long before any helm process has started.
_START = """
import sys, time
import chartship.cli
start = float(sys.argv[1])
time.sleep(max(0.0, start - time.time()))
sys.exit(chartship.cli.main(sys.argv[2:]))
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fork(workspace: Workspace, tmp_path: Path) -> Path:
    """A second working copy whose charts differ from the workspace's."""
    fork = tmp_path / "fork"
    shutil.copytree(workspace.root, fork, ignore=shutil.ignore_patterns("dist"))
    values = fork / "charts" / DASH / "values.yaml"
    values.write_text(values.read_text() + "\n# the fork's\n")
    return fork


def _manifest_puts(server: RegistryServer, version: str) -> int:
    """Manifest PUTs to the version's tag in the registry's access log."""
    pattern = re.compile(rf'"PUT /v2/charts/{DASH}/manifests/{re.escape(version)} HTTP')
    return len(pattern.findall(server.log_path.read_text(errors="replace")))


def _race(
    roots: Sequence[Path], helm_bin: Path, version: str
) -> list[subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTSHIP_")}
    start = time.time() + 3.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _START, str(start), "push", "--helm", str(helm_bin)],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for root in roots
    ]
    done: list[subprocess.CompletedProcess[str]] = []
    deadline = time.monotonic() + ROUND_TIMEOUT
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
                other.communicate()
            pytest.fail(f"a writer did not finish within {ROUND_TIMEOUT}s")
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def test_concurrent_pushes_of_one_version_leave_one_content_and_refuse_the_other(
    workspace: Workspace,
    registry: RegistryServer,
    helm_bin: Path,
    helm_version: str,
    tmp_path: Path,
) -> None:
    # Both engines share the protocol; each runs once, on one helm major (the
    # native engine starts no helm at all).
    engine = "helm" if helm_version.startswith("3.") else "native"
    settings = configure(workspace, registry, engine=engine)
    fork = _fork(workspace, tmp_path)
    sides = {
        workspace.root: settings,
        fork: load_settings(fork / "chartship.yaml", {"helm": str(helm_bin)}),
    }
    started = time.monotonic()
    for number in range(ROUNDS):
        version = f"2.0.{number}"
        digests: dict[Path, str] = {}
        for root, side in sides.items():
            # Only this round's version in dist/: push pushes all of it.
            shutil.rmtree(side.dist_path, ignore_errors=True)
            bump(side, version, [DASH])
            (made,) = package(side, [DASH])
            digests[root] = made.sha256
        assert len(set(digests.values())) == 2
        roots = [list(sides)[n % 2] for n in range(WRITERS)]

        results = _race(roots, helm_bin, version)

        _s, manifest, _d = get_manifest(registry, f"charts/{DASH}", version)
        assert manifest is not None
        (layer,) = manifest["layers"]
        held = layer["digest"].removeprefix("sha256:")
        assert held in digests.values(), f"round {number}: the tag holds neither content"
        for root, result in zip(roots, results, strict=True):
            text = result.stdout + result.stderr
            if digests[root] == held:
                assert result.returncode == 0, f"round {number}: a winner failed:\n{text}"
                assert re.search(r"OCI: 1 (pushed|skipped)", text), text
            else:
                assert result.returncode == 6, f"round {number}: a loser did not fail:\n{text}"
                assert "refused" in text, text
                assert "Traceback" not in text
        # What holds however the writers were scheduled: the tag was written, and
        # whoever wrote or lost to the other content was refused above, never told
        # it succeeded. How many writes raced depends on the machine's load (a
        # writer's helm may even run twice), so that is not asserted.
        assert _manifest_puts(registry, version) >= 1, f"round {number}: the tag was never written"
        winners = [r for r, res in zip(roots, results, strict=True) if res.returncode == 0]
        assert winners, f"round {number}: nobody won the tag"
        assert all(digests[r] == held for r in winners), f"round {number}"
    assert time.monotonic() - started < ROUNDS * ROUND_TIMEOUT


# --------------------------------------------------------------------------- release


VERSION = "0.16.0"


class RivalAfterPush(Runner):
    """Another release's helm pushes other bytes of the version right after ours:
    it looked at the tag before our push landed, as a concurrent writer does."""

    def __init__(self, helm_bin: Path, rival: Path, oci_base: str) -> None:
        super().__init__()
        self.helm_bin, self.rival, self.oci_base = helm_bin, rival, oci_base
        self.fired = False

    def run(self, argv: Sequence[str], **kwargs: object) -> Result:
        result = super().run(argv, **kwargs)  # type: ignore[arg-type]
        if not self.fired and list(argv)[1:2] == ["push"]:
            self.fired = True
            super().run([str(self.helm_bin), "push", str(self.rival), self.oci_base,
                         "--plain-http"], env=kwargs.get("env"))  # type: ignore[arg-type]  # fmt: skip
        return result


@pytest.fixture
def box(
    tmp_path: Path, _workspace_template: Path, helm_bin: Path, upstream: str
) -> Iterator[Sandbox]:
    with open_sandbox(tmp_path / "sandbox", _workspace_template, helm_bin) as sandbox:
        sandbox.stamp(VERSION)
        yield sandbox
    assert not sandbox.github.violations, sandbox.github.report()


def test_a_release_that_loses_the_tag_publishes_nowhere_else(box: Sandbox, tmp_path: Path) -> None:
    rival = chart_archive(tmp_path / "rival", "metallb", VERSION)
    runner = RivalAfterPush(box.helm_bin, rival, box.oci_base)
    kept: list[pipeline.ReleaseResult] = []

    class Keep(pipeline.Silent):
        def result(self, result: pipeline.ReleaseResult) -> None:
            kept.append(result)

    with pytest.raises(PublishIncomplete) as incomplete:
        pipeline.release(
            # The rival fires on our helm push: the helm engine runs one.
            box.settings(**{"channels.oci.engine": "helm"}),
            ["metallb"],
            tag=f"metallb-chart-{VERSION}",
            environ=box.environ,
            runner=runner,
            reporter=Keep(),
        )
    assert runner.fired
    assert incomplete.value.exit_code == 6
    (row,) = kept[0].rows
    assert row.cells["oci"].status is Status.REFUSED
    assert "another writer wrote it at the same time" in row.cells["oci"].detail
    for name in ("github", "classic"):
        assert row.cells[name].status is Status.BLOCKED
        assert "OCI holds other bytes of this version" in row.cells[name].detail
    # The rival won the tag; this run's bytes went nowhere else.
    _s, manifest, _d = get_manifest(box.registry, "charts/metallb", VERSION)
    assert manifest is not None
    assert manifest["layers"][0]["digest"] == f"sha256:{sha256(rival)}"
    assert box.github.releases(REPOSITORY) == []
    assert box.git("ls-remote", "origin", "refs/heads/gh-pages").strip() == ""

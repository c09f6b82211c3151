"""Releases and backfills under failing services, on helm 3 and helm 4.

A fault proxy (tests/support/fault_proxy.py) sits in front of the registry, the
GitHub stand-in and the pages site, and fails a share of the requests: 500, 502
after the work was done, 429 with Retry-After, connection resets. Results are
always read directly from the services, never through the proxies. The GitHub
stand-in's repository has immutable releases on.

- A fifth of the requests failing: a release and a 50-version backfill complete,
  and every channel holds exactly the local bytes.
- Every request failing: they stop within a bound, name what failed, and report
  what was published and what was not; a rerun once the services are healthy
  completes the job.
- The registry SIGKILLed at random points of a backfill (before, during or right
  after a request), restarted, the backfill run again: every version present
  once, with its digest.
"""

from __future__ import annotations

import hashlib
import io
import random
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chartship import commands
from chartship.channels.oci.channel import UNKNOWN
from chartship.channels.oci.registry import HELM_CONFIG, HELM_CONTENT, RegistryClient, Tls
from chartship.errors import ChannelsNotReady, ChartshipError, PublishIncomplete, RegistryError
from chartship.migrate.backfill import backfill
from chartship.sandbox.registry import RegistryServer
from tests.support.builders import release_history
from tests.support.fault_proxy import FAULTS, FaultProxy
from tests.support.matrix import newest_helm
from tests.support.sandbox import REPOSITORY, Sandbox, open_sandbox, sha256

VERSION = "0.16.0"
TAG = f"metallb-chart-{VERSION}"
#: A run with every request failing must have stopped within this many seconds.
GIVE_UP_BOUND = 90.0
BACKFILL_VERSIONS = 50
KILL_POINTS = 10
KILL_VERSIONS = 8


@pytest.fixture
def sandbox(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    _workspace_template: Path,
    helm_bin: Path,
    upstream: str,
) -> Iterator[Sandbox]:
    """The sandbox's services, each behind a fault proxy (no faults yet), whose
    choices are seeded by the test's name: a failure replays."""
    seed = int(hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:8], 16)
    base = tmp_path / "sandbox"
    with open_sandbox(base, _workspace_template, helm_bin, faulty=True, seed=seed) as box:
        # GitHub's immutable releases on: no retry or replay may need to change a
        # published release.
        box.github.repo(REPOSITORY).immutable_releases = True
        yield box
    assert not box.github.violations, box.github.report()


@pytest.fixture
def box(sandbox: Sandbox) -> Sandbox:
    """The sandbox with metallb stamped for release."""
    sandbox.stamp(VERSION)
    return sandbox


def proxies(box: Sandbox) -> dict[str, FaultProxy]:
    assert box.proxies is not None
    return box.proxies


def injected(box: Sandbox) -> dict[str, int]:
    total: dict[str, int] = {}
    for proxy in proxies(box).values():
        for kind, count in proxy.injected.items():
            total[kind] = total.get(kind, 0) + count
    return total


def release(box: Sandbox) -> str:
    out = io.StringIO()
    commands.run_release(box.settings(), out=out, environ=box.environ, tag=TAG)
    return out.getvalue()


def direct_client(box: Sandbox) -> RegistryClient:
    return RegistryClient(box.registry.host, tls=Tls(plain_http=True), retry_seconds=2)


def oci_layers(box: Sandbox, chart: str = "metallb") -> dict[str, str]:
    """Tag -> chart layer digest, read from the registry itself."""
    client = direct_client(box)
    found = {}
    for tag in client.tags(f"charts/{chart}"):
        manifest = client.manifest(f"charts/{chart}", tag)
        assert manifest is not None, tag
        if manifest.config_media_type != HELM_CONFIG:
            continue  # the artifacthub.io metadata tag
        (layer,) = manifest.layers(HELM_CONTENT)
        found[tag] = str(layer["digest"])
    return found


def untagged_manifests(box: Sandbox, chart: str = "metallb") -> set[str]:
    """Manifests the registry stored for the chart that no tag points at: a
    version pushed twice with different manifests would leave one."""
    revisions = (
        box.registry.storage
        / "docker/registry/v2/repositories/charts"
        / chart
        / "_manifests/revisions/sha256"
    )
    stored = {f"sha256:{p.name}" for p in revisions.iterdir()} if revisions.exists() else set()
    client = direct_client(box)
    tagged = set()
    for tag in client.tags(f"charts/{chart}") if stored else []:
        manifest = client.manifest(f"charts/{chart}", tag)
        assert manifest is not None
        tagged.add(manifest.digest)
    return stored - tagged


def github_writes(box: Sandbox) -> int:
    return sum(len(box.github.calls(m)) for m in ("POST", "PATCH", "PUT", "DELETE"))


def classic_history(box: Sandbox, count: int, scratch: Path) -> dict[str, str]:
    """``count`` released versions of metallb in the classic channel: a GitHub
    release with its asset each, and index.yaml on the origin's gh-pages branch.
    Entries point at the asset URLs through the proxy. Version -> digest."""
    versions = [f"0.{1 + number // 10}.{number % 10}" for number in range(count)]
    text, digests = release_history(box.github, versions, scratch, repository=REPOSITORY)
    _commit_pages(box.origin, {"index.yaml": text})
    return digests


def _commit_pages(origin: Path, files: dict[str, str]) -> None:
    def git(*args: str, stdin: str = "") -> str:
        return subprocess.run(
            ["git", "--git-dir", str(origin), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()

    listing = "".join(
        f"100644 blob {git('hash-object', '-w', '--stdin', stdin=text)}\t{name}\n"
        for name, text in files.items()
    )
    tree = git("mktree", stdin=listing)
    commit = git("commit-tree", tree, "-m", "classic channel")
    git("update-ref", "refs/heads/gh-pages", commit)


def expected_tags(digests: dict[str, str]) -> dict[str, str]:
    return {version: f"sha256:{digest}" for version, digest in digests.items()}


def timed(action: Callable[[], Any]) -> tuple[float, Any, BaseException | None]:
    started = time.monotonic()
    try:
        result, error = action(), None
    except ChartshipError as exc:
        result, error = None, exc
    return time.monotonic() - started, result, error


# --------------------------------------------------------------------------- release


def test_release_completes_with_a_fifth_of_requests_failing(box: Sandbox) -> None:
    box.faults(0.2)
    text = release(box)
    assert "release: 1 chart version(s) published and verified" in text
    assert sum(injected(box).values()) > 0, proxies(box)
    box.faults(0.0)

    archive = box.settings().dist_path / f"metallb-{VERSION}.tgz"
    digest = sha256(archive)
    assert sha256(box.pull_oci("metallb", VERSION, box.base / "oci")) == digest
    assert sha256(box.pull_classic("metallb", VERSION, box.base / "classic")) == digest
    (made,) = box.github.releases(REPOSITORY)
    assert [(a.name, hashlib.sha256(a.data).hexdigest()) for a in made.assets] == [
        (archive.name, digest)
    ]
    assert untagged_manifests(box) == set()
    assert "release: nothing changed" in release(box)


def test_release_with_every_request_failing_stops_and_publishes_nothing(box: Sandbox) -> None:
    box.faults(1.0)
    seconds, _, error = timed(lambda: release(box))
    assert seconds < GIVE_UP_BOUND
    # Preflight finds the services failing, so nothing is even attempted.
    assert isinstance(error, ChannelsNotReady)
    assert error.exit_code == 5
    assert str(error).startswith("release: nothing was published: ")
    assert "  OCI: registry 127.0.0.1:" in str(error)
    assert "  GitHub release: GitHub: " in str(error)
    assert injected(box)
    box.faults(0.0)
    assert oci_layers(box) == {}
    assert box.github.releases(REPOSITORY) == []
    assert box.git("ls-remote", "origin", "refs/heads/gh-pages") == ""

    text = release(box)
    assert "release: 1 chart version(s) published and verified" in text


def test_release_with_the_registry_down_publishes_nothing_and_says_so(box: Sandbox) -> None:
    proxies(box)["registry"].rate = 1.0
    out = io.StringIO()
    started = time.monotonic()
    with pytest.raises(ChannelsNotReady) as failed:
        commands.run_release(box.settings(), out=out, environ=box.environ, tag=TAG)
    assert time.monotonic() - started < GIVE_UP_BOUND
    lines = str(failed.value).splitlines()
    assert lines[0] == (
        "release: nothing was published: 1 channel(s) cannot be completed; run it again "
        "once every channel answers:"
    )
    assert lines[1].startswith("  OCI: registry 127.0.0.1:")
    assert failed.value.exit_code == 5
    # A run that cannot complete every channel publishes to none.
    assert oci_layers(box) == {}
    assert box.github.releases(REPOSITORY) == []
    assert box.git("ls-remote", "origin", "refs/heads/gh-pages") == ""

    proxies(box)["registry"].rate = 0.0
    again = release(box)
    assert "OCI: pushed" in again
    assert "GitHub release: created" in again
    archive = box.settings().dist_path / f"metallb-{VERSION}.tgz"
    assert oci_layers(box) == {VERSION: f"sha256:{sha256(archive)}"}


# --------------------------------------------------------------------------- backfill
#
# Backfill copies into OCI with the native engine (channels.oci.engine's default),
# which starts no helm: the registry's faults meet chartship's own client alone, so
# one helm major is enough (the release tests above still run on both, with helm's
# lint and package in them).


@newest_helm
def test_backfill_of_50_versions_completes_with_a_fifth_of_requests_failing(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    digests = classic_history(sandbox, BACKFILL_VERSIONS, tmp_path / "archives")
    sandbox.faults(0.2)
    report = backfill(sandbox.settings(), environ=sandbox.environ, stream=io.StringIO())
    assert not report.failed, [c.message for c in report.failed]
    assert not report.inventory.anomalies
    assert len(report.copies) == BACKFILL_VERSIONS
    assert set(injected(sandbox)) == set(FAULTS)
    sandbox.faults(0.0)
    assert oci_layers(sandbox) == expected_tags(digests)
    assert untagged_manifests(sandbox) == set()


@newest_helm
def test_backfill_with_the_registry_failing_every_request_stops_and_reports(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    digests = classic_history(sandbox, BACKFILL_VERSIONS, tmp_path / "archives")
    registry = proxies(sandbox)["registry"]

    # Down from the start: the inventory cannot read OCI, nothing is attempted.
    registry.rate = 1.0
    seconds, _, error = timed(
        lambda: commands.run_migrate_backfill(
            sandbox.settings(), out=io.StringIO(), environ=sandbox.environ
        )
    )
    assert seconds < GIVE_UP_BOUND
    assert isinstance(error, RegistryError)
    assert str(error).startswith(f"registry {registry.host}: ")
    registry.rate = 0.0
    assert oci_layers(sandbox) == {}

    # Down part-way: some versions are copied, the rest reported as not copied.
    breaks_at = registry.requests + 60
    registry.before_forward = lambda number: (
        setattr(registry, "rate", 1.0) if number >= breaks_at else None
    )
    out = io.StringIO()
    seconds, _, error = timed(
        lambda: commands.run_migrate_backfill(sandbox.settings(), out=out, environ=sandbox.environ)
    )
    registry.before_forward = None
    registry.rate = 0.0
    assert seconds < GIVE_UP_BOUND
    assert isinstance(error, PublishIncomplete)
    text = out.getvalue()
    copied = oci_layers(sandbox)
    assert 0 < len(copied) < BACKFILL_VERSIONS, text
    failed = {
        line.split()[1].rstrip(":"): line for line in text.splitlines() if ": FAILED " in line
    }
    reported = BACKFILL_VERSIONS - len(failed)
    assert f"backfill: copied {reported}, already in OCI 0, failed {len(failed)}" in text, text
    assert sum("not attempted: the registry" in line for line in failed.values()) > 0, text
    # The report is exact: what it calls copied is in OCI with its digest; what it
    # calls failed is absent, unless it says a lost answer leaves that unknown.
    unverified = {v for v, line in failed.items() if UNKNOWN in line}
    assert set(copied) - unverified == set(digests) - set(failed), text
    assert all(copied[v] == f"sha256:{digests[v]}" for v in copied)

    report = backfill(sandbox.settings(), environ=sandbox.environ, stream=io.StringIO())
    assert not report.failed
    assert oci_layers(sandbox) == expected_tags(digests)
    assert untagged_manifests(sandbox) == set()


def _fresh_registry(box: Sandbox) -> None:
    box.registry.stop()
    shutil.rmtree(box.registry.storage, ignore_errors=True)
    box.registry.restart()


@newest_helm
def test_registry_killed_at_random_points_of_a_backfill(
    sandbox: Sandbox, tmp_path: Path, helm_version: str
) -> None:
    digests = classic_history(sandbox, KILL_VERSIONS, tmp_path / "archives")
    # The run that sees the crash gives a dead registry 2 s per operation, so that
    # each crash costs little; the rerun has the default budget.
    crashing = sandbox.settings(**{"channels.oci.retry_seconds": 2})
    settings = sandbox.settings()
    registry = proxies(sandbox)["registry"]
    start = registry.requests
    assert not backfill(settings, environ=sandbox.environ, stream=io.StringIO()).failed
    requests = registry.requests - start

    chooser = random.Random(f"kill points, helm {helm_version}")  # noqa: S311 (replayable, not secret)
    points = [
        (chooser.randint(1, requests - 1), chooser.choice(["before", "during", "after"]))
        for _ in range(KILL_POINTS)
    ]
    for k, stage in points:
        _fresh_registry(sandbox)
        killer = _Killer(sandbox.registry, registry.requests + k, stage)
        if stage == "after":
            registry.after_forward = killer
        else:
            registry.before_forward = killer
        timed(lambda: backfill(crashing, environ=sandbox.environ, stream=io.StringIO()))
        registry.before_forward = registry.after_forward = None
        assert killer.done.wait(5), f"kill point {k} ({stage}) was never reached"
        sandbox.registry.restart()
        where = f"killed {stage} request {k} of {requests}"

        damage = storage_damage(sandbox)
        if damage:
            # docker-registry's filesystem storage writes its files in place: a
            # SIGKILL in the middle of another request's write can leave one empty,
            # and the registry then answers 500 for that object for good. No client
            # can repair that through the API; chartship must say so, naming the
            # registry, and finish once the registry's operator has removed the
            # damaged files (what its garbage collector would need done too). A
            # damaged file the rerun does not touch goes unnoticed, as it should.
            _, result, error = timed(
                lambda: backfill(settings, environ=sandbox.environ, stream=io.StringIO())
            )
            said = str(error) if error else " ".join(c.message for c in result.failed)
            if said:
                assert registry.host in said, (where, damage, said)
            _remove_damaged(sandbox)
            sandbox.registry.restart()

        report = backfill(settings, environ=sandbox.environ, stream=io.StringIO())
        assert not report.failed, "\n".join([where, *(c.message for c in report.failed)])
        assert oci_layers(sandbox) == expected_tags(digests), where
        assert untagged_manifests(sandbox) == set(), where


def _damaged_files(box: Sandbox) -> list[Path]:
    """Blobs whose bytes do not match their digest, and links that name no digest."""
    root = box.registry.storage / "docker/registry/v2"
    found = []
    for data in (root / "blobs").rglob("data"):
        if hashlib.sha256(data.read_bytes()).hexdigest() != data.parent.name:
            found.append(data)
    for link in root.rglob("link"):
        text = link.read_text()
        if not (text.startswith("sha256:") and len(text) == 71):
            found.append(link)
    return found


def storage_damage(box: Sandbox) -> list[str]:
    root = box.registry.storage
    return [f"{p.relative_to(root)} ({p.stat().st_size} bytes)" for p in _damaged_files(box)]


def _remove_damaged(box: Sandbox) -> None:
    box.registry.stop()
    for path in _damaged_files(box):
        path.unlink()


class _Killer:
    """SIGKILLs the registry when the proxy reaches request ``number``: before
    forwarding it, while the registry handles it, or right after it answered."""

    def __init__(self, server: RegistryServer, number: int, stage: str) -> None:
        self.server = server
        self.number = number
        self.stage = stage
        self.done = threading.Event()
        self._once = threading.Lock()

    def __call__(self, number: int) -> None:
        if number != self.number or not self._once.acquire(blocking=False):
            return
        if self.stage == "during":
            # Storage half written: the request is with the registry by now.
            delay = random.uniform(0.0, 0.02)  # noqa: S311 (timing jitter, not a secret)
            threading.Timer(delay, self._kill).start()
        else:
            self._kill()

    def _kill(self) -> None:
        self.server.kill()
        self.done.set()

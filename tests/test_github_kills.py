"""A release SIGKILLed inside its GitHub step, then run again, on helm 3 and helm 4.

``chartship github-release`` (and once a whole ``chartship release``) runs as
a process of its own; the GitHub stand-in kills it at an exact point of the
GitHub step (right after the draft was created, right after an asset was
uploaded, when the publishing PATCH arrives, right after the draft was
published), mostly on a repository with GitHub's immutable releases on, where
any need to change a published release would fail. The next run must converge:
one published release of the tag, immutable, with its verified asset holding
the local bytes (and, for the whole release, what every other channel
holds), no draft left, nothing duplicated; a further run writes nothing.
"""

from __future__ import annotations

import hashlib
import io
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from chartship import commands
from chartship.channels.oci.registry import HELM_CONTENT, RegistryClient, Tls
from chartship.toolchain import DEFAULT_HELM_VERSIONS
from tests.support.matrix import newest_helm
from tests.support.sandbox import REPOSITORY, Sandbox, open_sandbox, sha256

#: Where the stand-in kills the release: (method, path pattern, after the work), by name.
KILL_POINTS = {
    "after-draft-created": ("POST", r"/releases$", True),
    "after-asset-uploaded": ("POST", r"/releases/\d+/assets$", True),
    "before-publish": ("PATCH", r"/releases/\d+$", False),
    "after-publish": ("PATCH", r"/releases/\d+$", True),
}
#: Seconds one killed run and its rerun may take together.
ROUND_BOUND = 90.0


@pytest.fixture
def box(
    tmp_path: Path, _workspace_template: Path, helm_bin: Path, upstream: str
) -> Iterator[Sandbox]:
    with open_sandbox(tmp_path / "sandbox", _workspace_template, helm_bin) as sandbox:
        # GitHub's immutable releases on, unless a test turns them off.
        sandbox.github.repo(REPOSITORY).immutable_releases = True
        yield sandbox
    assert not sandbox.github.violations, sandbox.github.report()


def killed(box: Sandbox, argv: list[str], point: str) -> str:
    """``chartship ARGV`` as a process, SIGKILLed by the stand-in at ``point``."""
    method, pattern, after = KILL_POINTS[point]
    with subprocess.Popen(
        [sys.executable, "-m", "chartship", *argv],
        cwd=box.work,
        env=box.environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        fired = box.github.intercept(method, pattern, lambda _: process.kill(), after=after)
        try:
            output, _ = process.communicate(timeout=ROUND_BOUND)
        finally:
            process.kill()
    # The event is set once the kill returned, maybe after the process was reaped.
    assert fired.wait(5), f"never reached {point}:\n{output}"
    assert process.returncode == -signal.SIGKILL, output
    return output


def stamped(box: Sandbox, version: str) -> str:
    """metallb stamped with ``version`` and pushed; its release tag."""
    box.stamp(version)
    return box.settings().release_tag("metallb", version)


def converged(box: Sandbox, tag: str, archive: Path) -> None:
    """One published release of ``tag`` (immutable if the repository says so), holding
    ``archive``'s bytes, no draft."""
    immutable = box.github.repo(REPOSITORY).immutable_releases
    releases = box.github.releases(REPOSITORY)
    assert [(r.tag_name, r.draft, r.immutable) for r in releases] == [(tag, False, immutable)]
    (release,) = releases
    assert [(a.name, hashlib.sha256(a.data).hexdigest()) for a in release.assets] == [
        (archive.name, sha256(archive))
    ]


def index_digest(box: Sandbox, chart: str, version: str) -> str:
    """The digest index.yaml on the origin's pages branch gives ``chart`` ``version``."""
    text = subprocess.run(
        ["git", "--git-dir", str(box.origin), "show", "gh-pages:index.yaml"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    (entry,) = [e for e in yaml.safe_load(text)["entries"][chart] if e["version"] == version]
    return str(entry["digest"])


def oci_layer(box: Sandbox, chart: str, version: str) -> str:
    manifest = RegistryClient(box.registry.host, tls=Tls(plain_http=True)).manifest(
        f"charts/{chart}", version
    )
    assert manifest is not None
    (layer,) = manifest.layers(HELM_CONTENT)
    return str(layer["digest"])


def writes(box: Sandbox) -> int:
    return sum(len(box.github.calls(m)) for m in ("POST", "PATCH", "PUT", "DELETE"))


#: Every point on the newest helm, immutable releases on; on helm 3 (whose packages
#: differ run to run) the two in the middle of the step, one on a repository with the
#: setting off (GitHub's default). A process start costs seconds: the matrix is lean.
ROUNDS = [
    *((DEFAULT_HELM_VERSIONS[-1], point, True) for point in KILL_POINTS),
    (DEFAULT_HELM_VERSIONS[0], "after-asset-uploaded", False),
    (DEFAULT_HELM_VERSIONS[0], "before-publish", True),
]


@pytest.mark.parametrize(
    ("helm_version", "point", "immutable"),
    ROUNDS,
    ids=[f"helm{v.split('.')[0]}-{p}-{'immutable' if i else 'mutable'}" for v, p, i in ROUNDS],
    indirect=["helm_version"],
)
def test_github_release_killed_in_its_github_step_converges_when_run_again(
    box: Sandbox, point: str, immutable: bool
) -> None:
    box.github.repo(REPOSITORY).immutable_releases = immutable
    version = "0.16.0"
    tag = stamped(box, version)
    (made,) = commands.run_package(box.settings(), ["metallb"], out=io.StringIO())
    started = time.monotonic()
    killed(box, ["github-release", "metallb"], point)

    report = commands.run_github_release(
        box.settings(), ["metallb"], environ=box.environ, out=io.StringIO()
    )
    assert time.monotonic() - started < ROUND_BOUND
    (outcome,) = report.outcomes
    assert outcome.ok, outcome
    # Killed after publishing, the release was complete: the rerun changes nothing.
    assert outcome.status == ("existing" if point == "after-publish" else "created")
    converged(box, tag, made.archive)
    before = writes(box)
    commands.run_github_release(box.settings(), ["metallb"], environ=box.environ, out=io.StringIO())
    assert writes(box) == before


@newest_helm
def test_a_whole_release_killed_before_publishing_converges_in_every_channel(
    box: Sandbox,
) -> None:
    version = "0.16.0"
    tag = stamped(box, version)
    started = time.monotonic()
    killed(box, ["release", "--tag", tag], "before-publish")
    assert box.github.releases(REPOSITORY)[0].draft  # what the kill left

    out = io.StringIO()
    commands.run_release(box.settings(), out=out, environ=box.environ, tag=tag)
    assert time.monotonic() - started < ROUND_BOUND
    assert "release: 1 chart version(s) published and verified" in out.getvalue()
    archive = box.settings().dist_path / f"metallb-{version}.tgz"
    converged(box, tag, archive)
    assert oci_layer(box, "metallb", version) == f"sha256:{sha256(archive)}"
    assert index_digest(box, "metallb", version) == sha256(archive)

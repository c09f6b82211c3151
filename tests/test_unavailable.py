"""Every command, with each service it needs down: exit 5 as README documents for an
unreachable service, nothing published, and the same refusal from a dry run.

One sandbox for the module, one helm (what is checked here is chartship's own
mapping of failures to statuses; the helm-facing flows have their own tests on
both majors). A service is "down" by pointing its settings at a port on
127.0.0.1 that refuses connections, so no service has to be stopped and started.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from chartship import cli, commands
from chartship.errors import ChannelsNotReady
from chartship.exits import STATUSES
from tests.support.sandbox import Sandbox, newest_helm_sandbox

UNAVAILABLE = 5
DOWN_REMOTE = "down"


@pytest.fixture(scope="module")
def refused_port() -> Iterator[int]:
    """A port bound but never listened on: every connection to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


@pytest.fixture(scope="module")
def box(
    tmp_path_factory: pytest.TempPathFactory, _workspace_template: Path, upstream: str
) -> Iterator[Sandbox]:
    with newest_helm_sandbox(tmp_path_factory, _workspace_template, "unavailable") as sandbox:
        sandbox.stamp("0.16.0")
        # A classic channel for the migrate steps to read, and nothing in OCI yet.
        classic = sandbox.settings(**{"channels.phase": "classic"})
        commands.run_release(classic, out=io.StringIO(), environ=sandbox.environ)
        sandbox.git("fetch", "-q", "--tags", "origin")
        # And a version still to release for the publishing commands.
        sandbox.stamp("0.16.1")
        commands.run_package(sandbox.settings(), ["metallb"], out=io.StringIO())
        yield sandbox


def _down(service: str, port: int) -> list[str]:
    """``--set`` items that point ``service`` at the refusing port."""
    dead = f"127.0.0.1:{port}"
    fast = [
        "channels.oci.retry_seconds=0.2",
        "channels.github.max_wait=0.2",
        "channels.pages.retry_seconds=0.2",
    ]
    return (
        fast
        + {
            "registry": [f"channels.oci.repository=oci://{dead}/charts"],
            "github": [f"channels.github.api_url=http://{dead}"],
            "pages": [
                f"channels.pages.index_url=http://{dead}/",
                f"channels.pages.remote={DOWN_REMOTE}",
            ],
        }[service]
    )


#: (command line, the service down): every command that reaches a service, with each
#: service it needs. deprecate is asked in the phase that allows it.
CASES = [
    ("release", "registry"),
    ("release", "github"),
    ("release", "pages"),
    ("release --dry-run", "registry"),
    ("release --dry-run", "github"),
    ("release --dry-run", "pages"),
    ("push", "registry"),
    ("push --dry-run", "registry"),
    ("github-release", "github"),
    ("github-release --dry-run", "github"),
    ("index", "pages"),
    ("index --dry-run", "pages"),
    ("migrate status", "registry"),
    ("migrate status", "pages"),
    ("migrate backfill", "registry"),
    ("migrate backfill", "pages"),
    ("migrate backfill --dry-run", "registry"),
    ("migrate verify", "registry"),
    ("migrate verify", "pages"),
    ("migrate deprecate", "pages"),
    ("migrate phase oci-primary --dry-run", "registry"),
    ("migrate phase oci-primary --dry-run", "pages"),
]


@pytest.mark.parametrize(("command", "service"), CASES, ids=[f"{c}-{s}" for c, s in CASES])
def test_a_service_down_exits_unavailable_and_publishes_nothing(
    box: Sandbox,
    refused_port: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    service: str,
) -> None:
    for key, value in box.environ.items():
        monkeypatch.setenv(key, value)
    if DOWN_REMOTE not in box.git("remote").split():
        box.git("remote", "add", DOWN_REMOTE, f"http://127.0.0.1:{refused_port}/origin.git")
    before = (box.git("status", "--porcelain"), box.git("ls-remote", "origin"))
    releases = len(box.github.releases("chartship/sandbox"))
    deprecating = command.startswith("migrate deprecate")
    phase = (
        ["channels.phase=oci-primary", "channels.pages.sunset=2030-01-01"] if deprecating else []
    )
    argv = ["--config", str(box.work / "chartship.yaml")]
    for item in [*_down(service, refused_port), *phase]:
        argv += ["--set", item]
    monkeypatch.chdir(box.work)

    status = cli.main([*argv, *command.split()])

    err = capsys.readouterr().err
    assert status == UNAVAILABLE, err
    assert STATUSES[status].startswith("a registry")
    assert "Traceback" not in err
    # The message names the service that did not answer.
    assert str(refused_port) in err, err
    assert (box.git("status", "--porcelain"), box.git("ls-remote", "origin")) == before
    assert len(box.github.releases("chartship/sandbox")) == releases
    assert not (box.registry.storage / "docker" / "registry" / "v2" / "repositories").exists()


def test_every_channel_that_cannot_be_completed_is_listed_at_once(
    box: Sandbox, refused_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = {k: v for k, v in box.environ.items() if k not in ("GITHUB_TOKEN", "GH_TOKEN")}
    if DOWN_REMOTE not in box.git("remote").split():
        box.git("remote", "add", DOWN_REMOTE, f"http://127.0.0.1:{refused_port}/origin.git")
    down = {
        "channels.oci.repository": f"oci://127.0.0.1:{refused_port}/charts",
        "channels.oci.retry_seconds": 0.2,
        "channels.pages.remote": DOWN_REMOTE,
    }
    for dry_run in (False, True):
        with pytest.raises(ChannelsNotReady) as refused:
            commands.run_release(
                box.settings(**down), out=io.StringIO(), environ=environ, dry_run=dry_run
            )
        lines = str(refused.value).splitlines()
        assert lines[0].startswith("release: nothing was published: 3 channel(s) cannot be")
        assert lines[1].startswith(f"  OCI: registry 127.0.0.1:{refused_port}: unreachable")
        assert lines[2] == (
            "  GitHub release: the GitHub release channel needs a token: set GITHUB_TOKEN or "
            "GH_TOKEN"
        )
        assert lines[3].startswith("  index.yaml: cannot push to the pages remote down")
        # The first problem in publishing order decides the status: OCI's, unavailable.
        assert refused.value.exit_code == UNAVAILABLE

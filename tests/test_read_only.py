"""Every read-only command leaves the work tree as it was: `git status --porcelain`
before and after it, in a repository that released once, on helm 3 and helm 4.

The working copy ignores only dist/ (the commands' output directory), so any
file a command writes anywhere else in the tree shows up here.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chartship import commands
from chartship.toolchain import DEFAULT_HELM_VERSIONS
from tests.support.builders import installed_helm
from tests.support.sandbox import Sandbox, helm_homes, open_sandbox


def quiet() -> io.StringIO:
    return io.StringIO()


def commit(box: Sandbox, message: str) -> None:
    """Commit the tracked files a command changed; anything it left untracked goes."""
    box.git("clean", "-fdq")
    box.git("commit", "-qam", message)
    box.git("push", "-q", "origin", "HEAD:main")


@pytest.fixture(scope="module", params=DEFAULT_HELM_VERSIONS, ids=lambda v: f"helm{v[0]}")
def released(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _workspace_template: Path,
) -> Iterator[Sandbox]:
    """metallb 0.16.0 and metallb-dashboards 1.2.0 released everywhere, tags fetched,
    then metallb stamped 0.16.1 and committed: something left for a release to do."""
    base = tmp_path_factory.mktemp("read-only")
    helm_bin = installed_helm(request.param)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in helm_homes(base / "helm-home").items():
            patch.setenv(key, value)
        with open_sandbox(base / "sandbox", _workspace_template, helm_bin) as box:
            (box.work / ".gitignore").write_text("/dist/\n")
            commands.run_bump(box.settings(), "0.16.0", ["metallb"], out=quiet())
            box.git("add", ".gitignore")
            commit(box, "Release metallb 0.16.0")
            commands.run_release(box.settings(), out=quiet(), environ=box.environ)
            box.git("fetch", "-q", "--tags", "origin")
            commands.run_bump(box.settings(), "0.16.1", ["metallb"], out=quiet())
            commit(box, "Bump metallb to 0.16.1")
            yield box


def _lint(box: Sandbox) -> None:
    commands.run_lint(box.settings(), out=quiet(), environ={})


def _bump(box: Sandbox) -> None:
    commands.run_bump(box.settings(), "0.16.2", ["metallb"], dry_run=True, out=quiet())


def _push(box: Sandbox) -> None:
    commands.run_push(box.settings(), dry_run=True, out=quiet(), environ=box.environ)


def _github_release(box: Sandbox) -> None:
    commands.run_github_release(box.settings(), dry_run=True, out=quiet(), environ=box.environ)


def _index(box: Sandbox) -> None:
    commands.run_index(box.settings(), dry_run=True, out=quiet(), environ=box.environ)


def _release(box: Sandbox) -> None:
    result = commands.run_release(box.settings(), dry_run=True, out=quiet(), environ=box.environ)
    # It had something to do: lint and package metallb 0.16.1.
    assert [(r.artifact.chart, r.artifact.version) for r in result.rows] == [("metallb", "0.16.1")]


def _matrix(box: Sandbox) -> None:
    matrix = commands.run_matrix(box.settings(), out=quiet(), environ={})
    assert [i["chart"] for i in matrix["include"]] == ["metallb"]


def _migrate_backfill(box: Sandbox) -> None:
    commands.run_migrate_backfill(box.settings(), dry_run=True, out=quiet(), environ=box.environ)


def _migrate_deprecate(box: Sandbox) -> None:
    settings = box.settings(
        **{"channels.phase": "oci-primary", "channels.pages.sunset": "2030-01-01"}
    )
    commands.run_migrate_deprecate(settings, dry_run=True, out=quiet(), environ=box.environ)


def _migrate_phase(box: Sandbox) -> None:
    commands.run_migrate_phase(
        box.settings(), "oci-primary", dry_run=True, out=quiet(), environ=box.environ
    )


def _migrate_repair(box: Sandbox) -> None:
    commands.run_migrate_repair(box.settings(), dry_run=True, out=quiet(), environ=box.environ)


def _migrate_status(box: Sandbox) -> None:
    commands.run_migrate_status(box.settings(), out=quiet(), environ=box.environ)


def _migrate_verify(box: Sandbox) -> None:
    commands.run_migrate_verify(box.settings(), out=quiet(), environ=box.environ)


READ_ONLY: dict[str, Callable[[Sandbox], None]] = {
    "lint": _lint,
    "bump --dry-run": _bump,
    "push --dry-run": _push,
    "github-release --dry-run": _github_release,
    "index --dry-run": _index,
    "release --dry-run": _release,
    "matrix": _matrix,
    "migrate backfill --dry-run": _migrate_backfill,
    "migrate deprecate --dry-run": _migrate_deprecate,
    "migrate phase --dry-run": _migrate_phase,
    "migrate repair --dry-run": _migrate_repair,
    "migrate status": _migrate_status,
    "migrate verify": _migrate_verify,
}


@pytest.mark.parametrize("command", list(READ_ONLY))
def test_read_only_command_leaves_the_tree_as_it_was(released: Sandbox, command: str) -> None:
    box = released
    # Whatever an earlier case left must not hide what this one writes.
    box.git("checkout", "-q", "--", ".")
    box.git("clean", "-fdq")
    status = box.git("status", "--porcelain", "--untracked-files=all")
    refs = box.git("ls-remote", "origin")
    assert status == ""

    READ_ONLY[command](box)

    assert box.git("status", "--porcelain", "--untracked-files=all") == status
    assert box.git("ls-remote", "origin") == refs

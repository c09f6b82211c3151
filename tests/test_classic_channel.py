"""The classic channel end to end: GitHub release assets, index.yaml on gh-pages,
consumed by real helm (helm 3 and helm 4) from 127.0.0.1."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from chartship.bump import bump
from chartship.commands import run_github_release, run_index
from chartship.errors import GithubError, VersionError
from chartship.helm import Helm
from chartship.package import package
from tests.support.builders import Workspace, chartship_cli, combined, write_channels

REPO = "metallb/metallb"
DASH = "metallb-dashboards"


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout


@pytest.fixture
def classic(
    workspace: Workspace, github: Any, tmp_path: Path, static_server_factory: Any
) -> tuple[Workspace, Path, str]:
    """The workspace with an origin (bare, in tmp) and a served directory for gh-pages."""
    origin = tmp_path / "origin.git"
    git("init", "-q", "--bare", str(origin))
    workspace.git("remote", "add", "origin", str(origin))
    site = tmp_path / "site"
    site.mkdir()
    server = static_server_factory(site)
    index_url = f"{server.url}/charts"
    write_channels(
        workspace.path("chartship.yaml"),
        phase="classic",
        github={"repository": REPO, "api_url": github.api_url, "throttle": False},
        pages={"index_url": index_url, "branch": "gh-pages"},
    )
    return workspace, origin, index_url


def serve_branch(origin: Path, site: Path) -> None:
    checkout = site / "charts"
    if checkout.exists():
        git("-C", str(checkout), "pull", "-q", "--ff-only")
    else:
        git("clone", "-q", "--branch", "gh-pages", str(origin), str(checkout))


def test_release_then_index_is_consumed_by_helm(
    classic: tuple[Workspace, Path, str], github: Any, helm: Helm, tmp_path: Path
) -> None:
    workspace, origin, index_url = classic
    settings = workspace.settings()
    environ = {"GITHUB_TOKEN": github.token}
    bump(settings, "0.16.2", ["metallb"])
    made = {p.chart: p for p in package(settings)}
    run_github_release(settings, environ=environ, out=io.StringIO())
    planned = io.StringIO()
    dry = run_index(settings, environ=environ, out=planned, dry_run=True)
    assert dry.dry_run
    assert git("--git-dir", str(origin), "branch", "--list") == ""
    lines = planned.getvalue().splitlines()
    assert lines[0].startswith("index: dry run: would add ")
    for chart, packaged in made.items():
        tag = f"{chart}-chart-{packaged.version}"
        url = f"{github.api_url}/download/{REPO}/{tag}/{packaged.archive.name}"
        assert f"  {chart} {packaged.version}: {url} (sha256 {packaged.sha256})" in lines
    out = io.StringIO()
    result = run_index(settings, environ=environ, out=out)
    assert sorted(result.added) == [("metallb", "0.16.2"), (DASH, "1.2.0")]
    assert "index: added" in out.getvalue()

    serve_branch(origin, tmp_path / "site")
    index = yaml.safe_load((tmp_path / "site" / "charts" / "index.yaml").read_text())
    for chart, packaged in made.items():
        (entry,) = index["entries"][chart]
        assert entry["digest"] == packaged.sha256
        release = github.release(REPO, f"{chart}-chart-{packaged.version}")
        assert entry["urls"] == [
            f"{github.api_url}/download/{REPO}/{release.tag_name}/{packaged.archive.name}"
        ]

    helm.run(["repo", "add", "classic", index_url])
    found = helm.run(["search", "repo", "classic/", "--versions", "-o", "yaml"]).stdout
    listed = {(e["name"], e["version"]) for e in yaml.safe_load(found)}
    assert listed == {("classic/metallb", "0.16.2"), (f"classic/{DASH}", "1.2.0")}
    for chart, packaged in made.items():
        dest = tmp_path / "pulled" / chart
        dest.mkdir(parents=True)
        helm.run(
            ["pull", f"classic/{chart}", "--version", packaged.version, "--destination", str(dest)]
        )
        assert (dest / packaged.archive.name).read_bytes() == packaged.archive.read_bytes()

    # A rerun of both commands changes nothing.
    tip = git("--git-dir", str(origin), "rev-parse", "gh-pages")
    again = io.StringIO()
    run_github_release(settings, environ=environ, out=again)
    assert run_index(settings, environ=environ, out=again).changed is False
    assert "nothing changed" in again.getvalue()
    assert git("--git-dir", str(origin), "rev-parse", "gh-pages") == tip


def test_index_needs_the_release_first(classic: tuple[Workspace, Path, str], github: Any) -> None:
    workspace, origin, _ = classic
    settings = workspace.settings()
    package(settings, [DASH])
    with pytest.raises(GithubError, match=r"no release metallb-dashboards-chart-1\.2\.0"):
        run_index(settings, environ={"GITHUB_TOKEN": github.token}, out=io.StringIO())
    assert git("--git-dir", str(origin), "branch", "--list") == ""


def test_index_command_line_pages_mode(
    workspace: Workspace, tmp_path: Path, static_server_factory: Any
) -> None:
    """``chartship index`` as nox runs it: dry run, publish, rerun, refusal, exit statuses."""
    origin = tmp_path / "origin.git"
    git("init", "-q", "--bare", str(origin))
    workspace.git("remote", "add", "origin", str(origin))
    write_channels(
        workspace.path("chartship.yaml"),
        pages={"index_url": "http://127.0.0.1:9/charts", "packages": "pages"},
    )
    made = package(workspace.settings(), [DASH])[0]
    url = f"http://127.0.0.1:9/charts/{made.archive.name}"

    dry = chartship_cli(workspace, "index", "--dry-run")
    assert dry.returncode == 0, combined(dry)
    assert dry.stdout.splitlines() == [
        f"index: dry run: would add {DASH} 1.2.0 to index.yaml on gh-pages "
        "(the branch would be created)",
        f"  {DASH} 1.2.0: {url} (sha256 {made.sha256})",
    ]
    assert git("--git-dir", str(origin), "branch", "--list") == ""

    done = chartship_cli(workspace, "index")
    assert done.returncode == 0, combined(done)
    assert done.stdout.startswith(f"index: added {DASH} 1.2.0 to index.yaml on gh-pages (commit ")
    shown = ["git", "--git-dir", str(origin), "show", f"gh-pages:{made.archive.name}"]
    on_branch = subprocess.run(shown, capture_output=True, check=True, timeout=60).stdout
    assert on_branch == made.archive.read_bytes()

    again = chartship_cli(workspace, "index")
    assert again.returncode == 0, combined(again)
    assert again.stdout.startswith("index: nothing changed: ")

    # dist/ rebuilt with other bytes for the same version: refused, exit status 3.
    # package itself refuses to replace published bytes with other files...
    workspace.replace(f"charts/{DASH}/values.yaml", "\n", "\n# changed\n")
    with pytest.raises(VersionError, match="its bytes are published"):
        package(workspace.settings(), [DASH], force=True)
    # ...so the archive is removed by hand and built again; the index refuses it.
    made.archive.unlink()
    package(workspace.settings(), [DASH])
    refused = chartship_cli(workspace, "index")
    assert refused.returncode == 3, combined(refused)
    assert made.sha256 in refused.stderr  # the published digest, named
    assert "index.yaml" in refused.stderr
    assert "branch gh-pages" in refused.stderr

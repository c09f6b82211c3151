"""GitHub Releases through PyGithub, against the contract-checking API stand-in."""

from __future__ import annotations

import hashlib
import io
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from chartship.bump import bump
from chartship.channels.github import client as gh_client
from chartship.channels.github.channel import publish_releases
from chartship.commands import run_github_release
from chartship.config import GithubSettings, Settings
from chartship.errors import GithubError, PublishIncomplete, UsageError
from chartship.package import Packaged, package
from tests.support.builders import Workspace, write_channels
from tests.support.gpg import Keys, sign_env
from tests.support.matrix import newest_helm
from tests.support.scripted_http import Reply, ScriptedServer

REPO = "metallb/metallb"
DASH = "metallb-dashboards"


def configure(ws: Workspace, github: Any, **extra: object) -> Settings:
    options = {"repository": REPO, "api_url": github.api_url, "throttle": False, "max_wait": 5}
    write_channels(
        ws.path("chartship.yaml"),
        phase="classic",
        github={**options, **extra},
        pages={"index_url": "http://127.0.0.1:9/charts"},
    )
    return ws.settings()


def token(github: Any) -> dict[str, str]:
    return {"GITHUB_TOKEN": github.token}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def writes(github: Any) -> list[str]:
    return [
        f"{r.method} {r.path}" for r in github.requests if r.method in ("POST", "PATCH", "DELETE")
    ]


def test_first_release_creates_releases_with_verified_assets(
    workspace: Workspace, github: Any
) -> None:
    settings = configure(workspace, github)
    bump(settings, "0.16.2", ["metallb"])
    made = {p.chart: p for p in package(settings)}
    out = io.StringIO()
    report = run_github_release(settings, environ=token(github), out=out)

    assert [(o.tag, o.status) for o in report.outcomes] == [
        ("metallb-chart-0.16.2", "created"),
        ("metallb-dashboards-chart-1.2.0", "created"),
    ]
    for chart, packaged in made.items():
        release = github.release(REPO, f"{chart}-chart-{packaged.version}")
        assert release.name == release.tag_name
        assert not release.prerelease
        assert not release.draft
        assert release.target_commitish == workspace.git("rev-parse", "HEAD").strip()
        (asset,) = release.assets
        assert asset.name == packaged.archive.name
        assert asset.data == packaged.archive.read_bytes()
        assert asset.content_type == "application/gzip"
    # Chart releases never take the repository's Latest marker.
    assert github.latest_release(REPO) is None
    # The body comes from the chart's artifacthub.io/changes annotation.
    body = github.release(REPO, "metallb-chart-0.16.2").body
    assert body.startswith("Helm chart metallb 0.16.2.")
    assert "## Changes" in body
    text = out.getvalue()
    assert "metallb-0.16.2.tgz: uploaded (uploaded and verified)" in text
    assert github.token not in text


def test_rerun_changes_nothing(workspace: Workspace, github: Any) -> None:
    settings = configure(workspace, github)
    package(settings, [DASH])
    publish_releases(settings, environ=token(github))
    before = len(writes(github))
    out = io.StringIO()
    report = run_github_release(settings, environ=token(github), out=out)
    assert [(o.status, [a.status for a in o.assets]) for o in report.outcomes] == [
        ("existing", ["skipped"])
    ]
    assert len(writes(github)) == before
    assert "GitHub: 1 release(s); nothing changed" in out.getvalue()


def test_existing_release_gets_only_its_missing_assets(
    workspace: Workspace, github: Any, keys: Keys
) -> None:
    settings = configure(workspace, github)
    (made,) = package(settings, [DASH], sign=True, environ=sign_env(keys.plain))
    assert made.provenance is not None
    release = github.create_release(
        REPO, "metallb-dashboards-chart-1.2.0", name="kept", body="mine"
    )
    github.add_asset(release, made.archive.name, made.archive.read_bytes())

    report = publish_releases(settings, environ=token(github))
    (outcome,) = report.outcomes
    assert outcome.status == "existing"
    assert {a.name: a.status for a in outcome.assets} == {
        made.archive.name: "skipped",
        made.provenance.name: "uploaded",
    }
    assert not github.calls("POST", r"/releases$")
    stored = github.release(REPO, "metallb-dashboards-chart-1.2.0")
    assert (stored.name, stored.body) == ("kept", "mine")
    assert {a.name: a.data for a in stored.assets}[made.provenance.name] == (
        made.provenance.read_bytes()
    )


def test_prerelease_versions_are_marked(workspace: Workspace, github: Any) -> None:
    settings = configure(workspace, github)
    bump(settings, "1.3.0-rc.1", [DASH])
    package(settings, [DASH])
    publish_releases(settings, environ=token(github))
    assert github.release(REPO, "metallb-dashboards-chart-1.3.0-rc.1").prerelease


def test_tampered_asset_is_refused_and_force_replaces(workspace: Workspace, github: Any) -> None:
    settings = configure(workspace, github)
    (made,) = package(settings, [DASH])
    publish_releases(settings, environ=token(github))
    (asset,) = github.release(REPO, "metallb-dashboards-chart-1.2.0").assets
    github.replace_asset_bytes(asset, b"not the chart")

    with pytest.raises(PublishIncomplete) as incomplete:
        run_github_release(settings, environ=token(github), out=io.StringIO())
    assert incomplete.value.exit_code == 6
    refused = publish_releases(settings, environ=token(github)).outcomes[0].assets[0]
    assert refused.status == "refused"
    assert sha(b"not the chart") in refused.message
    assert made.sha256 in refused.message

    forced = publish_releases(settings, environ=token(github), force=True).outcomes[0].assets[0]
    assert forced.status == "replaced"
    assert "verified" in forced.message
    (replaced,) = github.release(REPO, "metallb-dashboards-chart-1.2.0").assets
    assert replaced.data == made.archive.read_bytes()


def test_release_created_behind_a_502_is_not_created_twice(
    workspace: Workspace, github: Any
) -> None:
    settings = configure(workspace, github)
    package(settings, [DASH])
    # GitHub created the release, a proxy answered 502; the client asks again.
    github.fail("POST", r"/releases$", 502, perform=True)
    (outcome,) = publish_releases(settings, environ=token(github)).outcomes
    assert outcome.status == "created"
    assert [a.status for a in outcome.assets] == ["uploaded"]
    # Drafts may share a tag: the retry made a second one, and it was deleted.
    assert len(github.calls("POST", r"/releases$")) == 2
    (made,) = github.releases(REPO)
    assert not made.draft
    assert [a.name for a in made.assets] == ["metallb-dashboards-1.2.0.tgz"]


def test_rate_limits_within_the_bound_are_waited_out(workspace: Workspace, github: Any) -> None:
    settings = configure(workspace, github)
    package(settings, [DASH])
    github.fail("GET", r"/releases/tags/", 403)  # primary limit, reset one second ahead
    github.fail("POST", r"/assets$", 429)  # secondary limit, Retry-After: 1
    github.fail("GET", r"/assets$", 503)
    (outcome,) = publish_releases(settings, environ=token(github)).outcomes
    assert outcome.ok
    assert [a.status for a in outcome.assets] == ["uploaded"]
    assert sum(r.faulted for r in github.requests) == 3


def test_rate_limit_beyond_the_bound_fails_fast(workspace: Workspace, github: Any) -> None:
    settings = configure(workspace, github, max_wait=2)
    package(settings, [DASH])
    github.fail("GET", r"/releases/tags/", 429, times=10, headers={"Retry-After": "3600"})
    started = time.monotonic()
    (outcome,) = publish_releases(settings, environ=token(github)).outcomes
    assert time.monotonic() - started < 10
    assert outcome.status == "failed"
    assert "GitHub: release metallb-dashboards-chart-1.2.0" in outcome.message
    assert "3600" in outcome.message
    assert github.releases(REPO) == []


def test_persistent_server_errors_fail_that_release_only(workspace: Workspace, github: Any) -> None:
    settings = configure(workspace, github)
    bump(settings, "0.16.2", ["metallb"])
    package(settings)
    github.fail("POST", r"/releases$", 500, times=50)
    report = publish_releases(settings, environ=token(github))
    assert [o.status for o in report.outcomes] == ["failed", "failed"]
    assert "500" in report.outcomes[0].message
    with pytest.raises(PublishIncomplete):
        run_github_release(settings, environ=token(github), out=io.StringIO())


def test_tokens(
    workspace: Workspace,
    github: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = configure(workspace, github)
    package(settings, [DASH])
    with pytest.raises(UsageError, match="GITHUB_TOKEN or GH_TOKEN"):
        publish_releases(settings, environ={})
    with pytest.raises(GithubError) as bad:
        publish_releases(settings, environ={"GH_TOKEN": "sentinel-bad-token"})
    assert "401" in str(bad.value)
    assert "sentinel-bad-token" not in str(bad.value)
    assert publish_releases(settings, environ={"GH_TOKEN": github.token}).ok
    captured = capsys.readouterr()
    for text in (captured.out, captured.err, caplog.text):
        assert github.token not in text
        assert "sentinel-bad-token" not in text


def test_notes_file_is_the_body(workspace: Workspace, github: Any, tmp_path: Path) -> None:
    settings = configure(workspace, github)
    package(settings, [DASH])
    notes = tmp_path / "NOTES.md"
    notes.write_text("# Dashboards 1.2.0\n\nNew BGP panel.\n")
    publish_releases(settings, environ=token(github), notes_file=notes)
    assert github.release(REPO, "metallb-dashboards-chart-1.2.0").body == notes.read_text()


def test_dry_run_writes_nothing(workspace: Workspace, github: Any) -> None:
    settings = configure(workspace, github)
    package(settings, [DASH])
    out = io.StringIO()
    report = run_github_release(settings, environ=token(github), dry_run=True, out=out)
    assert [(o.status, [a.status for a in o.assets]) for o in report.outcomes] == [
        ("planned", ["planned"])
    ]
    assert writes(github) == []
    assert "would create the release" in out.getvalue()


def test_make_latest_can_be_enabled(workspace: Workspace, github: Any) -> None:
    settings = configure(workspace, github, make_latest=True)
    package(settings, [DASH])
    publish_releases(settings, environ=token(github))
    latest = github.latest_release(REPO)
    assert latest is not None
    assert latest.tag_name == "metallb-dashboards-chart-1.2.0"


# --------------------------------------------------------------------------- drafts, immutability


@newest_helm
def test_release_is_published_only_once_its_assets_are_verified(
    workspace: Workspace, github: Any, keys: Keys
) -> None:
    settings = configure(workspace, github)
    (made,) = package(settings, [DASH], sign=True, environ=sign_env(keys.plain))
    (outcome,) = publish_releases(settings, environ=token(github)).outcomes
    assert (outcome.status, outcome.message) == (
        "created",
        "created as a draft, assets verified, published",
    )
    steps = [
        (r.method, r.operation or r.path.split("/")[1], r.body[:200])
        for r in github.requests
        if r.method != "GET" or r.path.startswith("/download/")
    ]
    (create,) = [s for s in steps if s[1] == "repos/create-release"]
    assert b'"draft": true' in create[2]
    kinds = [kind for _, kind, _ in steps]
    # Both assets uploaded and downloaded again before the one PATCH that publishes.
    assert kinds == [
        "repos/create-release",
        "repos/upload-release-asset",
        "repos/upload-release-asset",
        "download",
        "download",
        "repos/update-release",
    ]
    assert b'"draft": false' in steps[-1][2]
    release = github.release(REPO, "metallb-dashboards-chart-1.2.0")
    assert release is not None
    assert release.target_commitish == workspace.git("rev-parse", "HEAD").strip()
    assert {a.name for a in release.assets} == {made.archive.name, f"{made.archive.name}.prov"}
    assert [r for r in github.releases(REPO) if r.draft] == []


@newest_helm
def test_a_draft_left_by_an_earlier_run_is_completed_and_spares_deleted(
    workspace: Workspace, github: Any
) -> None:
    settings = configure(workspace, github)
    (made,) = package(settings, [DASH])
    tag = "metallb-dashboards-chart-1.2.0"
    # A killed run left a draft holding other bytes (helm 3 packages anew every
    # time); a retried create left a second draft of the same tag.
    left = github.create_release(REPO, tag, name=tag, body="first run", draft=True)
    github.add_asset(left, made.archive.name, b"bytes of an earlier packaging")
    github.create_release(REPO, tag, name=tag, body="spare", draft=True)
    out = io.StringIO()
    report = run_github_release(settings, environ=token(github), out=out)
    (outcome,) = report.outcomes
    assert (outcome.status, outcome.message) == (
        "created",
        "published the draft an earlier run left, assets verified",
    )
    assert [a.status for a in outcome.assets] == ["uploaded"]
    assert "replaced the unpublished draft's sha256" in outcome.assets[0].message
    (release,) = github.releases(REPO)
    assert (release.id, release.draft, release.body) == (left.id, False, "first run")
    assert [a.data for a in release.assets] == [made.archive.read_bytes()]
    assert not github.calls("POST", r"/releases$")


@newest_helm
def test_immutable_repository_gets_a_verified_immutable_release(
    workspace: Workspace, github: Any
) -> None:
    github.repo(REPO).immutable_releases = True
    settings = configure(workspace, github)
    (made,) = package(settings, [DASH])
    (outcome,) = publish_releases(settings, environ=token(github)).outcomes
    assert outcome.ok
    assert outcome.status == "created"
    release = github.release(REPO, "metallb-dashboards-chart-1.2.0")
    assert release is not None
    assert release.immutable
    assert [a.data for a in release.assets] == [made.archive.read_bytes()]
    before = len(writes(github))
    (again,) = publish_releases(settings, environ=token(github)).outcomes
    assert [a.status for a in again.assets] == ["skipped"]
    assert len(writes(github)) == before


@newest_helm
def test_immutable_release_without_its_asset_is_beyond_repair(
    workspace: Workspace, github: Any, keys: Keys
) -> None:
    github.repo(REPO).immutable_releases = True
    settings = configure(workspace, github)
    (made,) = package(settings, [DASH], sign=True, environ=sign_env(keys.plain))
    tag = "metallb-dashboards-chart-1.2.0"
    # What an earlier tool left: a release published first, its upload never made.
    bare = github.create_release(REPO, tag, name=tag)
    github.add_asset(bare, made.archive.name, made.archive.read_bytes())
    out = io.StringIO()
    with pytest.raises(PublishIncomplete) as incomplete:
        run_github_release(settings, environ=token(github), out=out, force=True)
    assert incomplete.value.exit_code == 6
    assert "release a new version of the chart" in str(incomplete.value)
    text = out.getvalue()
    assert f"{made.archive.name}.prov: beyond-repair" in text
    assert "tag cannot be used again; release a new version of the chart" in text
    assert writes(github) == []
    (outcome,) = publish_releases(settings, environ=token(github)).outcomes
    assert outcome.result.status == "beyond-repair"

    # Other bytes on an immutable release: refused, --force or not.
    github.replace_asset_bytes(bare.assets[0], b"other", update_metadata=True)
    forced = publish_releases(settings, environ=token(github), force=True).outcomes[0]
    assert forced.assets[0].status == "refused"
    assert "nothing can replace it" in forced.assets[0].message
    assert writes(github) == []


@newest_helm
def test_an_unpushed_target_commit_says_to_push_it(
    workspace: Workspace, github: Any, tmp_path: Path
) -> None:
    origin = tmp_path / "origin.git"
    workspace.git("init", "-q", "--bare", str(origin))
    workspace.git("push", "-q", str(origin), "main")
    github.add_repo("metallb/pushed", git_dir=origin)
    settings = configure(workspace, github, repository="metallb/pushed")
    package(settings, [DASH])
    workspace.commit("not pushed")
    head = workspace.git("rev-parse", "HEAD").strip()
    (outcome,) = publish_releases(settings, environ=token(github)).outcomes
    assert outcome.status == "failed"
    assert "422 Validation Failed (Release target_commitish invalid)" in outcome.message
    assert f"GitHub does not know commit {head}: push it (git push) first" in outcome.message
    assert github.releases("metallb/pushed") == []
    workspace.git("push", "-q", str(origin), "main")
    (again,) = publish_releases(settings, environ=token(github)).outcomes
    assert again.status == "created"


# --------------------------------------------------------------------------- asset downloads

ASSET_API = r"/releases/assets/\d+$"


def released(workspace: Workspace, github: Any) -> tuple[Settings, Packaged]:
    """The dashboards chart packaged and released: its asset there to be read back."""
    settings = configure(workspace, github)
    (made,) = package(settings, [DASH])
    publish_releases(settings, environ=token(github))
    return settings, made


def redirect_downloads(github: Any, location: str) -> None:
    """GitHub's answer to an asset download: a redirect, here to ``location``."""
    github.fail("GET", ASSET_API, 302, times=50, headers={"location": location}, body=b"")


@newest_helm
def test_asset_download_redirected_to_another_host_goes_without_the_token(
    workspace: Workspace, github: Any
) -> None:
    settings, made = released(workspace, github)
    with ScriptedServer() as storage:
        # Another host name for the same loopback address: not the configured API host.
        where = f"http://localhost:{storage.port}/storage/{made.archive.name}"
        body = made.archive.read_bytes()
        storage.script("GET", f"/storage/{made.archive.name}", Reply(200, body=body))
        redirect_downloads(github, where)
        (outcome,) = publish_releases(settings, environ=token(github)).outcomes
    assert [a.status for a in outcome.assets] == ["skipped"]
    (fetched,) = storage.seen("GET")
    assert "authorization" not in fetched.headers
    (asked,) = [r for r in github.calls("GET", ASSET_API) if r.faulted]
    assert asked.credentials == "valid"  # the API host itself gets the token


@newest_helm
@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "ftp://127.0.0.1/chart.tgz", "javascript:alert(1)"]
)
def test_asset_download_redirected_to_another_scheme_is_that_releases_error(
    workspace: Workspace, github: Any, location: str
) -> None:
    settings, _ = released(workspace, github)
    redirect_downloads(github, location)
    (outcome,) = publish_releases(settings, environ=token(github)).outcomes
    assert outcome.status == "failed"
    assert outcome.message.startswith(
        "GitHub: asset metallb-dashboards-1.2.0.tgz: the download redirects to "
    )
    assert "only http(s) redirects are followed" in outcome.message
    assert github.token not in outcome.message


@newest_helm
def test_asset_download_redirecting_in_a_loop_stops(workspace: Workspace, github: Any) -> None:
    settings, _ = released(workspace, github)
    with ScriptedServer() as loop:
        loop.script("GET", "/again", Reply(302, {"location": "/again"}))
        redirect_downloads(github, f"{loop.url}/again")
        (outcome,) = publish_releases(settings, environ=token(github)).outcomes
        hops = len(loop.seen("GET"))
    assert outcome.status == "failed"
    assert "redirects more than 5 times" in outcome.message
    assert hops == 5


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("case", "advice"),
    [
        ("bad token", "check the token in GITHUB_TOKEN or GH_TOKEN"),
        ("no permission", "it needs contents: write on the repository"),
        ("no such repository", "check channels.github.repository and channels.github.api_url"),
        ("server error", "GitHub is busy, failing or out of reach: run it again later"),
    ],
)
def test_every_refused_call_says_what_to_do(github: Any, case: str, advice: str) -> None:
    repository, key = REPO, github.token
    if case == "bad token":
        key = "not-the-token"
    elif case == "no permission":
        github.fail("GET", r"^/repos/", 403, body={"message": "Resource not accessible"})
    elif case == "no such repository":
        repository = "metallb/missing"
    else:
        github.fail("GET", r"^/repos/", 500, times=20)
    gh = GithubSettings(repository, api_url=github.api_url, throttle=False, max_wait=1)
    with pytest.raises(GithubError) as refused:
        gh_client.repository(gh, key)
    assert str(refused.value).startswith(f"GitHub: repository {repository}: ")
    assert advice in str(refused.value)
    assert github.token not in str(refused.value)

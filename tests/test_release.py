"""End to end: ``release`` in the sandbox (registry, GitHub stand-in, bare origin,
pages site), on helm 3 and helm 4, plus the matrix and the version guard."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from chartship import commands
from chartship.channels.oci.registry import RegistryClient, Tls
from chartship.errors import (
    ChartshipError,
    ChecksFailed,
    PublishIncomplete,
    UsageError,
    VersionError,
)
from tests.support.actions_runner import parse_file_commands
from tests.support.builders import Workspace
from tests.support.matrix import newest_helm
from tests.support.recording import RecordingRunner
from tests.support.sandbox import (
    REPOSITORY,
    RegistryDownAfterChecks,
    Sandbox,
    open_sandbox,
    sha256,
)

VERSION = "0.16.0"
TAG = f"metallb-chart-{VERSION}"


@pytest.fixture
def box(
    tmp_path: Path, _workspace_template: Path, helm_bin: Path, upstream: str
) -> Iterator[Sandbox]:
    with open_sandbox(tmp_path / "sandbox", _workspace_template, helm_bin) as sandbox:
        sandbox.stamp(VERSION)
        yield sandbox
    assert not sandbox.github.violations, sandbox.github.report()


def release(
    box: Sandbox, *charts: str, env: dict[str, str] | None = None, **kwargs: Any
) -> tuple[str, object]:
    out = io.StringIO()
    environ = {**box.environ, **(env or {})}
    result = commands.run_release(box.settings(), list(charts), out=out, environ=environ, **kwargs)
    return out.getvalue(), result


E = TypeVar("E", bound=ChartshipError)


def release_fails(
    box: Sandbox, error: type[E], *charts: str, env: dict[str, str] | None = None, **kwargs: Any
) -> tuple[E, str]:
    """``release`` that must raise ``error``; the error and what was printed before it."""
    out = io.StringIO()
    environ = {**box.environ, **(env or {})}
    with pytest.raises(error) as caught:
        commands.run_release(box.settings(), list(charts), out=out, environ=environ, **kwargs)
    return caught.value, out.getvalue()


def writes(box: Sandbox) -> int:
    """Requests that could change GitHub."""
    return sum(len(box.github.calls(m)) for m in ("POST", "PATCH", "PUT", "DELETE"))


def oci_manifest_digest(box: Sandbox, chart: str, version: str) -> str | None:
    client = RegistryClient(box.registry.host, tls=Tls(plain_http=True))
    manifest = client.manifest(f"charts/{chart}", version)
    return manifest.digest if manifest else None


def pages_tip(box: Sandbox) -> str | None:
    out = box.git("ls-remote", "origin", "refs/heads/gh-pages")
    return out.split()[0] if out.strip() else None


def registry_empty(box: Sandbox) -> bool:
    return not (box.registry.storage / "docker" / "registry" / "v2" / "repositories").exists()


def test_first_release_publishes_everything_then_reruns_change_nothing(box: Sandbox) -> None:
    text, _ = release(box, tag=TAG)
    assert "metallb 0.16.0: release (tag metallb-chart-0.16.0)" in text
    assert "release: 1 chart version(s) published and verified" in text
    archive = box.settings().dist_path / f"metallb-{VERSION}.tgz"
    digest = sha256(archive)

    # Every channel holds exactly these bytes, as helm itself sees them.
    assert sha256(box.pull_oci("metallb", VERSION, box.base / "oci")) == digest
    assert sha256(box.pull_classic("metallb", VERSION, box.base / "classic")) == digest
    (gh_release,) = box.github.releases(REPOSITORY)
    assert gh_release.tag_name == TAG
    assert [a.name for a in gh_release.assets] == [archive.name]
    # Creating the release created its tag in the origin, as GitHub does.
    assert TAG in box.git("ls-remote", "--tags", "origin")

    before = (writes(box), oci_manifest_digest(box, "metallb", VERSION), pages_tip(box))
    again, _ = release(box, tag=TAG)
    assert "OCI: skipped" in again
    assert "GitHub release: skipped" in again
    assert "index.yaml: skipped" in again
    assert "release: nothing changed: every channel already held these versions" in again
    assert (writes(box), oci_manifest_digest(box, "metallb", VERSION), pages_tip(box)) == before

    # Without a tag, with the release tags fetched, nothing is selected at all.
    box.git("fetch", "-q", "--tags", "origin")
    none, _ = release(box)
    assert "release: 1 of 2 chart(s) to release (new, changed since their release" in none
    assert "metallb 0.16.0: left out (unchanged since metallb-chart-0.16.0)" in none
    assert "metallb-dashboards 1.2.0: release (never released)" in none
    box.git("fetch", "-q", "--tags", "origin")
    runner = RecordingRunner()
    assert "release: nothing to release" in release(box, runner=runner)[0]
    # Nothing to do costs three git processes: the checkout with its tags, every
    # chart's tree at HEAD and at its tag in one batch, and the uncommitted files.
    assert [argv[:1] + argv[3:4] for argv in runner.argvs] == [
        ("git", "rev-parse"),
        ("git", "cat-file"),
        ("git", "status"),
    ]


def test_existing_github_release_never_stops_the_oci_push(box: Sandbox) -> None:
    # MetalLB 0.15.0: the release existed, so the whole job was skipped and OCI never got it.
    box.github.create_release(REPOSITORY, TAG, name=TAG, target_commitish="main")
    text, _ = release(box, tag=TAG)
    assert "GitHub release: uploaded: metallb-chart-0.16.0 existed; asset attached" in text
    assert "OCI: pushed" in text
    assert "index.yaml: added" in text
    assert oci_manifest_digest(box, "metallb", VERSION) is not None


@newest_helm
def test_an_immutable_release_without_its_asset_is_beyond_repair_and_oci_completes(
    box: Sandbox,
) -> None:
    box.github.repo(REPOSITORY).immutable_releases = True
    box.github.create_release(REPOSITORY, TAG, name=TAG, target_commitish="main")
    before = writes(box)
    error, text = release_fails(box, PublishIncomplete, tag=TAG)
    assert error.exit_code == 6
    assert str(error).endswith(
        "a published GitHub release is immutable and lacks an asset: release a new version "
        "of the chart"
    )
    assert "OCI: pushed" in text
    assert "GitHub release: beyond-repair: metallb-0.16.0.tgz: metallb-chart-0.16.0 is " in text
    assert "release: INCOMPLETE: GitHub release" in text
    assert oci_manifest_digest(box, "metallb", VERSION) is not None
    assert writes(box) == before  # nothing asked of the immutable release
    (kept,) = box.github.releases(REPOSITORY)
    assert kept.assets == []


def release_with_downloads_redirected(box: Sandbox, location: str) -> str:
    """A release whose GitHub asset downloads redirect to ``location``: exit 6, its output."""
    box.github.fail(
        "GET", r"/releases/assets/\d+$", 302, times=5, headers={"location": location}, body=b""
    )
    error, text = release_fails(box, PublishIncomplete, tag=TAG)
    assert error.exit_code == 6
    return text


@newest_helm
def test_an_unreadable_asset_found_before_publishing_fails_github_only(box: Sandbox) -> None:
    # An asset GitHub gives no digest for is downloaded to learn its sha256, before
    # anything is published; its download redirects to a file: URL.
    made = box.github.create_release(REPOSITORY, TAG, name=TAG, target_commitish="main")
    box.github.add_asset(made, "metallb-0.16.0.tgz", b"whatever").digest = None
    text = release_with_downloads_redirected(box, "file:///etc/passwd")
    assert "GitHub release: failed: could not be read: GitHub: asset metallb-0.16.0.tgz" in text
    assert "OCI: pushed" in text
    assert oci_manifest_digest(box, "metallb", VERSION) is not None


@newest_helm
def test_an_asset_download_redirected_to_a_file_url_fails_github_only(box: Sandbox) -> None:
    # Issue 15, case 8: this ended the release with an AssertionError and no summary.
    text = release_with_downloads_redirected(box, "file:///etc/passwd")
    assert "internal error" not in text
    assert "OCI: pushed" in text
    assert "GitHub release: failed: GitHub: asset metallb-0.16.0.tgz: the download redirects " in (
        text
    )
    (row,) = [line.split() for line in text.splitlines() if line.startswith("metallb  ")]
    assert row[3:] == ["pushed", "failed", "blocked"]
    assert [r.draft for r in box.github.releases(REPOSITORY)] == [True]  # never published

    # Once the server behaves, a plain rerun publishes the verified draft.
    box.github.faults.clear()
    text, _ = release(box, tag=TAG)
    assert "GitHub release: created" in text
    (published,) = box.github.releases(REPOSITORY)
    assert not published.draft
    assert [a.name for a in published.assets] == ["metallb-0.16.0.tgz"]


def test_rerun_after_a_failed_channel_completes_it_with_the_published_bytes(
    box: Sandbox,
) -> None:
    down = RegistryDownAfterChecks(box.registry)
    failed, text = release_fails(box, PublishIncomplete, tag=TAG, runner=down)
    assert "OCI: failed" in text
    assert "GitHub release: created" in text
    assert "index.yaml: added" in text
    assert "release: INCOMPLETE: OCI did not complete; run it again" in text
    assert failed.exit_code == 6
    (asset,) = box.github.releases(REPOSITORY)[0].assets

    # A CI rerun starts on a fresh machine, and packaging again makes other bytes of
    # the same files (helm 3 stamps new mtimes, helm 4 may order subcharts otherwise).
    # Stand-in for that: the same tar, compressed again, as what packaging left.
    dist = box.settings().dist_path
    record = json.loads((dist / "SOURCES.json").read_text())
    shutil.rmtree(dist)
    dist.mkdir()
    other = gzip.compress(gzip.decompress(asset.data), compresslevel=1, mtime=1)
    assert other != asset.data
    (dist / asset.name).write_bytes(other)
    (dist / "SHA256SUMS").write_text(f"{hashlib.sha256(other).hexdigest()}  {asset.name}\n")
    # What that packaging recorded: these bytes, from the chart as it is.
    record["archives"][asset.name]["sha256"] = hashlib.sha256(other).hexdigest()
    (dist / "SOURCES.json").write_text(json.dumps(record))
    box.registry.restart()
    before = (writes(box), pages_tip(box))
    text, _ = release(box, tag=TAG)
    assert "bytes already published at" in text
    assert "OCI: pushed" in text
    assert "GitHub release: skipped" in text
    assert "index.yaml: skipped" in text
    assert (writes(box), pages_tip(box)) == before
    pulled = box.pull_oci("metallb", VERSION, box.base / "oci")
    assert sha256(pulled) == hashlib.sha256(asset.data).hexdigest()
    assert sha256(box.settings().dist_path / pulled.name) == sha256(pulled)


def test_a_published_version_with_other_content_is_refused(box: Sandbox) -> None:
    release(box, tag=TAG)
    tip = pages_tip(box)
    values = box.work / "charts" / "metallb" / "values.yaml"
    values.write_text(values.read_text() + "\n# changed after the release\n")
    box.commit("change without a version bump")
    shutil.rmtree(box.settings().dist_path)
    settings = box.settings(**{"lint.version_increment": False})
    with pytest.raises(VersionError, match=r"already published .* with other content") as err:
        commands.run_release(settings, tag=TAG, out=io.StringIO(), environ=box.environ)
    assert "metallb/values.yaml differs" in str(err.value)
    assert pages_tip(box) == tip


def test_tag_that_does_not_match_the_chart_is_refused_before_anything(box: Sandbox) -> None:
    with pytest.raises(VersionError) as err:
        release(box, tag="metallb-chart-0.17.0")
    message = str(err.value)
    assert "charts/metallb/Chart.yaml:" in message
    assert "stamped 0.16.0, but the release tag metallb-chart-0.17.0 says 0.17.0" in message
    # GITHUB_REF_NAME of a tag-triggered run is the tag; a version tag covers every chart.
    with pytest.raises(VersionError, match=r"metallb-dashboards is stamped 1\.2\.0"):
        release(box, env={"GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v0.16.0"})
    with pytest.raises(UsageError, match="neither a chart release tag"):
        release(box, tag="release-candidate")
    assert box.github.requests == []
    assert registry_empty(box)
    assert pages_tip(box) is None
    assert not box.settings().dist_path.exists()


def test_uncommitted_chart_files_are_never_released(box: Sandbox) -> None:
    values = box.work / "charts" / "metallb" / "values.yaml"
    values.write_text(values.read_text() + "# an edit not committed\n")
    for dry_run in (True, False):
        error, _ = release_fails(box, UsageError, "metallb", dry_run=dry_run)
        assert str(error).startswith(
            "uncommitted changes in the charts to release: charts/metallb/values.yaml; a "
            "release publishes these files but tags the commit HEAD, which does not hold them"
        )
    assert writes(box) == 0
    assert registry_empty(box)
    assert pages_tip(box) is None
    # Committed (and pushed), it is released.
    box.commit("values edit")
    text, _ = release(box, "metallb", dry_run=True)
    assert "metallb 0.16.0" in text


def test_placeholder_is_never_published(box: Sandbox) -> None:
    commands.run_bump(box.settings(), "0.0.0", ["metallb"], out=io.StringIO())
    with pytest.raises(VersionError, match=r"placeholder 0\.0\.0, which is never published"):
        release(box, "metallb")
    # Left out of the default selection, with the reason.
    box.commit("back to the placeholder")
    text, _ = release(box, "metallb-dashboards", dry_run=True)
    assert "metallb-dashboards 1.2.0: release (named)" in text
    assert box.github.calls("POST") == []


def test_dry_run_prints_the_plan_and_changes_nothing(box: Sandbox) -> None:
    text, _ = release(box, dry_run=True)
    assert "release: dry run, nothing will change" in text
    assert "  OCI: would publish: " in text
    assert "  GitHub release: would publish: metallb-chart-0.16.0: would create the release" in text
    assert "  index.yaml: would publish: entry -> (asset metallb-0.16.0.tgz" in text
    assert "release: dry run: nothing was changed" in text
    assert writes(box) == 0
    assert registry_empty(box)
    assert pages_tip(box) is None
    assert not box.settings().dist_path.exists()

    # After a release, a dry run of it plans nothing but skips.
    release(box, tag=TAG)
    again, _ = release(box, tag=TAG, dry_run=True)
    assert "OCI: skipped" in again
    assert "GitHub release: skipped" in again
    assert "would publish" not in again


def test_github_actions_summary_outputs_and_annotations(box: Sandbox, tmp_path: Path) -> None:
    summary, output = tmp_path / "summary.md", tmp_path / "output.txt"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_REF_TYPE": "tag",
        "GITHUB_REF_NAME": TAG,
    }
    release(box, env=env)
    table = summary.read_text()
    assert "| chart | version | sha256 | OCI | GitHub release | index.yaml |" in table
    assert "| metallb | 0.16.0 |" in table
    assert "| pushed | created | added |" in table
    values = parse_file_commands(output.read_text())
    digest = sha256(box.settings().dist_path / f"metallb-{VERSION}.tgz")
    assert values["metallb-version"] == VERSION
    assert values["metallb-sha256"] == digest
    assert values["metallb-oci-reference"] == f"{box.registry.host}/charts/metallb:{VERSION}"
    assert values["metallb-manifest-digest"] == oci_manifest_digest(box, "metallb", VERSION)
    (row,) = json.loads(values["released"])
    assert row["download_url"].endswith(f"/{TAG}/metallb-{VERSION}.tgz")
    assert row["ok"]
    assert values["changed"] == "true"
    assert values["ok"] == "true"
    # The same values by chart name, for fromJSON() in a workflow.
    assert json.loads(values["versions"]) == {"metallb": VERSION}
    assert json.loads(values["sha256s"]) == {"metallb": digest}
    assert json.loads(values["oci-references"]) == {"metallb": values["metallb-oci-reference"]}
    assert json.loads(values["manifest-digests"]) == {"metallb": values["metallb-manifest-digest"]}

    # A failed channel is an error annotation and a line of the summary.
    box.stamp("0.16.1")
    env["GITHUB_REF_NAME"] = "metallb-chart-0.16.1"
    down = RegistryDownAfterChecks(box.registry)
    _, text = release_fails(box, PublishIncomplete, env=env, runner=down)
    assert "::error title=chartship release%3A OCI::metallb 0.16.1: failed: " in text
    assert "**Not complete:**" in summary.read_text()
    assert parse_file_commands(output.read_text())["ok"] == "false"  # the last one written


# --------------------------------------------------------------------------- matrix


def matrix(workspace: Workspace, env: dict[str, str] | None = None) -> tuple[dict[str, Any], str]:
    out = io.StringIO()
    result = commands.run_matrix(workspace.settings(), out=out, environ=env or {})
    assert json.loads(out.getvalue()) == result
    return result, out.getvalue()


def test_matrix_lists_only_charts_changed_since_their_release(
    workspace: Workspace, tmp_path: Path
) -> None:
    # metallb carries the placeholder on main and is never in it.
    first, _ = matrix(workspace)
    assert first == {
        "include": [
            {"chart": "metallb-dashboards", "version": "1.2.0",
             "tag": "metallb-dashboards-chart-1.2.0"}
        ]
    }  # fmt: skip
    workspace.git("tag", "metallb-dashboards-chart-1.2.0")
    assert matrix(workspace)[0] == {"include": []}
    # An uncommitted change counts, as a committed one does.
    workspace.write("charts/metallb-dashboards/values.yaml", "# edited\n")
    assert [i["chart"] for i in matrix(workspace)[0]["include"]] == ["metallb-dashboards"]
    workspace.commit("edit dashboards")
    output = tmp_path / "output.txt"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output)}
    result, text = matrix(workspace, env)
    assert parse_file_commands(output.read_text()) == {"matrix": text.strip(), "count": "1"}
    assert result["include"][0]["chart"] == "metallb-dashboards"


def test_release_refuses_lint_problems_before_packaging(box: Sandbox) -> None:
    broken = box.work / "charts" / "metallb-dashboards" / "templates" / "broken.yaml"
    broken.write_text("kind: ConfigMap\nmetadata: [\n")
    box.commit("a broken template")
    err, text = release_fails(box, ChecksFailed, tag="metallb-dashboards-chart-1.2.0")
    assert "lint found" in str(err)
    assert "templates/broken.yaml" in text
    assert writes(box) == 0
    assert registry_empty(box)
    assert not box.settings().dist_path.exists()


# --------------------------------------------------------------------------- the bytes of a release


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_dry_run_prints_a_digest_only_when_it_is_the_one_published(
    box: Sandbox, tmp_path: Path
) -> None:
    output = tmp_path / "output.txt"
    env = {"GITHUB_OUTPUT": str(output), "GITHUB_ACTIONS": "true"}
    # Nothing packaged yet: the dry run builds an archive the real run would build
    # again, with other bytes on helm 3, so it names no digest.
    text, result = release(box, tag=TAG, dry_run=True, env=env)
    assert (
        "metallb 0.16.0: metallb-0.16.0.tgz yet to be built; its sha256 is known once the "
        "release packages it"
    ) in text
    assert "sha256:" not in text
    (row,) = result.rows  # type: ignore[attr-defined]
    assert row.sha256 is None
    assert "metallb  0.16.0   (yet to be built)" in text
    values = parse_file_commands(output.read_text())
    assert values["metallb-sha256"] == ""
    assert json.loads(values["released"])[0]["sha256"] == ""

    real, _ = release(box, tag=TAG)
    dist = box.settings().dist_path
    digest = sha256(dist / f"metallb-{VERSION}.tgz")
    assert f"metallb 0.16.0: dist/metallb-0.16.0.tgz sha256:{digest}" in real

    # Kept from dist/, the archive is what a real run would publish: named.
    again, _ = release(box, tag=TAG, dry_run=True)
    assert f"metallb 0.16.0: metallb-0.16.0.tgz sha256:{digest}" in again
    # Built afresh but published already: the published digest, which a real run adopts.
    shutil.rmtree(dist)
    fresh, _ = release(box, tag=TAG, dry_run=True)
    assert f"sha256:{digest}" in fresh
    assert "yet to be built" not in fresh


def test_release_records_and_package_keeps_the_published_bytes(box: Sandbox) -> None:
    release(box, tag=TAG)
    settings = box.settings()
    dist = settings.dist_path
    archive = dist / f"metallb-{VERSION}.tgz"
    entry = json.loads((dist / "SOURCES.json").read_text())["archives"][archive.name]
    assert entry["sha256"] == sha256(archive)
    assert f"OCI {box.registry.host}/charts/metallb:{VERSION}" in entry["published"]
    assert any(p.startswith("GitHub release http") for p in entry["published"])
    assert any(p.startswith("index.yaml http") for p in entry["published"])
    before = snapshot(dist)

    # Other content under a published version: refused, dist/ untouched.
    controller = box.work / "charts" / "metallb" / "templates" / "controller.yaml"
    original = controller.read_text()
    controller.write_text(original + "# changed after the release\n")
    with pytest.raises(VersionError) as err:
        commands.run_package(settings, ["metallb"], out=io.StringIO())
    message = str(err.value)
    assert message.startswith(f"{archive}: metallb 0.16.0: chart changed since ")
    assert "was packaged (templates/controller.yaml), and its bytes are published (OCI " in message
    assert "metallb/templates/controller.yaml differs" in message
    assert "a published version never changes: stamp a new version (bump)" in message
    assert snapshot(dist) == before

    # A change helm drops on packaging (a Chart.yaml comment) keeps the published bytes.
    controller.write_text(original)
    chart_yaml = box.work / "charts" / "metallb" / "Chart.yaml"
    chart_yaml.write_text("# a comment helm does not package\n" + chart_yaml.read_text())
    out = io.StringIO()
    [kept] = commands.run_package(settings, ["metallb"], out=out)
    assert (kept.outcome, kept.changed) == ("kept", ("Chart.yaml",))
    assert "packages to the same files as the published bytes (OCI " in out.getvalue()
    assert archive.read_bytes() == before[archive.name]
    # Recorded: from now on the archive is current.
    [again] = commands.run_package(settings, ["metallb"], out=io.StringIO())
    assert (again.outcome, again.notice) == ("kept", None)


def test_release_says_loudly_that_a_changed_chart_was_repackaged(box: Sandbox) -> None:
    settings = box.settings()
    commands.run_package(settings, ["metallb"], out=io.StringIO())
    controller = box.work / "charts" / "metallb" / "templates" / "controller.yaml"
    controller.write_text(controller.read_text() + "# changed after packaging\n")
    box.commit("change the controller")

    text, _ = release(box, tag=TAG, dry_run=True)

    assert (
        "warning: metallb 0.16.0: chart changed since dist/metallb-0.16.0.tgz was packaged "
        "(templates/controller.yaml); repackaged"
    ) in text
    assert "metallb-0.16.0.tgz yet to be built" in text


def test_each_channel_command_records_what_it_published(box: Sandbox) -> None:
    settings = box.settings()
    commands.run_package(settings, out=io.StringIO())
    dist = settings.dist_path

    def published(archive: str) -> list[str]:
        entry = json.loads((dist / "SOURCES.json").read_text())["archives"][archive]
        places: list[str] = entry["published"]
        return places

    commands.run_push(settings, ["metallb"], dry_run=True, out=io.StringIO(), environ=box.environ)
    assert published("metallb-0.16.0.tgz") == []
    commands.run_push(settings, ["metallb"], out=io.StringIO(), environ=box.environ)
    assert published("metallb-0.16.0.tgz") == [f"OCI {box.registry.host}/charts/metallb:0.16.0"]
    commands.run_github_release(settings, ["metallb"], out=io.StringIO(), environ=box.environ)
    commands.run_index(settings, ["metallb"], out=io.StringIO(), environ=box.environ)
    places = published("metallb-0.16.0.tgz")
    assert places[1].startswith("GitHub release http")
    assert places[1].endswith("/metallb-0.16.0.tgz")
    assert places[2].startswith("index.yaml http")
    assert places[2].endswith("/metallb-0.16.0.tgz")
    assert len(places) == 3
    assert published("metallb-dashboards-1.2.0.tgz") == []


def test_a_split_release_is_completed_by_a_plain_rerun(box: Sandbox) -> None:
    """MetalLB #2782: a skip decided by one channel. The release tag exists (the
    GitHub release made it) but OCI never got the version; a plain run, as on a
    push to main, sees that from the channels and completes it."""
    release_fails(box, PublishIncomplete, tag=TAG, runner=RegistryDownAfterChecks(box.registry))
    (asset,) = box.github.releases(REPOSITORY)[0].assets
    box.registry.restart()
    # The repository's other chart is released everywhere, so only the gap remains.
    release(box, tag="metallb-dashboards-chart-1.2.0")
    box.git("fetch", "-q", "--tags", "origin")

    dry, _ = release(box, dry_run=True)
    assert "metallb-dashboards 1.2.0: left out (unchanged since" in dry
    reason = f"released as {TAG}, but OCI does not hold it"
    assert f"metallb 0.16.0: release ({reason})" in dry
    assert oci_manifest_digest(box, "metallb", VERSION) is None

    before = (writes(box), pages_tip(box))
    text, _ = release(box)
    assert f"metallb 0.16.0: release ({reason})" in text
    assert "OCI: pushed" in text
    assert "GitHub release: skipped" in text
    assert "index.yaml: skipped" in text
    assert (writes(box), pages_tip(box)) == before
    pulled = box.pull_oci("metallb", VERSION, box.base / "oci")
    assert sha256(pulled) == hashlib.sha256(asset.data).hexdigest()

    # Now every channel holds it: the next plain run leaves it out.
    again, _ = release(box)
    assert "metallb 0.16.0: left out (unchanged since metallb-chart-0.16.0)" in again

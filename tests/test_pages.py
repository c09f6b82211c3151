"""index.yaml on the pages branch: real git (a bare origin), real helm 3 and helm 4 reading it."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from chartship.artifacts import Artifact
from chartship.channels.classic import pages
from chartship.channels.classic.merge import INDEX_FILE, get
from chartship.config import Settings, load_settings
from chartship.errors import ChartError, ConfigError, GitRemoteError, ToolError, UsageError
from chartship.helm import Helm
from chartship.runner import Result, Runner
from tests.support.builders import chart_archive, write_channels
from tests.support.chartrepo import StaticServer
from tests.support.git_http import GitHttpServer

ServerFactory = Callable[[Path], StaticServer]
RELEASES = "http://127.0.0.1:9/releases"


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


def make_artifact(directory: Path, version: str, name: str = "demo") -> Artifact:
    archive = chart_archive(directory / version, name, version)
    return Artifact.read(archive, name, version)


def release_url(artifact: Artifact) -> str:
    return f"{RELEASES}/{artifact.chart}-{artifact.version}/{artifact.archive.name}"


@dataclass
class Site:
    """A project checkout whose ``origin`` is a bare repository, plus its settings."""

    project: Path
    origin: Path
    index_url: str

    def settings(self, **pages_keys: Any) -> Settings:
        keys = {"index_url": self.index_url, "branch": "gh-pages", **pages_keys}
        return load_settings(self.project / "chartship.yaml", {"channels": {"pages": keys}})

    def tip(self, branch: str = "gh-pages") -> str | None:
        got = subprocess.run(
            ["git", "--git-dir", str(self.origin), "rev-parse", "--verify", "-q", branch],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return got.stdout.strip() or None

    def show(self, path: str, branch: str = "gh-pages") -> bytes:
        return subprocess.run(
            ["git", "--git-dir", str(self.origin), "show", f"{branch}:{path}"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout

    def index_text(self, branch: str = "gh-pages") -> str:
        return self.show(INDEX_FILE, branch).decode()

    def seed(self, files: Mapping[str, bytes], message: str = "seed") -> str:
        """Put ``files`` on gh-pages through an ordinary clone, as a person would."""
        work = self.origin.parent / f"seed-{len(list(self.origin.parent.glob('seed-*')))}"
        git("clone", "-q", str(self.origin), str(work))
        has_branch = self.tip() is not None
        git("checkout", "-q", "gh-pages" if has_branch else "--orphan=gh-pages", cwd=work)
        for name, data in files.items():
            (work / name).write_bytes(data)
        git("add", "-A", cwd=work)
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message, cwd=work)
        git("push", "-q", "origin", "gh-pages", cwd=work)
        tip = self.tip()
        assert tip is not None
        return tip


@pytest.fixture
def site(tmp_path: Path) -> Site:
    origin = tmp_path / "origin.git"
    git("init", "-q", "--bare", str(origin))
    project = tmp_path / "project"
    project.mkdir()
    # packages: releases needs the GitHub channel configured; these tests never call it.
    write_channels(
        project / "chartship.yaml",
        github={"repository": "o/r", "api_url": "http://127.0.0.1:9/api"},
    )
    git("init", "-q", "-b", "main", str(project))
    git("remote", "add", "origin", str(origin), cwd=project)
    return Site(project, origin, "http://127.0.0.1:9/charts/index.yaml")


def publish(settings: Settings, artifacts: Sequence[Artifact], **kwargs: Any) -> pages.PagesResult:
    return pages.publish_index(settings, artifacts, url_for=release_url, environ={}, **kwargs)


def serve_and_search(
    helm: Helm, text: str, files: Mapping[str, bytes], root: Path, start: ServerFactory
) -> tuple[str, list[tuple[str, str]]]:
    """Serve index.yaml (and files) from ``root``; what ``helm search repo`` lists."""
    root.mkdir(parents=True)
    (root / INDEX_FILE).write_text(text)
    for name, data in files.items():
        (root / name).write_bytes(data)
    server = start(root)
    repo = root.name
    helm.run(["repo", "add", repo, server.url])
    out = helm.run(["search", "repo", f"{repo}/", "--versions", "--devel", "-o", "json"]).stdout
    return server.url, sorted((row["name"], row["version"]) for row in json.loads(out))


# --------------------------------------------------------------------------- pages mode, helm


def test_packages_on_pages_create_the_branch_and_helm_installs_from_it(
    site: Site, helm: Helm, tmp_path: Path, static_server_factory: ServerFactory
) -> None:
    made = [make_artifact(tmp_path / "a", v) for v in ("1.0.0", "1.1.0-rc.1")]
    other = make_artifact(tmp_path / "a", "0.3.0", name="other")
    root = tmp_path / "served"
    server = static_server_factory(root.parent)
    settings = site.settings(index_url=f"{server.url}/served/index.yaml", packages="pages")
    assert site.tip() is None

    result = publish(settings, [*made, other])
    assert result.created_branch
    assert not result.dry_run
    assert sorted(result.added) == [("demo", "1.0.0"), ("demo", "1.1.0-rc.1"), ("other", "0.3.0")]
    assert sorted(result.archives) == sorted(a.archive.name for a in [*made, other])
    assert result.commit == site.tip()
    assert result.summary.startswith("added ")
    assert "gh-pages" in result.summary

    # The branch holds exactly index.yaml and the archives, byte for byte.
    listed = git("--git-dir", str(site.origin), "ls-tree", "--name-only", "gh-pages").split()
    assert sorted(listed) == sorted([INDEX_FILE, *(a.archive.name for a in [*made, other])])
    for one in [*made, other]:
        assert site.show(one.archive.name) == one.archive.read_bytes()
        entry = get(site.index_text(), one.chart, one.version)
        assert entry is not None
        assert entry["digest"] == one.sha256
        assert entry["urls"] == [f"{server.url}/served/{one.archive.name}"]

    # Served as a static site; helm lists and pulls every version, bytes identical.
    files = {a.archive.name: site.show(a.archive.name) for a in [*made, other]}
    _, found = serve_and_search(helm, site.index_text(), files, root, static_server_factory)
    assert found == [
        ("served/demo", "1.0.0"),
        ("served/demo", "1.1.0-rc.1"),
        ("served/other", "0.3.0"),
    ]
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    for one in [*made, other]:
        helm.run(["pull", f"served/{one.chart}", "--version", one.version, "-d", str(pulled)])
        assert (pulled / one.archive.name).read_bytes() == one.archive.read_bytes()

    # A rerun is a no-op that says so, and pushes nothing.
    tip = site.tip()
    again = publish(settings, [*made, other])
    assert not again.changed
    assert sorted(again.present) == sorted(result.added)
    assert again.summary.startswith("nothing changed: ")
    assert site.tip() == tip


def test_existing_branch_keeps_its_files_entries_and_history(
    site: Site, helm: Helm, tmp_path: Path, static_server_factory: ServerFactory
) -> None:
    old = make_artifact(tmp_path / "a", "0.9.0")
    helm_dir = tmp_path / "helm-index"
    helm_dir.mkdir()
    (helm_dir / old.archive.name).write_bytes(old.archive.read_bytes())
    helm.run(["repo", "index", str(helm_dir), "--url", f"{RELEASES}/demo-0.9.0"])
    old_index = (helm_dir / INDEX_FILE).read_text()
    seeded = site.seed(
        {INDEX_FILE: old_index.encode(), "CNAME": b"charts.example\n", "README.md": b"hi\n"}
    )
    new = make_artifact(tmp_path / "a", "1.0.0")

    result = publish(site.settings(), [new])
    assert result.added == (("demo", "1.0.0"),)
    assert not result.created_branch
    assert result.rejections == 0
    # A fast-forward on top of the seeded commit, never a rewrite.
    git("--git-dir", str(site.origin), "merge-base", "--is-ancestor", seeded, "gh-pages")
    assert git("--git-dir", str(site.origin), "rev-list", "--count", "gh-pages") == "2"
    assert site.show("CNAME") == b"charts.example\n"
    assert site.show("README.md") == b"hi\n"
    message = git("--git-dir", str(site.origin), "log", "-1", "--format=%s%n%an", "gh-pages")
    assert message.splitlines() == ["Release demo 1.0.0", pages.DEFAULT_NAME]

    text = site.index_text()
    old_entry = yaml.safe_load(old_index)["entries"]["demo"][0]
    assert get(text, "demo", "0.9.0") == old_entry  # created time and all
    assert yaml.safe_load(text)["entries"]["demo"][0]["urls"] == [release_url(new)]
    _, found = serve_and_search(helm, text, {}, tmp_path / "kept", static_server_factory)
    assert found == [("kept/demo", "0.9.0"), ("kept/demo", "1.0.0")]


# --------------------------------------------------------------------------- concurrency


def test_eight_concurrent_publishers_lose_no_entry(
    site: Site, helm: Helm, tmp_path: Path, static_server_factory: ServerFactory
) -> None:
    site.seed({"README.md": b"pages\n"})
    made = [make_artifact(tmp_path / "a", f"1.{n}.0") for n in range(8)]
    settings = site.settings()
    barrier = threading.Barrier(len(made), timeout=30)
    results: dict[str, pages.PagesResult] = {}
    errors: list[BaseException] = []

    def release(one: Artifact) -> None:
        try:
            barrier.wait()
            results[one.version] = publish(settings, [one], max_attempts=12)
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=release, args=(one,)) for one in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert sorted(results) == sorted(a.version for a in made)
    for version, result in results.items():
        assert result.added == (("demo", version),)
        assert result.attempts == result.rejections + 1
    # One commit per release on top of the seed, every one a fast-forward.
    assert git("--git-dir", str(site.origin), "rev-list", "--count", "gh-pages") == "9"
    assert git("--git-dir", str(site.origin), "rev-list", "--merges", "gh-pages") == ""
    text = site.index_text()
    for one in made:
        entry = get(text, "demo", one.version)
        assert entry is not None
        assert entry["digest"] == one.sha256
    _, found = serve_and_search(helm, text, {}, tmp_path / "eight", static_server_factory)
    assert found == [("eight/demo", a.version) for a in made]


class RacingRunner(Runner):
    """Before each of the first ``races`` pushes, another publisher pushes first."""

    def __init__(self, rival: Callable[[int], None], races: int) -> None:
        super().__init__()
        self.rival = rival
        self.races = races
        self.pushes = 0

    def run(self, argv: Sequence[str], **kwargs: Any) -> Result:
        if "push" in argv:
            self.pushes += 1
            if self.pushes <= self.races:
                self.rival(self.pushes)
        return super().run(argv, **kwargs)


def test_a_moved_branch_is_merged_again_and_retries_are_bounded(site: Site, tmp_path: Path) -> None:
    site.seed({"README.md": b"pages\n"})
    settings = site.settings()
    rivals = [make_artifact(tmp_path / "r", f"2.{n}.0") for n in range(5)]

    def rival(number: int) -> None:
        publish(settings, [rivals[number - 1]])

    ours = make_artifact(tmp_path / "a", "3.0.0")
    racing = RacingRunner(rival, races=2)
    result = publish(settings, [ours], runner=racing)
    assert (result.rejections, result.attempts, racing.pushes) == (2, 3, 3)
    assert "after 2 rejected push(es)" in result.summary
    text = site.index_text()
    for one in [*rivals[:2], ours]:
        assert get(text, "demo", one.version) is not None

    # Someone always faster: give up after max_attempts, nothing of ours published.
    late = make_artifact(tmp_path / "a", "4.0.0")
    always = RacingRunner(lambda n: rival(n + 2), races=3)
    with pytest.raises(ToolError, match="still rejected after 3 attempts") as failed:
        publish(settings, [late], runner=always, max_attempts=3)
    assert "run it again" in str(failed.value)
    text = site.index_text()
    assert get(text, "demo", "4.0.0") is None
    assert all(get(text, "demo", r.version) is not None for r in rivals)


def test_a_push_rejected_for_another_reason_is_not_retried(site: Site, tmp_path: Path) -> None:
    site.seed({"README.md": b"pages\n"})
    hook = site.origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch: pushes need a pull request' >&2\nexit 1\n")
    hook.chmod(0o755)
    tip = site.tip()
    with pytest.raises(ToolError, match="push to branch gh-pages failed") as failed:
        publish(site.settings(), [make_artifact(tmp_path, "1.0.0")])
    assert "protected branch" in failed.value.output
    assert site.tip() == tip


# --------------------------------------------------------------------------- what is pushed


def test_who_commits_comes_from_the_environment(site: Site, tmp_path: Path) -> None:
    site.seed({"README.md": b"pages\n"})
    environ = {"GIT_AUTHOR_NAME": "Rel Eng", "GIT_AUTHOR_EMAIL": "releng@example.invalid"}
    pages.publish_index(
        site.settings(), [make_artifact(tmp_path, "1.0.0")], url_for=release_url, environ=environ
    )
    shown = git(
        "--git-dir", str(site.origin), "log", "-1", "--format=%an <%ae>|%cn <%ce>|%B", "gh-pages"
    )
    assert shown.split("|") == [
        "Rel Eng <releng@example.invalid>",
        "Rel Eng <releng@example.invalid>",
        "Release demo 1.0.0\n\nPublished by chartship.",
    ]
    pages.update_file(site.settings(), "NOTICE", lambda old: "moved\n", subject="Move", environ={})
    shown = git(
        "--git-dir", str(site.origin), "log", "-1", "--format=%an <%ae>|%cn <%ce>|%B", "gh-pages"
    )
    default = f"{pages.DEFAULT_NAME} <{pages.DEFAULT_EMAIL}>"
    assert shown.split("|") == [default, default, "Move\n\nPublished by chartship."]


def test_the_pushed_tip_is_read_back(site: Site, tmp_path: Path) -> None:
    seeded = site.seed({"README.md": b"pages\n"})
    # Each push is accepted, then the branch is wound back: what is served lacks it.
    hook = site.origin / "hooks" / "post-receive"
    hook.write_text("#!/bin/sh\ngit update-ref refs/heads/gh-pages refs/heads/gh-pages^\n")
    hook.chmod(0o755)
    with pytest.raises(ChartError, match=r"index\.yaml: read-back: missing on branch gh-pages"):
        publish(site.settings(), [make_artifact(tmp_path, "1.0.0")])
    assert site.tip() == seeded
    hook.unlink()
    publish(site.settings(), [make_artifact(tmp_path, "1.0.0")])
    hook.write_text("#!/bin/sh\ngit update-ref refs/heads/gh-pages refs/heads/gh-pages^\n")
    hook.chmod(0o755)
    with pytest.raises(ChartError, match=r"read-back: demo 2\.0\.0 is missing on branch gh-pages"):
        publish(site.settings(), [make_artifact(tmp_path, "2.0.0")])


# --------------------------------------------------------------------------- other files


def test_update_file_applies_the_change_again_on_a_moved_branch(site: Site) -> None:
    site.seed({"README.md": b"pages\n"})
    settings = site.settings()
    seen: list[str | None] = []

    def stamp(old: str | None) -> str:
        seen.append(old)
        return f"{old or ''}notice\n"

    def rival(number: int) -> None:
        site.seed({"README.md": f"pages {number}\n".encode()}, f"rival {number}")

    racing = RacingRunner(rival, races=2)
    done = pages.update_file(
        settings, "README.md", stamp, subject="Add a notice", runner=racing, environ={}
    )
    assert seen == ["pages\n", "pages 1\n", "pages 2\n"]
    assert racing.pushes == 3
    assert done == pages.FileUpdate("gh-pages", "README.md", True, site.tip())
    assert done.summary == f"updated README.md on gh-pages (commit {(done.commit or '')[:12]})"
    assert site.show("README.md") == b"pages 2\nnotice\n"

    # Someone always faster: bounded, and the last rival's README stays.
    always = RacingRunner(lambda n: rival(n + 2), races=3)
    with pytest.raises(ToolError, match=r"push of README\.md to branch gh-pages failed") as failed:
        pages.update_file(
            settings, "README.md", stamp, subject="Again", runner=always, max_attempts=3
        )
    assert "rejected" in failed.value.output
    assert always.pushes == 3
    assert site.show("README.md") == b"pages 5\n"


def test_update_file_dry_run_and_no_change_push_nothing(site: Site) -> None:
    site.seed({"README.md": b"pages\n"})
    settings = site.settings()
    tip = site.tip()
    dry = pages.update_file(
        settings, "README.md", lambda old: "new\n", subject="New", dry_run=True, environ={}
    )
    assert (dry.changed, dry.commit, dry.summary) == (
        True,
        None,
        "dry run: would update README.md on gh-pages",
    )
    same = pages.update_file(settings, "README.md", lambda old: old or "", subject="Same")
    assert (same.changed, same.summary) == (False, "README.md on gh-pages is already up to date")
    absent: list[str | None] = []

    def create(old: str | None) -> str:
        absent.append(old)
        return "x\n"

    created = pages.update_file(settings, "NEW.md", create, subject="New", dry_run=True)
    assert (absent, created.changed) == ([None], True)
    assert site.tip() == tip
    for path in ("index.yaml", "a/b.md", "", ".."):
        with pytest.raises(UsageError, match="refusing to write"):
            pages.update_file(settings, path, lambda old: "x", subject="No")
    with pytest.raises(UsageError, match="max_attempts must be at least 1, not 0"):
        pages.update_file(settings, "README.md", lambda old: "x", subject="No", max_attempts=0)


# --------------------------------------------------------------------------- refusals


def test_a_version_already_indexed_with_another_digest_is_refused(
    site: Site, tmp_path: Path
) -> None:
    first = make_artifact(tmp_path / "a", "1.0.0")
    publish(site.settings(), [first])
    tip = site.tip()
    # Same version, different bytes (a re-packaged or tampered archive).
    rebuilt = chart_archive(tmp_path / "b", "demo", "1.0.0")
    rebuilt.write_bytes(rebuilt.read_bytes() + b"\0")
    second = Artifact.read(rebuilt, "demo", "1.0.0")
    fresh = make_artifact(tmp_path / "a", "1.1.0")
    with pytest.raises(ChartError) as refused:
        publish(site.settings(), [fresh, second])
    message = str(refused.value)
    assert "index.yaml" in message
    assert "demo 1.0.0" in message
    assert first.sha256 in message
    assert second.sha256 in message
    assert "branch gh-pages" in message
    assert site.tip() == tip  # nothing half-published: not even 1.1.0
    assert get(site.index_text(), "demo", "1.1.0") is None


def test_a_tampered_index_entry_on_the_branch_is_refused(site: Site, tmp_path: Path) -> None:
    one = make_artifact(tmp_path / "a", "1.0.0")
    publish(site.settings(), [one])
    text = site.index_text()
    site.seed({INDEX_FILE: text.replace(one.sha256, "0" * 64).encode()}, "tamper")
    tip = site.tip()
    with pytest.raises(ChartError, match="0" * 64):
        publish(site.settings(), [one])
    assert site.tip() == tip


def test_a_different_archive_already_on_the_branch_is_refused(site: Site, tmp_path: Path) -> None:
    one = make_artifact(tmp_path / "a", "1.0.0")
    site.seed({one.archive.name: b"not the archive"})
    tip = site.tip()
    with pytest.raises(ChartError, match="a published archive is never replaced") as refused:
        publish(site.settings(packages="pages"), [one])
    assert refused.value.path is not None
    assert refused.value.path.name == one.archive.name
    assert site.tip() == tip


def test_a_broken_index_on_the_branch_is_refused(site: Site, tmp_path: Path) -> None:
    site.seed({INDEX_FILE: b"apiVersion: v1\nentries: [\n"})
    tip = site.tip()
    with pytest.raises(ChartError, match="not valid YAML") as refused:
        publish(site.settings(), [make_artifact(tmp_path, "1.0.0")])
    assert "index.yaml" in str(refused.value)
    assert "branch gh-pages" in str(refused.value)
    assert site.tip() == tip


# --------------------------------------------------------------------------- dry run, PR branch


@pytest.mark.parametrize("existing", [False, True], ids=["no-branch", "branch"])
def test_dry_run_says_what_it_would_do_and_pushes_nothing(
    site: Site, tmp_path: Path, existing: bool
) -> None:
    if existing:
        site.seed({"README.md": b"pages\n"})
    tip = site.tip()
    refs = git("--git-dir", str(site.origin), "for-each-ref")
    result = publish(site.settings(), [make_artifact(tmp_path, "1.0.0")], dry_run=True)
    assert result.dry_run
    assert result.commit is None
    assert result.added == (("demo", "1.0.0"),)
    assert result.created_branch is not existing
    expected = "dry run: would add demo 1.0.0 to index.yaml on gh-pages"
    assert result.summary == expected + ("" if existing else " (the branch would be created)")
    assert site.tip() == tip
    assert git("--git-dir", str(site.origin), "for-each-ref") == refs


def test_pull_request_needs_the_pages_branch_to_exist(site: Site, tmp_path: Path) -> None:
    one = make_artifact(tmp_path, "1.0.0")
    with pytest.raises(UsageError, match=r"publish the first index\.yaml without --pull-request"):
        publish(site.settings(), [one], pull_request_branch="release/demo-1.0.0")
    assert git("--git-dir", str(site.origin), "for-each-ref") == ""


def test_pull_request_branch_leaves_the_pages_branch_alone(site: Site, tmp_path: Path) -> None:
    base = site.seed({"README.md": b"pages\n"})
    one = make_artifact(tmp_path, "1.0.0")
    result = publish(site.settings(), [one], pull_request_branch="release/demo-1.0.0")
    assert result.pull_request
    assert result.branch == "release/demo-1.0.0"
    assert "to branch release/demo-1.0.0 " in result.summary
    assert result.summary.endswith("for a pull request into gh-pages")
    assert site.tip() == base
    assert site.tip("release/demo-1.0.0") == result.commit
    parent = git("--git-dir", str(site.origin), "rev-parse", "release/demo-1.0.0^")
    assert parent == base
    assert get(site.index_text("release/demo-1.0.0"), "demo", "1.0.0") is not None

    with pytest.raises(UsageError, match="already exists"):
        publish(site.settings(), [one], pull_request_branch="release/demo-1.0.0")
    with pytest.raises(UsageError, match="must be a new branch"):
        publish(site.settings(), [one], pull_request_branch="gh-pages")


# --------------------------------------------------------------------------- the remote


def test_a_remote_url_with_credentials_is_refused_naming_the_setting(
    site: Site, tmp_path: Path
) -> None:
    secret = "s3cr3t-t0ken-value"
    for url in (
        f"http://x-access:{secret}@127.0.0.1:9/o.git",
        f"https://{secret}@127.0.0.1:9/o.git",
        f"ssh://git:{secret}@127.0.0.1:9/o.git",
    ):
        git("remote", "set-url", "origin", url, cwd=site.project)
        with pytest.raises(ConfigError) as refused:
            publish(site.settings(), [make_artifact(tmp_path, "1.0.0")])
        text = str(refused.value)
        assert secret not in text
        assert "channels.pages.remote: git remote 'origin' has credentials in its URL" in text
        assert "://***@127.0.0.1:9/o.git" in text
        assert "channels.pages.token_env" in text
    assert site.tip() is None
    assert pages.mask_url("https://u:p@h/x") == "https://***@h/x"
    assert pages.mask_url("git@github.com:o/r.git") == "git@github.com:o/r.git"


def test_the_token_reaches_git_as_a_header_never_in_a_url_or_argv(
    site: Site, tmp_path: Path
) -> None:
    token = "pages-t0ken-" + "9" * 12
    shutil.move(site.origin, tmp_path / "served" / "o.git")
    with GitHttpServer(tmp_path / "served", token) as server:
        git("remote", "set-url", "origin", f"{server.url}/o.git", cwd=site.project)
        settings = site.settings(token_env="PAGES_TOKEN")
        seen: list[tuple[str, ...]] = []

        class Recording(Runner):
            def run(self, argv: Sequence[str], **kwargs: Any) -> Result:
                seen.append(tuple(argv))
                return super().run(argv, **kwargs)

        with pytest.raises(UsageError, match="PAGES_TOKEN, which is not set or empty"):
            pages.publish_index(
                settings, [make_artifact(tmp_path, "1.0.0")], url_for=release_url, environ={}
            )
        result = pages.publish_index(
            settings,
            [make_artifact(tmp_path, "1.0.0")],
            url_for=release_url,
            environ={"PAGES_TOKEN": token},
            runner=Recording(),
        )
        assert result.added == (("demo", "1.0.0"),)
        sent = {header for _, _, header in server.seen}
        assert any(header and header.startswith("Basic ") for header in sent)
        assert not any(token in " ".join(argv) for argv in seen)
        # Without the header the remote refuses: the token is what let the push in.
        with pytest.raises(ToolError) as refused:
            publish(site.settings(), [make_artifact(tmp_path, "1.0.1")])
        assert token not in str(refused.value)
        # Preflight asks what a push asks, and pushes nothing.
        pages.check_push(settings, environ={"PAGES_TOKEN": token})
        with pytest.raises(GitRemoteError) as denied:
            pages.check_push(settings, environ={"PAGES_TOKEN": "wrong-" + token})
        assert denied.value.exit_code == 5
        assert "cannot push to the pages remote origin" in str(denied.value)
        assert token not in str(denied.value)
    listed = subprocess.run(
        ["git", "--git-dir", str(tmp_path / "served" / "o.git"), "show", "gh-pages:index.yaml"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert get(listed, "demo", "1.0.0") is not None
    assert get(listed, "demo", "1.0.1") is None
    served = [
        "git",
        "--git-dir",
        str(tmp_path / "served" / "o.git"),
        "for-each-ref",
        "--format=%(refname)",
    ]
    refs = subprocess.run(served, capture_output=True, text=True, check=True, timeout=60).stdout
    assert "refs/heads/gh-pages" in refs.split()
    assert not [ref for ref in refs.split() if "preflight" in ref], refs


def test_missing_remote_and_missing_channel_are_usage_errors(site: Site, tmp_path: Path) -> None:
    one = make_artifact(tmp_path, "1.0.0")
    with pytest.raises(UsageError, match=r"git remote 'upstream' \(channels.pages.remote\)"):
        publish(site.settings(remote="upstream"), [one])
    (site.project / "chartship.yaml").write_text("charts: {}\n")
    bare = load_settings(site.project / "chartship.yaml")
    with pytest.raises(UsageError, match=r"channels\.pages is not configured"):
        publish(bare, [one])

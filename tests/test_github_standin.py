"""The GitHub API stand-in: unmodified PyGithub works against it, and it holds
requests and responses to GitHub's OpenAPI description."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from github import Auth, Github, GithubException, GithubRetry
from github.GithubException import (
    BadCredentialsException,
    RateLimitExceededException,
    UnknownObjectException,
)

from chartship.sandbox.github_standin import GithubStandin

REPO = "metallb/metallb"


def client(standin: GithubStandin, *, token: str | None = None, **options: Any) -> Github:
    """PyGithub as production code would build it, minus retries and request pacing."""
    settings: dict[str, Any] = {
        "retry": None,
        "timeout": 10,
        "seconds_between_requests": None,
        "seconds_between_writes": None,
        **options,
    }
    return Github(auth=Auth.Token(token or standin.token), base_url=standin.api_url, **settings)


@pytest.fixture
def gh(github: GithubStandin) -> Iterator[Github]:
    api = client(github)
    yield api
    api.close()


@dataclass
class Raw:
    status: int
    headers: Mapping[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def raw(
    standin: GithubStandin,
    method: str,
    path: str,
    *,
    payload: Any = None,
    data: bytes | None = None,
    token: str | None = "",
    headers: Mapping[str, str] | None = None,
) -> Raw:
    """One plain urllib request: no retries, no redirects, no proxies.
    ``token=""`` sends the stand-in's token, ``None`` none at all."""
    url = path if path.startswith("http") else standin.api_url + path
    request = urllib.request.Request(url, method=method)  # noqa: S310 -- the local stand-in
    if payload is not None:
        data = json.dumps(payload).encode()
        request.add_header("Content-Type", "application/json")
    request.data = data
    if token is not None:
        request.add_header("Authorization", f"Bearer {token or standin.token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())
    try:
        with opener.open(request, timeout=10) as response:
            head = {k.lower(): v for k, v in response.headers.items()}
            return Raw(response.status, head, response.read())
    except urllib.error.HTTPError as error:
        with error:
            head = {k.lower(): v for k, v in error.headers.items()}
            return Raw(error.code, head, error.read())


def assert_every_json_answer_validated(standin: GithubStandin) -> None:
    answered = [r for r in standin.requests if r.response_type.startswith("application/json")]
    assert answered, "no JSON answers at all"
    assert [r.target for r in answered if r.validated is None] == []
    assert standin.validations == len(answered)


# --------------------------------------------------------------------------- PyGithub


def test_pygithub_creates_finds_and_pages_through_releases(
    github: GithubStandin, gh: Github
) -> None:
    repo = gh.get_repo(REPO)
    assert (repo.full_name, repo.default_branch) == (REPO, "main")
    assert repo.id == github.repo(REPO).id

    rc = repo.create_git_release(
        "metallb-0.15.0-rc.1",
        name="metallb 0.15.0-rc.1",
        message="first candidate",
        prerelease=True,
        make_latest="false",
    )
    assert (rc.tag_name, rc.prerelease, rc.draft) == ("metallb-0.15.0-rc.1", True, False)
    assert rc.upload_url == f"{github.api_url}/repos/{REPO}/releases/{rc.id}/assets{{?name,label}}"
    assert rc.target_commitish == "main"
    assert rc.author.login == github.user.login

    found = repo.get_release("metallb-0.15.0-rc.1")
    assert (found.id, found.body, found.name) == (rc.id, "first candidate", "metallb 0.15.0-rc.1")
    stored = github.release(REPO, "metallb-0.15.0-rc.1")
    assert stored is not None
    assert stored.prerelease
    with pytest.raises(UnknownObjectException):
        _ = repo.get_latest_release().tag_name  # a prerelease is never "latest"

    for minor in range(4):
        repo.create_git_release(f"metallb-0.1{minor}.0", name=f"0.1{minor}.0", message="")
    assert repo.get_latest_release().tag_name == "metallb-0.13.0"

    paged = client(github, per_page=2)
    try:
        tags = [r.tag_name for r in paged.get_repo(REPO).get_releases()]
    finally:
        paged.close()
    assert tags == [
        "metallb-0.13.0",
        "metallb-0.12.0",
        "metallb-0.11.0",
        "metallb-0.10.0",
        "metallb-0.15.0-rc.1",
    ]
    listing = github.calls("GET", r"/releases$")
    repo_id = github.repo(REPO).id
    assert [(r.path, r.query) for r in listing] == [  # PyGithub follows the Link header
        (f"/repos/{REPO}/releases", {"per_page": ["2"]}),
        (f"/repositories/{repo_id}/releases", {"per_page": ["2"], "page": ["2"]}),
        (f"/repositories/{repo_id}/releases", {"per_page": ["2"], "page": ["3"]}),
    ]
    assert all(r.operation == "repos/list-releases" for r in listing)
    assert_every_json_answer_validated(github)


def test_pygithub_uploads_lists_downloads_and_deletes_assets(
    github: GithubStandin, gh: Github, tmp_path: Path
) -> None:
    github.create_release(REPO, "metallb-0.15.0")
    release = gh.get_repo(REPO).get_release("metallb-0.15.0")
    chart = tmp_path / "metallb-0.15.0.tgz"
    chart.write_bytes(bytes(range(256)) * 40)
    index = b"apiVersion: v1\nentries: {}\n"

    uploaded = release.upload_asset(str(chart), content_type="application/gzip")
    assert (uploaded.name, uploaded.size, uploaded.state) == (chart.name, 10240, "uploaded")
    assert uploaded.content_type == "application/gzip"
    assert uploaded.digest == "sha256:" + hashlib.sha256(chart.read_bytes()).hexdigest()
    assert uploaded.browser_download_url == (
        f"{github.api_url}/download/{REPO}/metallb-0.15.0/metallb-0.15.0.tgz"
    )
    from_memory = release.upload_asset_from_memory(
        io.BytesIO(index), len(index), name="index.yaml", content_type="application/yaml"
    )
    assert (from_memory.name, from_memory.size) == ("index.yaml", len(index))

    assert [a.name for a in release.get_assets()] == ["metallb-0.15.0.tgz", "index.yaml"]

    target = tmp_path / "downloaded.tgz"
    uploaded.download_asset(str(target))  # API + Accept: octet-stream, then the 302
    assert target.read_bytes() == chart.read_bytes()
    redirect = raw(
        github, "GET", f"/repos/{REPO}/releases/assets/{uploaded.id}",
        headers={"Accept": "application/octet-stream"},
    )  # fmt: skip
    assert (redirect.status, redirect.headers["location"]) == (
        302,
        uploaded.browser_download_url,
    )
    direct = raw(github, "GET", from_memory.browser_download_url, token=None)
    assert (direct.status, direct.body) == (200, index)
    assert github.asset(uploaded.id).download_count == 1

    from_memory.delete_asset()
    assert [a.name for a in release.get_assets()] == ["metallb-0.15.0.tgz"]
    stored = github.release(REPO, "metallb-0.15.0")
    assert stored is not None
    assert [a.name for a in stored.assets] == ["metallb-0.15.0.tgz"]
    uploads = github.calls("POST", r"/assets$")
    assert [r.query["name"] for r in uploads] == [["metallb-0.15.0.tgz"], ["index.yaml"]]
    assert [r.headers["content-type"] for r in uploads] == ["application/gzip", "application/yaml"]
    assert_every_json_answer_validated(github)


def test_duplicate_release_tag_is_already_exists(github: GithubStandin, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    repo.create_git_release("metallb-0.15.0", name="0.15.0", message="")
    with pytest.raises(GithubException) as raised:
        repo.create_git_release("metallb-0.15.0", name="again", message="")
    assert raised.value.status == 422
    assert raised.value.data["message"] == "Validation Failed"
    assert raised.value.data["errors"] == [
        {"resource": "Release", "code": "already_exists", "field": "tag_name"}
    ]
    assert [r.name for r in github.releases(REPO)] == ["0.15.0"]


def test_duplicate_asset_name_is_already_exists(github: GithubStandin, gh: Github) -> None:
    github.create_release(REPO, "metallb-0.15.0")
    release = gh.get_repo(REPO).get_release("metallb-0.15.0")
    release.upload_asset_from_memory(io.BytesIO(b"first"), 5, name="index.yaml")
    with pytest.raises(GithubException) as raised:
        release.upload_asset_from_memory(io.BytesIO(b"second"), 6, name="index.yaml")
    assert raised.value.status == 422
    assert raised.value.data["errors"] == [
        {"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}
    ]
    stored = github.release(REPO, "metallb-0.15.0")
    assert stored is not None
    assert [a.data for a in stored.assets] == [b"first"]


def test_bad_or_missing_token_is_refused(github: GithubStandin) -> None:
    intruder = client(github, token="not-the-token")
    try:
        with pytest.raises(BadCredentialsException) as raised:
            intruder.get_repo(REPO)
    finally:
        intruder.close()
    assert raised.value.status == 401
    anonymous = raw(
        github, "POST", f"/repos/{REPO}/releases", payload={"tag_name": "v1"}, token=None
    )
    assert (anonymous.status, anonymous.json()["message"]) == (401, "Requires authentication")
    assert [(r.credentials, r.status) for r in github.requests] == [
        ("invalid", 401),
        ("missing", 401),
    ]
    assert all("authorization" not in r.headers for r in github.requests)
    assert github.releases(REPO) == []


def test_draft_and_make_latest_follow_github(github: GithubStandin, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    first = repo.create_git_release("v1", name="v1", message="")
    quiet = repo.create_git_release("v2", name="v2", message="", make_latest="false")
    repo.create_git_release("v3-rc", name="v3-rc", message="", prerelease=True)
    draft = repo.create_git_release("v4", name="v4", message="", draft=True)
    assert repo.get_latest_release().id == first.id
    assert draft.published_at is None
    assert "/releases/tag/untagged-" in draft.html_url
    assert draft.tarball_url is None
    with pytest.raises(UnknownObjectException):
        repo.get_release("v4")  # a draft has no tag yet
    assert repo.get_release(draft.id).name == "v4"

    draft.update_release("v4", "", draft=False)  # newly published: latest by default
    assert repo.get_latest_release().tag_name == "v4"
    quiet.update_release("v2", "", make_latest="true")
    assert repo.get_latest_release().tag_name == "v2"
    latest = github.latest_release(REPO)
    assert latest is not None
    assert latest.id == quiet.id


def test_generate_release_notes(gh: Github) -> None:
    notes = gh.get_repo(REPO).generate_release_notes("v2", previous_tag_name="v1")
    assert notes.name == "v2"
    assert notes.body.endswith(f"/{REPO}/compare/v1...v2")


# --------------------------------------------------------------------------- faults, raw


def test_injected_primary_rate_limit(github: GithubStandin, gh: Github) -> None:
    fault = github.fail("GET", r"/releases/latest$", 403, times=2)
    github.create_release(REPO, "v1")
    before = int(time.time())
    limited = raw(github, "GET", f"/repos/{REPO}/releases/latest")
    assert limited.status == 403
    assert limited.json()["message"].startswith("API rate limit exceeded")
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert before <= int(limited.headers["x-ratelimit-reset"]) <= before + 5
    with pytest.raises(RateLimitExceededException):
        _ = gh.get_repo(REPO).get_latest_release().tag_name
    assert fault.remaining == 0
    after = raw(github, "GET", f"/repos/{REPO}/releases/latest")
    assert (after.status, after.json()["tag_name"]) == (200, "v1")
    assert int(after.headers["x-ratelimit-remaining"]) > 0
    assert [(r.status, r.faulted) for r in github.calls("GET", "/releases/latest$")] == [
        (403, True),
        (403, True),
        (200, False),
    ]


def test_injected_secondary_rate_limit_with_retry_after(github: GithubStandin) -> None:
    github.fail("POST", r"/releases$", 429, headers={"Retry-After": "7"})
    limited = raw(github, "POST", f"/repos/{REPO}/releases", payload={"tag_name": "v1"})
    assert (limited.status, limited.headers["retry-after"]) == (429, "7")
    assert limited.json()["message"].startswith("You have exceeded a secondary rate limit")
    assert github.releases(REPO) == []
    again = raw(github, "POST", f"/repos/{REPO}/releases", payload={"tag_name": "v1"})
    assert again.status == 201
    assert [r.status for r in github.calls("POST")] == [429, 201]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_injected_server_errors_then_normal(github: GithubStandin, status: int) -> None:
    github.fail("*", rf"^/repos/{REPO}$", status, times=2)
    answers = [raw(github, "GET", f"/repos/{REPO}").status for _ in range(3)]
    assert answers == [status, status, 200]
    assert [r.faulted for r in github.calls()] == [True, True, False]


def test_injected_fault_can_lose_the_answer_of_a_performed_request(github: GithubStandin) -> None:
    github.fail("POST", r"/releases$", 502, perform=True)
    lost = raw(github, "POST", f"/repos/{REPO}/releases", payload={"tag_name": "v1"})
    assert lost.status == 502
    assert [r.tag_name for r in github.releases(REPO)] == ["v1"]
    retried = raw(github, "POST", f"/repos/{REPO}/releases", payload={"tag_name": "v1"})
    assert retried.status == 422
    assert retried.json()["errors"][0]["code"] == "already_exists"


def test_pygithub_default_retry_replays_a_post_after_a_502(github: GithubStandin) -> None:
    """What production code inherits from ``Github()``'s default ``GithubRetry``: 5xx
    answers to GET *and POST* are retried at once, so a release created behind a 502
    comes back as 422 already_exists."""
    github.fail("POST", r"/releases$", 502, perform=True)
    api = client(github, retry=GithubRetry())
    try:
        with pytest.raises(GithubException) as raised:
            api.get_repo(REPO).create_git_release("v1", name="v1", message="")
    finally:
        api.close()
    assert raised.value.status == 422
    assert [r.status for r in github.calls("POST")] == [502, 422]


def test_links_paginate_like_github(github: GithubStandin) -> None:
    for minor in range(5):
        github.create_release(REPO, f"v0.{minor}.0")
    repo_id = github.repo(REPO).id
    middle = raw(github, "GET", f"/repos/{REPO}/releases?per_page=2&page=2")
    assert [r["tag_name"] for r in middle.json()] == ["v0.2.0", "v0.1.0"]
    links = dict(
        (rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', middle.headers["link"])
    )
    base = f"{github.api_url}/repositories/{repo_id}/releases?per_page=2&page="
    assert links == {
        "prev": base + "1",
        "next": base + "3",
        "last": base + "3",
        "first": base + "1",
    }
    last = raw(github, "GET", links["last"].removeprefix(github.api_url))
    assert [r["tag_name"] for r in last.json()] == ["v0.0.0"]
    assert 'rel="next"' not in last.headers["link"]
    assert raw(github, "GET", f"/repos/{REPO}/releases?per_page=2&page=9").json() == []
    assert "link" not in raw(github, "GET", f"/repos/{REPO}/releases").headers


def test_github_headers_on_every_api_answer(github: GithubStandin) -> None:
    answer = raw(github, "GET", f"/repos/{REPO}")
    for name in (
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-used",
        "x-ratelimit-resource",
        "x-github-request-id",
        "x-github-api-version-selected",
    ):
        assert name in answer.headers
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    created = raw(github, "POST", f"/repos/{REPO}/releases", payload={"tag_name": "v1"})
    assert created.headers["location"] == created.json()["url"]


# --------------------------------------------------------------------------- the contract


def test_invalid_requests_get_githubs_answer_and_are_violations(github: GithubStandin) -> None:
    releases = f"/repos/{REPO}/releases"
    wrong_type = raw(github, "POST", releases, payload={"tag_name": 5})
    assert wrong_type.status == 422
    assert wrong_type.json()["message"] == (
        "Invalid request.\n\nFor 'properties/tag_name', 5 is not a string."
    )
    missing = raw(github, "POST", releases, payload={"name": "no tag"})
    assert (missing.status, missing.json()["message"]) == (
        422,
        'Invalid request.\n\n"tag_name" wasn\'t supplied.',
    )
    not_json = raw(github, "POST", releases, data=b"{tag_name: v1}")
    assert (not_json.status, not_json.json()["message"]) == (400, "Problems parsing JSON")
    bad_tag = raw(github, "POST", releases, payload={"tag_name": "v 1"})
    assert bad_tag.status == 422
    assert bad_tag.json()["message"] == "Validation Failed"
    extra = raw(github, "POST", releases, payload={"tag_name": "v2", "colour": "blue"})
    assert extra.status == 201  # GitHub ignores unknown fields; the contract does not
    not_an_id = raw(github, "GET", f"{releases}/latest-ish")
    assert not_an_id.status == 404
    unknown = raw(github, "GET", f"/repos/{REPO}/secrets")
    assert unknown.status == 404
    assert unknown.json()["message"] == "Not Found"

    violations = github.clear_violations()
    assert [(v.direction, v.method, v.target) for v in violations] == [
        ("request", "POST", releases),
        ("request", "POST", releases),
        ("request", "POST", releases),
        ("request", "POST", releases),
        ("request", "GET", f"{releases}/latest-ish"),
        ("request", "GET", f"/repos/{REPO}/secrets"),
    ]
    assert violations[0].detail == "body/tag_name: 5 is not of type 'string'"
    assert "'colour' not in the description" in violations[3].detail
    assert github.violations == []
    assert [r.tag_name for r in github.releases(REPO)] == ["v2"]


def test_a_response_that_breaks_the_schema_is_caught(github: GithubStandin, gh: Github) -> None:
    release = github.create_release(REPO, "v1", name="v1")
    release.name = 42  # type: ignore[assignment]  # a stand-in bug, simulated
    assert gh.get_repo(REPO).get_release("v1").id == release.id
    violations = github.clear_violations()
    assert [(v.direction, v.status) for v in violations] == [("response", 200)]
    assert violations[0].detail == (
        "documented schema, at /name: 42 is not of type 'string', 'null'"
    )
    assert_every_json_answer_validated(github)


def test_tampered_asset_bytes_are_served_with_the_old_digest(
    github: GithubStandin, gh: Github, tmp_path: Path
) -> None:
    release = github.create_release(REPO, "v1")
    asset = github.add_asset(release, "chart.tgz", b"genuine", content_type="application/gzip")
    github.replace_asset_bytes(asset, b"swapped!")
    seen = gh.get_repo(REPO).get_release("v1").get_assets()[0]
    assert seen.size == len(b"genuine")
    assert seen.digest == "sha256:" + hashlib.sha256(b"genuine").hexdigest()
    seen.download_asset(str(tmp_path / "chart.tgz"))
    assert (tmp_path / "chart.tgz").read_bytes() == b"swapped!"


# ------------------------------------------------------------- drafts and immutable releases


def _git_data(tmp_path: Path) -> tuple[Path, str]:
    """A bare repository with one commit on main: the stand-in's git data, and that commit."""
    work, bare = tmp_path / "work", tmp_path / "origin.git"

    def git(*args: str, cwd: Path = work) -> str:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30
        )
        return done.stdout.strip()

    work.mkdir()
    git("init", "-q", "-b", "main")
    git("commit", "-q", "--allow-empty", "-m", "first")
    git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    git("push", "-q", str(bare), "main")
    return bare, git("rev-parse", "HEAD")


def test_a_draft_gets_its_tag_when_published_at_a_known_commit(
    github: GithubStandin, gh: Github, tmp_path: Path
) -> None:
    bare, head = _git_data(tmp_path)
    github.add_repo("metallb/git", git_dir=bare)
    repo = gh.get_repo("metallb/git")
    unknown = "0" * 40
    for as_draft in (True, False):
        with pytest.raises(GithubException) as raised:
            repo.create_git_release("v1", "v1", "", draft=as_draft, target_commitish=unknown)
        assert raised.value.status == 422
        assert raised.value.data["errors"] == [
            {"resource": "Release", "code": "invalid", "field": "target_commitish"}
        ]
    draft = repo.create_git_release("v1", "v1", "", draft=True, target_commitish=head)

    def tags() -> str:
        return subprocess.run(
            ["git", "--git-dir", str(bare), "tag", "--points-at", head],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()  # fmt: skip

    assert tags() == ""  # a draft has no tag
    published = draft.update_release("v1", "", draft=False)
    assert not published.draft
    assert tags() == "v1"
    assert repo.get_release("v1").id == draft.id


def test_immutable_releases_refuse_every_change_once_published(
    github: GithubStandin, gh: Github
) -> None:
    github.add_repo("metallb/frozen", immutable_releases=True)
    repo = gh.get_repo("metallb/frozen")
    draft = repo.create_git_release("v1", "v1", "", draft=True)
    assert draft.raw_data["immutable"] is False
    asset = draft.upload_asset_from_memory(io.BytesIO(b"chart"), 5, name="c-1.tgz")
    published = draft.update_release("v1", "notes may change", draft=False)
    assert published.raw_data["immutable"] is True

    def refused(action: Any) -> str:
        with pytest.raises(GithubException) as raised:
            action()
        assert raised.value.status == 422
        return str(raised.value.data["message"])

    message = refused(
        lambda: published.upload_asset_from_memory(io.BytesIO(b"x"), 1, name="c-1.tgz.prov")
    )
    assert message == "Cannot upload assets to an immutable release"
    assert "immutable" in refused(asset.delete_asset)
    assert "immutable" in refused(lambda: asset.update_asset("renamed.tgz"))
    assert "immutable" in refused(lambda: published.update_release("v1", "", tag_name="v2"))
    assert "immutable" in refused(lambda: published.update_release("v1", "", draft=True))
    published.delete_release()
    with pytest.raises(GithubException) as again:
        repo.create_git_release("v1", "v1", "", draft=True)
    assert again.value.data["errors"] == [
        {
            "resource": "Release",
            "code": "custom",
            "field": "tag_name",
            "message": "tag_name was used by an immutable release",
        }
    ]
    # A repository without the setting keeps GitHub's old behaviour.
    loose = gh.get_repo(REPO).create_git_release("v1", "v1", "")
    assert loose.raw_data["immutable"] is False
    loose.upload_asset_from_memory(io.BytesIO(b"late"), 4, name="late.txt")


# --------------------------------------------------------------------------- pull requests


def test_pull_requests_open_list_and_refuse_as_github_does(
    github: GithubStandin, gh: Github
) -> None:
    github.repo("metallb/metallb").branches.add("index/new")
    repo = gh.get_repo("metallb/metallb")
    pull = repo.create_pull(
        base="main", head="index/new", title="index.yaml: add x 1.0.0", body="b"
    )
    assert (pull.number, pull.state, pull.head.ref, pull.base.ref) == (
        1,
        "open",
        "index/new",
        "main",
    )
    assert pull.html_url.endswith("/metallb/metallb/pull/1")

    listed = repo.get_pulls(state="open", head="metallb:index/new", base="main")
    assert [p.number for p in listed] == [1]
    assert list(repo.get_pulls(state="open", head="metallb:other", base="main")) == []

    with pytest.raises(GithubException) as again:
        repo.create_pull(base="main", head="index/new", title="t", body="b")
    assert again.value.status == 422
    assert again.value.data["errors"][0]["message"] == (
        "A pull request already exists for metallb:index/new."
    )
    with pytest.raises(GithubException) as missing:
        repo.create_pull(base="main", head="no-such-branch", title="t", body="b")
    assert missing.value.status == 422
    assert missing.value.data["errors"] == [
        {"resource": "PullRequest", "field": "head", "code": "invalid"}
    ]

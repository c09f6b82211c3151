"""The stand-in's state: users, repositories, releases and their assets, and the git data.

Test code arranges it directly (:meth:`State.create_release`,
:meth:`State.add_asset`, ...) without a request and without the business rules
the API enforces; the routes go through the same methods after checking them.
Only non-draft, non-prerelease releases can be "latest" (``make_latest``
``true``/``false``/``legacy``), as on GitHub. A repository with immutable
releases on (``Repo.immutable_releases``) makes each release immutable when it
is published: the routes then refuse new, changed or deleted assets and any
later release of its tag.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def sanitize_asset_name(name: str) -> str:
    """The name GitHub stores for an uploaded asset called ``name``."""
    return re.sub(r"[^A-Za-z0-9._+-]", ".", name).strip(".")


def valid_tag_name(tag: str) -> bool:
    """Roughly ``git check-ref-format`` for ``refs/tags/<tag>``."""
    if not tag or tag.startswith(("/", "-", ".")) or tag.endswith(("/", ".", ".lock")):
        return False
    if any(bad in tag for bad in ("..", "@{", "//", "/.")) or tag == "@":
        return False
    return not any(ch in tag for ch in " ~^:?*[\\\x7f") and all(ord(ch) >= 32 for ch in tag)


@dataclass
class User:
    login: str
    id: int
    type: str = "User"


@dataclass
class Asset:
    id: int
    release_id: int
    name: str
    label: str | None
    content_type: str
    data: bytes
    size: int
    digest: str | None
    uploader: User
    created_at: datetime
    updated_at: datetime
    state: str = "uploaded"
    download_count: int = 0


@dataclass
class Release:
    id: int
    repo_id: int
    tag_name: str
    name: str | None
    body: str | None
    draft: bool
    prerelease: bool
    target_commitish: str
    author: User
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    untagged: str
    assets: list[Asset] = field(default_factory=list)
    #: Created or updated with ``make_latest: "false"``: never chosen as latest by date.
    latest_opt_out: bool = False
    #: Published while the repository had immutable releases on.
    immutable: bool = False

    @property
    def download_segment(self) -> str:
        return f"untagged-{self.untagged}" if self.draft else self.tag_name


@dataclass
class PullRequest:
    number: int
    id: int
    title: str
    body: str | None
    head: str
    base: str
    head_sha: str
    base_sha: str
    user: User
    created_at: datetime
    draft: bool = False
    state: str = "open"


@dataclass
class Repo:
    id: int
    owner: User
    name: str
    default_branch: str
    branches: set[str]
    created_at: datetime
    releases: dict[int, Release] = field(default_factory=dict)
    latest_id: int | None = None
    #: A bare git repository standing for the repository's git data: publishing a
    #: release whose tag is missing creates the tag there, as GitHub does.
    git_dir: Path | None = None
    #: GitHub's "immutable releases" setting: a release is frozen once published.
    immutable_releases: bool = False
    #: Tags an immutable release has held: never usable by another release, even
    #: once that release is deleted.
    spent_tags: set[str] = field(default_factory=set)
    pulls: dict[int, PullRequest] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    def find_asset(self, asset_id: int) -> Asset | None:
        for release in self.releases.values():
            for asset in release.assets:
                if asset.id == asset_id:
                    return asset
        return None


class State:
    """Everything the stand-in holds; every method takes ``lock``."""

    def __init__(self, user: str, lock: threading.RLock) -> None:
        self.lock = lock
        self._ids = itertools.count(1)
        self._users: dict[str, User] = {}
        self._repos: dict[str, Repo] = {}
        #: The user the token belongs to: the author of every release and upload.
        self.user = self.user_for(user)

    def user_for(self, login: str, kind: str = "User") -> User:
        with self.lock:
            key = login.lower()
            if key not in self._users:
                self._users[key] = User(login, next(self._ids), kind)
            return self._users[key]

    def add_repo(
        self,
        full_name: str,
        *,
        default_branch: str = "main",
        branches: Iterable[str] = (),
        git_dir: Path | None = None,
        immutable_releases: bool = False,
    ) -> Repo:
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"not owner/name: {full_name!r}")
        with self.lock:
            repo = Repo(
                id=next(self._ids),
                owner=self.user_for(owner, "Organization"),
                name=name,
                default_branch=default_branch,
                branches={default_branch, *branches},
                created_at=now() - timedelta(days=365),
                git_dir=git_dir,
                immutable_releases=immutable_releases,
            )
            self._repos[full_name.lower()] = repo
            return repo

    def repo(self, full_name: str) -> Repo:
        with self.lock:
            return self._repos[full_name.lower()]

    def find_repo(self, full_name: str) -> Repo | None:
        with self.lock:
            return self._repos.get(full_name.lower())

    def repo_by_id(self, repo_id: int) -> Repo | None:
        with self.lock:
            return next((r for r in self._repos.values() if r.id == repo_id), None)

    def repo_of(self, release: Release) -> Repo:
        found = self.repo_by_id(release.repo_id)
        if found is None:
            raise KeyError(release.repo_id)
        return found

    def releases(self, full_name: str) -> list[Release]:
        """The repository's releases in the order GitHub lists them (newest first)."""
        with self.lock:
            return self.listed(self.repo(full_name))

    def release(self, full_name: str, tag: str) -> Release | None:
        """The published release of ``tag`` (drafts have no tag yet), or None."""
        with self.lock:
            return self.by_tag(self.repo(full_name), tag)

    def latest_release(self, full_name: str) -> Release | None:
        with self.lock:
            return self.latest(self.repo(full_name))

    def asset(self, asset_id: int) -> Asset:
        with self.lock:
            for repo in self._repos.values():
                found = repo.find_asset(asset_id)
                if found is not None:
                    return found
            raise KeyError(asset_id)

    def create_release(
        self,
        full_name: str,
        tag_name: str,
        *,
        name: str | None = None,
        body: str | None = None,
        draft: bool = False,
        prerelease: bool = False,
        make_latest: Literal["true", "false", "legacy"] = "true",
        target_commitish: str | None = None,
        created_at: datetime | None = None,
    ) -> Release:
        """Pre-create a release (no request, no validation of business rules)."""
        with self.lock:
            repo = self.repo(full_name)
            moment = created_at or now()
            release = Release(
                id=next(self._ids),
                repo_id=repo.id,
                tag_name=tag_name,
                name=name,
                body=body,
                draft=draft,
                prerelease=prerelease,
                target_commitish=target_commitish or repo.default_branch,
                author=self.user,
                created_at=moment,
                updated_at=moment,
                published_at=None if draft else moment,
                untagged=hashlib.sha1(
                    str(moment.timestamp()).encode(), usedforsecurity=False
                ).hexdigest()[:20],
            )
            repo.releases[release.id] = release
            if not draft:
                self.published(repo, release)
            self.make_latest(repo, release, make_latest, newly_published=not draft)
            return release

    def add_asset(
        self,
        release: Release,
        name: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        label: str | None = None,
    ) -> Asset:
        """Pre-create an uploaded asset (renamed as GitHub would; duplicates refused)."""
        with self.lock:
            stored = sanitize_asset_name(name)
            if any(a.name == stored for a in release.assets):
                raise ValueError(f"{stored!r} already exists on release {release.tag_name}")
            moment = now()
            asset = Asset(
                id=next(self._ids),
                release_id=release.id,
                name=stored,
                label=label,
                content_type=content_type,
                data=data,
                size=len(data),
                digest="sha256:" + hashlib.sha256(data).hexdigest(),
                uploader=self.user,
                created_at=moment,
                updated_at=moment,
            )
            release.assets.append(asset)
            return asset

    def replace_asset_bytes(
        self, asset: Asset | int, data: bytes, *, update_metadata: bool = False
    ) -> Asset:
        """Tamper with what the download URL serves. By default ``size`` and ``digest``
        keep describing the original upload, like a corrupted or swapped object would."""
        with self.lock:
            target = self.asset(asset if isinstance(asset, int) else asset.id)
            target.data = data
            if update_metadata:
                target.size = len(data)
                target.digest = "sha256:" + hashlib.sha256(data).hexdigest()
                target.updated_at = now()
            return target

    # ------------------------------------------------------------------ release rules

    def published(self, repo: Repo, release: Release) -> None:
        """``release`` was just published: frozen if the repository says so."""
        if repo.immutable_releases:
            release.immutable = True
            repo.spent_tags.add(release.tag_name)

    def listed(self, repo: Repo) -> list[Release]:
        return sorted(repo.releases.values(), key=lambda r: (r.created_at, r.id), reverse=True)

    def by_tag(self, repo: Repo, tag: str) -> Release | None:
        for release in self.listed(repo):
            if release.tag_name == tag and not release.draft:
                return release
        return None

    def release_by_id(self, release_id: int) -> Release:
        for repo in self._repos.values():
            if release_id in repo.releases:
                return repo.releases[release_id]
        raise KeyError(release_id)

    def latest(self, repo: Repo) -> Release | None:
        def eligible(release: Release) -> bool:
            return not release.draft and not release.prerelease

        if repo.latest_id is not None:
            chosen = repo.releases.get(repo.latest_id)
            if chosen is not None and eligible(chosen):
                return chosen
        candidates = [r for r in repo.releases.values() if eligible(r) and not r.latest_opt_out]
        return max(candidates, key=lambda r: (r.created_at, r.id), default=None)

    def make_latest(
        self, repo: Repo, release: Release, make_latest: str | None, *, newly_published: bool
    ) -> None:
        choice = make_latest if make_latest is not None else ("true" if newly_published else None)
        if release.draft or release.prerelease:
            # "Drafts and prereleases cannot be set as latest."
            if repo.latest_id == release.id:
                repo.latest_id = None
            return
        if choice == "true":
            release.latest_opt_out = False
            repo.latest_id = release.id
        elif choice == "false":
            release.latest_opt_out = True
            if repo.latest_id == release.id:
                repo.latest_id = None
        elif choice == "legacy":
            release.latest_opt_out = False
            repo.latest_id = None

    # ------------------------------------------------------------------ git data

    def _git(self, repo: Repo, *args: str) -> subprocess.CompletedProcess[str]:
        assert repo.git_dir is not None
        return subprocess.run(
            ["git", "--git-dir", str(repo.git_dir), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def commit_of(self, repo: Repo, commitish: str | None) -> str | None:
        """The commit ``commitish`` (a branch or commit; None: the default branch) names
        in the repository, or None if it names none. Without git data: a branch the
        repository lists, or anything shaped like a commit id, as itself."""
        wanted = commitish or repo.default_branch
        if repo.git_dir is None:
            known = wanted in repo.branches or re.fullmatch(r"[0-9a-f]{7,40}", wanted)
            return wanted if known else None
        found = self._git(repo, "rev-parse", "-q", "--verify", f"{wanted}^{{commit}}")
        return found.stdout.strip() if found.returncode == 0 else None

    def branch_sha(self, repo: Repo, branch: str) -> str | None:
        """The commit ``branch`` points at, from the git data (without it: a made-up
        one for a branch the repository was given), None for no such branch."""
        if repo.git_dir is None:
            known = branch in repo.branches
            return (
                hashlib.sha256(f"{repo.full_name}:{branch}".encode()).hexdigest()[:40]
                if known
                else None
            )
        found = subprocess.run(
            ["git", "--git-dir", str(repo.git_dir), "rev-parse", "-q", "--verify",
             f"refs/heads/{branch}^{{commit}}"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        return found.stdout.strip() if found.returncode == 0 else None

    def open_pull(
        self, repo: Repo, *, title: str, body: str | None, head: str, base: str, draft: bool
    ) -> PullRequest:
        """A new open pull request from ``head`` into ``base`` (both existing branches)."""
        with self.lock:
            head_sha, base_sha = self.branch_sha(repo, head), self.branch_sha(repo, base)
            if head_sha is None or base_sha is None:
                raise ValueError(f"{repo.full_name} has no branch {head!r} or {base!r}")
            number = max(repo.pulls, default=0) + 1
            pull = PullRequest(
                number=number,
                id=next(self._ids),
                title=title,
                body=body,
                head=head,
                base=base,
                head_sha=head_sha,
                base_sha=base_sha,
                user=self.user,
                created_at=now(),
                draft=draft,
            )
            repo.pulls[number] = pull
            return pull

    def tag_in_git(self, repo: Repo, tag: str, commitish: str | None) -> bool:
        """Create ``tag`` at ``commitish`` (default branch if None) in the repository's
        git data unless it exists; False if ``commitish`` names no commit there."""
        assert repo.git_dir is not None
        if self._git(repo, "rev-parse", "-q", "--verify", f"refs/tags/{tag}").returncode == 0:
            return True
        commit = self.commit_of(repo, commitish)
        if commit is None:
            return False
        self._git(repo, "update-ref", f"refs/tags/{tag}", commit)
        return True

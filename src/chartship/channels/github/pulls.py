"""The pull request ``index --pull-request BRANCH`` opens for its index.yaml change.

The branch is pushed first (:func:`chartship.channels.classic.pages.publish_index`);
this opens the pull request from it into the pages branch through GitHub's API,
or, when one is already open for that head and base (a rerun), finds it and
pushes nothing, so a rerun reports the same pull request instead of failing on
the branch it pushed last time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from github import GithubException
from github.PullRequest import PullRequest as GithubPull
from github.Repository import Repository

from chartship.channels.github import client
from chartship.channels.github.channel import configured_repository
from chartship.config import Settings
from chartship.errors import UsageError


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    head: str
    base: str
    #: False: it was open already, for this head and base.
    created: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "url": self.url,
            "head": self.head,
            "base": self.base,
            "created": self.created,
        }

    @property
    def summary(self) -> str:
        state = "opened" if self.created else "already open"
        return f"pull request #{self.number} {state} from {self.head} into {self.base}: {self.url}"


def repository_for(settings: Settings, environ: Mapping[str, str]) -> Repository:
    """The repository pull requests go to; refused before anything is pushed."""
    if settings.channels.github is None:
        where = f" in {settings.source}" if settings.source else ""
        raise UsageError(
            "index --pull-request opens the pull request through the GitHub API: "
            f"set channels.github.repository{where}"
        )
    if client.token_from(environ) is None:
        raise UsageError(
            "index --pull-request needs a GitHub token to open the pull request: "
            f"set {' or '.join(client.TOKEN_VARIABLES)}"
        )
    return configured_repository(settings, environ)


def _info(pull: GithubPull, head: str, base: str, *, created: bool) -> PullRequest:
    return PullRequest(pull.number, pull.html_url, head, base, created)


def find_open(repo: Repository, head: str, base: str) -> PullRequest | None:
    """The open pull request from ``head`` (a branch of this repository) into ``base``."""
    what = f"pull requests of {repo.full_name}"
    try:
        # GitHub filters ``head`` as ``owner:branch``; a bare branch name filters nothing.
        found = repo.get_pulls(state="open", head=f"{repo.owner.login}:{head}", base=base)
        first = next(iter(found), None)
    except client.API_ERRORS as exc:
        raise client.as_error(exc, what) from None
    return None if first is None else _info(first, head, base, created=False)


def title_and_body(entries: Sequence[tuple[str, str, str]], base: str) -> tuple[str, str]:
    """``entries``: (chart, version, download URL) of each index entry the branch adds."""
    listed = ", ".join(f"{chart} {version}" for chart, version, _ in entries)
    title = f"index.yaml: add {listed}"
    lines = [
        f"Adds {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} to index.yaml on {base}:",
        "",
        *(f"- {chart} {version}: {url}" for chart, version, url in entries),
        "",
        "Opened by chartship index --pull-request.",
    ]
    return title, "\n".join(lines)


def open_pull_request(
    repo: Repository, *, head: str, base: str, title: str, body: str
) -> PullRequest:
    """Open it; if one is open for this head and base already, that one."""
    try:
        pull = repo.create_pull(base=base, head=head, title=title, body=body)
    except GithubException as exc:
        # Opened meanwhile (or by an earlier run that lost its answer): report that one.
        existing = find_open(repo, head, base) if exc.status == 422 else None
        if existing is not None:
            return existing
        raise client.as_error(exc, f"pull request from {head} into {base}") from None
    except client.API_ERRORS as exc:
        raise client.as_error(exc, f"pull request from {head} into {base}") from None
    return _info(pull, head, base, created=True)

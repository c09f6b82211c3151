"""The one place chartship talks to GitHub through PyGithub.

PyGithub is a maintained client with pagination and GitHub's retry rules; this
module builds it (bounded waits, a base URL so GitHub Enterprise and the local
stand-in work alike), and turns its exceptions into :class:`GithubError` and
:class:`GithubUnavailable` messages that never carry the token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import requests
from github import Auth, Github, GithubException, GithubRetry, UnknownObjectException
from github.GitRelease import GitRelease
from github.GitReleaseAsset import GitReleaseAsset
from github.Repository import Repository
from urllib3.response import BaseHTTPResponse

from chartship.config import GithubSettings
from chartship.errors import GithubError, GithubUnavailable

TOKEN_VARIABLES = ("GITHUB_TOKEN", "GH_TOKEN")


class _BoundedRetry(GithubRetry):
    """GitHub's own retry rules, with every wait capped by ``max_wait``.

    urllib3 sleeps whatever Retry-After says; a release job must rather fail
    with a clear message than hang for an hour.
    """

    def __init__(self, max_wait: float, **kwargs: Any) -> None:
        self.max_wait = max_wait
        kwargs.setdefault("status_forcelist", [429, *range(500, 600)])
        super().__init__(max_rate_limit_wait=max_wait, **kwargs)

    def new(self, **kw: Any) -> _BoundedRetry:
        kw.pop("max_rate_limit_wait", None)
        return type(self)(self.max_wait, **kw)

    def sleep_for_retry(self, response: BaseHTTPResponse) -> bool:
        wait = self.get_retry_after(response)
        if wait is not None and wait > self.max_wait:
            raise GithubException(
                response.status,
                {"message": f"asked to wait {wait:g}s (Retry-After), more than {self.max_wait:g}s"},
                None,
            )
        return bool(super().sleep_for_retry(response))


def token_from(environ: Mapping[str, str]) -> str | None:
    for name in TOKEN_VARIABLES:
        if environ.get(name):
            return environ[name]
    return None


def client(gh: GithubSettings, token: str | None) -> Github:
    interval, writes = (0.25, 1.0) if gh.throttle else (None, None)
    return Github(
        auth=Auth.Token(token) if token else None,
        base_url=gh.api_url.rstrip("/"),
        timeout=int(max(gh.timeout, 1)),
        # Seven retries: a GitHub having a bad minute (a fifth of the calls failing)
        # must not fail a migration that makes hundreds of calls.
        retry=_BoundedRetry(
            gh.max_wait, total=7, backoff_factor=0.25, backoff_max=min(gh.max_wait, 5.0)
        ),
        seconds_between_requests=interval,
        seconds_between_writes=writes,
        user_agent="chartship",
    )


def repository(
    gh: GithubSettings,
    token: str | None,
    client_factory: Callable[[GithubSettings, str | None], Github] = client,
) -> Repository:
    """The configured repository, with GitHub's refusal or silence as a GithubError."""
    try:
        return client_factory(gh, token).get_repo(gh.repository)
    except GithubException as exc:
        raise describe(exc, f"repository {gh.repository}") from None
    except requests.RequestException as exc:
        raise unreachable(exc, f"repository {gh.repository}") from None


def _errors_of(error: GithubException) -> list[dict[str, Any]]:
    data = error.data if isinstance(error.data, dict) else {}
    return [e for e in data.get("errors") or [] if isinstance(e, dict)]


def _message_of(error: GithubException) -> str:
    data = error.data if isinstance(error.data, dict) else {}
    return str(data.get("message") or error.data or "")


def _advice(error: GithubException) -> str:
    """What to do about a refusal, by its kind: a message without it leaves people stuck."""
    status = error.status
    if status == 401:
        return f"check the token in {' or '.join(TOKEN_VARIABLES)}: GitHub did not accept it"
    if status == 403 and "rate limit" not in _message_of(error).lower():
        return (
            "the token lacks permission: it needs contents: write on the repository "
            "(in a workflow: permissions: contents: write)"
        )
    if status == 404:
        return (
            "check channels.github.repository and channels.github.api_url, and that the "
            "token can see the repository"
        )
    if status == 429 or status == 403 or status >= 500:
        return "GitHub is busy or failing: run it again later"
    return ""


def describe(error: GithubException, what: str, *, advice: str = "") -> GithubError:
    """A message from GitHub's answer (status, message and errors, never headers),
    ending with what to do: ``advice``, else the usual advice for that status."""
    message = _message_of(error)
    details = [
        f"{e.get('resource', '')} {e.get('field', '')} {e.get('code', '')}".strip()
        for e in _errors_of(error)
    ]
    extra = f" ({'; '.join(details)})" if details else ""
    advice = advice or _advice(error)
    tail = f"; {advice}" if advice else ""
    kind = GithubUnavailable if error.status >= 500 or error.status == 429 else GithubError
    return kind(f"GitHub: {what}: {error.status} {message}{extra}{tail}")


def unreachable(error: requests.RequestException, what: str) -> GithubError:
    """A transport failure (retries used up, connection refused) as one clear line."""
    reason: BaseException = error
    for _ in range(5):  # requests wraps urllib3, which wraps the cause
        inner = reason.args[0] if reason.args else None
        if not isinstance(inner, BaseException):
            break
        nested = getattr(inner, "reason", inner)
        reason = nested if isinstance(nested, BaseException) else inner
    text = str(reason)
    if "too many" in text and "error responses" in text:
        text = f"gave up after retries ({text.split('(')[-1].rstrip(')').strip()})"
    return GithubUnavailable(f"GitHub: {what}: {text}")


#: What PyGithub raises for an API failure or an unreachable host.
API_ERRORS: tuple[type[Exception], ...] = (GithubException, requests.RequestException)


def as_error(error: Exception, what: str) -> GithubError:
    """One of :data:`API_ERRORS` as chartship's GitHub error, token-free."""
    if isinstance(error, GithubException):
        return describe(error, what)
    if isinstance(error, requests.RequestException):
        return unreachable(error, what)
    return GithubError(f"GitHub: {what}: {error}")


def already_exists(error: GithubException) -> bool:
    return error.status == 422 and any(e.get("code") == "already_exists" for e in _errors_of(error))


def bad_target(error: GithubException) -> bool:
    """GitHub's "Release target_commitish invalid": the commit is not on GitHub."""
    return error.status == 422 and any(
        e.get("field") == "target_commitish" for e in _errors_of(error)
    )


def tag_spent(error: GithubException) -> bool:
    """GitHub's "tag_name was used by an immutable release"."""
    return error.status == 422 and any(
        "immutable" in str(e.get("message", "")) for e in _errors_of(error)
    )


def immutable_refusal(error: GithubException) -> bool:
    """GitHub's 422 "Cannot upload assets to an immutable release" (and its kin)."""
    return error.status == 422 and "immutable release" in _message_of(error)


def sha256_of(asset: GitReleaseAsset) -> str:
    return hashlib.sha256(asset_bytes(asset)).hexdigest()


def asset_bytes(asset: GitReleaseAsset, limit: int = 64 * 2**20) -> bytes:
    """The asset's content, refused past ``limit`` bytes."""
    streamed = asset.download_asset()
    if streamed is None:
        raise GithubError(f"GitHub: asset {asset.name} could not be downloaded")
    _status, _headers, chunks = streamed
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise GithubError(f"GitHub: asset {asset.name} is over {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def find_release(repo: Repository, tag: str) -> GitRelease | None:
    try:
        return repo.get_release(tag)
    except UnknownObjectException:
        return None


def drafts(repo: Repository) -> dict[str, list[GitRelease]]:
    """The repository's drafts by tag_name, oldest first.

    Only a token that can push sees drafts; a draft has no tag until it is
    published, so the listing is the only way to find one.
    """
    found: dict[str, list[GitRelease]] = {}
    for release in repo.get_releases():
        if release.draft:
            found.setdefault(release.tag_name, []).append(release)
    for mine in found.values():
        mine.sort(key=lambda release: release.id)
    return found


def assets_of(release: GitRelease) -> dict[str, GitReleaseAsset]:
    """The release's assets by name."""
    return {asset.name: asset for asset in release.get_assets()}

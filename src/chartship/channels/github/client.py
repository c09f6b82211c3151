"""The one place chartship talks to GitHub through PyGithub.

PyGithub is a maintained client with pagination and GitHub's retry rules; this
module builds it (bounded waits, a base URL so GitHub Enterprise and the local
stand-in work alike), and turns its exceptions into :class:`GithubError` and
:class:`GithubUnavailable` messages that never carry the token.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Callable
from typing import Any

import requests
import requests.adapters
from github import Auth, Github, GithubException, GithubRetry, UnknownObjectException
from github.GitRelease import GitRelease
from github.GitReleaseAsset import GitReleaseAsset
from github.Repository import Repository
from urllib3.response import BaseHTTPResponse

from chartship.channels.github import TOKEN_VARIABLES as TOKEN_VARIABLES
from chartship.channels.github import token_from as token_from
from chartship.config import GithubSettings
from chartship.errors import AssetUnreadable, GithubError, GithubUnavailable
from chartship.safetext import shown


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


def _retry(gh: GithubSettings) -> _BoundedRetry:
    # Seven retries: a GitHub having a bad minute (a fifth of the calls failing)
    # must not fail a migration that makes hundreds of calls.
    return _BoundedRetry(
        gh.max_wait, total=7, backoff_factor=0.25, backoff_max=min(gh.max_wait, 5.0)
    )


def client(gh: GithubSettings, token: str | None) -> Github:
    interval, writes = (0.25, 1.0) if gh.throttle else (None, None)
    return Github(
        auth=Auth.Token(token) if token else None,
        base_url=gh.api_url.rstrip("/"),
        timeout=int(max(gh.timeout, 1)),
        retry=_retry(gh),
        seconds_between_requests=interval,
        seconds_between_writes=writes,
        user_agent="chartship",
        # GitHub's largest page: a listing of hundreds of releases in a few
        # requests instead of one per 30 (PyGithub's default).
        per_page=100,
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


_BUSY = "GitHub is busy, failing or out of reach: run it again later"


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
        return _BUSY
    if already_exists(error):
        return "it appeared meanwhile (another run at the same time?): run it again to judge it"
    if status == 422:
        return "GitHub refused the request as invalid: check the fields it names"
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
    return GithubUnavailable(f"GitHub: {what}: {text}; {_BUSY} (and check channels.github.api_url)")


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


#: Redirects one asset download may take (GitHub takes one, to its storage host).
MAX_REDIRECTS = 5
#: An asset is refused past this many bytes.
ASSET_LIMIT = 64 * 2**20
#: Whole downloads tried when the connection breaks off in the middle of the body.
_BODY_ATTEMPTS = 3


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


class AssetReader:
    """Downloads release assets, following GitHub's redirect to its storage host safely.

    GitHub answers an asset's API URL with a redirect to another host. PyGithub's
    own download asserts on such a host (an AssertionError ends the release), so
    chartship follows redirects itself: only to http(s), never from https down to
    http, at most :data:`MAX_REDIRECTS` times, and the token goes only to the
    configured API host (its scheme, host and port). Anything else is an
    :class:`AssetUnreadable` naming the asset.
    """

    def __init__(self, gh: GithubSettings, token: str | None, *, limit: int = ASSET_LIMIT) -> None:
        self.token = token
        self.timeout = max(gh.timeout, 1.0)
        self.limit = limit
        self.trusted = _origin(gh.api_url)
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(max_retries=_retry(gh))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def read(self, asset: GitReleaseAsset) -> bytes:
        """The asset's content, refused past ``limit`` bytes."""
        attempts = 0
        while True:
            attempts += 1
            try:
                return self._read(asset)
            except _BrokenBody as broken:
                # urllib3 retries a request, not a body cut off half-way.
                if attempts >= _BODY_ATTEMPTS:
                    raise unreachable(broken.cause, f"asset {asset.name}") from None

    def sha256(self, asset: GitReleaseAsset) -> str:
        return hashlib.sha256(self.read(asset)).hexdigest()

    def _read(self, asset: GitReleaseAsset) -> bytes:
        url = asset.url
        for _ in range(MAX_REDIRECTS + 1):
            headers = {"Accept": "application/octet-stream", "User-Agent": "chartship"}
            if self.token and _origin(url) == self.trusted:
                headers["Authorization"] = f"token {self.token}"
            try:
                response = self.session.get(
                    url, headers=headers, stream=True, allow_redirects=False, timeout=self.timeout
                )
            except requests.exceptions.RetryError as exc:
                raise unreachable(exc, f"asset {asset.name}") from None
            with response:
                if response.is_redirect:
                    url = self._next(asset, url, response.headers.get("location", ""))
                    continue
                if response.status_code != 200:
                    kind = GithubUnavailable if response.status_code >= 500 else GithubError
                    raise kind(
                        f"GitHub: asset {asset.name}: download answered {response.status_code}"
                    )
                return self._body(asset, response)
        raise AssetUnreadable(
            f"GitHub: asset {asset.name}: the download redirects more than {MAX_REDIRECTS} times"
        )

    def _next(self, asset: GitReleaseAsset, url: str, location: str) -> str:
        target = urllib.parse.urljoin(url, location)
        scheme = urllib.parse.urlsplit(target).scheme
        if scheme not in ("http", "https"):
            raise AssetUnreadable(
                f"GitHub: asset {asset.name}: the download redirects to {shown(target)}; only "
                "http(s) redirects are followed: check channels.github.api_url and the server"
            )
        if scheme == "http" and url.startswith("https:"):
            raise AssetUnreadable(
                f"GitHub: asset {asset.name}: the download redirects from https to plain http "
                f"({shown(target)}); refused: check channels.github.api_url and the server"
            )
        return target

    def _body(self, asset: GitReleaseAsset, response: requests.Response) -> bytes:
        parts: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(chunk_size=2**16):
                size += len(chunk)
                if size > self.limit:
                    raise GithubError(f"GitHub: asset {asset.name} is over {self.limit} bytes")
                parts.append(chunk)
        except requests.RequestException as exc:
            raise _BrokenBody(exc) from None
        return b"".join(parts)


class _BrokenBody(Exception):
    def __init__(self, cause: requests.RequestException) -> None:
        super().__init__(str(cause))
        self.cause = cause


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

"""Reading the classic channel as its users do: index.yaml and archives over HTTP."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from chartship import redirects
from chartship.channels.classic.merge import INDEX_FILE, load, load_keeping_duplicates
from chartship.channels.classic.pages import base_url
from chartship.errors import ChartError, NotFound, RegistryError, RegistryUnavailable
from chartship.retrying import TRANSIENT_STATUSES, Budget
from chartship.safetext import shown
from chartship.yamlfiles import DuplicateKey

#: Far above any chart archive or index seen in the field; a guard against endless bodies.
MAX_INDEX_BYTES = 256 * 2**20
MAX_ARCHIVE_BYTES = 64 * 2**20
_CHUNK = 256 * 1024


@dataclass(frozen=True)
class Entry:
    """One version as the classic index lists it."""

    chart: str
    version: str
    digest: str | None
    urls: tuple[str, ...]
    created: str | None
    position: int  # among the chart's entries, as listed

    @property
    def archive_name(self) -> str:
        return f"{self.chart}-{self.version}.tgz"


def index_location(index_url: str) -> str:
    """Where index.yaml itself is, given the repository URL or the file's URL."""
    return f"{base_url(index_url)}/{INDEX_FILE}"


def resolve(index_url: str, url: str) -> str:
    """An entry's URL as helm resolves it: relative ones against the repository URL."""
    return urllib.parse.urljoin(index_location(index_url), url)


def url_problem(index_url: str, url: str) -> str | None:
    """Why an entry's URL is never fetched, or None: what helm would fetch must be plain http(s).

    A ``file:``, ``ftp:`` or other URL would read from this machine or leave
    HTTP; credentials in it would be sent and logged; a relative URL resolving
    outside the repository names some other file of the site.
    """
    try:
        given = urllib.parse.urlsplit(url)
        target = urllib.parse.urlsplit(resolve(index_url, url))
        credentials = target.username is not None or target.password is not None
        host = target.hostname
    except ValueError:  # an unclosed IPv6 bracket, a port out of range
        return f"its URL {shown(url)} is not a valid URL"
    if target.scheme.lower() not in ("http", "https"):
        return f"its URL {shown(url)} is not http(s); chartship fetches only http(s) URLs"
    if not host:
        return f"its URL {shown(url)} names no host"
    if credentials:
        return f"its URL {shown(url)} carries credentials, which would be sent to its host"
    if not given.scheme and not given.netloc:
        repository = base_url(index_url) + "/"
        if not urllib.parse.urlunsplit(target).startswith(repository):
            return (
                f"its relative URL {shown(url)} resolves outside the repository {shown(repository)}"
            )
    return None


def _scheme_ok(url: str) -> None:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ChartError(f"only http(s) URLs are fetched, not {shown(url)}", path=INDEX_FILE)


def fetch(url: str, *, limit: int, timeout: float, what: str, retry_seconds: float = 10.0) -> bytes:
    """GET ``url`` whole, refusing a body over ``limit`` bytes; 404 raises NotFound.

    Throttling, server errors and dropped connections are retried within
    ``retry_seconds`` (:mod:`chartship.retrying`): a pages site or release host
    having a bad minute must not fail a migration of hundreds of versions.
    """
    _scheme_ok(url)
    budget = Budget(retry_seconds)
    while True:
        try:
            return _fetch_once(url, limit=limit, timeout=timeout, what=what)
        except urllib.error.HTTPError as exc:
            if exc.code in TRANSIENT_STATUSES:
                if budget.pause(exc.headers.get("Retry-After")):
                    continue
                raise RegistryUnavailable(
                    f"{what} at {url}: HTTP {exc.code} {exc.reason} "
                    f"(after {budget.attempts} attempt(s) in {retry_seconds:g}s)"
                ) from None
            kind = NotFound if exc.code == 404 else RegistryError
            raise kind(f"{what} at {url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            if budget.pause():
                continue
            reason = getattr(exc, "reason", exc)
            raise RegistryUnavailable(
                f"{what} at {url} could not be fetched: {reason} "
                f"(after {budget.attempts} attempt(s) in {retry_seconds:g}s)"
            ) from None


_OPENER = redirects.opener()


def _fetch_once(url: str, *, limit: int, timeout: float, what: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "chartship"})  # noqa: S310
    # http(s) only: checked by the caller, and by the opener on every redirect.
    with _OPENER.open(request, timeout=timeout) as response:
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RegistryError(f"{what} at {url} is {declared} bytes, over {limit}")
        parts: list[bytes] = []
        size = 0
        while chunk := response.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise RegistryError(f"{what} at {url} is over {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)


def _served_text(index_url: str, timeout: float, retry_seconds: float) -> tuple[str, str]:
    location = index_location(index_url)
    raw = fetch(
        location,
        limit=MAX_INDEX_BYTES,
        timeout=timeout,
        what="index.yaml",
        retry_seconds=retry_seconds,
    )
    try:
        return location, raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ChartError("is not UTF-8 text", path=location) from None


def _entries(data: dict[str, Any]) -> list[Entry]:
    found: list[Entry] = []
    for chart, listed in (data.get("entries") or {}).items():
        for position, raw_entry in enumerate(listed or []):
            found.append(_entry(str(chart), position, raw_entry))
    return found


def read_index(
    index_url: str, *, timeout: float, retry_seconds: float = 10.0
) -> tuple[str, list[Entry]]:
    """The served index.yaml's text and every entry it lists, in its own order.

    An index that repeats a key is refused, as helm refuses it.
    """
    location, text = _served_text(index_url, timeout, retry_seconds)
    return text, _entries(load(text, path=location))


def read_index_keeping_duplicates(
    index_url: str, *, timeout: float, retry_seconds: float = 10.0
) -> tuple[list[Entry], list[DuplicateKey]]:
    """:func:`read_index`'s entries (of a repeated key, the last) and the keys repeated.

    For an inventory, which reports what is wrong with a channel instead of stopping.
    """
    location, text = _served_text(index_url, timeout, retry_seconds)
    data, duplicates = load_keeping_duplicates(text, path=location)
    return _entries(data), duplicates


def _entry(chart: str, position: int, raw: dict[str, Any]) -> Entry:
    urls = raw.get("urls") or []
    digest = raw.get("digest")
    created = raw.get("created")
    return Entry(
        chart=chart,
        version=str(raw["version"]),
        digest=str(digest) if digest else None,
        urls=tuple(str(u) for u in urls) if isinstance(urls, list) else (),
        created=str(created) if created else None,
        position=position,
    )

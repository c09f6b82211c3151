"""Reading the classic channel as its users do: index.yaml and archives over HTTP."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from chartship.channels.classic.merge import INDEX_FILE, load
from chartship.channels.classic.pages import base_url
from chartship.errors import ChartError, NotFound, RegistryError, RegistryUnavailable
from chartship.retrying import TRANSIENT_STATUSES, Budget

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


def _scheme_ok(url: str) -> None:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ChartError(f"only http(s) URLs are fetched, not {url!r}", path=INDEX_FILE)


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


def _fetch_once(url: str, *, limit: int, timeout: float, what: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "chartship"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) only, checked by the caller)
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


def read_index(index_url: str, *, timeout: float) -> tuple[str, list[Entry]]:
    """The served index.yaml's text and every entry it lists, in its own order."""
    location = index_location(index_url)
    raw = fetch(location, limit=MAX_INDEX_BYTES, timeout=timeout, what="index.yaml")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ChartError("is not UTF-8 text", path=location) from None
    data = load(text, path=location)
    found: list[Entry] = []
    for chart, listed in (data.get("entries") or {}).items():
        for position, raw_entry in enumerate(listed or []):
            found.append(_entry(str(chart), position, raw_entry))
    return text, found


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

"""The stand-in as a server: HTTP in and out, and :class:`GithubStandin`, what tests hold."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Literal

from chartship.sandbox.github_standin.contract import (
    DESCRIPTION,
    ApiDescription,
    Checked,
    Contract,
    Violation,
    load_description,
)
from chartship.sandbox.github_standin.exchange import Json, RecordedRequest
from chartship.sandbox.github_standin.representations import Representations
from chartship.sandbox.github_standin.routes import Fault, Routes
from chartship.sandbox.github_standin.state import Asset, Release, Repo, State, User
from chartship.sandbox.servers import BackgroundServer, LocalHTTPServer

#: Seconds a connection may sit idle, or a request take to arrive, before the server drops it.
IO_TIMEOUT = 5.0


class _Handler(BaseHTTPRequestHandler):
    server: LocalHTTPServer[GithubStandin]
    protocol_version = "HTTP/1.1"
    timeout = IO_TIMEOUT

    def version_string(self) -> str:
        return "GitHub.com"

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests assert on ``requests`` instead."""

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        body = self._read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.owner.routes.handle(self.command, self.path, headers, body)
        data = reply.encode()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.status not in (204, 304):
            if data or reply.payload is not None:
                self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and reply.status not in (204, 304):
            self.wfile.write(data)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve


class GithubStandin(BackgroundServer):
    """GitHub's REST API for releases on ``127.0.0.1``; use as a context manager.

    ``repos`` are created up front (``owner/name``, default branch ``main``).
    Requests must carry ``Authorization: token <token>`` (or ``Bearer``).
    ``state``, ``contract`` and ``routes`` are its parts; the methods below
    are what tests use of them.
    """

    # Clients keep connections alive; stop() cuts them rather than wait out IO_TIMEOUT.
    block_on_close = False
    track_connections = True
    stop_timeout = IO_TIMEOUT

    def __init__(
        self,
        *,
        token: str,
        repos: Iterable[str] = (),
        user: str = "chartship-bot",
        description: Path = DESCRIPTION,
    ) -> None:
        self.token = token
        self._public_url: str | None = None
        # One lock for all three parts: a request is answered as one step.
        lock = threading.RLock()
        self.state = State(user, lock)
        self.contract = Contract(load_description(description), lock)
        self.views = Representations(self.state, lambda: self.api_url)
        super().__init__(_Handler)
        self.routes = Routes(
            self.state, self.contract, self.views, token=token, port=self.port, lock=lock
        )
        for full_name in repos:
            self.add_repo(full_name)

    def quiet(self, error: BaseException | None) -> bool:
        """Clients hanging up mid-request are not the stand-in's business: quiet."""
        return True

    # ------------------------------------------------------------------ addresses

    @property
    def api_url(self) -> str:
        """What ``github.Github(base_url=...)`` takes (like ``https://api.github.com``).

        The URLs in answers are built on it; behind a proxy, :meth:`advertise`
        the proxy's address so that clients keep going through it."""
        return self._public_url or self.url

    def advertise(self, url: str | None) -> None:
        """Build the URLs in answers on ``url`` (None: this server's own address)."""
        self._public_url = url.rstrip("/") if url else None

    # ------------------------------------------------------------------ inspection

    @property
    def description(self) -> ApiDescription:
        return self.contract.description

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.routes.requests

    @property
    def violations(self) -> list[Violation]:
        return self.contract.violations

    @property
    def checked(self) -> list[Checked]:
        return self.contract.checked

    @property
    def undocumented(self) -> list[str]:
        return self.contract.undocumented

    @property
    def faults(self) -> list[Fault]:
        return self.routes.faults

    @property
    def user(self) -> User:
        return self.state.user

    @property
    def rate_used(self) -> int:
        return self.routes.rate_used

    @property
    def rate_reset(self) -> int:
        return self.routes.rate_reset

    @property
    def validations(self) -> int:
        """How many response bodies were validated against the description."""
        return self.contract.validations

    def calls(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """Recorded requests, filtered by method and by a regex searched in the path."""
        return self.routes.calls(method, path)

    def clear_violations(self) -> list[Violation]:
        """Forget (and return) the violations so far: for tests that provoke them."""
        return self.contract.clear_violations()

    def report(self) -> str:
        return self.contract.report()

    # ------------------------------------------------------------------ state for tests

    def add_repo(
        self,
        full_name: str,
        *,
        default_branch: str = "main",
        branches: Iterable[str] = (),
        git_dir: Path | None = None,
        immutable_releases: bool = False,
    ) -> Repo:
        """A repository; ``immutable_releases`` is GitHub's setting of that name."""
        return self.state.add_repo(
            full_name,
            default_branch=default_branch,
            branches=branches,
            git_dir=git_dir,
            immutable_releases=immutable_releases,
        )

    def repo(self, full_name: str) -> Repo:
        return self.state.repo(full_name)

    def releases(self, full_name: str) -> list[Release]:
        """The repository's releases in the order GitHub lists them (newest first)."""
        return self.state.releases(full_name)

    def release(self, full_name: str, tag: str) -> Release | None:
        """The published release of ``tag`` (drafts have no tag yet), or None."""
        return self.state.release(full_name, tag)

    def latest_release(self, full_name: str) -> Release | None:
        return self.state.latest_release(full_name)

    def asset(self, asset_id: int) -> Asset:
        return self.state.asset(asset_id)

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
        return self.state.create_release(
            full_name,
            tag_name,
            name=name,
            body=body,
            draft=draft,
            prerelease=prerelease,
            make_latest=make_latest,
            target_commitish=target_commitish,
            created_at=created_at,
        )

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
        return self.state.add_asset(release, name, data, content_type=content_type, label=label)

    def replace_asset_bytes(
        self, asset: Asset | int, data: bytes, *, update_metadata: bool = False
    ) -> Asset:
        """Tamper with what the download URL serves. By default ``size`` and ``digest``
        keep describing the original upload, like a corrupted or swapped object would."""
        return self.state.replace_asset_bytes(asset, data, update_metadata=update_metadata)

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Json | bytes | None = None,
        content_type: str | None = None,
        perform: bool = False,
    ) -> Fault:
        """Answer the next ``times`` matching requests with ``status``; ``Routes.fail``
        (routes.py) says what each status looks like and what ``perform`` does."""
        return self.routes.fail(
            method, path_regex, status, times, headers, body, content_type, perform
        )

    def intercept(
        self,
        method: str,
        path_regex: str,
        action: Callable[[RecordedRequest], None],
        *,
        after: bool = False,
    ) -> threading.Event:
        """Call ``action`` at the first matching request (``Routes.intercept`` in
        routes.py says when): to kill a client at an exact point of its work."""
        return self.routes.intercept(method, path_regex, action, after=after)

    # ------------------------------------------------------------------ JSON representations

    def user_json(self, user: User) -> dict[str, Json]:
        return self.views.user_json(user)

    def repo_json(self, repo: Repo) -> dict[str, Json]:
        return self.views.repo_json(repo)

    def asset_json(self, asset: Asset) -> dict[str, Json]:
        return self.views.asset_json(asset)

    def release_json(self, release: Release) -> dict[str, Json]:
        return self.views.release_json(release)

    def rate_json(self) -> dict[str, Json]:
        return self.routes.rate_json()

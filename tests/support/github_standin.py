"""A stand-in for GitHub's REST API (releases, release assets, repository, rate
limit) on 127.0.0.1, held to GitHub's own OpenAPI description.

Unmodified PyGithub works against it: ``Github(auth=Auth.Token(standin.token),
base_url=standin.api_url)``. Every request it receives is checked against the
description in ``tests/data/github-api/releases-openapi.json`` (octokit's
dereferenced subset, OpenAPI 3.0.3) and answered the way GitHub answers it, and
every JSON body it sends is validated against the response schema documented
for that operation and status. A mismatch on either side lands in
``violations``: on the request side it means the client sent something the API
does not describe; on the response side it is a bug in this stand-in. The
``github`` fixture fails the test at teardown if any are left.

What GitHub does and the description does not say, modelled here:

* schema failures of a JSON body answer 422 ``"Invalid request.\\n\\n..."``
  (GitHub's wording, no ``errors``); business rules answer 422
  ``"Validation Failed"`` with ``errors`` (``already_exists`` on a duplicate
  release tag or asset name, ``custom`` on a malformed tag, ``invalid`` on an
  unknown ``target_commitish``); a body that is not JSON answers 400;
* an unknown path or method answers 404 ``Not Found``; an unknown release,
  asset or repository answers 404 even where the description lists no 404;
* no ``Authorization`` answers 401 ``Requires authentication``, a wrong token
  401 ``Bad credentials`` (``token X`` and ``Bearer X`` are both accepted);
* ``Link`` headers of paginated lists point at ``/repositories/{id}/...`` as
  GitHub's do, and those URLs are served;
* uploads go to the same host and port (the ``upload_url`` template); PyGithub
  refuses absolute URLs on its own host with another port, so a separate
  "uploads" port would break it;
* ``browser_download_url`` is ``{api_url}/download/{owner}/{repo}/{tag}/{name}``
  (``untagged-...`` instead of the tag for drafts) and serves the exact bytes
  without authentication; ``GET .../releases/assets/{id}`` with ``Accept:
  application/octet-stream`` redirects there (302);
* drafts are listed and found by id but not by tag, have no ``published_at``,
  ``tarball_url`` or ``zipball_url``; only non-draft, non-prerelease releases
  can be "latest" (``make_latest`` ``true``/``false``/``legacy``);
* asset names are renamed roughly as GitHub does (characters outside
  ``[A-Za-z0-9._+-]`` become ``.``; leading and trailing dots are dropped).

Stricter than GitHub on purpose: query parameters and body fields the
description does not list are answered as GitHub does (ignored) but still
recorded as violations, as are requests to paths or methods it does not list.

Where the description is silent about a status this stand-in sends (401s, 404s
on some operations, 403/429/5xx faults, the 422 of an upload), the body is
validated against the description's own "Basic Error" / "Validation Error"
schema and the case is noted in ``undocumented``, which is not a failure.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import http
import itertools
import json
import math
import re
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import jsonschema
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

DESCRIPTION = Path(__file__).resolve().parents[1] / "data" / "github-api" / "releases-openapi.json"
#: Seconds a connection may sit idle, or a request take to arrive, before the server drops it.
IO_TIMEOUT = 5.0
RATE_LIMIT = 5000
API_VERSIONS = ("2022-11-28", "2026-03-10")
DOCS_ROOT = "https://docs.github.com/rest"
RATE_LIMIT_DOCS = (
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)
JSON_TYPE = "application/json; charset=utf-8"
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

Json = Any
Direction = Literal["request", "response"]


# --------------------------------------------------------------------------- the description


def to_json_schema(schema: Json) -> Json:
    """OpenAPI 3.0 schema -> JSON Schema: ``nullable: true`` becomes a ``null`` type."""
    if isinstance(schema, list):
        return [to_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {
        key: (value if key in ("example", "examples", "enum") else to_json_schema(value))
        for key, value in schema.items()
        if key != "nullable"
    }
    if schema.get("nullable") is True:
        if "type" in converted:
            kind = converted["type"]
            converted["type"] = [*kind, "null"] if isinstance(kind, list) else [kind, "null"]
            if "enum" in converted and None not in converted["enum"]:
                converted["enum"] = [*converted["enum"], None]
        else:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


def _format_checker() -> jsonschema.FormatChecker:
    """``uri`` and ``date-time`` checked without optional dependencies."""
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("uri", raises=ValueError)
    def _uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urllib.parse.urlsplit(value)
        return bool(parts.scheme) and bool(parts.netloc) and " " not in value

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
            return False
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True

    return checker


FORMATS = _format_checker()


def _validator(schema: Json) -> Validator:
    jsonschema.Draft4Validator.check_schema(schema)
    validator: Validator = jsonschema.Draft4Validator(schema, format_checker=FORMATS)
    return validator


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # "path" | "query"
    required: bool
    schema: Json
    validator: Validator


@dataclass(frozen=True)
class Operation:
    """One method of one path of the description."""

    method: str
    template: str
    operation_id: str
    docs_url: str
    parameters: tuple[Parameter, ...]
    body_types: tuple[str, ...]
    body_required: bool
    body_validator: Validator | None
    #: status -> validator of its JSON body, or None when the status documents no body.
    responses: Mapping[str, Validator | None]
    pattern: re.Pattern[str]

    @property
    def literal_segments(self) -> int:
        return sum(1 for part in self.template.split("/") if part and "{" not in part)


class ApiDescription:
    """The operations of an OpenAPI 3.0 description, with compiled validators."""

    def __init__(self, path: Path) -> None:
        self.path = path
        document = json.loads(path.read_text(encoding="utf-8"))
        self.title: str = document["info"]["title"]
        self.operations: list[Operation] = []
        for template, item in document["paths"].items():
            for method, spec in item.items():
                if method in _HTTP_METHODS:
                    self.operations.append(self._operation(method.upper(), template, spec))
        # Most literal templates first, so that /releases/latest is not release "latest".
        self.operations.sort(key=lambda op: -op.literal_segments)
        self.basic_error = self._find_schema(document, "Basic Error")
        self.validation_error = self._find_schema(document, "Validation Error")

    @staticmethod
    def _operation(method: str, template: str, spec: Json) -> Operation:
        parameters = tuple(
            Parameter(
                p["name"],
                p["in"],
                bool(p.get("required")),
                to_json_schema(p["schema"]),
                _validator(to_json_schema(p["schema"])),
            )
            for p in spec.get("parameters", [])
        )
        regex = "^"
        for part in re.split(r"(\{[^}]+\})", template):
            if part.startswith("{"):
                name = part[1:-1]
                multi = any(
                    p.get("x-multi-segment")
                    for p in spec.get("parameters", [])
                    if p["name"] == name
                )
                regex += f"(?P<{name}>{'.+' if multi else '[^/]+'})"
            else:
                regex += re.escape(part)
        body = spec.get("requestBody") or {}
        content = body.get("content", {})
        json_schema = content.get("application/json", {}).get("schema")
        responses: dict[str, Validator | None] = {}
        for status, response in spec["responses"].items():
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            responses[status] = None if schema is None else _validator(to_json_schema(schema))
        return Operation(
            method=method,
            template=template,
            operation_id=spec["operationId"],
            docs_url=spec.get("externalDocs", {}).get("url", DOCS_ROOT),
            parameters=parameters,
            body_types=tuple(content),
            body_required=bool(body.get("required")),
            body_validator=None if json_schema is None else _validator(to_json_schema(json_schema)),
            responses=responses,
            pattern=re.compile(regex + "$"),
        )

    def _find_schema(self, document: Json, title: str) -> Validator:
        for item in document["paths"].values():
            for spec in item.values():
                for response in spec.get("responses", {}).values():
                    schema = response.get("content", {}).get("application/json", {}).get("schema")
                    if isinstance(schema, dict) and schema.get("title") == title:
                        return _validator(to_json_schema(schema))
        raise LookupError(f"no {title!r} schema in {self.path}")

    def match(self, method: str, raw_path: str) -> tuple[Operation | None, dict[str, str], bool]:
        """The operation for ``method raw_path``, its (still quoted) path parameters,
        and whether the path is described at all (for some other method)."""
        matching = [op for op in self.operations if op.pattern.match(raw_path)]
        if not matching:
            return None, {}, False
        best = [op for op in matching if op.literal_segments == matching[0].literal_segments]
        for op in best:
            found = op.pattern.match(raw_path)
            if op.method == method and found is not None:
                return op, found.groupdict(), True
        return None, {}, True

    def error_validator(self, status: int) -> Validator:
        return self.validation_error if status == 422 else self.basic_error


@functools.cache
def load_description(path: Path = DESCRIPTION) -> ApiDescription:
    return ApiDescription(path)


# --------------------------------------------------------------------------- state


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(kind: str, number: int) -> str:
    return f"{kind}_" + base64.urlsafe_b64encode(f"{kind}:{number}".encode()).decode().rstrip("=")


def quote_segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


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

    @property
    def download_segment(self) -> str:
        return f"untagged-{self.untagged}" if self.draft else self.tag_name


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

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"


@dataclass
class RecordedRequest:
    """One request as received; ``headers`` are lower-cased and lack ``authorization``."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    credentials: Literal["valid", "invalid", "missing"]
    request_id: str
    operation: str | None = None
    status: int = 0
    faulted: bool = False
    #: Content type of the answer ("" without a body).
    response_type: str = ""
    #: Which schema the JSON answer was validated against, None if it was not.
    validated: str | None = None

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.target).query, True)


@dataclass(frozen=True)
class Violation:
    direction: Direction
    method: str
    target: str
    status: int | None
    detail: str

    def __str__(self) -> str:
        status = f" -> {self.status}" if self.status is not None else ""
        return f"{self.direction}: {self.method} {self.target}{status}: {self.detail}"


@dataclass(frozen=True)
class Checked:
    """A response body that was validated, and against what."""

    operation: str | None
    status: int
    schema: str  # "documented" | "basic-error" | "validation-error"


@dataclass
class Fault:
    """An injected answer; see :meth:`GithubStandin.fail`."""

    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str]
    body: Json | bytes | None = None
    content_type: str | None = None
    #: Carry the request out before answering the fault: the answer was "lost".
    perform: bool = False
    hits: int = 0

    @property
    def remaining(self) -> int:
        return self.times - self.hits

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and self.method in ("*", method)
            and self.pattern.search(path) is not None
        )


@dataclass
class _Reply:
    status: int
    payload: Json = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE
    #: Validate ``payload`` (False only for bodies a test scripted with ``fail(body=...)``).
    check: bool = True

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.payload is None:
            return b""
        return json.dumps(self.payload, separators=(",", ":")).encode()


class _Reject(Exception):
    """Raised by an operation to answer with ``reply`` at once."""

    def __init__(self, reply: _Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


@dataclass
class _Call:
    op: Operation
    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    data: Json


# --------------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: GithubStandin

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-request are not the stand-in's business: quiet."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = IO_TIMEOUT

    def setup(self) -> None:
        super().setup()
        self.server.owner._connections.add(self.connection)

    def finish(self) -> None:
        self.server.owner._connections.discard(self.connection)
        super().finish()

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
        reply = self.server.owner._handle(self.command, self.path, headers, body)
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


# --------------------------------------------------------------------------- the stand-in


class GithubStandin:
    """GitHub's REST API for releases on ``127.0.0.1``; use as a context manager.

    ``repos`` are created up front (``owner/name``, default branch ``main``).
    Requests must carry ``Authorization: token <token>`` (or ``Bearer``).
    """

    def __init__(
        self,
        *,
        token: str,
        repos: Iterable[str] = (),
        user: str = "chartship-bot",
        description: Path = DESCRIPTION,
    ) -> None:
        self.token = token
        self.description = load_description(description)
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.checked: list[Checked] = []
        self.undocumented: list[str] = []
        self.faults: list[Fault] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._request_ids = itertools.count(1)
        self._users: dict[str, User] = {}
        self._repos: dict[str, Repo] = {}
        self.user = self._user(user)
        self.rate_used = 0
        self.rate_reset = int(time.time()) + 3600
        self._connections: set[socket.socket] = set()
        self._public_url: str | None = None
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        for full_name in repos:
            self.add_repo(full_name)

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def api_url(self) -> str:
        """What ``github.Github(base_url=...)`` takes (like ``https://api.github.com``).

        The URLs in answers are built on it; behind a proxy, :meth:`advertise`
        the proxy's address so that clients keep going through it."""
        return self._public_url or f"http://127.0.0.1:{self.port}"

    def advertise(self, url: str | None) -> None:
        """Build the URLs in answers on ``url`` (None: this server's own address)."""
        self._public_url = url.rstrip("/") if url else None

    def __enter__(self) -> GithubStandin:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        for connection in list(self._connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        self._thread.join(timeout=IO_TIMEOUT)

    # ------------------------------------------------------------------ inspection

    @property
    def validations(self) -> int:
        """How many response bodies were validated against the description."""
        with self._lock:
            return len(self.checked)

    def calls(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """Recorded requests, filtered by method and by a regex searched in the path."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method)
                and (path is None or re.search(path, r.path) is not None)
            ]

    def clear_violations(self) -> list[Violation]:
        """Forget (and return) the violations so far: for tests that provoke them."""
        with self._lock:
            cleared, self.violations = self.violations, []
            return cleared

    def report(self) -> str:
        with self._lock:
            lines = [f"{len(self.violations)} violation(s) of {self.description.path.name}:"]
            lines += [f"  {violation}" for violation in self.violations]
            return "\n".join(lines)

    # ------------------------------------------------------------------ state for tests

    def _user(self, login: str, kind: str = "User") -> User:
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
    ) -> Repo:
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"not owner/name: {full_name!r}")
        with self._lock:
            repo = Repo(
                id=next(self._ids),
                owner=self._user(owner, "Organization"),
                name=name,
                default_branch=default_branch,
                branches={default_branch, *branches},
                created_at=_now() - timedelta(days=365),
                git_dir=git_dir,
            )
            self._repos[full_name.lower()] = repo
            return repo

    def repo(self, full_name: str) -> Repo:
        with self._lock:
            return self._repos[full_name.lower()]

    def releases(self, full_name: str) -> list[Release]:
        """The repository's releases in the order GitHub lists them (newest first)."""
        with self._lock:
            return self._listed(self.repo(full_name))

    def release(self, full_name: str, tag: str) -> Release | None:
        """The published release of ``tag`` (drafts have no tag yet), or None."""
        with self._lock:
            return self._by_tag(self.repo(full_name), tag)

    def latest_release(self, full_name: str) -> Release | None:
        with self._lock:
            return self._latest(self.repo(full_name))

    def asset(self, asset_id: int) -> Asset:
        with self._lock:
            for repo in self._repos.values():
                for release in repo.releases.values():
                    for asset in release.assets:
                        if asset.id == asset_id:
                            return asset
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
        with self._lock:
            repo = self.repo(full_name)
            moment = created_at or _now()
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
            self._make_latest(repo, release, make_latest, newly_published=not draft)
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
        with self._lock:
            stored = sanitize_asset_name(name)
            if any(a.name == stored for a in release.assets):
                raise ValueError(f"{stored!r} already exists on release {release.tag_name}")
            moment = _now()
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
        with self._lock:
            target = self.asset(asset if isinstance(asset, int) else asset.id)
            target.data = data
            if update_metadata:
                target.size = len(data)
                target.digest = "sha256:" + hashlib.sha256(data).hexdigest()
                target.updated_at = _now()
            return target

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
        """Answer the next ``times`` requests whose method is ``method`` ("*" for any) and
        whose path (as sent: percent-encoded, no query; ``/download/...`` included)
        matches ``path_regex`` (``re.search``) with ``status``, then behave.

        Without ``body`` the answer is GitHub's: 403 is a primary rate limit
        (``x-ratelimit-remaining: 0``, ``x-ratelimit-reset`` one second ahead), 429
        a secondary one (``Retry-After: 1``), 422 "Validation Failed", others the
        status phrase. ``headers`` are added to (and override) those. A ``body``
        (JSON-able, or bytes sent as is) is not validated. Faults come after the
        credentials check, so 401 still wins. With ``perform`` the request is
        carried out first and only its answer is replaced, as when GitHub creates a
        release and the 502 comes from a proxy in front of it.
        """
        fault = Fault(
            method=method.upper(),
            pattern=re.compile(path_regex),
            status=status,
            times=times,
            headers=dict(headers or {}),
            body=body,
            content_type=content_type,
            perform=perform,
        )
        with self._lock:
            self.faults.append(fault)
        return fault

    # ------------------------------------------------------------------ JSON representations

    def _web(self, *parts: str) -> str:
        return "/".join([self.api_url, *parts])

    def user_json(self, user: User) -> dict[str, Json]:
        url = f"{self.api_url}/users/{user.login}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": _node_id("U", user.id),
            "avatar_url": f"{self.api_url}/avatars/u/{user.id}?v=4",
            "gravatar_id": "",
            "url": url,
            "html_url": self._web(user.login),
            "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events",
            "type": user.type,
            "user_view_type": "public",
            "site_admin": False,
        }

    def repo_json(self, repo: Repo) -> dict[str, Json]:
        base = f"{self.api_url}/repos/{repo.full_name}"
        created = _stamp(repo.created_at)
        templated = {
            "archive_url": "/{archive_format}{/ref}",
            "assignees_url": "/assignees{/user}",
            "blobs_url": "/git/blobs{/sha}",
            "branches_url": "/branches{/branch}",
            "collaborators_url": "/collaborators{/collaborator}",
            "comments_url": "/comments{/number}",
            "commits_url": "/commits{/sha}",
            "compare_url": "/compare/{base}...{head}",
            "contents_url": "/contents/{+path}",
            "contributors_url": "/contributors",
            "deployments_url": "/deployments",
            "downloads_url": "/downloads",
            "events_url": "/events",
            "forks_url": "/forks",
            "git_commits_url": "/git/commits{/sha}",
            "git_refs_url": "/git/refs{/sha}",
            "git_tags_url": "/git/tags{/sha}",
            "hooks_url": "/hooks",
            "issue_comment_url": "/issues/comments{/number}",
            "issue_events_url": "/issues/events{/number}",
            "issues_url": "/issues{/number}",
            "keys_url": "/keys{/key_id}",
            "labels_url": "/labels{/name}",
            "languages_url": "/languages",
            "merges_url": "/merges",
            "milestones_url": "/milestones{/number}",
            "notifications_url": "/notifications{?since,all,participating}",
            "pulls_url": "/pulls{/number}",
            "releases_url": "/releases{/id}",
            "stargazers_url": "/stargazers",
            "statuses_url": "/statuses/{sha}",
            "subscribers_url": "/subscribers",
            "subscription_url": "/subscription",
            "tags_url": "/tags",
            "teams_url": "/teams",
            "trees_url": "/git/trees{/sha}",
        }
        host = urllib.parse.urlsplit(self.api_url).netloc
        return {
            "id": repo.id,
            "node_id": _node_id("R", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": False,
            "owner": self.user_json(repo.owner),
            "html_url": self._web(repo.full_name),
            "description": None,
            "fork": False,
            "url": base,
            **{key: base + suffix for key, suffix in templated.items()},
            "git_url": f"git://{host}/{repo.full_name}.git",
            "ssh_url": f"git@{host}:{repo.full_name}.git",
            "clone_url": self._web(f"{repo.full_name}.git"),
            "svn_url": self._web(repo.full_name),
            "mirror_url": None,
            "homepage": None,
            "language": None,
            "size": 0,
            "forks": 0,
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers": 0,
            "watchers_count": 0,
            "open_issues": 0,
            "open_issues_count": 0,
            "network_count": 0,
            "subscribers_count": 0,
            "default_branch": repo.default_branch,
            "is_template": False,
            "topics": [],
            "has_issues": True,
            "has_projects": True,
            "has_wiki": True,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            "visibility": "public",
            "license": None,
            "allow_forking": True,
            "web_commit_signoff_required": False,
            "permissions": {
                "admin": True,
                "maintain": True,
                "push": True,
                "triage": True,
                "pull": True,
            },
            "pushed_at": created,
            "created_at": created,
            "updated_at": created,
        }

    def _repo_of(self, release: Release) -> Repo:
        return next(r for r in self._repos.values() if r.id == release.repo_id)

    def asset_json(self, asset: Asset) -> dict[str, Json]:
        release = self._release(asset.release_id)
        repo = self._repo_of(release)
        return {
            "url": f"{self.api_url}/repos/{repo.full_name}/releases/assets/{asset.id}",
            "id": asset.id,
            "node_id": _node_id("RA", asset.id),
            "name": asset.name,
            "label": asset.label,
            "uploader": self.user_json(asset.uploader),
            "content_type": asset.content_type,
            "state": asset.state,
            "size": asset.size,
            "digest": asset.digest,
            "download_count": asset.download_count,
            "created_at": _stamp(asset.created_at),
            "updated_at": _stamp(asset.updated_at),
            "browser_download_url": (
                f"{self.api_url}/download/{repo.full_name}/"
                f"{quote_segment(release.download_segment)}/{quote_segment(asset.name)}"
            ),
        }

    def release_json(self, release: Release) -> dict[str, Json]:
        repo = self._repo_of(release)
        base = f"{self.api_url}/repos/{repo.full_name}"
        tag = urllib.parse.quote(release.tag_name, safe="")
        published = not release.draft
        return {
            "url": f"{base}/releases/{release.id}",
            "assets_url": f"{base}/releases/{release.id}/assets",
            "upload_url": f"{base}/releases/{release.id}/assets{{?name,label}}",
            "html_url": self._web(
                repo.full_name, "releases", "tag", quote_segment(release.download_segment)
            ),
            "id": release.id,
            "author": self.user_json(release.author),
            "node_id": _node_id("RE", release.id),
            "tag_name": release.tag_name,
            "target_commitish": release.target_commitish,
            "name": release.name,
            "draft": release.draft,
            "immutable": False,
            "prerelease": release.prerelease,
            "created_at": _stamp(release.created_at),
            "updated_at": _stamp(release.updated_at),
            "published_at": _stamp(release.published_at) if release.published_at else None,
            "assets": [self.asset_json(asset) for asset in release.assets],
            "tarball_url": f"{base}/tarball/{tag}" if published else None,
            "zipball_url": f"{base}/zipball/{tag}" if published else None,
            "body": release.body,
        }

    def rate_json(self) -> dict[str, Json]:
        core = {
            "limit": RATE_LIMIT,
            "used": self.rate_used,
            "remaining": max(RATE_LIMIT - self.rate_used, 0),
            "reset": self.rate_reset,
        }
        quiet = {"limit": 30, "used": 0, "remaining": 30, "reset": self.rate_reset}
        return {
            "resources": {
                "core": core,
                "search": quiet,
                "code_search": {**quiet, "limit": 10, "remaining": 10},
                "graphql": {**core, "used": 0, "remaining": RATE_LIMIT},
                "integration_manifest": {**core, "used": 0, "remaining": RATE_LIMIT},
            },
            "rate": core,
        }

    # ------------------------------------------------------------------ release rules

    def _listed(self, repo: Repo) -> list[Release]:
        return sorted(repo.releases.values(), key=lambda r: (r.created_at, r.id), reverse=True)

    def _by_tag(self, repo: Repo, tag: str) -> Release | None:
        for release in self._listed(repo):
            if release.tag_name == tag and not release.draft:
                return release
        return None

    def _release(self, release_id: int) -> Release:
        for repo in self._repos.values():
            if release_id in repo.releases:
                return repo.releases[release_id]
        raise KeyError(release_id)

    def _latest(self, repo: Repo) -> Release | None:
        def eligible(release: Release) -> bool:
            return not release.draft and not release.prerelease

        if repo.latest_id is not None:
            chosen = repo.releases.get(repo.latest_id)
            if chosen is not None and eligible(chosen):
                return chosen
        candidates = [r for r in repo.releases.values() if eligible(r) and not r.latest_opt_out]
        return max(candidates, key=lambda r: (r.created_at, r.id), default=None)

    def _make_latest(
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

    # ------------------------------------------------------------------ request handling

    def _violation(self, direction: Direction, request: RecordedRequest, detail: str) -> None:
        status = request.status or None
        self.violations.append(Violation(direction, request.method, request.target, status, detail))

    def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Reply:
        with self._lock:
            request = RecordedRequest(
                method=method,
                target=target,
                headers={k: v for k, v in headers.items() if k != "authorization"},
                body=body,
                credentials=self._credentials(headers.get("authorization")),
                request_id=self._request_id(),
            )
            self.requests.append(request)
            first = len(self.violations)
            op: Operation | None = None
            try:
                op, reply = self._route(request, headers, body)
            except _Reject as rejected:
                reply = rejected.reply
            except Exception as error:  # a bug here: say so instead of dropping the connection
                detail = f"stand-in crashed: {type(error).__name__}: {error}"
                self._violation("response", request, detail)
                reply = self._error(op, 500, "Server Error")
            request.status = reply.status
            self.violations[first:] = [
                replace(v, status=reply.status) for v in self.violations[first:]
            ]
            if not request.path.startswith("/download/"):
                self._finish(request, op, reply)
            if reply.raw is not None or reply.payload is not None:
                request.response_type = reply.content_type
            return reply

    def _credentials(self, authorization: str | None) -> Literal["valid", "invalid", "missing"]:
        if not authorization:
            return "missing"
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() in ("token", "bearer") and value.strip() == self.token:
            return "valid"
        return "invalid"

    def _error(
        self,
        op: Operation | None,
        status: int,
        message: str,
        errors: list[dict[str, Json]] | None = None,
    ) -> _Reply:
        payload: dict[str, Json] = {
            "message": message,
            "documentation_url": op.docs_url if op is not None else DOCS_ROOT,
            "status": str(status),
        }
        if errors is not None:
            payload["errors"] = errors
        return _Reply(status, payload)

    def _missing_field(self, op: Operation, field: str) -> _Reply:
        """GitHub's 422 for an upload that lacks a required field."""
        error: dict[str, Json] = {
            "resource": "ReleaseAsset",
            "code": "missing_field",
            "field": field,
        }
        return self._error(op, 422, "Validation Failed", [error])

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.hits += 1
                return fault
        return None

    def _fault_reply(self, request: RecordedRequest, op: Operation | None, fault: Fault) -> _Reply:
        status = fault.status
        headers: dict[str, str] = {}
        if status == 403:
            reply = self._error(
                op,
                status,
                f"API rate limit exceeded for user ID {self.user.id}. If you reach out to "
                "GitHub Support for help, please include the request ID "
                f"{request.request_id}.",
            )
            reply.payload["documentation_url"] = (
                "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
            )
            headers = {
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": str(RATE_LIMIT),
                "x-ratelimit-reset": str(int(time.time()) + 1),
            }
        elif status == 429:
            reply = self._error(
                op,
                status,
                "You have exceeded a secondary rate limit. Please wait a few minutes before "
                "you try again. If you reach out to GitHub Support for help, please include "
                f"the request ID {request.request_id}.",
            )
            reply.payload["documentation_url"] = RATE_LIMIT_DOCS
            headers = {"retry-after": "1"}
        elif status == 422:
            reply = self._error(
                op,
                status,
                "Validation Failed",
                [{"resource": "Release", "code": "custom", "message": "injected failure"}],
            )
        else:
            reply = self._error(op, status, http.HTTPStatus(status).phrase)
        reply.headers.update(headers)
        reply.headers.update({k.lower(): v for k, v in fault.headers.items()})
        if fault.body is not None:
            reply.check = False
            if isinstance(fault.body, bytes):
                reply.payload, reply.raw = None, fault.body
                reply.content_type = fault.content_type or "text/html; charset=utf-8"
            else:
                reply.payload = fault.body
                reply.content_type = fault.content_type or JSON_TYPE
        return reply

    def _route(
        self, request: RecordedRequest, headers: dict[str, str], body: bytes
    ) -> tuple[Operation | None, _Reply]:
        parts = urllib.parse.urlsplit(request.target)
        path = parts.path
        if path.startswith("/download/"):
            fault = self._take_fault(request.method, path)
            if fault is not None:
                request.faulted = True
                return None, self._fault_reply(request, None, fault)
            return None, self._download(request.method, path)
        aliased = re.fullmatch(r"/repositories/(\d+)(/releases(?:/[^/]+/assets)?)", path)
        if aliased is not None:
            repo = next((r for r in self._repos.values() if r.id == int(aliased[1])), None)
            if repo is None:
                return None, self._error(None, 404, "Not Found")
            path = f"/repos/{repo.full_name}{aliased[2]}"
        op, raw_params, path_known = self.description.match(request.method, path)
        if op is None:
            unknown = "method" if path_known else "path"
            self._violation("request", request, f"{unknown} not in the description")
            return None, self._error(None, 404, "Not Found")
        request.operation = op.operation_id
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        call = _Call(op, {}, {}, headers, body, None)
        early = self._check_request(request, call, raw_params, query)
        if request.credentials != "valid":
            message = "Bad credentials" if request.credentials == "invalid" else None
            reply = self._error(op, 401, message or "Requires authentication")
            if message:
                reply.payload["documentation_url"] = DOCS_ROOT
            return op, reply
        if op.operation_id != "rate-limit/get":
            self.rate_used += 1
        handler = self._handlers()[op.operation_id]
        fault = self._take_fault(request.method, request.path)
        if fault is not None:
            request.faulted = True
            if fault.perform and early is None:
                with contextlib.suppress(_Reject):
                    handler(call)
            return op, self._fault_reply(request, op, fault)
        if early is not None:
            return op, early
        if self.rate_used > RATE_LIMIT:
            exhausted = Fault("*", re.compile(""), 403, 1, {})
            return op, self._fault_reply(request, op, exhausted)
        return op, handler(call)

    def _check_request(
        self,
        request: RecordedRequest,
        call: _Call,
        raw_params: dict[str, str],
        query: dict[str, list[str]],
    ) -> _Reply | None:
        """Record every way the request departs from the description; return the
        answer GitHub gives to the first that it refuses, if any."""
        op = call.op
        early: _Reply | None = None

        def refuse(reply: _Reply) -> None:
            nonlocal early
            if early is None:
                early = reply

        for parameter in op.parameters:
            if parameter.location == "path":
                value = urllib.parse.unquote(raw_params[parameter.name])
                call.params[parameter.name] = value
                if parameter.schema.get("type") == "integer" and not value.isdigit():
                    self._violation(
                        "request", request, f"path parameter {parameter.name}={value!r}"
                    )
                    refuse(self._error(op, 404, "Not Found"))
            elif parameter.location == "query":
                values = query.get(parameter.name)
                if values is None:
                    if parameter.required:
                        self._violation(
                            "request", request, f"missing query parameter {parameter.name}"
                        )
                        refuse(self._missing_field(op, parameter.name))
                    continue
                if len(values) > 1:
                    self._violation("request", request, f"query parameter {parameter.name} twice")
                call.query[parameter.name] = values[0]
                coerced: Json = values[0]
                if parameter.schema.get("type") == "integer":
                    coerced = int(values[0]) if re.fullmatch(r"-?\d+", values[0]) else values[0]
                for error in self._errors(parameter.validator, coerced):
                    self._violation(
                        "request", request, f"query parameter {parameter.name}: {error.message}"
                    )
        known = {p.name for p in op.parameters if p.location == "query"}
        for name in sorted(set(query) - known):
            self._violation("request", request, f"query parameter {name} not in the description")

        if not op.body_types:
            if call.body:
                self._violation("request", request, "a body, but the operation takes none")
            return early
        if op.body_validator is None:  # the upload: raw bytes of any media type
            if "content-type" not in call.headers:
                self._violation("request", request, "upload without Content-Type")
                refuse(self._missing_field(op, "content_type"))
            return early
        if not call.body.strip():
            data: Json = {}
            if op.body_required:
                self._violation("request", request, "required JSON body missing")
        else:
            try:
                data = json.loads(call.body)
            except ValueError:
                self._violation("request", request, "body is not JSON")
                refuse(self._error(op, 400, "Problems parsing JSON"))
                return early
        call.data = data
        errors = self._errors(op.body_validator, data)
        for error in errors:
            self._violation("request", request, f"body{_pointer(error)}: {error.message}")
        if errors:
            refuse(self._error(op, 422, "Invalid request.\n\n" + _describe(errors[0])))
        elif isinstance(data, dict):
            schema = op.body_validator.schema
            properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
            for name in sorted(set(data) - set(properties)):
                self._violation("request", request, f"body field {name!r} not in the description")
        return early

    @staticmethod
    def _errors(validator: Validator, instance: Json) -> list[ValidationError]:
        return sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))

    def _request_id(self) -> str:
        number = next(self._request_ids)
        return f"C0DE:{self.port:04X}:{number:06X}:{number * 7919:07X}:{int(time.time()):08X}"

    def _finish(self, request: RecordedRequest, op: Operation | None, reply: _Reply) -> None:
        """Add GitHub's headers and validate the body against the description."""
        version = request.headers.get("x-github-api-version", API_VERSIONS[0])
        common = {
            "x-github-api-version-selected": version
            if version in API_VERSIONS
            else API_VERSIONS[0],
            "x-github-media-type": "github.v3; format=json",
            "x-github-request-id": request.request_id,
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": str(max(RATE_LIMIT - self.rate_used, 0)),
            "x-ratelimit-reset": str(self.rate_reset),
            "x-ratelimit-used": str(self.rate_used),
            "x-ratelimit-resource": "core",
            "x-oauth-scopes": "repo",
        }
        reply.headers = {**common, **reply.headers}
        if reply.payload is None or not reply.check:
            return
        status = str(reply.status)
        where = op.operation_id if op is not None else None
        documented = op is not None and status in op.responses
        validator = op.responses.get(status) if op is not None else None
        if validator is not None:
            kind = "documented"
        else:
            if reply.status < 400:
                self._violation("response", request, f"status {status} with a body not documented")
                return
            validator = self.description.error_validator(reply.status)
            kind = "validation-error" if reply.status == 422 else "basic-error"
            if not documented:
                self.undocumented.append(f"{request.method} {request.path} -> {status}")
        self.checked.append(Checked(where, reply.status, kind))
        request.validated = kind
        for error in self._errors(validator, reply.payload):
            detail = f"{kind} schema, at {_pointer(error) or '/'}: {error.message}"
            self._violation("response", request, detail)

    # ------------------------------------------------------------------ operations

    def _handlers(self) -> dict[str, Callable[[_Call], _Reply]]:
        return {
            "rate-limit/get": self._rate_limit,
            "repos/get": self._get_repo,
            "repos/list-releases": self._list_releases,
            "repos/create-release": self._create_release,
            "repos/get-release": self._get_release,
            "repos/update-release": self._update_release,
            "repos/delete-release": self._delete_release,
            "repos/get-release-by-tag": self._get_release_by_tag,
            "repos/get-latest-release": self._get_latest_release,
            "repos/generate-release-notes": self._generate_notes,
            "repos/list-release-assets": self._list_assets,
            "repos/upload-release-asset": self._upload_asset,
            "repos/get-release-asset": self._get_asset,
            "repos/update-release-asset": self._update_asset,
            "repos/delete-release-asset": self._delete_asset,
        }

    def _repo_for(self, call: _Call) -> Repo:
        full_name = f"{call.params['owner']}/{call.params['repo']}".lower()
        repo = self._repos.get(full_name)
        if repo is None:
            raise _Reject(self._error(call.op, 404, "Not Found"))
        return repo

    def _release_for(self, call: _Call, repo: Repo) -> Release:
        release = repo.releases.get(int(call.params["release_id"]))
        if release is None:
            raise _Reject(self._error(call.op, 404, "Not Found"))
        return release

    def _asset_for(self, call: _Call, repo: Repo) -> Asset:
        wanted = int(call.params["asset_id"])
        for release in repo.releases.values():
            for asset in release.assets:
                if asset.id == wanted:
                    return asset
        raise _Reject(self._error(call.op, 404, "Not Found"))

    def _page(self, call: _Call, items: list[Json], link_path: str) -> _Reply:
        def number(name: str, default: int) -> int:
            raw = call.query.get(name, "")
            return int(raw) if raw.isdigit() and int(raw) > 0 else default

        per_page = min(number("per_page", 30), 100)
        page = number("page", 1)
        last = max(math.ceil(len(items) / per_page), 1)
        reply = _Reply(200, items[(page - 1) * per_page : page * per_page])
        links = []

        def link(to: int, rel: str) -> str:
            query = {"per_page": str(per_page)} if "per_page" in call.query else {}
            query["page"] = str(to)
            return f'<{self.api_url}{link_path}?{urllib.parse.urlencode(query)}>; rel="{rel}"'

        if page > 1:
            links.append(link(min(page - 1, last), "prev"))
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links.append(link(1, "first"))
        if links:
            reply.headers["link"] = ", ".join(links)
        return reply

    def _rate_limit(self, call: _Call) -> _Reply:
        return _Reply(200, self.rate_json())

    def _get_repo(self, call: _Call) -> _Reply:
        return _Reply(200, self.repo_json(self._repo_for(call)))

    def _list_releases(self, call: _Call) -> _Reply:
        repo = self._repo_for(call)
        items = [self.release_json(r) for r in self._listed(repo)]
        return self._page(call, items, f"/repositories/{repo.id}/releases")

    def _release_rules(
        self, call: _Call, repo: Repo, tag: str, commitish: str | None, release: Release | None
    ) -> None:
        errors: list[dict[str, Json]] = []
        if not valid_tag_name(tag):
            errors += [
                {
                    "resource": "Release",
                    "code": "custom",
                    "field": "tag_name",
                    "message": "tag_name is not a valid tag",
                },
                {
                    "resource": "Release",
                    "code": "custom",
                    "field": "tag_name",
                    "message": "tag_name is not well-formed",
                },
                {
                    "resource": "Release",
                    "code": "custom",
                    "message": "Published releases must have a valid tag",
                },
            ]
        if commitish is not None and not (
            commitish in repo.branches or re.fullmatch(r"[0-9a-f]{7,40}", commitish)
        ):
            errors.append({"resource": "Release", "code": "invalid", "field": "target_commitish"})
        taken = self._by_tag(repo, tag)
        if taken is not None and (release is None or taken.id != release.id):
            errors.append({"resource": "Release", "code": "already_exists", "field": "tag_name"})
        if errors:
            raise _Reject(self._error(call.op, 422, "Validation Failed", errors))

    def _tag_in_git(self, call: _Call, repo: Repo, tag: str, commitish: str | None) -> None:
        """Create ``tag`` at ``commitish`` (default branch if None) unless it exists."""
        assert repo.git_dir is not None

        def git(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["git", "--git-dir", str(repo.git_dir), *args],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )

        if git("rev-parse", "-q", "--verify", f"refs/tags/{tag}").returncode == 0:
            return
        found = git("rev-parse", "-q", "--verify", f"{commitish or repo.default_branch}^{{commit}}")
        if found.returncode != 0:
            error = {"resource": "Release", "code": "invalid", "field": "target_commitish"}
            raise _Reject(self._error(call.op, 422, "Validation Failed", [error]))
        git("update-ref", f"refs/tags/{tag}", found.stdout.strip())

    def _notes(self, repo: Repo, tag: str, previous: str | None) -> dict[str, str]:
        if previous:
            changelog = self._web(repo.full_name, "compare", f"{previous}...{tag}")
        else:
            changelog = self._web(repo.full_name, "commits", tag)
        return {"name": tag, "body": f"## What's Changed\n\n\n**Full Changelog**: {changelog}"}

    def _create_release(self, call: _Call) -> _Reply:
        repo = self._repo_for(call)
        data: dict[str, Json] = call.data
        tag = data["tag_name"]
        self._release_rules(call, repo, tag, data.get("target_commitish"), None)
        if repo.git_dir is not None and not data.get("draft", False):
            self._tag_in_git(call, repo, tag, data.get("target_commitish"))
        name, body = data.get("name"), data.get("body")
        if data.get("generate_release_notes"):
            notes = self._notes(repo, tag, None)
            name = name or notes["name"]
            body = f"{body}\n\n{notes['body']}" if body else notes["body"]
        release = self.create_release(
            repo.full_name,
            tag,
            name=name,
            body=body,
            draft=bool(data.get("draft", False)),
            prerelease=bool(data.get("prerelease", False)),
            make_latest=data.get("make_latest", "true"),
            target_commitish=data.get("target_commitish"),
        )
        reply = _Reply(201, self.release_json(release))
        reply.headers["location"] = reply.payload["url"]
        return reply

    def _get_release(self, call: _Call) -> _Reply:
        repo = self._repo_for(call)
        return _Reply(200, self.release_json(self._release_for(call, repo)))

    def _update_release(self, call: _Call) -> _Reply:
        repo = self._repo_for(call)
        release = self._release_for(call, repo)
        data: dict[str, Json] = call.data if isinstance(call.data, dict) else {}
        tag = data.get("tag_name", release.tag_name)
        self._release_rules(call, repo, tag, data.get("target_commitish"), release)
        was_draft = release.draft
        release.tag_name = tag
        for key in ("name", "body", "target_commitish"):
            if key in data:
                setattr(release, key, data[key])
        release.draft = bool(data.get("draft", release.draft))
        release.prerelease = bool(data.get("prerelease", release.prerelease))
        release.updated_at = _now()
        if was_draft and not release.draft:
            release.published_at = release.updated_at
        elif release.draft:
            release.published_at = None
        self._make_latest(
            repo, release, data.get("make_latest"), newly_published=was_draft and not release.draft
        )
        return _Reply(200, self.release_json(release))

    def _delete_release(self, call: _Call) -> _Reply:
        repo = self._repo_for(call)
        release = self._release_for(call, repo)
        del repo.releases[release.id]
        if repo.latest_id == release.id:
            repo.latest_id = None
        return _Reply(204)

    def _get_release_by_tag(self, call: _Call) -> _Reply:
        release = self._by_tag(self._repo_for(call), call.params["tag"])
        if release is None:
            return self._error(call.op, 404, "Not Found")
        return _Reply(200, self.release_json(release))

    def _get_latest_release(self, call: _Call) -> _Reply:
        release = self._latest(self._repo_for(call))
        if release is None:
            return self._error(call.op, 404, "Not Found")
        return _Reply(200, self.release_json(release))

    def _generate_notes(self, call: _Call) -> _Reply:
        repo = self._repo_for(call)
        data: dict[str, Json] = call.data
        return _Reply(200, self._notes(repo, data["tag_name"], data.get("previous_tag_name")))

    def _list_assets(self, call: _Call) -> _Reply:
        repo = self._repo_for(call)
        release = self._release_for(call, repo)
        items = [self.asset_json(a) for a in release.assets]
        return self._page(call, items, f"/repositories/{repo.id}/releases/{release.id}/assets")

    def _upload_asset(self, call: _Call) -> _Reply:
        repo = self._repo_for(call)
        release = self._release_for(call, repo)
        name = sanitize_asset_name(call.query.get("name", ""))
        if not name:
            return self._error(
                call.op,
                422,
                "Validation Failed",
                [{"resource": "ReleaseAsset", "code": "invalid", "field": "name"}],
            )
        if any(a.name == name for a in release.assets):
            return self._error(
                call.op,
                422,
                "Validation Failed",
                [{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}],
            )
        asset = self.add_asset(
            release,
            name,
            call.body,
            content_type=call.headers.get("content-type", "application/octet-stream"),
            label=call.query.get("label"),
        )
        return _Reply(201, self.asset_json(asset))

    def _get_asset(self, call: _Call) -> _Reply:
        asset = self._asset_for(call, self._repo_for(call))
        description = self.asset_json(asset)
        if "application/octet-stream" in call.headers.get("accept", ""):
            return _Reply(302, headers={"location": description["browser_download_url"]})
        return _Reply(200, description)

    def _update_asset(self, call: _Call) -> _Reply:
        asset = self._asset_for(call, self._repo_for(call))
        data: dict[str, Json] = call.data if isinstance(call.data, dict) else {}
        if "name" in data:
            name = sanitize_asset_name(data["name"])
            siblings = self._release(asset.release_id).assets
            if any(a.name == name and a.id != asset.id for a in siblings):
                return self._error(
                    call.op,
                    422,
                    "Validation Failed",
                    [{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}],
                )
            asset.name = name
        if "label" in data:
            asset.label = data["label"]
        if "state" in data:
            asset.state = data["state"]
        asset.updated_at = _now()
        return _Reply(200, self.asset_json(asset))

    def _delete_asset(self, call: _Call) -> _Reply:
        asset = self._asset_for(call, self._repo_for(call))
        self._release(asset.release_id).assets.remove(asset)
        return _Reply(204)

    def _download(self, method: str, path: str) -> _Reply:
        """``browser_download_url``: public, no API headers, the stored bytes."""
        not_found = _Reply(404, raw=b"Not Found", content_type="text/plain; charset=utf-8")
        parts = path.split("/")
        if method not in ("GET", "HEAD") or len(parts) != 6:
            return not_found
        _, _, owner, name, segment, filename = map(urllib.parse.unquote, parts)
        repo = self._repos.get(f"{owner}/{name}".lower())
        if repo is None:
            return not_found
        for release in repo.releases.values():
            if release.download_segment != segment:
                continue
            for asset in release.assets:
                if asset.name == filename:
                    asset.download_count += 1
                    etag = hashlib.md5(asset.data, usedforsecurity=False).hexdigest()
                    return _Reply(
                        200,
                        raw=asset.data,
                        content_type="application/octet-stream",
                        headers={
                            "content-disposition": f"attachment; filename={asset.name}",
                            "etag": f'"{etag}"',
                        },
                    )
        return not_found


def _pointer(error: ValidationError) -> str:
    """Where in the instance ``error`` is, as a JSON pointer ("" for the root)."""
    return "".join(f"/{part}" for part in error.absolute_path)


def _describe(error: ValidationError) -> str:
    """A JSON-schema error in GitHub's words ("Invalid request.\\n\\n<this>")."""
    where = "/".join(["properties", *(str(p) for p in error.absolute_path)])
    if not error.absolute_path:
        where = "links/0/schema"
    expected: Any = error.validator_value
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in expected if name not in error.instance]
        return f'"{missing[0]}" wasn\'t supplied.' if missing else error.message
    if error.validator == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        wanted = " or ".join(f"{'an' if k[0] in 'aeiou' else 'a'} {k}" for k in kinds)
        return f"For '{where}', {json.dumps(error.instance)} is not {wanted}."
    if error.validator == "enum":
        return (
            f"For '{where}', {json.dumps(error.instance)} is not a member of "
            f"{json.dumps(expected)}."
        )
    return f"For '{where}', {error.message}."

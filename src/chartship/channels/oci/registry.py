"""A small client of the OCI distribution API: what chartship reads and writes.

Why not an OCI client library: oras-py, the maintained Python one, defaults to
token auth that fails against htpasswd registries, does not check a password
at login, retries a refused connection for minutes, and adds manifest fields
helm's own manifests do not have. chartship needs little: tags, manifests and
blobs, basic and bearer auth, TLS options, and retries it can bound.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import logging
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chartship import redirects
from chartship.channels.oci import names
from chartship.errors import ChartError, RegistryError, RegistryUnavailable
from chartship.retrying import TRANSIENT_STATUSES, Budget

log = logging.getLogger("chartship")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CONTENT = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
HELM_PROVENANCE = "application/vnd.cncf.helm.chart.provenance.v1.prov"

#: Blobs up to this size are sent without a HEAD first: on a link of 10 MB/s and
#: 10 ms round trips, sending 64 KiB costs about what asking whether it is there does.
SMALL_BLOB = 64 * 1024


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Target:
    """``oci://host[:port]/namespace``: where a chart's repository lives."""

    host: str
    namespace: str

    @classmethod
    def parse(cls, url: str) -> Target:
        if not url.startswith("oci://"):
            raise RegistryError(f"{url!r} is not an oci:// reference")
        host, namespace = names.split(url)
        if not host:
            raise RegistryError(f"{url!r} names no registry host")
        problem = names.namespace_problem(namespace)
        if problem is not None:
            raise RegistryError(f"{url!r}: {problem}")
        return cls(host, namespace)

    def repository(self, chart: str) -> str:
        """``namespace/chart``; a chart no registry can hold is refused before any request."""
        problem = names.chart_problem(chart, self.namespace)
        if problem is not None:
            raise ChartError(f"chart {chart!r} cannot be pushed to {self.url}: {problem}")
        return f"{self.namespace}/{chart}" if self.namespace else chart

    @property
    def url(self) -> str:
        return f"oci://{self.host}/{self.namespace}" if self.namespace else f"oci://{self.host}"

    def reference(self, chart: str, tag: str) -> str:
        return f"{self.host}/{self.repository(chart)}:{tag}"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    #: Where they came from, for a refusal to name (environment variable names).
    source: str = ""

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


@dataclass(frozen=True)
class Tls:
    plain_http: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    data: dict[str, Any]
    raw: bytes

    @property
    def config_media_type(self) -> str | None:
        config = self.data.get("config")
        return config.get("mediaType") if isinstance(config, dict) else None

    def layers(self, media_type: str) -> list[dict[str, Any]]:
        return [
            layer
            for layer in self.data.get("layers") or []
            if isinstance(layer, dict) and layer.get("mediaType") == media_type
        ]


@dataclass(frozen=True)
class _Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class RegistryClient:
    """Talks to one registry host. Thread-safe; tokens are shared across threads.

    ``retry_seconds`` bounds the total time one request spends waiting between
    attempts, so a registry that is down fails in seconds, not minutes.
    """

    def __init__(
        self,
        host: str,
        *,
        tls: Tls | None = None,
        credentials: Credentials | None = None,
        timeout: float = 30.0,
        retry_seconds: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        variables: str = "",
        pool: _Pool | None = None,
    ) -> None:
        self.host = host
        self.tls = tls or Tls()
        self.credentials = credentials
        #: The environment variables credentials come from, for refusals to name.
        self.variables = credentials.source if credentials and credentials.source else variables
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self._sleep = sleep
        self._lock = threading.Lock()
        self._auth: dict[str, str] = {}
        #: Whether the registry takes a blob in one POST; None until a small blob tells.
        self._single_post: bool | None = None
        scheme = "http" if self.tls.plain_http else "https"
        self.base = f"{scheme}://{host}"
        self._context = None if self.tls.plain_http else self._ssl_context()
        # Registries redirect blob downloads to object storage, which must not
        # see the registry's credentials.
        self._opener = redirects.opener(urllib.request.HTTPSHandler(context=self._context))
        # A proxy from the environment is urllib's to honour; otherwise requests to
        # the registry share kept-alive connections (one TLS handshake per worker,
        # not per request).
        proxied = scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(
            host.rsplit(":", 1)[0] if not host.endswith("]") else host
        )
        self._pool = pool if pool is not None else (None if proxied else _Pool(host, self._context))

    @property
    def connections_opened(self) -> int | None:
        """Connections opened to the registry so far (None: urllib's, through a proxy)."""
        return self._pool.opened if self._pool is not None else None

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.tls.ca_file)
        if self.tls.cert_file:
            context.load_cert_chain(self.tls.cert_file, self.tls.key_file)
        if self.tls.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _fail(self, message: str, kind: type[RegistryError] = RegistryError) -> RegistryError:
        return kind(f"registry {self.host}: {message}")

    def _whose(self) -> str:
        """Whose access a refusal is about, naming where credentials come from."""
        names = self.variables or "the username and password variables"
        settings = "channels.oci.username_env and channels.oci.password_env"
        if self.credentials is None:
            return f"anonymous access (no credentials: set {names}, named by {settings})"
        return f"the credentials in {names} ({settings})"

    def anonymous(self) -> RegistryClient:
        """A client of the same registry without credentials: what anyone may read."""
        return RegistryClient(
            self.host,
            tls=self.tls,
            timeout=self.timeout,
            retry_seconds=self.retry_seconds,
            sleep=self._sleep,
            variables=self.variables,
            pool=self._pool,
        )

    # ------------------------------------------------------------------ transport

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None = None,
    ) -> _Response:
        if not url.startswith(("http://", "https://")):
            raise self._fail(f"refusing to follow a non-HTTP URL {url!r}")
        if self._pool is not None and url.startswith(self.base + "/"):
            pooled = self._pool.send(
                method, url[len(self.base) :], headers, body, timeout or self.timeout
            )
            if pooled.status not in _REDIRECTS or "location" not in pooled.headers:
                return pooled
            # Somewhere else (blob storage, say): urllib follows it, dropping the
            # registry's credentials when the host changes.
            url = urllib.parse.urljoin(url, pooled.headers["location"])
            if urllib.parse.urlsplit(url).netloc != self.host:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            if pooled.status in (301, 302, 303) and method not in ("GET", "HEAD"):
                method, body = "GET", None
        request = urllib.request.Request(  # noqa: S310 -- http(s) only, checked above
            url, data=body, method=method, headers=dict(headers)
        )
        try:
            with self._opener.open(request, timeout=timeout or self.timeout) as response:
                return _Response(response.status, _lower(response.headers.items()), response.read())
        except urllib.error.HTTPError as exc:
            return _Response(exc.code, _lower(exc.headers.items()), exc.read())

    def request(
        self,
        method: str,
        path: str,
        *,
        scope: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        deadline: float | None = None,
    ) -> _Response:
        """One API call, authenticated on demand and retried within the time bound.

        ``deadline`` (``time.monotonic()``) bounds every attempt and wait too:
        a write that must land by then is not retried past it.
        """
        url = path if path.startswith(("http://", "https://")) else self.base + path
        seconds = self.retry_seconds
        if deadline is not None:
            seconds = min(seconds, deadline - time.monotonic())
        budget = Budget(max(seconds, 0.0), sleep=self._sleep)
        authenticated = False
        while True:
            timeout = self.timeout
            if deadline is not None:
                timeout = min(timeout, deadline - time.monotonic())
                if timeout <= 0:
                    raise self._fail(
                        f"{method} {_path_of(url)} did not complete in the time it was given",
                        RegistryUnavailable,
                    )
            sent = dict(headers or {})
            auth = self._auth.get(scope or "") or self._auth.get("")
            # Credentials go to the registry only, never to another host it names
            # (an upload location or blob storage elsewhere).
            if auth and urllib.parse.urlsplit(url).netloc == self.host:
                sent["Authorization"] = auth
            try:
                response = self._send(method, url, sent, body, timeout)
            except ssl.SSLCertVerificationError as exc:
                raise self._fail(
                    f"TLS certificate not trusted ({exc.verify_message}); set channels.oci.ca_file "
                    "to the CA that signed it"
                ) from None
            except (ssl.SSLError, urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, ssl.SSLCertVerificationError):
                    raise self._fail(
                        f"TLS certificate not trusted ({reason.verify_message}); set "
                        "channels.oci.ca_file to the CA that signed it"
                    ) from None
                if isinstance(reason, ssl.SSLError):
                    raise self._fail(f"TLS failed: {reason}") from None
                log.debug("registry %s: %s; retrying", self.host, _describe(reason))
                if not budget.pause():
                    raise self._fail(
                        f"unreachable ({_describe(reason)}) after {budget.attempts} attempt(s) "
                        f"in {self.retry_seconds:g}s",
                        RegistryUnavailable,
                    ) from None
                continue
            if response.status == 401 and not authenticated:
                authenticated = True
                self._authenticate(response, scope)
                continue
            if response.status in TRANSIENT_STATUSES:
                log.debug("registry %s: %s; retrying", self.host, response.status)
                if not budget.pause(response.headers.get("retry-after")):
                    raise self._fail(
                        f"{method} {_path_of(url)} answered {response.status}"
                        f"{_error_text(response)} after {budget.attempts} attempt(s)",
                        RegistryUnavailable,
                    )
                continue
            return response

    def _authenticate(self, response: _Response, scope: str | None) -> None:
        challenge = response.headers.get("www-authenticate", "")
        kind = challenge.split(" ", 1)[0].lower()
        if kind == "basic":
            if self.credentials is None:
                names = self.variables or "the username and password variables"
                raise self._fail(
                    f"requires credentials; set {names} (named by channels.oci.username_env "
                    "and channels.oci.password_env)"
                )
            with self._lock:
                self._auth[""] = self.credentials.basic()
            return
        if kind == "bearer":
            value = self._token(dict(_CHALLENGE.findall(challenge)))
            with self._lock:
                self._auth[scope or ""] = f"Bearer {value}"
            return
        raise self._fail(f"unsupported authentication challenge {challenge!r}")

    def _token(self, params: Mapping[str, str]) -> str:
        """A token from the service a bearer challenge (``params``) names."""
        realm = params.get("realm")
        if not realm:
            raise self._fail("sent a bearer challenge without a realm")
        query = {k: v for k, v in params.items() if k in ("service", "scope")}
        token_url = realm + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {"Authorization": self.credentials.basic()} if self.credentials else {}
        try:
            answer = self._send("GET", token_url, headers, None)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise self._fail(f"token service unreachable ({_describe(reason)})") from None
        if answer.status == 401:
            whose = f" for {self._whose()}" if self.variables else ""
            raise self._fail(f"authentication failed (401 unauthorized){whose}")
        if answer.status != 200:
            raise self._fail(f"token service answered {answer.status}")
        try:
            token = json.loads(answer.body)
            value = token.get("token") or token.get("access_token")
        except (ValueError, AttributeError):
            value = None
        if not value:
            raise self._fail("token service sent no token")
        return str(value)

    def _scope_refusal(self, what: str, actions: str) -> str:
        needed = (
            "allowed to push to this repository (a GitHub token needs write:packages)"
            if "push" in actions
            else "allowed to read this repository (a GitHub token needs read:packages)"
        )
        return (
            f"{what}: {self._whose()} may not {actions.replace(',', ' and ')} there "
            f"(the token service granted less: insufficient_scope); use credentials {needed}"
        )

    def _checked(self, response: _Response, what: str) -> _Response:
        if response.status == 401:
            challenge = response.headers.get("www-authenticate", "")
            if "insufficient_scope" in challenge:
                # The token service answered, but not with the access asked for.
                scope = dict(_CHALLENGE.findall(challenge)).get("scope", "")
                # Registries list a scope's actions in either order; name them in one.
                actions = ",".join(sorted(scope.rpartition(":")[2].split(","))) or "access"
                raise self._fail(self._scope_refusal(what, actions))
            given = self.credentials.source if self.credentials else ""
            with_what = f" with the credentials in {given}" if given else ""
            raise self._fail(f"authentication failed for {what} (401 unauthorized){with_what}")
        if response.status == 403:
            raise self._fail(f"access denied to {what} (403 forbidden) for {self._whose()}")
        if response.status >= 400:
            raise self._fail(f"{what} answered {response.status}{_error_text(response)}")
        return response

    # ------------------------------------------------------------------ API

    def ping(self) -> None:
        self._checked(self.request("GET", "/v2/"), "/v2/")

    def manifest(self, repository: str, reference: str) -> Manifest | None:
        """The manifest under a tag or digest, or None when there is none."""
        accept = ", ".join((OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX))
        response = self.request(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            scope=f"repository:{repository}:pull",
            headers={"Accept": accept},
        )
        if response.status == 404:
            return None
        self._checked(response, f"{repository}:{reference}")
        try:
            data = json.loads(response.body)
        except ValueError:
            raise self._fail(f"{repository}:{reference} is not a JSON manifest") from None
        digest = sha256_digest(response.body)
        media_type = data.get("mediaType") or response.headers.get("content-type", OCI_MANIFEST)
        return Manifest(digest, str(media_type), data, response.body)

    def refusal(self, repository: str, reference: str) -> str | None:
        """Why this client may not read the manifest, or None when it may.

        For a client without credentials: whether the repository is public. A
        registry that hides what one may not read answers 404, others 401 or 403;
        a token service may refuse the token itself.
        """
        accept = ", ".join((OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX))
        try:
            response = self.request(
                "GET",
                f"/v2/{repository}/manifests/{reference}",
                scope=f"repository:{repository}:pull",
                headers={"Accept": accept},
            )
        except RegistryError as exc:
            if exc.transient:
                raise
            return str(exc).removeprefix(f"registry {self.host}: ")
        if response.status == 200:
            return None
        if response.status in (401, 403, 404):
            return f"answered {response.status}{_error_text(response)}"
        self._checked(response, f"{repository}:{reference}")
        return f"answered {response.status}"

    def tags(self, repository: str) -> list[str]:
        found: list[str] = []
        path: str | None = f"/v2/{repository}/tags/list?n=1000"
        pages = 0
        while path and pages < 1000:
            pages += 1
            response = self.request("GET", path, scope=f"repository:{repository}:pull")
            if response.status == 404:
                return found
            self._checked(response, f"{repository} tags")
            try:
                page = json.loads(response.body)
            except ValueError:
                raise self._fail(f"the tag list of {repository} is not JSON") from None
            found.extend(page.get("tags") or [] if isinstance(page, dict) else [])
            path = _next_link(response.headers.get("link", ""))
        return found

    def blob(self, repository: str, digest: str) -> bytes:
        response = self._checked(
            self.request(
                "GET", f"/v2/{repository}/blobs/{digest}", scope=f"repository:{repository}:pull"
            ),
            f"{repository}@{digest}",
        )
        if sha256_digest(response.body) != digest:
            raise self._fail(f"blob {digest} of {repository} does not match its digest")
        return response.body

    def put_blob(self, repository: str, data: bytes, digest: str | None = None) -> str:
        """Upload ``data`` unless the registry has it; its digest (``digest``: already known).

        Each request is retried on its own, but an upload session does not
        survive every failure (a registry restarted or a PUT whose answer was
        lost leaves it unknown), so a failed upload starts over from the check
        for the blob, within one retry budget.
        """
        digest = digest or sha256_digest(data)
        budget = Budget(self.retry_seconds, sleep=self._sleep)
        while True:
            lost = self._upload(repository, data, digest)
            if lost is None:
                return digest
            if not budget.pause():
                raise self._fail(
                    f"upload to {repository} answered {lost.status}{_error_text(lost)} "
                    f"after {budget.attempts} fresh start(s)"
                )
            log.debug("registry %s: upload session of %s lost; starting over", self.host, digest)

    def _upload(self, repository: str, data: bytes, digest: str) -> _Response | None:
        """One upload; the answer that says its session was lost, else None.

        A blob up to :data:`SMALL_BLOB` is sent without asking whether the
        registry has it: the question costs a round trip, more than the bytes.
        The OCI distribution spec lets a registry take a blob in one POST
        (``?digest=``, answered 201); one that does not answers 202 with an
        upload session instead, and the bytes follow in a PUT. Which kind the
        registry is, the first small blob tells: a large one is never sent in
        a POST the registry may ignore.
        """
        scope = f"repository:{repository}:pull,push"
        if len(data) > SMALL_BLOB:
            head = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", scope=scope)
            if head.status == 200:
                return None
        uploads = f"/v2/{repository}/blobs/uploads/"
        single = self._single_post is True or (
            self._single_post is None and len(data) <= SMALL_BLOB
        )
        if single:
            started = self._send_blob("POST", self.base + uploads, data, digest, scope)
            if started.status == 201:
                self._single_post = True
                return None
            if started.status == 202:
                self._single_post = False
            elif started.status in _NO_SINGLE_POST:
                # Refused rather than ignored: the two-step upload, as for any other.
                self._single_post = False
                started = self.request("POST", uploads, scope=scope, body=b"")
        else:
            started = self.request("POST", uploads, scope=scope, body=b"")
        self._checked(started, f"upload to {repository}")
        location = started.headers.get("location")
        if not location:
            raise self._fail(f"upload to {repository} gave no location")
        # RFC 9110: a relative Location is relative to the URL of the request (the POST).
        location = urllib.parse.urljoin(self.base + uploads, location)
        put = self._send_blob("PUT", location, data, digest, scope)
        # 404 BLOB_UPLOAD_UNKNOWN: the session is gone (a retried PUT whose first
        # answer was lost, or a registry restarted in between).
        if put.status == 404:
            return put
        self._checked(put, f"upload to {repository}")
        return None

    def _send_blob(self, method: str, url: str, data: bytes, digest: str, scope: str) -> _Response:
        """The bytes of a blob to ``url``, naming their digest as the upload's end does."""
        sep = "&" if "?" in url else "?"
        return self.request(
            method,
            f"{url}{sep}digest={urllib.parse.quote(digest)}",
            scope=scope,
            headers={"Content-Type": "application/octet-stream"},
            body=data,
        )

    def may_push(self, repository: str) -> None:
        """Refuse credentials that a push to ``repository`` would have refused, writing nothing.

        A registry behind a token service (ghcr.io, quay.io, Docker Hub) is asked
        for a token with the push scope, and the grant the token carries (its JWT
        ``access`` claim) must include push. A registry with basic auth lets any
        valid user push, which :meth:`ping` proved; a token that is no JWT says
        nothing, and the push itself is the first to tell.
        """
        # The challenge is asked for unauthenticated, so not through request(); retried alike.
        budget = Budget(self.retry_seconds, sleep=self._sleep)
        while True:
            try:
                challenge = self._send("GET", self.base + "/v2/", {}, None)
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                if budget.pause():
                    continue
                reason = getattr(exc, "reason", exc)
                raise self._fail(
                    f"unreachable ({_describe(reason)})", RegistryUnavailable
                ) from None
            if challenge.status in TRANSIENT_STATUSES and budget.pause(
                challenge.headers.get("retry-after")
            ):
                continue
            break
        header = challenge.headers.get("www-authenticate", "")
        if challenge.status != 401 or not header.lower().startswith("bearer"):
            return
        params = dict(_CHALLENGE.findall(header))
        params["scope"] = f"repository:{repository}:pull,push"
        granted = _granted(self._token(params), repository)
        if granted is not None and "push" not in granted:
            raise self._fail(self._scope_refusal(repository, "pull,push"))

    def put_manifest(
        self,
        repository: str,
        reference: str,
        raw: bytes,
        media_type: str,
        *,
        deadline: float | None = None,
    ) -> str:
        """Write a manifest; its digest, checked against the one the registry computed."""
        response = self._checked(
            self.request(
                "PUT",
                f"/v2/{repository}/manifests/{reference}",
                scope=f"repository:{repository}:pull,push",
                headers={"Content-Type": media_type},
                body=raw,
                deadline=deadline,
            ),
            f"{repository}:{reference}",
        )
        digest = sha256_digest(raw)
        stored = response.headers.get("docker-content-digest")
        if stored and stored != digest:
            raise self._fail(
                f"{repository}:{reference} was stored as {stored}, not as the {digest} sent"
            )
        return digest


_REDIRECTS = (301, 302, 303, 307, 308)
#: What a registry may answer a one-POST upload it does not implement.
_NO_SINGLE_POST = (400, 405, 415, 501)


class _Pool:
    """Idle kept-alive connections to one registry host, shared by every thread.

    A connection is taken for one request and its whole answer, then given
    back unless the server said it closes it. A connection that failed before
    any answer, having sat idle, was most likely closed by the server in the
    meantime: the request goes once more over a new one.
    """

    #: Idle connections kept; more workers than this open their own as needed.
    KEEP = 16

    def __init__(self, host: str, context: ssl.SSLContext | None) -> None:
        self.host = host
        self.context = context
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        #: Connections opened, for tests and the benchmark to count.
        self.opened = 0

    def _new(self, timeout: float) -> http.client.HTTPConnection:
        with self._lock:
            self.opened += 1
        if self.context is None:
            return http.client.HTTPConnection(self.host, timeout=timeout)
        return http.client.HTTPSConnection(self.host, timeout=timeout, context=self.context)

    def send(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> _Response:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        reused = conn is not None
        for _ in range(2):
            if conn is None:
                conn = self._new(timeout)
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            try:
                conn.request(method, path, body=body, headers=dict(headers))
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                if not reused:
                    raise
                conn, reused = None, False
                continue
            except BaseException:
                conn.close()
                raise
            answer = _Response(response.status, _lower(response.getheaders()), data)
            if response.will_close:
                conn.close()
            else:
                with self._lock:
                    if len(self._idle) < self.KEEP:
                        self._idle.append(conn)
                        conn = None
                if conn is not None:
                    conn.close()
            return answer
        raise ConnectionResetError("connection reset")  # unreachable: the loop returns or raises

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _granted(token: str, repository: str) -> set[str] | None:
    """The actions a registry token (a JWT, unverified: the registry checks it) grants on
    ``repository``; None when the token is not a JWT with an ``access`` claim."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        return None
    access = claims.get("access") if isinstance(claims, dict) else None
    if not isinstance(access, list):
        return None
    granted: set[str] = set()
    for entry in access:
        if isinstance(entry, dict) and entry.get("name") == repository:
            granted |= {str(a) for a in entry.get("actions") or []}
    return granted


def _lower(items: Any) -> dict[str, str]:
    """Header names vary in case between registries; look them up lower-cased."""
    return {str(k).lower(): str(v) for k, v in items}


def _describe(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(reason, ConnectionResetError):
        return "connection reset"
    return str(reason) or type(reason).__name__


def _path_of(url: str) -> str:
    return urllib.parse.urlsplit(url).path


def _error_text(response: _Response) -> str:
    try:
        errors = json.loads(response.body).get("errors") or []
        texts = [f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict)]
        return " (" + "; ".join(texts) + ")" if texts else ""
    except (ValueError, AttributeError):
        return ""


def _next_link(header: str) -> str | None:
    match = re.search(r"<([^>]+)>\s*;\s*rel=\"?next\"?", header)
    return match.group(1) if match else None

"""A reverse proxy on 127.0.0.1 that makes a chosen share of requests fail.

Put in front of the registry or the GitHub stand-in, it forwards each request
unchanged (the Host header included, so the registry's upload Locations and
the stand-in's URLs keep pointing at the proxy) and answers with what the
upstream said, except for the requests it picks to fail:

- ``500``: answered at once, the upstream never sees the request;
- ``429``: likewise, with ``Retry-After``;
- ``502``: forwarded, the upstream's answer thrown away: the work was done but
  the client cannot know, as behind a real gateway that timed out;
- ``reset``: the connection aborted with a TCP RST, before or after the
  upstream saw the request (chosen at random).

Choices come from a seeded generator, so a failing run can be replayed by its
seed. ``rate`` may be changed while the proxy runs (0 ends the faults).
``before_forward`` and ``after_forward`` are called with each request's number
before it is forwarded and after the upstream answered (the answer not yet
relayed); the kill-point tests use them to crash the registry at request *k*.
When the upstream cannot be reached the client's connection is reset, as a
dead server's would be.
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Literal

from chartship.sandbox.servers import BackgroundServer, LocalHTTPServer

Fault = Literal["500", "502", "429", "reset"]
FAULTS: tuple[Fault, ...] = ("500", "502", "429", "reset")

#: Seconds a forwarded request may take, and a client connection may idle.
IO_TIMEOUT = 30.0

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)


class _Abort(Exception):
    """The client connection is to be reset."""


class _Handler(BaseHTTPRequestHandler):
    server: LocalHTTPServer[FaultProxy]
    protocol_version = "HTTP/1.1"
    timeout = IO_TIMEOUT

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self._upstream: http.client.HTTPConnection | None = None

    def finish(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
        super().finish()

    def _body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout turns close() into an RST.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.wfile = _Discard()  # type: ignore[assignment]
        self.connection.close()

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        owner = self.server.owner
        if self._upstream is None:
            self._upstream = http.client.HTTPConnection(
                owner.upstream_host, owner.upstream_port, timeout=IO_TIMEOUT
            )
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            self._upstream.request(self.command, self.path, body=body, headers=headers)
            response = self._upstream.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self._upstream.close()
            self._upstream = None
            raise _Abort from None
        if response.will_close:
            self._upstream.close()
            self._upstream = None
        return response.status, response.reason, response.getheaders(), data

    def _answer(self, status: int, headers: Sequence[tuple[str, str]], data: bytes) -> None:
        self.send_response(status)
        length = None
        for name, value in headers:
            if name.lower() == "content-length":
                length = value
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        if self.command == "HEAD":
            # HEAD keeps the upstream's length: it describes the body not sent.
            if length is not None:
                self.send_header("Content-Length", length)
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    def _handle(self) -> None:
        owner = self.server.owner
        body = self._body()
        number, fault, before = owner._decide()
        try:
            if owner.before_forward is not None:
                owner.before_forward(number)
            if fault == "500":
                self._answer(500, [("Content-Type", "text/plain")], b"injected fault\n")
                return
            if fault == "429":
                retry = [("Retry-After", str(owner.retry_after)), ("Content-Type", "text/plain")]
                self._answer(429, retry, b"injected rate limit\n")
                return
            if fault == "reset" and before:
                raise _Abort
            status, _reason, headers, data = self._forward(body)
            if owner.after_forward is not None:
                owner.after_forward(number)
            if fault == "502":
                self._answer(502, [("Content-Type", "text/plain")], b"injected bad gateway\n")
                return
            if fault == "reset":
                raise _Abort
            self._answer(status, headers, data)
        except _Abort:
            self._reset()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class _Discard:
    closed = True

    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class FaultProxy(BackgroundServer):
    """Forwards to ``upstream`` (``host:port``), failing ``rate`` of the requests."""

    # Clients keep their connections open between requests.
    block_on_close = False

    def __init__(
        self,
        upstream: str,
        *,
        rate: float = 0.0,
        seed: int = 0,
        faults: Sequence[Fault] = FAULTS,
        retry_after: int = 1,
        before_forward: Callable[[int], None] | None = None,
        after_forward: Callable[[int], None] | None = None,
    ) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream_host = host
        self.upstream_port = int(port)
        self.rate = rate
        self.faults = tuple(faults)
        self.retry_after = retry_after
        self.before_forward = before_forward
        self.after_forward = after_forward
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self._random = random.Random(seed)  # noqa: S311 (replayable faults, not secrets)
        self._lock = threading.Lock()
        super().__init__(_Handler)

    def quiet(self, error: BaseException | None) -> bool:
        # A client giving up on a connection (after a reset of ours) is expected here.
        return isinstance(error, OSError)

    def _decide(self) -> tuple[int, Fault | None, bool]:
        with self._lock:
            self.requests += 1
            fault: Fault | None = None
            if self._random.random() < self.rate:
                chosen = self._random.choice(self.faults)
                self.injected[chosen] += 1
                fault = chosen
            return self.requests, fault, self._random.random() < 0.5

    def __repr__(self) -> str:
        return (
            f"FaultProxy({self.url} -> {self.upstream_host}:{self.upstream_port}, "
            f"rate={self.rate}, requests={self.requests}, injected={dict(self.injected)})"
        )

"""An HTTP(S) server on 127.0.0.1 whose every answer is scripted by the test.

A registry cannot be made to answer 503 twice and then 200, reset a connection,
or send a particular challenge on demand; this server can. Each request is
recorded (method, path with query, headers, body) and answered with the next
reply scripted for its method and path; the last reply of a script repeats.
A request nothing was scripted for is answered 418 and listed in
``unscripted`` so that a test can fail on it.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import urllib.parse
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal

from chartship.sandbox.servers import BackgroundServer, LocalHTTPServer

#: Seconds a connection may sit idle before the server gives up on it.
IO_TIMEOUT = 5.0


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``drop`` answers nothing: "close" closes the
    connection cleanly, "reset" aborts it with a TCP RST."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    drop: Literal["close", "reset"] | None = None


@dataclass(frozen=True)
class Recorded:
    method: str
    target: str
    headers: Mapping[str, str]  # names lower-cased
    body: bytes

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.target).query)


class _Handler(BaseHTTPRequestHandler):
    server: LocalHTTPServer[ScriptedServer]
    timeout = IO_TIMEOUT

    def setup(self) -> None:
        context = self.server.owner.tls
        if context is not None:
            self.request.settimeout(IO_TIMEOUT)
            self.request = context.wrap_socket(self.request, server_side=True)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the test asserts on ``requests`` instead."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        recorded = Recorded(
            self.command,
            self.path,
            {name.lower(): value for name, value in self.headers.items()},
            body,
        )
        reply = self.server.owner._record(recorded)
        if reply.drop is not None:
            self.close_connection = True
            if reply.drop == "reset":
                # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)
        self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _answer


class ScriptedServer(BackgroundServer):
    """Use as a context manager; ``host`` is ``127.0.0.1:PORT``."""

    block_on_close = False
    stop_timeout = IO_TIMEOUT

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.requests: list[Recorded] = []
        self.unscripted: list[Recorded] = []
        self._scripts: dict[tuple[str, str], deque[Reply]] = {}
        self._lock = threading.Lock()
        super().__init__(_Handler)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def quiet(self, error: BaseException | None) -> bool:
        """Failed handshakes and dropped connections are what tests provoke: quiet."""
        return True

    def script(self, method: str, path: str, *replies: Reply) -> None:
        """Answer ``method path`` (query ignored) with ``replies`` in turn, the last forever."""
        if not replies:
            raise ValueError("script at least one reply")
        with self._lock:
            self._scripts[(method, path)] = deque(replies)

    def seen(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (path is None or r.path == path)
            ]

    def _record(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            queue = self._scripts.get((recorded.method, recorded.path))
            if not queue:
                self.unscripted.append(recorded)
                return Reply(418, body=b"unscripted request")
            return queue.popleft() if len(queue) > 1 else queue[0]

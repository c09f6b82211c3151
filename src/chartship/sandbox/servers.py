"""The one way the test support runs an HTTP server: on 127.0.0.1, from a background thread.

:class:`BackgroundServer` binds ``127.0.0.1`` (port 0 unless told otherwise)
when it is made, so that ``url`` is known before the first request and a port
in use fails at once; :meth:`~BackgroundServer.start` serves from a daemon
thread and :meth:`~BackgroundServer.stop` ends it, also as a context manager.
A server keeps only what differs: its handler, its scheme, which errors it
keeps quiet, and whether :meth:`~BackgroundServer.stop` waits for the threads
still answering or cuts their connections (keep-alive clients would otherwise
hold a thread until its read times out).

Handlers reach their server's object as ``self.server.owner``.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from socketserver import BaseRequestHandler
from types import TracebackType
from typing import Any, ClassVar, Generic, TypeVar

_Owner = TypeVar("_Owner", bound="BackgroundServer")
_S = TypeVar("_S", bound="Service")
_B = TypeVar("_B", bound="BackgroundServer")

#: How often the serving loop looks for a stop request, in seconds.
POLL_INTERVAL = 0.05


class LocalHTTPServer(ThreadingHTTPServer, Generic[_Owner]):
    """The socket server behind a :class:`BackgroundServer` (``owner``)."""

    daemon_threads = True

    def __init__(
        self, port: int, handler: Callable[..., BaseRequestHandler], owner: _Owner
    ) -> None:
        self.owner = owner
        self.block_on_close = owner.block_on_close
        super().__init__(("127.0.0.1", port), handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.owner._opened(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.owner._closed(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not self.owner.quiet(sys.exc_info()[1]):
            super().handle_error(request, client_address)


class Service:
    """A local service run as a context manager: started on entry, stopped on exit."""

    def start(self: _S) -> _S:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class BackgroundServer(Service):
    """An HTTP server on ``127.0.0.1`` answering from a background thread.

    ``handler`` is the request handler class (or a factory taking its three
    arguments). Subclasses set the class attributes below and may override
    :meth:`quiet`.
    """

    #: Wait in :meth:`stop` for the threads still answering (socketserver's own
    #: ``block_on_close``); servers whose clients keep connections open say False.
    block_on_close: ClassVar[bool] = True
    #: Shut down every open client connection in :meth:`stop`, so that a
    #: keep-alive client sees the server go instead of a connection left idle.
    track_connections: ClassVar[bool] = False
    #: Seconds :meth:`stop` waits for the serving thread.
    stop_timeout: ClassVar[float] = 5.0

    def __init__(self, handler: Callable[..., BaseRequestHandler], *, port: int = 0) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._httpd: LocalHTTPServer[Any] = LocalHTTPServer(port, handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL},
            daemon=True,
            name=f"{type(self).__name__}:{self.port}",
        )

    @property
    def scheme(self) -> str:
        return "http"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, as an ``oci://`` reference or a proxy's upstream names it."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def quiet(self, error: BaseException | None) -> bool:
        """Whether ``error``, raised while answering, goes unreported (default: reported)."""
        return False

    def start(self: _B) -> _B:
        self._thread.start()
        return self

    def stop(self) -> None:
        started = self._thread.ident is not None
        # shutdown() waits for the serving loop to notice: without one it would wait forever.
        if self._thread.is_alive():
            self._httpd.shutdown()
        if self.track_connections:
            with self._connections_lock:
                open_now = list(self._connections)
            for connection in open_now:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        if started:
            self._thread.join(timeout=self.stop_timeout)

    def _opened(self, connection: socket.socket) -> None:
        if self.track_connections:
            with self._connections_lock:
                self._connections.add(connection)

    def _closed(self, connection: socket.socket) -> None:
        if self.track_connections:
            with self._connections_lock:
                self._connections.discard(connection)

"""A classic HTTP chart repository on 127.0.0.1, for the tests and the sandbox."""

from __future__ import annotations

import base64
import functools
import http.server
import socket
import threading
from pathlib import Path
from typing import Any

from chartship.helm import Helm
from chartship.sandbox.servers import BackgroundServer

UPSTREAM_CHARTS = Path(__file__).resolve().parent.parent / "data" / "upstream"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _RecordingHandler(_QuietHandler):
    """Serves files, records every path asked for, and demands basic auth if told to."""

    def __init__(
        self, *args: Any, requests: list[str], auth: tuple[str, str] | None, **kwargs: Any
    ) -> None:
        self._requests = requests
        self._auth = auth
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        self._requests.append(self.path)
        if self._auth is not None:
            token = base64.b64encode(":".join(self._auth).encode()).decode()
            if self.headers.get("Authorization") != f"Basic {token}":
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="mirror"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        super().do_GET()


class StaticServer(BackgroundServer):
    """Serves the files under ``root``; ``requests`` lists the paths asked for.

    With ``auth`` (user, password) every request must carry that basic auth.
    """

    def __init__(self, root: Path, port: int = 0, auth: tuple[str, str] | None = None) -> None:
        self.root = root
        self.requests: list[str] = []
        handler = functools.partial(
            _RecordingHandler, directory=str(root), requests=self.requests, auth=auth
        )
        super().__init__(handler, port=port)


class _RedirectingHandler(_QuietHandler):
    """Answers a path of ``routes`` with a 302 to its target; serves files otherwise.

    Every request is recorded as (path, the Authorization header or None).
    """

    def __init__(
        self,
        *args: Any,
        routes: dict[str, str],
        seen: list[tuple[str, str | None]],
        **kwargs: Any,
    ) -> None:
        self._routes = routes
        self._seen = seen
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        self._seen.append((self.path, self.headers.get("Authorization")))
        target = self._routes.get(self.path)
        if target is None:
            super().do_GET()
            return
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()


class RedirectServer(BackgroundServer):
    """A :class:`StaticServer` whose ``routes`` (path -> URL) answer with redirects."""

    def __init__(self, root: Path) -> None:
        self.routes: dict[str, str] = {}
        self.seen: list[tuple[str, str | None]] = []
        handler = functools.partial(
            _RedirectingHandler, directory=str(root), routes=self.routes, seen=self.seen
        )
        super().__init__(handler)


class Tripwire:
    """A TCP listener on 127.0.0.1 that counts connections and answers none of them.

    Set as HTTP(S)_PROXY, it catches any attempt of helm to reach a repository:
    a run that must not touch the network leaves ``connections`` at 0.
    """

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def __enter__(self) -> Tripwire:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


def publish_repository(helm: Helm, chart_dirs: list[Path], directory: Path, url: str) -> str:
    """Package ``chart_dirs`` into ``directory`` and index it as served at ``url``."""
    directory.mkdir(parents=True, exist_ok=True)
    for chart_dir in chart_dirs:
        helm.run(["package", str(chart_dir), "--destination", str(directory)])
    helm.run(["repo", "index", str(directory), "--url", url])
    return url


def serve_upstream(helm: Helm, root: Path, port: int = 0) -> tuple[StaticServer, str]:
    """Start a server whose /frr-k8s is the upstream repository metallb depends on."""
    server = StaticServer(root, port)
    url = f"{server.url}/frr-k8s"
    publish_repository(helm, [UPSTREAM_CHARTS / "frr-k8s"], root / "frr-k8s", url)
    return server, url

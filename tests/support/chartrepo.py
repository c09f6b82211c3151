"""A classic HTTP chart repository on 127.0.0.1, for the tests and the sandbox."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from chartship.helm import Helm

UPSTREAM_CHARTS = Path(__file__).resolve().parent.parent / "data" / "upstream"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


_S = TypeVar("_S", bound="BackgroundServer")


class BackgroundServer:
    """An HTTP server on 127.0.0.1 answering from a background thread; a context manager."""

    def __init__(self, server: http.server.ThreadingHTTPServer) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self: _S) -> _S:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class StaticServer(BackgroundServer):
    """Serves the files under ``root``."""

    def __init__(self, root: Path, port: int = 0) -> None:
        self.root = root
        handler = functools.partial(_QuietHandler, directory=str(root))
        super().__init__(http.server.ThreadingHTTPServer(("127.0.0.1", port), handler))


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

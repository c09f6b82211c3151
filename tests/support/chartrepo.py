"""A classic HTTP chart repository on 127.0.0.1, for the tests and the sandbox."""

from __future__ import annotations

import functools
import http.server
from pathlib import Path

from chartship.helm import Helm
from tests.support.servers import BackgroundServer

UPSTREAM_CHARTS = Path(__file__).resolve().parent.parent / "data" / "upstream"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class StaticServer(BackgroundServer):
    """Serves the files under ``root``."""

    def __init__(self, root: Path, port: int = 0) -> None:
        self.root = root
        super().__init__(functools.partial(_QuietHandler, directory=str(root)), port=port)


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

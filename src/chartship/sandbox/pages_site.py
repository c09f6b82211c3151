"""A pages site on 127.0.0.1: serves one branch of a bare git repository.

GitHub Pages publishes a branch's files at a URL; this serves the branch's
tip at the moment of each request, so whatever chartship pushed is what helm
reads next.
"""

from __future__ import annotations

import mimetypes
import subprocess
import urllib.parse
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from chartship.sandbox.servers import BackgroundServer, LocalHTTPServer


class _Handler(BaseHTTPRequestHandler):
    server: LocalHTTPServer[PagesSite]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _content(self) -> bytes | None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        if not path or path.endswith("/"):
            path += "index.html"
        if ".." in path.split("/"):
            return None
        found = subprocess.run(
            ["git", "--git-dir", str(self.server.owner.git_dir), "cat-file", "blob",
             f"refs/heads/{self.server.owner.branch}:{path}"],
            capture_output=True,
            timeout=30,
            check=False,
        )  # fmt: skip
        return found.stdout if found.returncode == 0 else None

    def _answer(self, with_body: bool) -> None:
        content = self._content()
        if content is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        kind = mimetypes.guess_type(self.path)[0] or "application/octet-stream"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if with_body:
            self.wfile.write(content)

    def do_GET(self) -> None:
        self._answer(True)

    def do_HEAD(self) -> None:
        self._answer(False)


class PagesSite(BackgroundServer):
    """Serves ``branch`` of the bare repository ``git_dir``; use as a context manager."""

    def __init__(self, git_dir: Path, branch: str = "gh-pages") -> None:
        self.git_dir = git_dir
        self.branch = branch
        super().__init__(_Handler)

"""A git remote over smart HTTP on 127.0.0.1 that demands a token, as GitHub does.

``git http-backend`` (git's own CGI program) serves the bare repositories
under ``root``; this server checks the ``Authorization`` header first and
answers 401 without the expected one, and records every header it was sent so
a test can tell how the token travelled.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from chartship.sandbox.servers import BackgroundServer, LocalHTTPServer


class _Handler(BaseHTTPRequestHandler):
    server: LocalHTTPServer[GitHttpServer]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _serve(self) -> None:
        with self.server.owner.lock:
            self.server.owner.seen_list.append(
                (self.command, self.path, self.headers.get("Authorization"))
            )
        if self.headers.get("Authorization") != self.server.owner.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urllib.parse.urlsplit(self.path)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.server.owner.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": urllib.parse.unquote(split.path),
            "QUERY_STRING": split.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "x-access-token",
            "REMOTE_ADDR": "127.0.0.1",
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve


class GitHttpServer(BackgroundServer):
    """Serves the bare repositories under ``root`` to whoever sends ``token``."""

    def __init__(self, root: Path, token: str) -> None:
        self.root = root
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        self.expected = f"Basic {basic}"
        self.seen_list: list[tuple[str, str, str | None]] = []
        self.lock = threading.Lock()
        super().__init__(_Handler)

    @property
    def seen(self) -> list[tuple[str, str, str | None]]:
        """(method, path, Authorization header) of every request, in order."""
        with self.lock:
            return list(self.seen_list)

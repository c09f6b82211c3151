"""The background-server base every local test server is built on."""

from __future__ import annotations

import http.client
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from chartship.sandbox.github_standin import IO_TIMEOUT, GithubStandin
from tests.support.chartrepo import StaticServer
from tests.support.scripted_http import Reply, ScriptedServer


def test_serves_on_loopback_until_stopped(tmp_path: Path) -> None:
    (tmp_path / "index.yaml").write_text("apiVersion: v1\n")
    server = StaticServer(tmp_path)
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert server.host == f"127.0.0.1:{server.port}"
    with server, urllib.request.urlopen(f"{server.url}/index.yaml", timeout=10) as answer:  # noqa: S310
        assert answer.read() == b"apiVersion: v1\n"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()


def test_a_port_in_use_fails_when_made(tmp_path: Path) -> None:
    with StaticServer(tmp_path) as first, pytest.raises(OSError, match="in use"):
        StaticServer(tmp_path, port=first.port)


def test_stop_without_start_returns(tmp_path: Path) -> None:
    started = time.monotonic()
    StaticServer(tmp_path).stop()
    assert time.monotonic() - started < 5


def test_scheme_follows_the_server() -> None:
    with ScriptedServer() as plain:
        plain.script("GET", "/", Reply(204))
        connection = http.client.HTTPConnection(plain.host, timeout=10)
        connection.request("GET", "/")
        assert connection.getresponse().status == 204
        connection.close()
        assert plain.url == f"http://{plain.host}"


def test_tracked_keep_alive_connections_are_cut_at_stop() -> None:
    """A client idling on a kept-alive connection sees the stand-in go at once,
    rather than after the handler's read times out."""
    standin = GithubStandin(token="t0k3n").start()
    connection = http.client.HTTPConnection(standin.host, timeout=IO_TIMEOUT * 3)
    connection.request("GET", "/rate_limit", headers={"Authorization": "token t0k3n"})
    answer = connection.getresponse()
    assert answer.status == 200
    answer.read()
    assert connection.sock is not None
    idle = connection.sock
    started = time.monotonic()
    standin.stop()
    assert time.monotonic() - started < IO_TIMEOUT
    idle.settimeout(IO_TIMEOUT * 3)
    assert idle.recv(1) == b""
    assert time.monotonic() - started < IO_TIMEOUT
    connection.close()
    assert not standin.violations, standin.report()

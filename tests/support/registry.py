"""A real OCI registry (distribution's ``docker-registry``) on 127.0.0.1, for the tests.

:class:`RegistryServer` runs ``docker-registry serve`` in the foreground with a
config written under its root, optionally with TLS (:func:`make_tls_material`)
and htpasswd basic auth (:func:`write_htpasswd`).  Its log is drained by a
thread into ``registry.log`` so the pipe never fills and failures can quote it.

The raw helpers at the end (:func:`registry_request`, :func:`get_manifest`,
:func:`list_tags`) talk to the registry with urllib only, so tests can check
what helm stored without going through helm.
"""

from __future__ import annotations

import base64
import json
import re
import signal
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from tests.support.provision import find_registry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
#: How long :meth:`RegistryServer.restart` keeps retrying while its port is still taken.
RESTART_PORT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 60.0
HTTP_TIMEOUT = 10.0
_LOG_TAIL_LINES = 30

_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
_PORT_BUSY = re.compile(r"address already in use", re.IGNORECASE)

Auth = tuple[str, str]


def find_registry_binary() -> Path:
    """The ``docker-registry`` binary, or a RuntimeError saying how to provision it."""
    found = find_registry()
    if found is None:
        raise RuntimeError(
            "docker-registry is not installed; run `python tests/support/provision.py` "
            "(it runs `apt-get install docker-registry` as root)"
        )
    return found


# --------------------------------------------------------------------------- TLS + auth


@dataclass(frozen=True)
class TlsMaterial:
    """A self-signed CA and a server certificate it signed, valid for 127.0.0.1/localhost."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(
        ["openssl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"openssl {args[0]} failed with exit status {proc.returncode}:\n"
            f"{proc.stdout}{proc.stderr}"
        )


def make_tls_material(directory: Path) -> TlsMaterial:
    """Write ``ca.crt``, ``server.crt`` and ``server.key`` into ``directory``.

    EC P-256 keys keep this fast; Go's verifier ignores the CN, so the server
    certificate names 127.0.0.1 and localhost in subjectAltName.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req", "-x509", *ec,
        "-keyout", "ca.key", "-out", "ca.crt", "-days", "7",
        "-subj", "/CN=chartship test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
        cwd=directory,
    )  # fmt: skip
    (directory / "server.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:registry.chartship.test\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "7", "-extfile", "server.ext", "-out", "server.crt",
        cwd=directory,
    )  # fmt: skip
    return TlsMaterial(
        ca_cert=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
    )


def write_htpasswd(
    path: Path, users: Mapping[str, str], *, prefix: str = "$2y$", rounds: int = 4
) -> Path:
    """Write an htpasswd file of bcrypt hashes (``$2y$``, as ``htpasswd -B`` writes).

    The registry checks the hash on every authenticated request, so the cost is
    kept at bcrypt's minimum: these are throwaway test passwords.
    """
    # Imported here: only registries with users need it, and the sandbox has none.
    import bcrypt

    lines = []
    for user, password in users.items():
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()
        lines.append(f"{user}:{prefix}{hashed[4:]}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))
    return path


# --------------------------------------------------------------------------- the server


class RegistryServer:
    """``docker-registry serve`` on 127.0.0.1 with its storage, config and log under ``root``."""

    def __init__(
        self,
        root: Path,
        *,
        tls: TlsMaterial | None = None,
        users: Mapping[str, str] | None = None,
        port: int = 0,
        token: Mapping[str, str] | None = None,
    ) -> None:
        self.root = root
        self.tls = tls
        self.users: dict[str, str] = dict(users or {})
        #: ``auth.token`` of the config (realm, service, issuer, rootcertbundle):
        #: bearer tokens from a token service, as ghcr.io, quay.io and Docker Hub.
        self.token = dict(token or {})
        self._port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._drain: threading.Thread | None = None
        self._listening = threading.Event()
        self._starts = 0

    # -- where things are

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    @property
    def config_path(self) -> Path:
        return self.root / "config.yml"

    @property
    def htpasswd_path(self) -> Path:
        return self.root / "htpasswd"

    @property
    def log_path(self) -> Path:
        return self.root / "registry.log"

    @property
    def ca_file(self) -> Path | None:
        return self.tls.ca_cert if self.tls else None

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the registry has not been started, so it has no port yet")
        return self._port

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def oci_base(self, namespace: str) -> str:
        return f"oci://{self.host}/{namespace.strip('/')}"

    @property
    def process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError("the registry has not been started")
        return self._process

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- credentials (the first user given)

    @property
    def auth(self) -> Auth | None:
        return next(iter(self.users.items())) if self.users else None

    @property
    def username(self) -> str:
        return self._credentials()[0]

    @property
    def password(self) -> str:
        return self._credentials()[1]

    def _credentials(self) -> Auth:
        if self.auth is None:
            raise RuntimeError("this registry was started without users")
        return self.auth

    # -- lifecycle

    def write_config(self) -> Path:
        """Write the config for the current port (0 until the first start)."""
        self.storage.mkdir(parents=True, exist_ok=True)
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "  accesslog:",
            "    disabled: false",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {json.dumps(str(self.storage))}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: 127.0.0.1:{self._port}",
            "  secret: chartship-tests",
        ]
        if self.tls:
            lines += [
                "  tls:",
                f"    certificate: {json.dumps(str(self.tls.server_cert))}",
                f"    key: {json.dumps(str(self.tls.server_key))}",
            ]
        if self.token:
            lines += ["auth:", "  token:"]
            lines += [f"    {key}: {json.dumps(value)}" for key, value in self.token.items()]
        elif self.users:
            write_htpasswd(self.htpasswd_path, self.users)
            lines += [
                "auth:",
                "  htpasswd:",
                "    realm: chartship-tests",
                f"    path: {json.dumps(str(self.htpasswd_path))}",
            ]
        self.config_path.write_text("\n".join(lines) + "\n")
        return self.config_path

    def start(self) -> RegistryServer:
        """Launch the registry and wait (bounded) until it says where it listens."""
        if self.running:
            raise RuntimeError(f"the registry is already running on {self.host}")
        binary = find_registry_binary()
        self.root.mkdir(parents=True, exist_ok=True)
        self.write_config()
        self._starts += 1
        with self.log_path.open("a") as log:
            log.write(f"--- start #{self._starts}: {binary} serve {self.config_path}\n")
        self._listening.clear()
        process = subprocess.Popen(
            [str(binary), "serve", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.root,
        )
        self._process = process
        assert process.stdout is not None
        self._drain = threading.Thread(
            target=self._drain_log, args=(process.stdout,), name="registry-log", daemon=True
        )
        self._drain.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._listening.wait(0.02):
            if process.poll() is not None:
                self._join_drain()
                raise RuntimeError(
                    f"docker-registry exited with status {process.returncode} before "
                    f"listening\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    f"docker-registry did not report listening within {START_TIMEOUT:g}s\n"
                    f"{self.log_tail()}"
                )
        return self

    def _drain_log(self, stream: IO[bytes]) -> None:
        with self.log_path.open("ab") as log:
            for line in iter(stream.readline, b""):
                log.write(line)
                log.flush()
                if not self._listening.is_set():
                    match = _LISTENING.search(line.decode(errors="replace"))
                    if match:
                        self._port = int(match.group(1))
                        self._listening.set()
        stream.close()

    def _join_drain(self) -> None:
        if self._drain is not None:
            self._drain.join(timeout=STOP_TIMEOUT)
            self._drain = None

    def stop(self) -> None:
        """SIGTERM, wait up to 5 s, then SIGKILL."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
        self._join_drain()

    def kill(self) -> None:
        """SIGKILL without warning (a crash, for fault tests) and reap it."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
        self._join_drain()

    def restart(self) -> RegistryServer:
        """Start again on the same port and storage, retrying while the port is still busy."""
        self.stop()
        deadline = time.monotonic() + RESTART_PORT_TIMEOUT
        while True:
            mark = self.log_path.stat().st_size if self.log_path.exists() else 0
            try:
                return self.start()
            except RuntimeError:
                with self.log_path.open("rb") as log:
                    log.seek(mark)
                    busy = _PORT_BUSY.search(log.read().decode(errors="replace"))
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def garbage_collect(self, *, delete_untagged: bool = True) -> str:
        """Run ``docker-registry garbage-collect`` on the storage; returns its output.

        garbage-collect is meant for a registry that is not serving, so a running
        server is stopped first and restarted (same port) afterwards.
        """
        was_running = self.running
        if was_running:
            self.stop()
        if not self.config_path.exists():
            self.write_config()
        argv = [str(find_registry_binary()), "garbage-collect"]
        if delete_untagged:
            argv.append("--delete-untagged")
        argv.append(str(self.config_path))
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
        output = proc.stdout + proc.stderr
        with self.log_path.open("a") as log:
            log.write(f"--- {' '.join(argv)} (exit {proc.returncode})\n{output}")
        if proc.returncode != 0:
            raise RuntimeError(
                f"garbage-collect failed with exit status {proc.returncode}:\n{output}"
            )
        if was_running:
            self.restart()
        return output

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return f"(no log at {self.log_path})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"last {lines} lines of {self.log_path}:\n{tail}"

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.host if self._port else "not started"
        return f"RegistryServer({where}, scheme={self.scheme}, root={self.root})"


# --------------------------------------------------------------------------- raw HTTP


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def registry_request(
    server: RegistryServer,
    path: str,
    *,
    method: str = "GET",
    auth: Auth | None = None,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
) -> Response:
    """One request to ``server`` (never through a proxy); HTTP errors are returned, not raised.

    Header names in the result are lower-cased.
    """
    request = urllib.request.Request(  # noqa: S310 - the URL is always the local registry
        server.url + path, method=method, data=data, headers=dict(headers or {})
    )
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if server.scheme == "https":
        cafile = str(server.ca_file) if server.ca_file else None
        context = ssl.create_default_context(cafile=cafile)
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=HTTP_TIMEOUT) as reply:
            return Response(
                reply.status, {k.lower(): v for k, v in reply.headers.items()}, reply.read()
            )
    except urllib.error.HTTPError as error:
        with error:
            return Response(
                error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()
            )


def get_manifest(
    server: RegistryServer,
    repo: str,
    ref: str,
    *,
    auth: Auth | None = None,
    accept: str | None = OCI_MANIFEST,
) -> tuple[int, dict[str, Any] | None, str | None]:
    """GET a manifest: (status, parsed manifest or None, Docker-Content-Digest or None).

    ``accept=None`` sends no Accept header at all.
    """
    headers = {"Accept": accept} if accept else {}
    reply = registry_request(server, f"/v2/{repo}/manifests/{ref}", auth=auth, headers=headers)
    if reply.status != 200:
        return reply.status, None, reply.headers.get("docker-content-digest")
    manifest: dict[str, Any] = reply.json()
    return reply.status, manifest, reply.headers.get("docker-content-digest")


def list_tags(server: RegistryServer, repo: str, auth: Auth | None = None) -> list[str] | None:
    """Tags of ``repo`` as the registry lists them, or None if the repository is unknown."""
    reply = registry_request(server, f"/v2/{repo}/tags/list", auth=auth)
    if reply.status == 404:
        return None
    if reply.status != 200:
        raise RuntimeError(
            f"GET /v2/{repo}/tags/list answered {reply.status}: {reply.body.decode()[:500]}"
        )
    tags: list[str] | None = reply.json().get("tags")
    return tags or []

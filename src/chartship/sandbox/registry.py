"""A real OCI registry (distribution's ``docker-registry``) on 127.0.0.1.

:class:`RegistryServer` runs ``docker-registry serve`` in the foreground with a
config written under its root, on a port the system picks (read back from the
registry's log), optionally with TLS (:class:`TlsMaterial`) and htpasswd basic
auth (:func:`write_htpasswd`). Its log is drained by a thread into
``registry.log`` so the pipe never fills and failures can quote it.

``chartship sandbox`` runs one; chartship's own tests run many.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from chartship.errors import ToolError
from chartship.sandbox.servers import Service

REGISTRY_PACKAGE = "docker-registry"
REGISTRY_BINARY = Path("/usr/bin/docker-registry")
#: Names the registry binary where it is somewhere else.
REGISTRY_ENV = "CHARTSHIP_DOCKER_REGISTRY"
#: How to get the binary where it is missing, as the error says it.
INSTALL_ADVICE = (
    f"install it as root with `apt-get update && apt-get install {REGISTRY_PACKAGE}` "
    f"(Debian and Ubuntu; it provides {REGISTRY_BINARY}), or put distribution's registry "
    f"binary on PATH as {REGISTRY_PACKAGE}"
)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
#: How long :meth:`RegistryServer.restart` keeps retrying while its port is still taken.
RESTART_PORT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 60.0
HTTP_TIMEOUT = 10.0
#: Repositories per catalog page (distribution's largest) and most pages read.
CATALOG_PAGE = 1000
CATALOG_PAGES = 1000
_LOG_TAIL_LINES = 30

_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
_NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')
_PORT_BUSY = re.compile(r"address already in use", re.IGNORECASE)

Auth = tuple[str, str]


def find_registry(environ: Mapping[str, str] | None = None) -> Path | None:
    """The ``docker-registry`` binary if it is installed.

    ``CHARTSHIP_DOCKER_REGISTRY`` in ``environ`` (default: the process's) names it
    where it is neither /usr/bin/docker-registry nor on PATH, e.g. distribution's
    own release binary, called ``registry``."""
    environ = os.environ if environ is None else environ
    named = environ.get(REGISTRY_ENV)
    if named:
        chosen = Path(named)
        return chosen if chosen.is_file() and os.access(chosen, os.X_OK) else None
    if REGISTRY_BINARY.is_file() and os.access(REGISTRY_BINARY, os.X_OK):
        return REGISTRY_BINARY
    found = shutil.which(REGISTRY_PACKAGE, path=environ.get("PATH"))
    return Path(found) if found else None


def find_registry_binary(environ: Mapping[str, str] | None = None) -> Path:
    """The ``docker-registry`` binary, or a ToolError saying how to install it."""
    environ = os.environ if environ is None else environ
    found = find_registry(environ)
    if found is not None:
        return found
    named = environ.get(REGISTRY_ENV)
    if named:
        raise ToolError(
            f"{REGISTRY_ENV} names {named}, which is not an executable file; {INSTALL_ADVICE}"
        )
    raise ToolError(f"{REGISTRY_PACKAGE} is not installed; {INSTALL_ADVICE}")


@dataclass(frozen=True)
class TlsMaterial:
    """A CA certificate and a server certificate and key it signed, for 127.0.0.1."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def write_htpasswd(
    path: Path, users: Mapping[str, str], *, prefix: str = "$2y$", rounds: int = 4
) -> Path:
    """Write an htpasswd file of bcrypt hashes (``$2y$``, as ``htpasswd -B`` writes).

    The registry checks the hash on every authenticated request, so the cost is
    kept at bcrypt's minimum: these are throwaway local passwords.
    """
    # Imported here: only registries with users need it (the sandbox's has none),
    # so bcrypt is a test dependency, not one of chartship's.
    import bcrypt

    lines = []
    for user, password in users.items():
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()
        lines.append(f"{user}:{prefix}{hashed[4:]}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))
    return path


class RegistryServer(Service):
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
                raise ToolError(
                    f"docker-registry exited with status {process.returncode} before "
                    f"listening\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise ToolError(
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
            except ToolError:
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
            raise ToolError(f"garbage-collect failed with exit status {proc.returncode}:\n{output}")
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


def catalog(server: RegistryServer, auth: Auth | None = None) -> list[str]:
    """Every repository the registry holds, sorted (``/v2/_catalog``, page by page)."""
    names: list[str] = []
    path: str | None = f"/v2/_catalog?n={CATALOG_PAGE}"
    for _ in range(CATALOG_PAGES):
        if path is None:
            return sorted(names)
        reply = registry_request(server, path, auth=auth)
        if reply.status != 200:
            raise ToolError(
                f"GET /v2/_catalog of the registry at {server.host} answered {reply.status}: "
                f"{reply.body.decode(errors='replace')[:500]}"
            )
        names += reply.json().get("repositories") or []
        # Link: </v2/_catalog?last=NAME&n=N>; rel="next" while there are more.
        link = _NEXT_LINK.search(reply.headers.get("link", ""))
        path = link.group(1) if link else None
    raise ToolError(f"the registry at {server.host} lists more than {CATALOG_PAGES} catalog pages")

"""Bearer-token auth as ghcr.io, quay.io and Docker Hub do it, on 127.0.0.1.

:class:`TokenServer` is the token service a registry started with ``auth:
token`` sends clients to: ``GET /token?service=S&scope=repository:NAME:pull,push``
with the user's password as basic auth answers a JWT (ES256, signed with the
key of a self-signed P-256 certificate named in its ``x5c`` header) granting
what the requested scopes and the user's grants have in common. A wrong
password is a 401; an anonymous request gets the anonymous grants (none by
default, so nothing is public). The registry trusts the certificate as its
``rootcertbundle``: :meth:`TokenServer.registry_auth` is the config it takes.

Every token request is recorded (:attr:`TokenServer.requests`) with the
scopes asked for and granted, so tests can check what a client asked.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chartship.sandbox.servers import BackgroundServer

SERVICE = "chartship-tests-registry"
ISSUER = "chartship-tests-token-service"
TOKEN_SECONDS = 300

#: Actions per repository name pattern: ``{"charts/*": ("pull", "push")}``.
Grants = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class Signer:
    """The token service's key and the self-signed certificate the registry trusts."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    bundle: Path

    @property
    def x5c(self) -> str:
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        return base64.b64encode(der).decode("ascii")


def make_signer(directory: Path) -> Signer:
    """A P-256 key and a self-signed certificate for it, written to ``token-ca.pem``."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    bundle = directory / "token-ca.pem"
    bundle.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return Signer(key, certificate, bundle)


@dataclass(frozen=True)
class User:
    password: str = field(repr=False)
    grants: Grants


@dataclass(frozen=True)
class TokenRequest:
    user: str | None  # None: anonymous
    scopes: tuple[str, ...]
    granted: tuple[dict[str, object], ...]
    status: int


def _allowed(grants: Grants, repository: str) -> set[str]:
    allowed: set[str] = set()
    for pattern, actions in grants.items():
        prefix = pattern.endswith("/*") and repository.startswith(pattern[:-1])
        if pattern == repository or prefix:
            allowed.update(actions)
    return allowed


class TokenServer(BackgroundServer):
    """The token service; see the module docstring."""

    def __init__(
        self, signer: Signer, users: Mapping[str, User], *, anonymous: Grants | None = None
    ) -> None:
        self.signer = signer
        self.users = dict(users)
        self.anonymous: Grants = dict(anonymous or {})
        self.requests: list[TokenRequest] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                status, body = owner.answer(self.path, self.headers.get("Authorization"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="chartship tests"')
                self.end_headers()
                self.wfile.write(data)

        super().__init__(Handler)

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    def registry_auth(self) -> dict[str, str]:
        """The ``auth.token`` block of a registry config that trusts this service."""
        return {
            "realm": self.realm,
            "service": SERVICE,
            "issuer": ISSUER,
            "rootcertbundle": str(self.signer.bundle),
        }

    def answer(self, path: str, authorization: str | None) -> tuple[int, dict[str, object]]:
        url = urllib.parse.urlsplit(path)
        if url.path != "/token":
            return 404, {"error": "not found"}
        query = urllib.parse.parse_qs(url.query)
        scopes = tuple(query.get("scope", []))
        user, grants = self._who(authorization)
        if grants is None:
            self._record(TokenRequest(user, scopes, (), 401))
            return 401, {"error": "wrong user name or password"}
        if query.get("service", [SERVICE]) != [SERVICE]:
            self._record(TokenRequest(user, scopes, (), 400))
            return 400, {"error": "unknown service"}
        access: list[dict[str, object]] = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not name:
                continue
            wanted = [a for a in actions.split(",") if a]
            allowed = _allowed(grants, name)
            given = [a for a in wanted if a in allowed]
            if given:
                access.append({"type": "repository", "name": name, "actions": given})
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": user or "",
            "aud": SERVICE,
            "exp": now + TOKEN_SECONDS,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        token = jwt.encode(
            claims, self.signer.key, algorithm="ES256", headers={"x5c": [self.signer.x5c]}
        )
        self._record(TokenRequest(user, scopes, tuple(access), 200))
        return 200, {"token": token, "access_token": token, "expires_in": TOKEN_SECONDS}

    def _who(self, authorization: str | None) -> tuple[str | None, Grants | None]:
        """(user, grants); grants None when the credentials are wrong."""
        if not authorization:
            return None, self.anonymous
        kind, _, encoded = authorization.partition(" ")
        if kind.lower() != "basic":
            return None, None
        try:
            name, _, password = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None, None
        user = self.users.get(name)
        if user is None or not secrets.compare_digest(user.password, password):
            return name, None
        return name, user.grants

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self.requests.append(request)

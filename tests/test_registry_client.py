"""chartship.channels.oci.registry's protocol behaviour against a scripted HTTP(S) server.

A real registry cannot be made to answer 503 then 200, reset a connection, send
a given auth challenge or paginate on demand; tests/support/scripted_http.py can.
Waits are recorded through the client's ``sleep=`` instead of being slept, so
every test finishes in well under a second.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chartship.channels.oci.registry import (
    DOCKER_MANIFEST,
    HELM_CONFIG,
    HELM_CONTENT,
    HELM_PROVENANCE,
    OCI_MANIFEST,
    SMALL_BLOB,
    Credentials,
    Manifest,
    RegistryClient,
    Target,
    Tls,
)
from chartship.errors import RegistryError
from chartship.retrying import Budget
from tests.support.scripted_http import Reply, ScriptedServer

USER = "robot"
PASSWORD = "s3cr3t:Pa55-word"
CREDENTIALS = Credentials(USER, PASSWORD)
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
REPO = "charts/x"
MANIFEST_PATH = f"/v2/{REPO}/manifests/1.0.0"
TAGS_PATH = f"/v2/{REPO}/tags/list"

#: Odd spacing on purpose: the digest must be of these bytes, not of a re-serialisation.
MANIFEST_BODY = (
    b'{"schemaVersion": 2,  "mediaType": "' + OCI_MANIFEST.encode() + b'",\n'
    b' "config": {"mediaType": "' + HELM_CONFIG.encode() + b'", "digest": "sha256:c", "size": 2},'
    b' "layers": [\n'
    b'  {"mediaType": "' + HELM_CONTENT.encode() + b'", "digest": "sha256:a", "size": 10},\n'
    b'  {"mediaType": "' + HELM_PROVENANCE.encode() + b'", "digest": "sha256:p", "size": 5}\n'
    b"]}"
)
SERVER_ERROR = json.dumps({"errors": [{"code": "UNKNOWN", "message": "boom"}]}).encode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Waits:
    """Stands in for time.sleep: records each wait and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as scripted:
        yield scripted
    assert not scripted.unscripted, f"requests nothing was scripted for: {scripted.unscripted}"


@pytest.fixture
def waits() -> Waits:
    return Waits()


def client_for(
    server: ScriptedServer,
    waits: Callable[[float], None],
    *,
    credentials: Credentials | None = None,
    retry_seconds: float = 1.0,
    tls: Tls | None = None,
) -> RegistryClient:
    return RegistryClient(
        server.host,
        tls=tls or Tls(plain_http=True),
        credentials=credentials,
        timeout=5.0,
        retry_seconds=retry_seconds,
        sleep=waits,
    )


def failure(action: Callable[[], Any]) -> str:
    """The RegistryError ``action`` raises, checked to carry no credential."""
    with pytest.raises(RegistryError) as caught:
        action()
    text = str(caught.value)
    assert PASSWORD not in text
    assert BASIC.split()[1] not in text
    return text


def challenge_basic() -> Reply:
    return Reply(401, {"WWW-Authenticate": 'Basic realm="x"'})


def manifest_ok() -> Reply:
    return Reply(200, {"Content-Type": OCI_MANIFEST}, MANIFEST_BODY)


# --------------------------------------------------------------------------- Target, Credentials


def test_target_parse_host_and_namespace() -> None:
    target = Target.parse("oci://quay.io/metallb/chart")
    assert (target.host, target.namespace) == ("quay.io", "metallb/chart")
    assert target.repository("metallb") == "metallb/chart/metallb"
    assert target.reference("metallb", "0.1.0_b") == "quay.io/metallb/chart/metallb:0.1.0_b"
    assert target.url == "oci://quay.io/metallb/chart"


def test_target_parse_host_with_port_and_trailing_slash() -> None:
    target = Target.parse("oci://127.0.0.1:5000/charts/")
    assert (target.host, target.namespace) == ("127.0.0.1:5000", "charts")
    assert target.repository("metallb") == "charts/metallb"
    assert target.reference("metallb", "1.2.3") == "127.0.0.1:5000/charts/metallb:1.2.3"


def test_target_parse_without_namespace() -> None:
    target = Target.parse("oci://ghcr.io")
    assert (target.host, target.namespace) == ("ghcr.io", "")
    assert target.repository("metallb") == "metallb"
    assert target.reference("metallb", "0.1.0") == "ghcr.io/metallb:0.1.0"
    assert target.url == "oci://ghcr.io"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://quay.io/metallb", "is not an oci:// reference"),
        ("quay.io/metallb", "is not an oci:// reference"),
        ("oci://", "names no registry host"),
        ("oci:///charts", "names no registry host"),
    ],
)
def test_target_parse_rejects(url: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message) as caught:
        Target.parse(url)
    assert repr(url) in str(caught.value)


def test_credentials_repr_hides_password() -> None:
    assert PASSWORD not in repr(CREDENTIALS)
    assert PASSWORD not in str(CREDENTIALS)
    assert USER in repr(CREDENTIALS)


# --------------------------------------------------------------------------- manifest()


def test_manifest_accept_digest_and_layers(server: ScriptedServer, waits: Waits) -> None:
    server.script("GET", MANIFEST_PATH, manifest_ok())

    manifest = client_for(server, waits).manifest(REPO, "1.0.0")

    assert isinstance(manifest, Manifest)
    [seen] = server.requests
    accepted = [part.strip() for part in seen.headers["accept"].split(",")]
    assert OCI_MANIFEST in accepted
    assert DOCKER_MANIFEST in accepted
    assert manifest.raw == MANIFEST_BODY
    assert manifest.digest == "sha256:" + hashlib.sha256(MANIFEST_BODY).hexdigest()
    assert manifest.media_type == OCI_MANIFEST
    assert manifest.config_media_type == HELM_CONFIG
    assert manifest.layers(HELM_CONTENT) == [
        {"mediaType": HELM_CONTENT, "digest": "sha256:a", "size": 10}
    ]
    assert [layer["digest"] for layer in manifest.layers(HELM_PROVENANCE)] == ["sha256:p"]
    assert manifest.layers("application/x-other") == []
    assert waits.calls == []


def test_manifest_missing_is_none(server: ScriptedServer, waits: Waits) -> None:
    server.script("GET", MANIFEST_PATH, Reply(404, body=b'{"errors":[]}'))
    assert client_for(server, waits).manifest(REPO, "1.0.0") is None
    assert len(server.requests) == 1


# --------------------------------------------------------------------------- retries


def test_transient_statuses_are_retried(server: ScriptedServer, waits: Waits) -> None:
    server.script("GET", MANIFEST_PATH, Reply(503), Reply(502), manifest_ok())

    manifest = client_for(server, waits).manifest(REPO, "1.0.0")

    assert manifest is not None
    assert manifest.digest == sha256(MANIFEST_BODY)
    assert waits.calls == [0.2, 0.4]
    assert [(r.method, r.path) for r in server.requests] == [("GET", MANIFEST_PATH)] * 3


def test_retry_after_is_honoured(server: ScriptedServer, waits: Waits) -> None:
    server.script("GET", MANIFEST_PATH, Reply(429, {"Retry-After": "2"}), manifest_ok())

    manifest = client_for(server, waits, retry_seconds=5.0).manifest(REPO, "1.0.0")

    assert manifest is not None
    assert waits.calls == [2.0]
    assert len(server.requests) == 2


def test_persistent_500_fails_once_budget_is_used(server: ScriptedServer, waits: Waits) -> None:
    server.script(
        "GET", MANIFEST_PATH, Reply(500, {"Content-Type": "application/json"}, SERVER_ERROR)
    )
    client = client_for(server, waits, retry_seconds=1.0)

    text = failure(lambda: client.manifest(REPO, "1.0.0"))

    assert text == (
        f"registry {server.host}: GET {MANIFEST_PATH} answered 500 (UNKNOWN: boom) "
        "after 3 attempt(s)"
    )
    # 0.2 + 0.4 leaves 0.4 of the 1.0 s budget; the next wait (0.8) does not fit.
    assert waits.calls == [0.2, 0.4]
    assert sum(waits.calls) <= 1.0
    assert len(server.requests) == 3


def test_default_budget_bounds_a_sleep_that_returns_at_once(
    server: ScriptedServer, waits: Waits
) -> None:
    """With the default 10 s budget the 5 s backoff cap always fits the clock's
    remaining time when the sleep does not really sleep: the waits asked for must
    count against the budget or the client asks forever."""
    server.script("GET", MANIFEST_PATH, Reply(503))
    client = client_for(server, waits, retry_seconds=10.0)

    text = failure(lambda: client.manifest(REPO, "1.0.0"))

    assert text.startswith(f"registry {server.host}: GET {MANIFEST_PATH} answered 503")
    assert waits.calls == [0.2, 0.4, 0.8, 1.6, 3.2]
    assert sum(waits.calls) <= 10.0
    assert len(server.requests) == 6


def test_retry_after_zero_still_pauses_and_stays_bounded(
    server: ScriptedServer, waits: Waits
) -> None:
    """Retry-After: 0 is no licence for a busy loop: each retry pauses a little,
    and the pauses use up the budget."""
    server.script("GET", MANIFEST_PATH, Reply(503, {"Retry-After": "0"}))
    client = client_for(server, waits, retry_seconds=0.3)
    started = time.monotonic()

    text = failure(lambda: client.manifest(REPO, "1.0.0"))

    assert time.monotonic() - started < 0.3 + 2
    assert text.startswith(f"registry {server.host}: GET {MANIFEST_PATH} answered 503")
    assert set(waits.calls) == {0.05}
    assert len(server.requests) == len(waits.calls) + 1 <= 0.3 / 0.05 + 1


def test_backoff_is_capped_at_any_attempt_count() -> None:
    """~1000 zero-wait attempts fit in a 10 s budget against a fast registry; the
    backoff must not overflow (2.0 ** 1024) when one more is computed."""
    budget = Budget(60, sleep=Waits())
    assert budget.next_wait() == 0.2
    for _ in range(2):
        budget.next_wait()
    assert budget.next_wait() == pytest.approx(1.6)
    budget.attempts = 1099
    assert budget.next_wait() == 5.0
    assert budget.next_wait("0") == 0.05


def test_retry_after_beyond_budget_fails_without_sleeping(
    server: ScriptedServer, waits: Waits
) -> None:
    server.script("GET", MANIFEST_PATH, Reply(503, {"Retry-After": "30"}))
    client = client_for(server, waits, retry_seconds=1.0)

    text = failure(lambda: client.manifest(REPO, "1.0.0"))

    assert text.startswith(f"registry {server.host}: GET {MANIFEST_PATH} answered 503")
    assert text.endswith("after 1 attempt(s)")
    assert waits.calls == []
    assert len(server.requests) == 1


# --------------------------------------------------------------------------- connections


@pytest.mark.parametrize("drop", ["close", "reset"])
def test_dropped_connection_is_retried(server: ScriptedServer, waits: Waits, drop: Any) -> None:
    server.script("GET", MANIFEST_PATH, Reply(drop=drop), manifest_ok())

    manifest = client_for(server, waits).manifest(REPO, "1.0.0")

    assert manifest is not None
    assert manifest.raw == MANIFEST_BODY
    assert waits.calls == [0.2]
    assert len(server.requests) == 2


@pytest.fixture
def refused_host() -> Iterator[str]:
    """127.0.0.1:PORT bound but not listening: every connection is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("real_sleep", [False, True], ids=["recorded-sleep", "real-sleep"])
def test_refused_connection_fails_within_budget(refused_host: str, real_sleep: bool) -> None:
    waits = Waits()
    retry_seconds = 0.5
    client = RegistryClient(
        refused_host,
        tls=Tls(plain_http=True),
        timeout=5.0,
        retry_seconds=retry_seconds,
        sleep=time.sleep if real_sleep else waits,
    )
    started = time.monotonic()

    text = failure(client.ping)

    elapsed = time.monotonic() - started
    assert text.startswith(f"registry {refused_host}: unreachable (connection refused) after ")
    assert elapsed < retry_seconds + 2
    if not real_sleep:
        assert waits.calls == [0.2]  # 0.4 more would pass the 0.5 s budget


# --------------------------------------------------------------------------- basic auth


def test_basic_challenge_then_credentials_sent_up_front(
    server: ScriptedServer, waits: Waits
) -> None:
    server.script("GET", MANIFEST_PATH, challenge_basic(), manifest_ok())
    server.script("GET", TAGS_PATH, Reply(200, body=b'{"name": "charts/x", "tags": ["1.0.0"]}'))
    client = client_for(server, waits, credentials=CREDENTIALS)

    assert client.manifest(REPO, "1.0.0") is not None
    assert client.tags(REPO) == ["1.0.0"]

    first, retried, tags = server.requests
    assert "authorization" not in first.headers
    assert retried.headers["authorization"] == BASIC
    assert (tags.path, tags.headers["authorization"]) == (TAGS_PATH, BASIC)
    assert waits.calls == []


def test_basic_rejected_credentials(server: ScriptedServer, waits: Waits) -> None:
    server.script("GET", MANIFEST_PATH, challenge_basic())
    client = client_for(server, waits, credentials=CREDENTIALS)

    text = failure(lambda: client.manifest(REPO, "1.0.0"))

    assert text.startswith(f"registry {server.host}: authentication failed")
    assert "401" in text
    assert [r.headers.get("authorization") for r in server.requests] == [None, BASIC]
    assert waits.calls == []


def test_basic_challenge_without_credentials(server: ScriptedServer, waits: Waits) -> None:
    server.script("GET", MANIFEST_PATH, challenge_basic())
    client = client_for(server, waits)

    text = failure(lambda: client.manifest(REPO, "1.0.0"))

    assert text.startswith(f"registry {server.host}: requires credentials")
    assert "username and password" in text
    assert len(server.requests) == 1


# --------------------------------------------------------------------------- bearer auth


def bearer_challenge(server: ScriptedServer, realm: str | None = None) -> Reply:
    realm = realm or f"{server.url}/token"
    return Reply(
        401,
        {
            "WWW-Authenticate": (
                f'Bearer realm="{realm}",service="reg",scope="repository:{REPO}:pull"'
            )
        },
    )


def test_bearer_token_is_fetched_and_reused(server: ScriptedServer, waits: Waits) -> None:
    server.script("GET", MANIFEST_PATH, bearer_challenge(server), manifest_ok())
    server.script(
        "GET", "/token", Reply(200, {"Content-Type": "application/json"}, b'{"token": "T"}')
    )
    client = client_for(server, waits, credentials=CREDENTIALS)

    assert client.manifest(REPO, "1.0.0") is not None
    assert client.manifest(REPO, "1.0.0") is not None

    challenged, token, retried, again = server.requests
    assert "authorization" not in challenged.headers
    assert token.path == "/token"
    assert token.query == {"service": ["reg"], "scope": [f"repository:{REPO}:pull"]}
    assert token.headers["authorization"] == BASIC
    assert (retried.path, retried.headers["authorization"]) == (MANIFEST_PATH, "Bearer T")
    assert (again.path, again.headers["authorization"]) == (MANIFEST_PATH, "Bearer T")
    assert waits.calls == []


def test_bearer_token_service_refuses(server: ScriptedServer, waits: Waits) -> None:
    server.script("GET", MANIFEST_PATH, bearer_challenge(server))
    server.script("GET", "/token", Reply(401, {"WWW-Authenticate": 'Basic realm="token"'}))
    client = client_for(server, waits, credentials=CREDENTIALS)

    text = failure(lambda: client.manifest(REPO, "1.0.0"))

    assert text == f"registry {server.host}: authentication failed (401 unauthorized)"
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", MANIFEST_PATH),
        ("GET", "/token"),
    ]


def test_bearer_token_service_unreachable(
    server: ScriptedServer, waits: Waits, refused_host: str
) -> None:
    server.script("GET", MANIFEST_PATH, bearer_challenge(server, f"http://{refused_host}/token"))
    client = client_for(server, waits, credentials=CREDENTIALS)

    text = failure(lambda: client.manifest(REPO, "1.0.0"))

    assert text == f"registry {server.host}: token service unreachable (connection refused)"
    assert len(server.requests) == 1


# --------------------------------------------------------------------------- tags()


def test_tags_follow_link_pagination(server: ScriptedServer, waits: Waits) -> None:
    server.script(
        "GET",
        TAGS_PATH,
        Reply(
            200,
            {"Link": f'</v2/{REPO}/tags/list?n=2&last=b>; rel="next"'},
            json.dumps({"name": REPO, "tags": ["a", "b"]}).encode(),
        ),
        Reply(200, body=json.dumps({"name": REPO, "tags": ["c"]}).encode()),
    )

    assert client_for(server, waits).tags(REPO) == ["a", "b", "c"]

    first, second = server.requests
    assert first.query == {"n": ["1000"]}
    assert (second.path, second.query) == (TAGS_PATH, {"n": ["2"], "last": ["b"]})


def test_tags_of_missing_repository(server: ScriptedServer, waits: Waits) -> None:
    server.script("GET", TAGS_PATH, Reply(404))
    assert client_for(server, waits).tags(REPO) == []


# --------------------------------------------------------------------------- blobs


def test_blob_checks_its_digest(server: ScriptedServer, waits: Waits) -> None:
    good = b"chart archive bytes"
    asked = sha256(good)
    server.script("GET", f"/v2/{REPO}/blobs/{asked}", Reply(200, body=b"something else"))
    client = client_for(server, waits)

    text = failure(lambda: client.blob(REPO, asked))
    assert text == f"registry {server.host}: blob {asked} of {REPO} does not match its digest"

    server.script("GET", f"/v2/{REPO}/blobs/{asked}", Reply(200, body=good))
    assert client.blob(REPO, asked) == good


#: A blob big enough to be asked about before it is sent (SMALL_BLOB).
LARGE = b"\x1f\x8b archive " + bytes(range(256)) * (SMALL_BLOB // 256)


def test_put_blob_skips_upload_when_present(server: ScriptedServer, waits: Waits) -> None:
    data = LARGE
    server.script("HEAD", f"/v2/{REPO}/blobs/{sha256(data)}", Reply(200))

    assert client_for(server, waits).put_blob(REPO, data) == sha256(data)
    assert [(r.method, r.path) for r in server.requests] == [
        ("HEAD", f"/v2/{REPO}/blobs/{sha256(data)}")
    ]


@pytest.mark.parametrize(
    "location",
    [
        f"/v2/{REPO}/blobs/uploads/u-1?_state=abc",
        "{url}/v2/" + REPO + "/blobs/uploads/u-1?_state=abc",
        "u-1?_state=abc",
    ],
    ids=["absolute-path", "absolute-url", "relative-path"],
)
def test_put_blob_uploads(server: ScriptedServer, waits: Waits, location: str) -> None:
    data = LARGE
    digest = sha256(data)
    upload = f"/v2/{REPO}/blobs/uploads/u-1"
    server.script("HEAD", f"/v2/{REPO}/blobs/{digest}", Reply(404))
    server.script(
        "POST",
        f"/v2/{REPO}/blobs/uploads/",
        Reply(202, {"Location": location.format(url=server.url)}),
    )
    server.script("PUT", upload, Reply(201, {"Docker-Content-Digest": digest}))

    assert client_for(server, waits).put_blob(REPO, data) == digest

    head, post, put = server.requests
    assert (head.method, head.path) == ("HEAD", f"/v2/{REPO}/blobs/{digest}")
    assert (post.method, post.path, post.body) == ("POST", f"/v2/{REPO}/blobs/uploads/", b"")
    assert (put.method, put.path) == ("PUT", upload)
    assert put.query == {"_state": ["abc"], "digest": [digest]}
    assert put.body == data
    assert put.headers["content-type"] == "application/octet-stream"


def test_credentials_never_go_to_another_host(server: ScriptedServer, waits: Waits) -> None:
    """An upload location on another host (here: the same server by another
    name) gets the bytes but not the registry's Authorization header."""
    data = LARGE
    digest = sha256(data)
    other = server.url.replace("127.0.0.1", "localhost")
    server.script(
        "HEAD",
        f"/v2/{REPO}/blobs/{digest}",
        Reply(401, {"WWW-Authenticate": 'Basic realm="r"'}),
        Reply(404),
    )
    server.script(
        "POST", f"/v2/{REPO}/blobs/uploads/", Reply(202, {"Location": f"{other}/elsewhere/u-1"})
    )
    server.script("PUT", "/elsewhere/u-1", Reply(201))
    client = client_for(server, waits, credentials=Credentials(USER, PASSWORD))

    assert client.put_blob(REPO, data) == digest

    head_unauthenticated, head, post, put = server.requests
    assert "authorization" not in head_unauthenticated.headers
    assert head.headers["authorization"] == BASIC
    assert post.headers["authorization"] == BASIC
    assert (put.method, put.path) == ("PUT", "/elsewhere/u-1")
    assert "authorization" not in put.headers
    assert put.body == data


def test_small_blobs_go_in_one_post_where_the_registry_takes_them(
    server: ScriptedServer, waits: Waits
) -> None:
    """No HEAD for a small blob; a registry that answers the one-POST upload 201
    gets every later blob, large ones too, the same way (a large one asked first)."""
    uploads = f"/v2/{REPO}/blobs/uploads/"
    server.script("POST", uploads, Reply(201))
    server.script("HEAD", f"/v2/{REPO}/blobs/{sha256(LARGE)}", Reply(404))
    client = client_for(server, waits)

    assert client.put_blob(REPO, b"config") == sha256(b"config")
    assert client.put_blob(REPO, b"other config") == sha256(b"other config")
    assert client.put_blob(REPO, LARGE) == sha256(LARGE)

    first, second, head, large = server.requests
    for request, data in ((first, b"config"), (second, b"other config"), (large, LARGE)):
        assert (request.method, request.path) == ("POST", uploads)
        assert request.query == {"digest": [sha256(data)]}
        assert request.body == data
        assert request.headers["content-type"] == "application/octet-stream"
    assert (head.method, head.path) == ("HEAD", f"/v2/{REPO}/blobs/{sha256(LARGE)}")


@pytest.mark.parametrize("answer", [202, 405], ids=["ignored", "refused"])
def test_a_registry_without_one_post_uploads_is_asked_once(
    server: ScriptedServer, waits: Waits, answer: int
) -> None:
    """docker-registry 2.8 answers the one-POST upload 202 with a session (or a
    registry refuses it): the bytes follow in a PUT, and later blobs start with an
    empty POST at once."""
    uploads = f"/v2/{REPO}/blobs/uploads/"
    session = Reply(202, {"Location": f"{uploads}u-1"})
    replies = (session,) if answer == 202 else (Reply(answer), session)
    server.script("POST", uploads, *replies)
    server.script("PUT", f"{uploads}u-1", Reply(201))
    client = client_for(server, waits)

    assert client.put_blob(REPO, b"config") == sha256(b"config")
    assert client.put_blob(REPO, b"next") == sha256(b"next")

    posts = server.seen("POST", uploads)
    assert posts[0].query == {"digest": [sha256(b"config")]}
    assert posts[0].body == b"config"
    assert [(p.query, p.body) for p in posts[1:]] == [({}, b"")] * (len(posts) - 1)
    assert len(posts) == (2 if answer == 202 else 3)
    puts = server.seen("PUT", f"{uploads}u-1")
    assert [(p.query["digest"], p.body) for p in puts] == [
        ([sha256(b"config")], b"config"),
        ([sha256(b"next")], b"next"),
    ]


def test_put_manifest(server: ScriptedServer, waits: Waits) -> None:
    server.script(
        "PUT", MANIFEST_PATH, Reply(201, {"Docker-Content-Digest": sha256(MANIFEST_BODY)})
    )

    digest = client_for(server, waits).put_manifest(REPO, "1.0.0", MANIFEST_BODY, OCI_MANIFEST)

    assert digest == "sha256:" + hashlib.sha256(MANIFEST_BODY).hexdigest()
    [put] = server.requests
    assert (put.method, put.path) == ("PUT", MANIFEST_PATH)
    assert put.headers["content-type"] == OCI_MANIFEST
    assert put.body == MANIFEST_BODY


# --------------------------------------------------------------------------- TLS


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[ScriptedServer, Path]]:
    """An HTTPS scripted server with a self-signed certificate for IP 127.0.0.1."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    argv = ["openssl", "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    argv += ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    argv += ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(argv, check=True, capture_output=True, timeout=30)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with ScriptedServer(tls=context) as scripted:
        scripted.script("GET", MANIFEST_PATH, manifest_ok())
        yield scripted, cert
    assert not scripted.unscripted


def test_tls_untrusted_certificate(tls_server: tuple[ScriptedServer, Path], waits: Waits) -> None:
    server, _ = tls_server
    client = client_for(server, waits, tls=Tls())

    text = failure(lambda: client.manifest(REPO, "1.0.0"))

    assert text.startswith(f"registry {server.host}: TLS certificate not trusted")
    assert "ca_file" in text
    assert server.requests == []
    assert waits.calls == []


@pytest.mark.parametrize("trust", ["ca_file", "insecure"])
def test_tls_trusted(tls_server: tuple[ScriptedServer, Path], waits: Waits, trust: str) -> None:
    server, cert = tls_server
    tls = Tls(ca_file=str(cert)) if trust == "ca_file" else Tls(insecure=True)

    manifest = client_for(server, waits, tls=tls).manifest(REPO, "1.0.0")

    assert manifest is not None
    assert manifest.digest == sha256(MANIFEST_BODY)
    assert [(r.method, r.path) for r in server.requests] == [("GET", MANIFEST_PATH)]

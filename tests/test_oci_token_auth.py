"""A registry with bearer-token auth (as ghcr.io, quay.io and Docker Hub), and
whether what was pushed is public; on helm 3 and helm 4.

docker-registry runs with ``auth: token`` against the token service of
:mod:`tests.support.token_auth`, which signs ES256 tokens carrying only the
scopes a user was granted.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chartship.channels.oci.channel import push
from chartship.channels.oci.registry import HELM_CONTENT, Credentials, RegistryClient, Tls
from chartship.commands import run_push
from chartship.errors import PublishIncomplete, RegistryError
from chartship.helm import Helm
from chartship.package import package
from chartship.sandbox.registry import RegistryServer
from tests.support.builders import Workspace
from tests.support.token_auth import Signer, TokenServer, User, make_signer
from tests.test_push import DASH, configure, packaged

PUSHER, READER = "pusher", "reader"


@dataclass
class TokenRegistry:
    registry: RegistryServer
    tokens: TokenServer
    passwords: dict[str, str]

    def environ(self, user: str) -> dict[str, str]:
        return {"CHARTSHIP_OCI_USERNAME": user, "CHARTSHIP_OCI_PASSWORD": self.passwords[user]}

    def client(self, user: str | None) -> RegistryClient:
        creds = Credentials(user, self.passwords[user]) if user else None
        return RegistryClient(
            self.registry.host, tls=Tls(plain_http=True), credentials=creds, retry_seconds=1
        )


@pytest.fixture(scope="session")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return make_signer(tmp_path_factory.mktemp("token-signer"))


def _token_registry(
    root: Path, signer: Signer, *, anonymous: dict[str, tuple[str, ...]] | None = None
) -> Iterator[TokenRegistry]:
    passwords = {PUSHER: secrets.token_urlsafe(12), READER: secrets.token_urlsafe(12)}
    users = {
        PUSHER: User(passwords[PUSHER], {"charts/*": ("pull", "push")}),
        READER: User(passwords[READER], {"charts/*": ("pull",)}),
    }
    with (
        TokenServer(signer, users, anonymous=anonymous) as tokens,
        RegistryServer(root, token=tokens.registry_auth()) as registry,
    ):
        yield TokenRegistry(registry, tokens, passwords)


@pytest.fixture
def token_registry(tmp_path: Path, signer: Signer) -> Iterator[TokenRegistry]:
    """Token auth; anonymous clients get no scope at all: nothing there is public."""
    yield from _token_registry(tmp_path / "token-registry", signer)


@pytest.fixture
def public_token_registry(tmp_path: Path, signer: Signer) -> Iterator[TokenRegistry]:
    """Token auth; anonymous clients may pull every chart, as on a public package."""
    yield from _token_registry(
        tmp_path / "public-token-registry", signer, anonymous={"charts/*": ("pull",)}
    )


def login(helm: Helm, box: TokenRegistry, user: str) -> None:
    helm.run(
        ["registry", "login", box.registry.host, "--username", user, "--password-stdin",
         "--plain-http"],
        stdin=box.passwords[user],
        secrets=(box.passwords[user],),
    )  # fmt: skip


def helm_pull(helm: Helm, box: TokenRegistry, version: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    helm.run(
        ["pull", f"{box.registry.oci_base('charts')}/{DASH}", "--version", version,
         "--destination", str(dest), "--plain-http"]
    )  # fmt: skip
    return dest / f"{DASH}-{version}.tgz"


def test_push_read_back_skip_and_refuse_through_token_auth(
    workspace: Workspace,
    token_registry: TokenRegistry,
    helm: Helm,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="chartship")
    box = token_registry
    settings = configure(workspace, box.registry, public=False)
    archive = packaged(workspace, settings).read_bytes()
    # push(), not run_push(): that would record the archive as published, and
    # package then refuses to make other bytes of it, which this test wants.
    report = push(settings, environ=box.environ(PUSHER))
    assert [o.status for o in report.outcomes] == ["pushed"], report.outcomes
    # chartship's client and helm both went through the token service, asking for push.
    granted = [r for r in box.tokens.requests if r.user == PUSHER and r.status == 200]
    assert any(
        a["name"] == f"charts/{DASH}" and "push" in a["actions"]  # type: ignore[operator]
        for r in granted
        for a in r.granted
    )
    # Read back by chartship's own client and by helm, each with its own token.
    manifest = box.client(READER).manifest(f"charts/{DASH}", "1.2.0")
    assert manifest is not None
    digests = [layer["digest"] for layer in manifest.layers(HELM_CONTENT)]
    assert digests == [report.outcomes[0].item.artifact.digest]
    login(helm, box, READER)
    assert helm_pull(helm, box, "1.2.0", tmp_path / "pulled").read_bytes() == archive

    assert [o.status for o in push(settings, environ=box.environ(PUSHER)).outcomes] == ["skipped"]

    workspace.replace(f"charts/{DASH}/values.yaml", "\n", "\n# changed\n")
    package(settings, [DASH], force=True)
    refused = push(settings, environ=box.environ(PUSHER))
    assert [o.status for o in refused.outcomes] == ["refused"]
    assert helm_pull(helm, box, "1.2.0", tmp_path / "again").read_bytes() == archive

    captured = capsys.readouterr()
    everything = captured.out + captured.err + caplog.text
    for password in box.passwords.values():
        assert password not in everything


def test_a_token_without_push_scope_is_a_clear_error_naming_the_variables(
    workspace: Workspace, token_registry: TokenRegistry
) -> None:
    box = token_registry
    settings = configure(
        workspace, box.registry, username_env="GHCR_USER", password_env="GHCR_TOKEN"
    )
    packaged(workspace, settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHARTSHIP_OCI", "GHCR_"))}
    run = subprocess.run(
        [sys.executable, "-m", "chartship", "push", "--helm", str(workspace.helm_bin)],
        cwd=workspace.root,
        env={**env, "GHCR_USER": READER, "GHCR_TOKEN": box.passwords[READER]},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    text = run.stdout + run.stderr
    # Refused before the first push (exit 5: the registry refused the credentials),
    # from the grant the token service put in the token for a push.
    assert run.returncode == 5, text
    assert "Traceback" not in text
    assert f"registry {box.registry.host}" in text
    assert "may not pull and push there" in text
    assert "insufficient_scope" in text
    assert "GHCR_USER/GHCR_TOKEN" in text
    assert "channels.oci.username_env and channels.oci.password_env" in text
    assert box.passwords[READER] not in text
    assert box.client(PUSHER).tags(f"charts/{DASH}") == []


def test_wrong_password_and_no_credentials_through_token_auth(
    workspace: Workspace, token_registry: TokenRegistry
) -> None:
    box = token_registry
    settings = configure(workspace, box.registry)
    packaged(workspace, settings)
    wrong = {**box.environ(PUSHER), "CHARTSHIP_OCI_PASSWORD": "sentinel-Wr0ng"}
    with pytest.raises(RegistryError) as failed:
        push(settings, environ=wrong)
    assert "authentication failed (401 unauthorized)" in str(failed.value)
    assert "CHARTSHIP_OCI_USERNAME/CHARTSHIP_OCI_PASSWORD" in str(failed.value)
    assert "sentinel-Wr0ng" not in str(failed.value)
    # Without credentials the push is refused before anything: the variables are named.
    with pytest.raises(RegistryError) as anonymous:
        run_push(settings, environ={}, out=io.StringIO())
    message = str(anonymous.value)
    assert anonymous.value.exit_code == 5
    assert "anonymous access (no credentials: set CHARTSHIP_OCI_USERNAME/" in message
    assert "may not pull and push there" in message
    assert box.client(PUSHER).tags(f"charts/{DASH}") == []


# --------------------------------------------------------------------------- visibility


def test_a_private_package_is_a_warning_saying_how_to_open_it(
    workspace: Workspace, token_registry: TokenRegistry
) -> None:
    box = token_registry
    settings = configure(workspace, box.registry)
    packaged(workspace, settings)
    out = io.StringIO()
    report = run_push(settings, environ=box.environ(PUSHER), out=out)
    assert [o.status for o in report.outcomes] == ["pushed"]
    (warning,) = report.warnings
    reference = f"{box.registry.host}/charts/{DASH}:1.2.0"
    assert warning.startswith(f"{reference} is not public: an anonymous read ")
    assert "insufficient_scope" in warning or "401" in warning
    assert f"make the repository charts/{DASH} public" in warning
    assert "channels.oci.public: true" in warning
    assert f"OCI: warning: {warning}" in out.getvalue()
    # The anonymous read asked the token service without credentials.
    assert any(r.user is None for r in box.tokens.requests)


def test_public_true_fails_a_private_package_on_every_run(
    workspace: Workspace, token_registry: TokenRegistry
) -> None:
    box = token_registry
    settings = configure(workspace, box.registry, public=True)
    packaged(workspace, settings)
    out = io.StringIO()
    with pytest.raises(PublishIncomplete) as incomplete:
        run_push(settings, environ=box.environ(PUSHER), out=out)
    assert incomplete.value.exit_code == 6
    assert "is not public" in out.getvalue()
    assert "channels.oci.public is true" in out.getvalue()
    # The tag was written; the rerun skips it and still fails on visibility.
    (again,) = push(settings, environ=box.environ(PUSHER)).outcomes
    assert again.status == "failed"
    assert "is not public" in again.message


def test_public_false_reads_nothing_anonymously(
    workspace: Workspace, token_registry: TokenRegistry
) -> None:
    box = token_registry
    settings = configure(workspace, box.registry, public=False)
    packaged(workspace, settings)
    report = push(settings, environ=box.environ(PUSHER))
    assert [o.status for o in report.outcomes] == ["pushed"]
    assert report.warnings == []
    assert not any(r.user is None for r in box.tokens.requests)


def test_a_package_public_through_the_token_service_passes_public_true(
    workspace: Workspace, public_token_registry: TokenRegistry
) -> None:
    box = public_token_registry
    settings = configure(workspace, box.registry, public=True)
    packaged(workspace, settings)
    report = push(settings, environ=box.environ(PUSHER))
    assert [o.status for o in report.outcomes] == ["pushed"], report.outcomes
    assert report.warnings == []
    # It was read anonymously, with a token the service gave to nobody in particular.
    assert any(r.user is None and r.granted for r in box.tokens.requests)


def test_a_registry_without_auth_is_public(workspace: Workspace, registry: RegistryServer) -> None:
    settings = configure(workspace, registry)
    packaged(workspace, settings)
    report = push(settings)
    assert [o.status for o in report.outcomes] == ["pushed"]
    assert report.warnings == []

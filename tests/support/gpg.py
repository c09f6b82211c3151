"""Throwaway GPG signing keys for provenance tests (kept inside pytest's tmp)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

GPG = shutil.which("gpg") or "/usr/bin/gpg"
#: Passphrase of the protected test key; tests check it never shows anywhere.
PASSPHRASE = "correct horse battery staple 7f3a"


@dataclass(frozen=True)
class SigningKey:
    name: str
    secring: Path
    pubring: Path
    passphrase: str | None


@dataclass(frozen=True)
class Keys:
    plain: SigningKey
    protected: SigningKey


def _gpg(home: Path, *args: str, passphrase: str | None = None) -> bytes:
    # The passphrase goes on stdin: tests watch every process's argv for it.
    secret = ["--passphrase-fd", "0"] if passphrase is not None else []
    result = subprocess.run(
        [GPG, "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", *secret, *args],
        input=(passphrase + "\n").encode() if passphrase is not None else None,
        capture_output=True,
        check=True,
        timeout=120,
    )
    return result.stdout


def make_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    """Two throwaway RSA keys (one with a passphrase) in a GNUPGHOME under pytest's tmp."""
    base = tmp_path_factory.mktemp("gpg")
    home = base / "gnupg"
    home.mkdir(mode=0o700)

    def make(name: str, email: str, passphrase: str | None) -> SigningKey:
        uid = f"{name} <{email}>"
        secret = passphrase or ""
        _gpg(home, "--quick-gen-key", uid, "rsa2048", "sign", "never", passphrase=secret)
        stem = email.split("@")[0]
        secring = base / f"{stem}-secring.gpg"
        pubring = base / f"{stem}-pubring.gpg"
        secring.write_bytes(_gpg(home, "--export-secret-keys", email, passphrase=secret))
        pubring.write_bytes(_gpg(home, "--export", email))
        return SigningKey(name, secring, pubring, passphrase)

    try:
        yield Keys(
            plain=make("Chart Signer", "signer@chartship.invalid", None),
            protected=make("Locked Signer", "locked@chartship.invalid", PASSPHRASE),
        )
    finally:
        subprocess.run(
            ["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"],
            capture_output=True,
            check=False,
            timeout=60,
        )


def sign_env(key: SigningKey, passphrase: str | None = None) -> dict[str, str]:
    env = {"CHARTSHIP_SIGN_KEY": key.name, "CHARTSHIP_SIGN_KEYRING": str(key.secring)}
    if passphrase is not None:
        env["CHARTSHIP_SIGN_PASSPHRASE"] = passphrase
    return env

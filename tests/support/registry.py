"""Test-only parts of the registry support: TLS material made with openssl.

The registry itself (:class:`~chartship.sandbox.registry.RegistryServer`) and
the raw HTTP helpers ship in :mod:`chartship.sandbox.registry`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from chartship.sandbox.registry import COMMAND_TIMEOUT, TlsMaterial


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

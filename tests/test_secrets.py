"""Secrets never leave the environment, on helm 3 and helm 4.

Sentinel credentials (the registry password, the GitHub token, the signing key's
passphrase) go to a signed package, a full release against a TLS registry with
basic auth, the migration inventory, and a push refused for a wrong password,
all as ``chartship -v`` processes. While they run, every process's argv is read
from /proc/*/cmdline, over and over. Afterwards, their output, the GitHub
Actions summary and outputs, the reports, every file left in the working copy,
the helm homes and the temporary directory are searched. The sentinels, and the
base64 forms a registry login would store, appear nowhere.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chartship.sandbox.registry import TlsMaterial
from tests.support.gpg import PASSPHRASE, Keys, sign_env
from tests.support.sandbox import Sandbox, helm_homes, open_sandbox

ROOT = Path(__file__).resolve().parents[1]
USER = "chartship"
TAG = "metallb-chart-0.16.0"
#: A bound on the whole scenario; each command is bounded on its own too.
COMMAND_TIMEOUT = 180


@dataclass
class ArgvWatch:
    """Reads every process's argv from /proc until stopped."""

    needles: list[bytes]
    leaks: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    sweeps: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                        argv = handle.read()
                except OSError:
                    continue  # the process ended meanwhile
                if any(needle in argv for needle in self.needles):
                    self.leaks.append(argv.replace(b"\0", b" ").decode(errors="replace"))
                words = argv.split(b"\0")
                if words and words[0].endswith(b"helm") and len(words) > 1:
                    self.seen.add(" ".join(w.decode() for w in words[1:3]))
            self.sweeps += 1

    def stop(self) -> None:
        self._stop.set()


@pytest.fixture
def sentinel_box(
    tmp_path: Path,
    _workspace_template: Path,
    helm_bin: Path,
    upstream: str,
    tls_material: TlsMaterial,
) -> Iterator[tuple[Sandbox, dict[str, str]]]:
    sentinels = {
        "registry password": f"regpass-SENTINEL-{secrets.token_hex(8)}",
        "GitHub token": f"ghtoken-SENTINEL-{secrets.token_hex(8)}",
        "signing passphrase": PASSPHRASE,
    }
    with open_sandbox(
        tmp_path / "sandbox",
        _workspace_template,
        helm_bin,
        token=sentinels["GitHub token"],
        tls=tls_material,
        users={USER: sentinels["registry password"]},
    ) as box:
        yield box, sentinels


def test_sentinel_credentials_appear_in_no_output_log_report_or_argv(
    sentinel_box: tuple[Sandbox, dict[str, str]], keys: Keys, tmp_path: Path
) -> None:
    box, sentinels = sentinel_box
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    actions = tmp_path / "actions"
    actions.mkdir()
    homes = helm_homes(tmp_path / "helm-home")
    env = {
        **box.environ,
        **homes,
        **sign_env(keys.protected, PASSPHRASE),
        "PYTHONPATH": str(ROOT / "src"),
        "TMPDIR": str(scratch),
        "CHARTSHIP_OCI_USERNAME": USER,
        "CHARTSHIP_OCI_PASSWORD": sentinels["registry password"],
        "GITHUB_TOKEN": sentinels["GitHub token"],
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(actions / "summary.md"),
        "GITHUB_OUTPUT": str(actions / "output"),
    }
    wrong = f"wrong-SENTINEL-{secrets.token_hex(8)}"
    needles = [value.encode() for value in [*sentinels.values(), wrong]]
    for password in (sentinels["registry password"], wrong):
        needles.append(base64.b64encode(f"{USER}:{password}".encode()))
        needles.append(base64.b64encode(password.encode()))

    def chartship(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chartship", *args, "-v"],
            cwd=box.work,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )

    watch = ArgvWatch(needles)
    watcher = threading.Thread(target=watch.run, daemon=True)
    watcher.start()
    try:
        bumped = chartship("bump", "--version", "0.16.0", "metallb")
        assert bumped.returncode == 0, bumped.stderr
        box.commit("Release metallb 0.16.0")
        runs = {
            "package --sign": chartship("package", "--sign", "metallb"),
            # helm logs in and pushes only with the helm engine: its argv is watched.
            "release": chartship("release", "--tag", TAG, "--set", "channels.oci.engine=helm"),
            "migrate status": chartship(
                "migrate", "status", "--report-dir", str(box.work / "reports")
            ),
            "push, wrong password": chartship(
                "push", "--force", "metallb", CHARTSHIP_OCI_PASSWORD=wrong
            ),
        }
    finally:
        watch.stop()
        watcher.join(timeout=10)

    # The runs did what they were for, so the secrets were really in use.
    for name in ("package --sign", "release", "migrate status"):
        assert runs[name].returncode == 0, (name, runs[name].stdout, runs[name].stderr)
    assert "release: 1 chart version(s) published and verified" in runs["release"].stdout
    refused = runs["push, wrong password"]
    assert refused.returncode == 5, refused.stderr
    # Refused by the check before the first push, as the push itself would be.
    assert "authentication failed for /v2/ (401 unauthorized)" in refused.stderr
    assert (box.work / "dist" / "metallb-0.16.0.tgz.prov").is_file()
    # The argv watch saw helm at work, logins included.
    assert watch.sweeps > 10
    assert "registry login" in watch.seen
    assert any(argv.startswith("push ") for argv in watch.seen)

    assert watch.leaks == []
    texts = {f"{name}: {stream}": getattr(run, stream) for name, run in runs.items()
             for stream in ("stdout", "stderr")}  # fmt: skip
    for root in (box.work, actions, scratch, tmp_path / "helm-home", box.base / "helm-home"):
        for path in root.rglob("*"):
            if path.is_file() and ".git" not in path.parts:
                texts[str(path)] = path.read_bytes().decode(errors="replace")
    assert (actions / "summary.md").is_file()
    assert (box.work / "reports" / "inventory.json").is_file()
    found = [
        where for where, text in texts.items() for needle in needles if needle.decode() in text
    ]
    assert found == []

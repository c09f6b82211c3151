"""Run a command in which one host name resolves to 127.0.0.1, leaving /etc/hosts alone.

helm 3.12-3.17 speak plain HTTP to a loopback address even when given a CA
file, so a TLS registry can test them only by a host name. As root, a private
mount namespace with its own hosts file bind-mounted over /etc/hosts gives
that name to this command alone::

    python -m tests.support.hostsns NAME -- COMMAND [ARG ...]

The first run re-executes itself under ``unshare --mount``; the second, now
inside the namespace, mounts the hosts file and becomes COMMAND.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

_INSIDE = "CHARTSHIP_TESTS_HOSTS_NAMESPACE"


def wrapped(name: str, argv: Sequence[str]) -> list[str]:
    """``argv`` run so that ``name`` resolves to 127.0.0.1 for it and its children."""
    return [sys.executable, "-m", "tests.support.hostsns", name, "--", *argv]


def main(args: Sequence[str]) -> int:
    if len(args) < 3 or args[1] != "--":
        print("usage: python -m tests.support.hostsns NAME -- COMMAND [ARG ...]", file=sys.stderr)
        return 2
    name, command = args[0], list(args[2:])
    if os.environ.get(_INSIDE) != "1":
        env = {**os.environ, _INSIDE: "1"}
        unshare = ["unshare", "--mount", "--propagation", "private", "--"]
        # argv lists, no shell: S606 flags exec itself, which is the point here.
        os.execvpe("unshare", [*unshare, sys.executable, "-m", __spec__.name, *args], env)  # noqa: S606
    hosts = Path(tempfile.mkdtemp(prefix="chartship-hosts-")) / "hosts"
    hosts.write_text(Path("/etc/hosts").read_text() + f"\n127.0.0.1 {name}\n")
    subprocess.run(["mount", "--bind", str(hosts), "/etc/hosts"], check=True)
    env = {k: v for k, v in os.environ.items() if k != _INSIDE}
    os.execvpe(command[0], command, env)  # noqa: S606


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

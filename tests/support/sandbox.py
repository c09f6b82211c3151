"""The main job on a machine with no remote service: lint and package charts/.

charts/metallb depends on frr-k8s from a classic repository at
http://127.0.0.1:8879/frr-k8s; here that repository is served from
tests/data/upstream for the duration of the run.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from chartship.commands import run_lint, run_package  # noqa: E402
from chartship.config import load_settings  # noqa: E402
from chartship.edge import configure_logging, error_message, exit_status  # noqa: E402
from chartship.errors import ChartshipError  # noqa: E402
from chartship.helm import Helm  # noqa: E402
from tests.support.chartrepo import serve_upstream  # noqa: E402

UPSTREAM_PORT = 8879


def main() -> int:
    configure_logging()
    settings = load_settings(ROOT / "chartship.yaml")
    helm = Helm(settings.helm_binary)
    try:
        with tempfile.TemporaryDirectory(prefix="chartship-sandbox-") as tmp:
            try:
                server, url = serve_upstream(helm, Path(tmp), UPSTREAM_PORT)
            except OSError as exc:
                print(
                    f"sandbox: cannot serve the upstream repository on 127.0.0.1:"
                    f"{UPSTREAM_PORT}: {exc}",
                    file=sys.stderr,
                )
                return 1
            with server:
                print(f"sandbox: upstream chart repository at {url}", file=sys.stderr)
                print(f"sandbox: helm {helm.version} ({settings.helm_binary})", file=sys.stderr)
                run_lint(settings)
                # charts/metallb carries the 0.0.0 placeholder on main: a development build.
                run_package(settings, dev=True)
    except ChartshipError as exc:
        print(error_message(exc), file=sys.stderr)
        return exit_status(exc)
    print(f"sandbox: archives and SHA256SUMS in {settings.dist_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The helm binary, driven through argv lists.

Helm 3 and helm 4 differ in small ways that matter here (which stream carries
a message, strictness of Chart.yaml parsing, reproducible archives); callers
ask :attr:`Helm.major` rather than guessing. Flags that only some versions
have are decided in one place, :class:`Capabilities`, from the version helm
reports, never by trying a flag and reading the error. A helm outside
:data:`SUPPORTED` is refused before its first real command.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from chartship.errors import ToolError
from chartship.runner import Result, Runner

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")

#: The helm versions chartship runs with: from the oldest release tested (3.12)
#: up to, not including, a helm 5 nobody has tested.
SUPPORTED = ((3, 12, 0), (5, 0, 0))
SUPPORTED_TEXT = "helm >= 3.12.0 and < 5.0.0"


@dataclass(frozen=True)
class Capabilities:
    """What one helm version can be asked to do, by its version alone."""

    version: tuple[int, int, int]

    @property
    def supported(self) -> bool:
        low, high = SUPPORTED
        return low <= self.version < high

    @property
    def push_plain_http(self) -> bool:
        """``helm push`` and ``helm pull`` have ``--plain-http`` from 3.13."""
        return self.version >= (3, 13, 0)

    @property
    def login_plain_http(self) -> bool:
        """``helm registry login --plain-http`` exists from 3.18; before, ``--insecure``
        logs in over plain HTTP once HTTPS has failed."""
        return self.version >= (3, 18, 0)

    def plain_http_flags(self, host: str, *, login: bool) -> list[str]:
        """The flags that make this helm speak plain HTTP to ``host``."""
        if login:
            return ["--plain-http"] if self.login_plain_http else ["--insecure"]
        if self.push_plain_http:
            return ["--plain-http"]
        if _is_loopback(host):
            # helm before 3.13 speaks plain HTTP to a loopback registry by itself.
            return []
        shown = ".".join(map(str, self.version))
        raise ToolError(
            f"helm {shown} cannot reach the registry {host} over plain HTTP (helm push and "
            "pull have --plain-http from 3.13); use helm >= 3.13 or serve the registry "
            "over TLS"
        )


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


#: ``helm version`` by (binary, size and mtime, runner class): asked once per
#: process for each binary file, as every step makes its own :class:`Helm`.
_VERSIONS: dict[tuple[str, tuple[int, int], type[Runner]], str] = {}
_VERSIONS_LOCK = threading.Lock()


def _reported_version(binary: str, identity: tuple[int, int], runner: Runner) -> str:
    """``helm version`` of one binary file; a binary replaced in place is asked again."""
    key = (binary, identity, type(runner))
    with _VERSIONS_LOCK:
        known = _VERSIONS.get(key)
    if known is not None:
        return known
    try:
        out = runner.run(
            [binary, "version", "--template", "{{.Version}}"], what="helm version"
        ).stdout.strip()
    except ToolError as exc:
        raise ToolError(
            f"{exc.message}; install helm, point the `helm` setting at it, or run "
            "`python -m chartship.toolchain install` for pinned builds",
            argv=exc.argv,
            returncode=exc.returncode,
            output=exc.output,
        ) from None
    if not _VERSION.match(out):
        raise ToolError(f"cannot read helm's version from {out!r}", argv=[binary])
    with _VERSIONS_LOCK:
        _VERSIONS[key] = out
    return out


@dataclass(frozen=True)
class SignSpec:
    """How ``helm package --sign`` finds its key; the passphrase goes over stdin."""

    key: str
    keyring: Path
    passphrase: str | None = None


#: Go runtime settings for ``helm lint``, unless the environment sets them. A lint
#: process lives a fraction of a second: collecting garbage at 200% heap growth
#: rather than Go's 100% spends 15-25% less CPU on each run (measured A/B
#: on both majors) and changes nothing helm prints.
LINT_RUNTIME = {"GOGC": "200"}


class Helm:
    def __init__(
        self,
        binary: str = "helm",
        *,
        runner: Runner | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.binary = binary
        self.runner = runner or Runner()
        self.env = dict(env or {})

    def run(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        secrets: Sequence[str] = (),
        check: bool = True,
        cwd: Path | None = None,
        timeout: float | None = None,
    ) -> Result:
        self.require_supported()
        return self.runner.run(
            [self.binary, *args],
            env={**self.env, **(env or {})},
            stdin=stdin,
            secrets=secrets,
            check=check,
            cwd=cwd,
            timeout=timeout,
            what=f"helm {args[0]}" if args else "helm",
        )

    @cached_property
    def version(self) -> str:
        """``v3.19.0`` style; asked once per process for each binary file."""
        found = shutil.which(self.binary)
        path = str(Path(found).resolve()) if found else self.binary
        try:
            stat = Path(path).stat()
            identity = (stat.st_size, stat.st_mtime_ns)
        except OSError:
            identity = (0, 0)
        return _reported_version(path, identity, self.runner)

    @property
    def capabilities(self) -> Capabilities:
        match = _VERSION.match(self.version)
        assert match is not None
        major, minor, patch = (int(g) for g in match.groups())
        return Capabilities((major, minor, patch))

    @property
    def major(self) -> int:
        return self.capabilities.version[0]

    def require_supported(self) -> None:
        """Refuse a helm outside :data:`SUPPORTED`, naming the binary and the range."""
        if not self.capabilities.supported:
            raise ToolError(
                f"helm {self.version} at {self.binary} is not supported: chartship needs "
                f"{SUPPORTED_TEXT}; set the `helm` setting (or --helm) to a supported helm, "
                "or run `python -m chartship.toolchain install` for pinned builds",
                argv=[self.binary],
            )

    # ------------------------------------------------------------------ lint

    def lint(self, chart_dirs: Sequence[Path], values: Path | None = None) -> Result:
        """``helm lint --strict`` of one chart or several (each linted on its own, one process)."""
        args = ["lint", "--strict", *(str(d) for d in chart_dirs)]
        if values is not None:
            args += ["--values", str(values)]
        runtime = {
            key: value
            for key, value in LINT_RUNTIME.items()
            if key not in os.environ and key not in self.env
        }
        return self.run(args, check=False, env=runtime)

    # ------------------------------------------------------------------ dependencies

    @contextlib.contextmanager
    def isolated_repositories(self, urls: Sequence[str]) -> Iterator[Helm]:
        """A helm whose repository config knows exactly ``urls`` and nothing else.

        Chart.yaml names dependency repositories by URL; helm still insists on
        a repositories.yaml entry for each one. Adding them to a throwaway
        config keeps the user's own helm setup untouched.
        """
        with tempfile.TemporaryDirectory(prefix="chartship-repos-") as tmp:
            env = {
                **self.env,
                "HELM_REPOSITORY_CONFIG": str(Path(tmp) / "repositories.yaml"),
                "HELM_REPOSITORY_CACHE": str(Path(tmp) / "cache"),
            }
            scoped = Helm(self.binary, runner=self.runner, env=env)
            scoped.__dict__["version"] = self.__dict__.get("version") or self.version
            for url in sorted(set(urls)):
                name = "chartship-" + hashlib.sha256(url.encode()).hexdigest()[:12]
                scoped.run(["repo", "add", name, url])
            yield scoped

    def dependency_build(self, chart_dir: Path) -> Result:
        return self.run(["dependency", "build", "--skip-refresh", str(chart_dir)])

    def dependency_update(self, chart_dir: Path) -> Result:
        return self.run(["dependency", "update", "--skip-refresh", str(chart_dir)])

    # ------------------------------------------------------------------ package

    def package(
        self,
        chart_dir: Path,
        destination: Path,
        expected_name: str,
        *,
        sign: SignSpec | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Path:
        """Package into ``destination`` and return the archive path.

        The archive is written to a scratch directory first and moved into
        place only when helm succeeded, so a failed run never leaves a partial
        archive (or a .prov without its archive) in dist/.
        """
        destination.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="chartship-pkg-", dir=destination) as scratch:
            args = ["package", str(chart_dir), "--destination", scratch]
            stdin = None
            secrets: tuple[str, ...] = ()
            if sign is not None:
                args += ["--sign", "--key", sign.key, "--keyring", str(sign.keyring)]
                if sign.passphrase is not None:
                    args += ["--passphrase-file", "-"]
                    stdin = sign.passphrase + "\n"
                    secrets = (sign.passphrase,)
            self.run(args, env=env, stdin=stdin, secrets=secrets)
            produced = Path(scratch) / expected_name
            if not produced.is_file():
                made = ", ".join(p.name for p in Path(scratch).iterdir()) or "nothing"
                raise ToolError(f"helm package produced {made}, expected {expected_name}")
            final = destination / expected_name
            for suffix in (".prov",):
                companion = produced.with_name(produced.name + suffix)
                if companion.exists():
                    shutil.move(str(companion), str(final.with_name(final.name + suffix)))
            shutil.move(str(produced), str(final))
        return final

    def verify(self, archive: Path, keyring: Path) -> Result:
        return self.run(["verify", "--keyring", str(keyring), str(archive)])

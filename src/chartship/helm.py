"""The helm binary, driven through argv lists.

Helm 3 and helm 4 differ in small ways that matter here (which stream carries
a message, strictness of Chart.yaml parsing, reproducible archives); callers
ask :attr:`Helm.major` rather than guessing.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from chartship.errors import ToolError
from chartship.runner import Result, Runner

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class SignSpec:
    """How ``helm package --sign`` finds its key; the passphrase goes over stdin."""

    key: str
    keyring: Path
    passphrase: str | None = None


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
        """``v3.19.0`` style; asked once per instance."""
        try:
            out = self.run(["version", "--template", "{{.Version}}"]).stdout.strip()
        except ToolError as exc:
            raise ToolError(
                f"{exc.message}; install helm, point the `helm` setting at it, or run "
                "`python -m chartship.toolchain install` for pinned builds",
                argv=exc.argv,
                returncode=exc.returncode,
                output=exc.output,
            ) from None
        if not _VERSION.match(out):
            raise ToolError(f"cannot read helm's version from {out!r}", argv=[self.binary])
        return out

    @property
    def major(self) -> int:
        match = _VERSION.match(self.version)
        assert match is not None
        return int(match.group(1))

    # ------------------------------------------------------------------ lint

    def lint(self, chart_dir: Path, values: Path | None = None) -> Result:
        args = ["lint", "--strict", str(chart_dir)]
        if values is not None:
            args += ["--values", str(values)]
        return self.run(args, check=False)

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

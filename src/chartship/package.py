"""Package each chart once into dist/, with SHA256SUMS beside the archives.

Helm 3 archives are not reproducible (every run has new tar mtimes), and
helm 4 fixes the mtimes but may order subcharts differently from run to run;
so a release must package once and publish those same bytes everywhere: an
archive already in dist/ whose SHA256SUMS line still matches is kept.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from chartship import charts as chartfiles
from chartship import safetar, versions, yamlfiles
from chartship.charts import Chart
from chartship.config import Settings
from chartship.errors import ChartError, ToolError, UsageError, VersionError
from chartship.gitrepo import Git
from chartship.helm import Helm, SignSpec
from chartship.jsonfiles import load_json
from chartship.runner import Runner
from chartship.safetext import shown
from chartship.yamlfiles import SUMS, load_yaml, read_text

log = logging.getLogger("chartship")

SUMS_FILE = "SHA256SUMS"
VALUES_FILE = "values.yaml"
SCHEMA_FILE = "values.schema.json"

Outcome = Literal["packaged", "kept"]


@dataclass(frozen=True)
class Packaged:
    chart: str
    version: str
    archive: Path
    sha256: str
    outcome: Outcome
    provenance: Path | None = None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Listed:
    """One line of SHA256SUMS: the digest of a file in dist/, and where it is said."""

    digest: str
    line: int


_HEX = frozenset("0123456789abcdef")


def _sums_name(raw: str, sums_path: Path, number: int) -> str:
    """The file a SHA256SUMS line names, refused unless it is a plain name in dist/."""
    name = raw[1:] if raw.startswith("*") else raw
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or name != name.strip()
        or any(not c.isprintable() for c in name)
    ):
        raise ChartError(
            f"names {shown(name)}, which is not a file name in {sums_path.parent.name}/; "
            f"{SUMS_FILE} lists only files directly inside it",
            path=sums_path,
            line=number,
        )
    return name


def listed_sums(dist: Path) -> dict[str, Listed]:
    """SHA256SUMS as {file name: digest and line}; a malformed line is an error.

    Every name must be a plain file name (no directory, no '..', no absolute
    path), and a name listed twice with two digests is refused: which bytes
    were packaged would be a guess.
    """
    sums_path = dist / SUMS_FILE
    if sums_path.is_symlink():
        raise ChartError(
            f"is a link; {dist.name}/ holds plain files only (package again)", path=sums_path
        )
    if not sums_path.exists():
        return {}
    sums: dict[str, Listed] = {}
    text = read_text(sums_path, SUMS)
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, raw_name = line.partition("  ")
        if not sep or len(digest) != 64 or not set(digest) <= _HEX or not raw_name:
            raise ChartError(
                "malformed line; expected '<sha256>  <file>'", path=sums_path, line=number
            )
        name = _sums_name(raw_name, sums_path, number)
        twin = sums.get(name)
        if twin is not None and twin.digest != digest:
            raise ChartError(
                f"lists {shown(name)} a second time with another digest (first on line "
                f"{twin.line}); package again",
                path=sums_path,
                line=number,
            )
        sums.setdefault(name, Listed(digest, number))
    return sums


def read_sums(dist: Path) -> dict[str, str]:
    """SHA256SUMS as {file name: hex digest}; see :func:`listed_sums`."""
    return {name: one.digest for name, one in listed_sums(dist).items()}


def dist_file(dist: Path, name: str, line: int | None = None) -> Path:
    """``dist/name``, refused unless it is a plain file (or absent): never a link, which
    would publish or overwrite whatever it points at."""
    path = dist / name
    if path.is_symlink() or (path.exists() and not path.is_file()):
        kind = "a link" if path.is_symlink() else "not a regular file"
        where = dist / SUMS_FILE if line is not None else path
        raise ChartError(
            f"{name} is {kind}; {dist.name}/ holds plain files only (remove it and package again)",
            path=where,
            line=line,
        )
    return path


def write_sums(dist: Path, sums: Mapping[str, str]) -> None:
    text = "".join(f"{sums[name]}  {name}\n" for name in sorted(sums))
    tmp = dist / f".{SUMS_FILE}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, dist / SUMS_FILE)


def archive_metadata(archive: Path) -> dict[str, object]:
    """Chart.yaml of a packaged chart, read without extracting anything."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                parts = member.name.split("/")
                if len(parts) == 2 and parts[1] == chartfiles.CHART_FILE and member.isfile():
                    handle = tar.extractfile(member)
                    if handle is None:
                        break
                    data = yamlfiles.load_data(
                        handle.read(yamlfiles.CHART.max_bytes + 1).decode("utf-8"),
                        yamlfiles.CHART,
                    )
                    if isinstance(data, dict):
                        return data
                    break
    except (tarfile.TarError, OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ChartError(f"not a readable chart archive: {exc}", path=archive) from None
    raise ChartError("chart archive has no top-level Chart.yaml", path=archive)


def verify_archive(archive: Path) -> tuple[str, str]:
    """(chart, version) of an archive in dist/, opened without trusting it.

    Checked the way archives from the classic channel are (:mod:`chartship.safetar`):
    a truncated archive, a member escaping the chart or a link is refused, and
    the Chart.yaml inside must name the chart and version its file name says.
    """
    try:
        data = archive.read_bytes()
    except OSError as exc:
        raise ChartError(f"cannot read: {exc}", path=archive) from None
    info = safetar.inspect_chart_archive(data, source=str(archive))
    chart, version = str(info.chart.get("name", "")), str(info.chart.get("version", ""))
    problem = chartfiles.name_problem(chart)
    if problem is not None:
        raise ChartError(f"its Chart.yaml: {problem}", path=archive)
    if archive.name != f"{chart}-{version}.tgz" or info.top != chart:
        raise ChartError(
            f"holds chart {chart} {shown(version)} under {shown(info.top)}/; its file name "
            "disagrees",
            path=archive,
        )
    return chart, version


def _sign_spec(settings: Settings, environ: Mapping[str, str]) -> SignSpec:
    cfg = settings.package
    key = environ.get(cfg.sign_key_env, "")
    keyring = environ.get(cfg.keyring_env, "")
    missing = [
        name for name, value in ((cfg.sign_key_env, key), (cfg.keyring_env, keyring)) if not value
    ]
    if missing:
        raise UsageError(f"--sign needs the environment variable(s) {', '.join(missing)}")
    if not Path(keyring).is_file():
        raise UsageError(f"--sign: keyring {keyring} (from {cfg.keyring_env}) does not exist")
    passphrase = environ.get(cfg.passphrase_env) or None
    return SignSpec(key=key, keyring=Path(keyring), passphrase=passphrase)


def _check_packageable(chart: Chart, dev: bool, root: Path) -> None:
    version = chart.version
    if versions.is_placeholder(version) and not dev:
        raise VersionError(
            f"version is the unstamped placeholder {versions.PLACEHOLDER}; run bump first, "
            "or ask for a development build (--dev)",
            path=chart.chart_yaml,
            line=chart.doc.line("version"),
        )
    chartfiles.require_semver(chart)
    # helm follows links: what it packages must be the chart's own files.
    chartfiles.require_contained(chart, root)
    # helm refuses these too, but only after the charts before it were packaged,
    # and without saying which line of which file.
    values = chart.directory / VALUES_FILE
    if values.is_file():
        load_yaml(values, yamlfiles.VALUES)
    schema = chart.directory / SCHEMA_FILE
    if schema.is_file():
        load_json(schema, yamlfiles.SCHEMA)


def _build_dependencies(chart: Chart, helm: Helm) -> None:
    remote = [d.repository for d in chart.dependencies if d.repository]
    if not remote:
        return
    urls = [r for r in remote if r.startswith(("http://", "https://"))]
    # `helm repo add` (an unreachable repository) fails as well as the build.
    try:
        with helm.isolated_repositories(urls) as scoped:
            scoped.dependency_build(chart.directory)
    except ToolError as exc:
        raise ToolError(
            f"cannot build the dependencies of {chart.name}",
            argv=exc.argv,
            returncode=exc.returncode,
            output=exc.output,
            path=chart.chart_yaml,
        ) from None


def package(
    settings: Settings,
    names: Sequence[str] = (),
    *,
    dev: bool = False,
    sign: bool = False,
    force: bool = False,
    helm: Helm | None = None,
    runner: Runner | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Packaged]:
    """Package the named charts (default: all) into ``settings.dist_path``.

    Every chart is checked before any is packaged, so bad input never leaves
    half of the charts packaged.
    """
    environ = os.environ if environ is None else environ
    runner = runner or Runner()
    helm = helm or Helm(settings.helm_binary, runner=runner)
    loaded = chartfiles.load_all(chartfiles.discover(settings, names))
    for chart in loaded:
        _check_packageable(chart, dev, settings.root)
    spec = _sign_spec(settings, environ) if sign else None
    dist = settings.dist_path
    dist.mkdir(parents=True, exist_ok=True)
    listed = listed_sums(dist)
    sums = {name: one.digest for name, one in listed.items()}
    for chart in loaded:
        for name in (chart.archive_name, chart.archive_name + ".prov"):
            dist_file(dist, name, listed[name].line if name in listed else None)
    git = Git(settings.root, runner)
    in_git = git.is_repository()
    results: list[Packaged] = []
    try:
        for chart in loaded:
            results.append(
                _package_one(
                    chart,
                    helm,
                    dist,
                    sums,
                    spec,
                    force=force or dev,
                    epoch=_source_date_epoch(git, chart, in_git, environ),
                )
            )
    finally:
        write_sums(dist, sums)
    return results


def _source_date_epoch(
    git: Git, chart: Chart, in_git: bool, environ: Mapping[str, str]
) -> str | None:
    # Helm 4 honours SOURCE_DATE_EPOCH: with the chart's last commit time,
    # every entry's mtime is the same on any machine for the same commit.
    if environ.get("SOURCE_DATE_EPOCH"):
        return environ["SOURCE_DATE_EPOCH"]
    if in_git:
        stamp = git.last_commit_time(chart.directory)
        return str(stamp) if stamp is not None else None
    return None


def _package_one(
    chart: Chart,
    helm: Helm,
    dist: Path,
    sums: dict[str, str],
    spec: SignSpec | None,
    *,
    force: bool,
    epoch: str | None,
) -> Packaged:
    # helm writes through a link at its destination: refuse one before it runs.
    archive = dist_file(dist, chart.archive_name)
    prov = dist_file(dist, archive.name + ".prov")
    if archive.exists() and not force:
        digest = sha256_file(archive)
        recorded = sums.get(archive.name)
        recorded_prov = sums.get(prov.name)
        if prov.exists() and recorded_prov is not None and recorded_prov != sha256_file(prov):
            raise ChartError(
                f"{prov.name} does not match its {SUMS_FILE} entry; it was changed after "
                "packaging (remove it, or repackage with --force)",
                path=prov,
            )
        if recorded == digest and (spec is None or prov.exists()):
            # Kept bytes are published as they are: they must be this chart, intact.
            verify_archive(archive)
            log.debug(
                "%s: kept %s (already packaged; --force repackages)", chart.name, archive.name
            )
            return Packaged(
                chart.name, chart.version, archive, digest, "kept", prov if prov.exists() else None
            )
        if recorded is not None and recorded != digest:
            raise ChartError(
                f"{archive.name} does not match its {SUMS_FILE} entry; it was changed after "
                "packaging (remove it, or repackage with --force)",
                path=archive,
            )
    _build_dependencies(chart, helm)
    env = {"SOURCE_DATE_EPOCH": epoch} if epoch else None
    if prov.exists():
        prov.unlink()
    made = helm.package(chart.directory, dist, chart.archive_name, sign=spec, env=env)
    # The archive helm wrote is held to the rules of any archive from outside
    # (safetar): what it holds is checked, not what helm was asked to do.
    try:
        name, version = verify_archive(made)
    except ChartError:
        made.unlink(missing_ok=True)
        raise
    if name != chart.name or version != chart.version:
        made.unlink(missing_ok=True)
        raise ChartError(
            f"archive holds {name} {version}, expected {chart.name} {chart.version}", path=made
        )
    digest = sha256_file(made)
    sums[made.name] = digest
    if prov.exists():
        sums[prov.name] = sha256_file(prov)
    else:
        sums.pop(prov.name, None)
    log.debug("%s: packaged %s sha256:%s", chart.name, made.name, digest)
    return Packaged(
        chart.name, chart.version, made, digest, "packaged", prov if prov.exists() else None
    )

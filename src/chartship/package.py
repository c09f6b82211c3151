"""Package each chart once into dist/, with SHA256SUMS beside the archives.

Helm 3 archives are not reproducible (every run has new tar mtimes), and
helm 4 fixes the mtimes but may order subcharts differently from run to run;
so a release must package once and publish those same bytes everywhere: an
archive already in dist/ whose SHA256SUMS line still matches is kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from chartship import charts as chartfiles
from chartship import safetar, siblings, versions
from chartship.charts import Chart
from chartship.config import Settings
from chartship.errors import ChartError, ToolError, UsageError, VersionError
from chartship.gitrepo import Git
from chartship.helm import Helm, SignSpec
from chartship.runner import Runner
from chartship.yamlfiles import load_yaml

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


def read_sums(dist: Path) -> dict[str, str]:
    """SHA256SUMS as {file name: hex digest}; a malformed line is an error."""
    sums_path = dist / SUMS_FILE
    if not sums_path.exists():
        return {}
    sums: dict[str, str] = {}
    for number, line in enumerate(sums_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name:
            raise ChartError(
                "malformed line; expected '<sha256>  <file>'", path=sums_path, line=number
            )
        sums[name.lstrip("*")] = digest
    return sums


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
                    data = yaml.safe_load(handle.read())
                    if isinstance(data, dict):
                        return data
                    break
    except (tarfile.TarError, OSError, yaml.YAMLError) as exc:
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
    if archive.name != f"{chart}-{version}.tgz" or info.top != chart:
        raise ChartError(
            f"holds chart {chart} {version} under {info.top}/; its file name disagrees",
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


def _check_packageable(chart: Chart, dev: bool) -> None:
    version = chart.version
    if versions.is_placeholder(version) and not dev:
        raise VersionError(
            f"version is the unstamped placeholder {versions.PLACEHOLDER}; run bump first, "
            "or ask for a development build (--dev)",
            path=chart.chart_yaml,
            line=chart.doc.line("version"),
        )
    chartfiles.require_semver(chart)
    # helm refuses these too, but only after the charts before it were packaged,
    # and without saying which line of which file.
    values = chart.directory / VALUES_FILE
    if values.is_file():
        load_yaml(values)
    schema = chart.directory / SCHEMA_FILE
    if schema.is_file():
        try:
            json.loads(schema.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ChartError("is not UTF-8 text", path=schema) from None
        except json.JSONDecodeError as exc:
            raise ChartError(f"malformed JSON: {exc.msg}", path=schema, line=exc.lineno) from None


def _build_dependencies(
    chart: Chart, helm: Helm, graph: siblings.Graph, built: Mapping[str, Path]
) -> None:
    remote = graph.needs_build(chart, built)
    urls = [r for r in remote if r.startswith(("http://", "https://"))]
    # `helm repo add` (an unreachable repository) fails as well as the build.
    try:
        if remote:
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
    graph.vendor(chart, helm, chart.directory, built)


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
    graph = siblings.graph(settings)
    loaded = graph.build_order(chartfiles.load_all(chartfiles.discover(settings, names)))
    for chart in loaded:
        _check_packageable(chart, dev)
        graph.require_current(chart)
    spec = _sign_spec(settings, environ) if sign else None
    dist = settings.dist_path
    dist.mkdir(parents=True, exist_ok=True)
    sums = read_sums(dist)
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
                    vendoring=(graph, {r.chart: r.archive for r in results}),
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
    vendoring: tuple[siblings.Graph, Mapping[str, Path]],
) -> Packaged:
    archive = dist / chart.archive_name
    prov = archive.with_name(archive.name + ".prov")
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
    _build_dependencies(chart, helm, *vendoring)
    env = {"SOURCE_DATE_EPOCH": epoch} if epoch else None
    if prov.exists():
        prov.unlink()
    made = helm.package(chart.directory, dist, chart.archive_name, sign=spec, env=env)
    meta = archive_metadata(made)
    if meta.get("name") != chart.name or str(meta.get("version")) != chart.version:
        raise ChartError(
            f"archive holds {meta.get('name')} {meta.get('version')}, "
            f"expected {chart.name} {chart.version}",
            path=made,
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

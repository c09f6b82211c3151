"""Package each chart once into dist/, with SHA256SUMS beside the archives.

Helm 3 archives are not reproducible (every run has new tar mtimes), and
helm 4 fixes the mtimes but may order subcharts differently from run to run;
so a release must package once and publish those same bytes everywhere: an
archive already in dist/ whose SHA256SUMS line still matches is kept.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from chartship import charts as chartfiles
from chartship import dependencies, safetar, siblings, sources, versions, yamlfiles
from chartship.artifacts import sha256_file
from chartship.charts import Chart
from chartship.config import Settings
from chartship.errors import ChartError, UsageError, VersionError
from chartship.gitrepo import Git, name_some
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
    #: Said loudly by the front ends: why an archive already in dist/ was not
    #: kept as it was (its chart changed since, or nothing says what it was built from).
    notice: str | None = None
    #: The chart's files that changed since the archive in dist/ was packaged.
    changed: tuple[str, ...] = ()


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
    """Replace SHA256SUMS atomically: a reader sees the old file or the new, never a part."""
    text = "".join(f"{sums[name]}  {name}\n" for name in sorted(sums))
    tmp = dist / f".{SUMS_FILE}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, dist / SUMS_FILE)


def verify_archive(archive: Path, data: bytes | None = None) -> tuple[str, str]:
    """(chart, version) of an archive in dist/, opened without trusting it.

    Checked the way archives from the classic channel are (:mod:`chartship.safetar`):
    a truncated archive, a member escaping the chart or a link is refused, and
    the Chart.yaml inside must name the chart and version its file name says.
    With ``data``, those bytes are checked (``archive`` only names them).
    """
    if data is None:
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
            f"holds chart {chart} {shown(version, quote=False)} under "
            f"{shown(info.top, quote=False)}/; its file name disagrees",
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


@dataclass
class _Dist:
    """dist/ as this run will leave it: nothing is written there before every chart packaged."""

    root: Path  # the repository, for the paths the messages show
    path: Path
    #: The dist/ the messages name: a dry run packages into a copy of it.
    shown_as: Path
    stage: Path
    sums: dict[str, str]
    record: sources.Record
    #: (staged file, where it goes in dist/), moved in only at the end.
    moves: list[tuple[Path, Path]] = field(default_factory=list)
    removals: list[Path] = field(default_factory=list)

    def shown(self, path: Path) -> str:
        if path.is_relative_to(self.path):
            path = self.shown_as / path.relative_to(self.path)
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)


@contextlib.contextmanager
def _staging(dist: Path) -> Iterator[Path]:
    """A scratch directory inside dist/ (so moving out of it is a rename), removed after.

    When the run fails, dist/ is left as it was: directories this run had to
    create for it are removed again.
    """
    created = [p for p in (dist, *dist.parents) if not p.exists()]
    dist.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".chartship-package-", dir=dist))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        for directory in created:  # innermost first
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise
    shutil.rmtree(stage, ignore_errors=True)


def _install(dist: _Dist) -> None:
    """Move every staged file into dist/, then SHA256SUMS, then SOURCES.json."""
    for staged, final in dist.moves:
        os.replace(staged, final)
    for stale in dist.removals:
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    if read_sums(dist.path) != dist.sums or not (dist.path / SUMS_FILE).is_file():
        write_sums(dist.path, dist.sums)
    dist.record.write(dist.path)


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
    shown_dist: Path | None = None,
    refresh_vendored: bool = True,
) -> list[Packaged]:
    """Package the named charts (default: all) into ``settings.dist_path``.

    Every chart is checked before any is packaged, and every archive is built
    in a scratch directory: dist/ changes only once all of them packaged, so a
    failure leaves it exactly as it was. An archive already in dist/ is kept
    only while its chart is unchanged since it was packaged
    (:mod:`chartship.sources`); otherwise it is packaged again, and
    :attr:`Packaged.notice` says why. ``shown_dist`` is the directory those
    notices name instead of ``settings.dist_path`` (a dry run's scratch copy).

    Dependencies are put together in a scratch copy of each chart; the chart's
    own directory is written only to refresh the archive of a sibling chart it
    vendors in its charts/, and not at all without ``refresh_vendored`` (a dry run).
    """
    environ = os.environ if environ is None else environ
    runner = runner or Runner()
    helm = helm or Helm(settings.helm_binary, runner=runner)
    graph = siblings.graph(settings)
    loaded = graph.build_order(chartfiles.load_all(chartfiles.discover(settings, names)))
    for chart in loaded:
        _check_packageable(chart, dev, settings.root)
        graph.require_current(chart)
        dependencies.preflight(chart, settings, graph=graph, helm=helm)
    spec = _sign_spec(settings, environ) if sign else None
    dist_path = settings.dist_path
    listed = listed_sums(dist_path)
    sums = {name: one.digest for name, one in listed.items()}
    for chart in loaded:
        for name in (chart.archive_name, chart.archive_name + ".prov"):
            dist_file(dist_path, name, listed[name].line if name in listed else None)
    record = sources.Record.read(dist_path)
    git = Git(settings.root, runner)
    in_git = git.is_repository()
    results: list[Packaged] = []
    with _staging(dist_path) as stage:
        dist = _Dist(settings.root, dist_path, shown_dist or dist_path, stage, sums, record)
        for chart in loaded:
            results.append(
                _package_one(
                    chart,
                    settings,
                    helm,
                    environ,
                    dist,
                    spec,
                    force=force or dev,
                    epoch=_source_date_epoch(git, chart, in_git, environ),
                    vendoring=(graph, _built_so_far(results, dist)),
                    refresh_vendored=refresh_vendored,
                )
            )
        _install(dist)
    return results


def _built_so_far(results: Sequence[Packaged], dist: _Dist) -> dict[str, Path]:
    """Each chart packaged so far and its archive: kept in dist/, or still staged."""
    staged = {target: made for made, target in dist.moves}
    return {r.chart: staged.get(r.archive, r.archive) for r in results}


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


def _why_rebuild(
    chart: Chart, archive: Path, digest: str, dist: _Dist, graph: siblings.Graph
) -> tuple[str, list[str]]:
    """Why an intact archive in dist/ cannot be kept ("" when it can), and the changed files."""
    entry = dist.record.entries.get(archive.name)
    if entry is None or entry.sha256 != digest or entry.sources is None:
        return (
            f"{dist.shown(dist.path / sources.RECORD_FILE)} does not say what "
            f"{dist.shown(archive)} was packaged from",
            [],
        )
    changed = sources.fingerprint(chart, sibling_of=graph.channel_sibling).changes_since(
        entry.sources
    )
    if not changed:
        return "", []
    return (
        f"chart changed since {dist.shown(archive)} was packaged ({name_some(changed)})",
        changed,
    )


def _package_one(
    chart: Chart,
    settings: Settings,
    helm: Helm,
    environ: Mapping[str, str],
    dist: _Dist,
    spec: SignSpec | None,
    *,
    force: bool,
    epoch: str | None,
    vendoring: tuple[siblings.Graph, Mapping[str, Path]],
    refresh_vendored: bool,
) -> Packaged:
    # Archives move into dist/ by rename: refuse a link there before anything runs.
    archive = dist_file(dist.path, chart.archive_name)
    prov = dist_file(dist.path, archive.name + ".prov")
    why = ""
    changed: list[str] = []
    published: sources.Entry | None = None
    if archive.exists():
        digest = sha256_file(archive)
        recorded = dist.sums.get(archive.name)
        if not force:
            recorded_prov = dist.sums.get(prov.name)
            if prov.exists() and recorded_prov is not None and recorded_prov != sha256_file(prov):
                raise ChartError(
                    f"{prov.name} does not match its {SUMS_FILE} entry; it was changed after "
                    "packaging (remove it, or repackage with --force)",
                    path=prov,
                )
            if recorded is not None and recorded != digest:
                raise ChartError(
                    f"{archive.name} does not match its {SUMS_FILE} entry; it was changed after "
                    "packaging (remove it, or repackage with --force)",
                    path=archive,
                )
        if recorded == digest:
            # Kept bytes are published as they are: they must be this chart, intact.
            verify_archive(archive)
            entry = dist.record.entries.get(archive.name)
            if entry is not None and entry.sha256 == digest and entry.published:
                published = entry
            if not force:
                why, changed = _why_rebuild(chart, archive, digest, dist, vendoring[0])
                if not why and (spec is None or prov.exists()):
                    log.debug("%s: kept %s (unchanged since packaged)", chart.name, archive.name)
                    return Packaged(
                        chart.name, chart.version, archive, digest, "kept",
                        prov if prov.exists() else None,
                    )  # fmt: skip
                why = why or "no provenance file beside it, and --sign asks for one"
    graph, built = vendoring
    if refresh_vendored:
        # The dependent's own copy of each sibling becomes the one packaged into it.
        graph.vendor(chart, helm, chart.directory, built)
    made_from = sources.fingerprint(chart, sibling_of=graph.channel_sibling)
    env = {"SOURCE_DATE_EPOCH": epoch} if epoch else None
    # Dependencies go into a scratch copy of the chart (vendored ones as they are,
    # siblings freshly archived, the rest fetched through the mirrors): packaging
    # never writes the chart's own directory.
    with dependencies.prepared(
        chart, settings, helm=helm, environ=environ, graph=graph, vendored=built
    ) as tree:
        made = helm.package(tree, dist.stage, chart.archive_name, sign=spec, env=env)
    # The archive helm wrote is held to the rules of any archive from outside
    # (safetar): what it holds is checked, not what helm was asked to do. It is
    # still in the staging directory, so a refusal leaves dist/ as it was.
    name, version = verify_archive(made)
    if name != chart.name or version != chart.version:
        raise ChartError(
            f"archive holds {name} {version}, expected {chart.name} {chart.version}", path=made
        )
    made_prov = made.with_name(made.name + ".prov")
    if published is not None:
        return _keep_published(chart, archive, made, published, dist, why, changed, made_from)
    digest = sha256_file(made)
    dist.sums[archive.name] = digest
    dist.moves.append((made, archive))
    if made_prov.exists():
        dist.sums[prov.name] = sha256_file(made_prov)
        dist.moves.append((made_prov, prov))
    else:
        dist.sums.pop(prov.name, None)
        dist.removals.append(prov)
    dist.record.entries[archive.name] = sources.Entry(chart.name, chart.version, digest, made_from)
    notice = f"{why}; repackaged" if why else None
    log.debug("%s: packaged %s sha256:%s", chart.name, archive.name, digest)
    return Packaged(
        chart.name, chart.version, archive, digest, "packaged",
        prov if made_prov.exists() else None, notice, tuple(changed),
    )  # fmt: skip


def _keep_published(
    chart: Chart,
    archive: Path,
    made: Path,
    entry: sources.Entry,
    dist: _Dist,
    why: str,
    changed: list[str],
    made_from: sources.Fingerprint,
) -> Packaged:
    """An archive whose bytes are published is replaced by nothing: same files or refused.

    The channels hold those bytes under this version and never take other
    content for it, so a chart that now packages to other files needs a new
    version; one that packages to the same files keeps the published bytes.
    """
    label = f"{chart.name} {chart.version}"
    where = "; ".join(entry.published)
    then = safetar.inspect_chart_archive(archive.read_bytes(), source=str(archive))
    now = safetar.inspect_chart_archive(made.read_bytes(), source=str(made))
    differences = safetar.file_differences(now.files, then.files)
    cause = why or "repackaging was asked for (--force)"
    if differences:
        raise VersionError(
            f"{label}: {cause}, and its bytes are published ({where}) while the chart now "
            f"packages to other files ({name_some(differences)}); a published version never "
            f"changes: stamp a new version (bump) and package again",
            path=archive,
        )
    prov = archive.with_name(archive.name + ".prov")
    if made.with_name(made.name + ".prov").exists() and not prov.exists():
        raise VersionError(
            f"{label} is published ({where}) without a provenance file, and a fresh "
            "signature cannot be attached to those bytes; package it unsigned",
            path=archive,
        )
    dist.record.entries[archive.name] = sources.Entry(
        chart.name, chart.version, entry.sha256, made_from, list(entry.published)
    )
    notice = (
        f"{cause}, but it packages to the same files as the published bytes ({where}); "
        f"kept {dist.shown(archive)}"
    )
    return Packaged(
        chart.name, chart.version, archive, entry.sha256, "kept",
        prov if prov.exists() else None, notice, tuple(changed),
    )  # fmt: skip

"""Both channels side by side, per chart and version: what a migration starts from.

The classic channel is read as its users see it (the served index.yaml, the
archives its URLs name, the GitHub releases behind them); the OCI channel
through the registry API. Every oddity found is an :class:`Anomaly` with what
to do about it; an anomalous version is copied nowhere until a recorded
decision (:mod:`chartship.migrate.decisions`) says to copy its release asset.
A release whose asset is a valid chart archive but which index.yaml lacks (a
gap) is no anomaly: it is a release like any other, copied to OCI and, by
``migrate repair``, added to the index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chartship import charts as chartfiles
from chartship import safetar, versions
from chartship.channels.classic import served as classic
from chartship.channels.oci import names
from chartship.channels.oci.channel import Connection, OciChannel, connect
from chartship.config import Settings
from chartship.errors import (
    ChartError,
    ChartshipError,
    GithubError,
    RedirectRefused,
    RegistryError,
    Unavailable,
    UsageError,
)
from chartship.migrate.decisions import Decision, load_decisions
from chartship.yamlfiles import DuplicateKey

if TYPE_CHECKING:
    # PyGithub is imported when an inventory reads the GitHub channel.
    from chartship.channels.github.channel import ReleasedAsset

log = logging.getLogger("chartship")

#: The anomaly of a chart whose name no OCI registry takes.
UNNAMABLE = "oci-name"

#: Seconds one HTTP fetch from the classic channel may take.
FETCH_TIMEOUT = 60.0
#: Anomalies that mean the channels disagree: no decision settles them, only a fix.
DRIFT_KINDS = ("channels-differ", "oci-only", "decision-differs")


@dataclass(frozen=True)
class Anomaly:
    kind: str
    message: str
    advice: str


@dataclass
class Row:
    """One chart version across both channels."""

    chart: str
    version: str
    in_index: bool = False
    index_digest: str | None = None  # hex sha256, as index.yaml gives it
    url: str | None = None
    created: str | None = None  # the index entry's; for a gap, the release's publication
    asset: bool | None = None  # None: no GitHub channel to ask
    release_url: str | None = None  # the asset's download URL
    oci_digest: str | None = None  # the chart layer's digest, sha256:<hex>
    checked: bool = False  # the classic archive was downloaded and matched its digest
    anomalies: list[Anomaly] = field(default_factory=list)
    #: Why the classic archive could not be read this time (the service kept
    #: failing); not a fact of the channel, so not an anomaly: a rerun retries it.
    download_error: str | None = None
    decision: Decision | None = None
    #: Chart.yaml of the archive proven for this version, as the proof read it.
    chart_yaml: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return self.chart, self.version

    @property
    def gap(self) -> bool:
        """Released with its asset, absent from index.yaml, and nothing wrong with it."""
        return bool(self.asset) and not self.in_index and not self.anomalies

    @property
    def undecided(self) -> list[Anomaly]:
        """Anomalies that keep the version from being copied and that no decision covers."""
        kinds = {a.kind for a in self.anomalies if a.kind not in DRIFT_KINDS}
        if self.decision is not None and self.decision.covers(kinds):
            return []
        return [a for a in self.anomalies if a.kind in kinds]

    @property
    def decided_asset(self) -> str | None:
        """The sha256 a recorded ``asset`` decision pins, if there is one."""
        if self.decision is None or self.decision.action != "asset":
            return None
        return self.decision.sha256

    @property
    def in_oci(self) -> bool:
        return self.oci_digest is not None

    @property
    def digests_equal(self) -> bool | None:
        if self.index_digest is None or self.oci_digest is None:
            return None
        return self.oci_digest == f"sha256:{self.index_digest}"

    @property
    def state(self) -> str:
        if self.anomalies:
            return "anomaly"
        if self.download_error:
            return "unread"
        if self.in_index and self.in_oci:
            return "both"
        if self.in_index:
            return "classic only"
        if self.in_oci:
            # A gap already copied: still one entry short of the classic channel.
            return "not in index" if self.asset else "oci only"
        return "release only"

    def has(self, kind: str) -> bool:
        return any(a.kind == kind for a in self.anomalies)

    def flag(self, kind: str, message: str, advice: str) -> None:
        if not self.has(kind):
            self.anomalies.append(Anomaly(kind, message, advice))

    def as_json(self) -> dict[str, Any]:
        return {
            "chart": self.chart,
            "version": self.version,
            "state": self.state,
            "in_index": self.in_index,
            "index_digest": self.index_digest,
            "url": self.url,
            "created": self.created,
            "release_asset": self.asset,
            "release_url": self.release_url,
            "oci_digest": self.oci_digest,
            "digests_equal": self.digests_equal,
            "archive_checked": self.checked,
            "download_error": self.download_error,
            "anomalies": [a.__dict__ for a in self.anomalies],
            "decision": self.decision.as_yaml() if self.decision else None,
        }


@dataclass
class Inventory:
    phase: str
    index_url: str
    oci: str | None
    github: str | None
    rows: list[Row]
    #: Verified archives, by (chart, version): what backfill pushes. A classic
    #: archive matching its index digest, a gap's release asset, or the asset an
    #: ``asset`` decision pinned.
    archives: dict[tuple[str, str], bytes] = field(default_factory=dict, repr=False)
    #: Each chart version's release asset, where the GitHub channel has one.
    released: dict[tuple[str, str], ReleasedAsset] = field(default_factory=dict, repr=False)
    decisions: dict[tuple[str, str], Decision] = field(default_factory=dict)

    def row(self, chart: str, version: str) -> Row | None:
        return next((r for r in self.rows if r.key == (chart, version)), None)

    @property
    def anomalies(self) -> list[Row]:
        return [r for r in self.rows if r.anomalies]

    @property
    def gaps(self) -> list[Row]:
        return [r for r in self.rows if r.gap]

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for row in self.rows:
            found[row.state] = found.get(row.state, 0) + 1
        return dict(sorted(found.items()))

    def as_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "index_url": self.index_url,
            "oci_repository": self.oci,
            "github_repository": self.github,
            "counts": self.counts(),
            "rows": [r.as_json() for r in self.rows],
        }


# --------------------------------------------------------------------------- gathering


def _sorted_rows(rows: Mapping[tuple[str, str], Row]) -> list[Row]:
    def order(row: Row) -> tuple[str, int, Any, str]:
        try:
            return (row.chart, 0, versions.parse(row.version), row.version)
        except ChartshipError:
            return (row.chart, 1, row.version, row.version)

    return sorted(rows.values(), key=order)


def _classic_rows(settings: Settings, rows: dict[tuple[str, str], Row]) -> str:
    pages = settings.channels.pages
    if pages is None:
        raise UsageError("the migration needs the classic channel: set channels.pages.index_url")
    entries, duplicates = classic.read_index_keeping_duplicates(
        pages.index_url, timeout=FETCH_TIMEOUT, retry_seconds=pages.retry_seconds
    )
    listed: dict[tuple[str, str], list[classic.Entry]] = {}
    for entry in entries:
        listed.setdefault((entry.chart, entry.version), []).append(entry)
    for key, same in listed.items():
        first = same[0]
        row = rows.setdefault(key, Row(*key))
        row.in_index = True
        row.index_digest = first.digest
        row.created = first.created
        row.url = classic.resolve(pages.index_url, first.urls[0]) if first.urls else None
        if len(same) > 1:
            digests = sorted({e.digest or "(none)" for e in same})
            row.flag(
                "duplicate",
                f"listed {len(same)} times in index.yaml (digests: {', '.join(digests)})",
                "remove all but the right entry from index.yaml on the pages branch, "
                "then run backfill again",
            )
        if versions.is_placeholder(first.version):
            row.flag(
                "placeholder",
                "the unstamped placeholder version is in index.yaml (a development build)",
                "never copied to OCI; remove the entry from index.yaml if users must not see it",
            )
        elif not versions.is_valid(first.version):
            row.flag(
                "not-semver",
                "the version is not SemVer 2; OCI tags and helm's OCI support need SemVer",
                "never copied to OCI; it stays in the classic channel only",
            )
        if not first.digest:
            row.flag(
                "no-digest",
                "the entry has no digest, so its bytes cannot be verified",
                "never copied; add the digest to the entry (sha256 of the archive) by hand",
            )
        if not first.urls:
            row.flag("no-url", "the entry has no URL", "never copied; fix the entry by hand")
        else:
            problem = classic.url_problem(pages.index_url, first.urls[0])
            if problem is not None:
                row.url = None  # never fetched
                row.flag(
                    "bad-url",
                    problem,
                    "never fetched or copied; give the entry the http(s) URL its archive "
                    "is served at",
                )
    _flag_repeated_keys(duplicates, rows)
    return pages.index_url


def _flag_repeated_keys(duplicates: list[DuplicateKey], rows: dict[tuple[str, str], Row]) -> None:
    """A key the served index.yaml repeats: helm refuses the whole index, and which
    of the two was meant is unknown, so every version it may touch is anomalous."""
    for twice in duplicates:
        keys = twice.keys
        chart = str(keys[1]) if len(keys) > 1 and keys[0] == "entries" else None
        for row in rows.values():
            if row.in_index and chart in (None, row.chart):
                row.flag(
                    "repeated-key",
                    f"index.yaml gives {twice.describe()}, so helm refuses to load the index",
                    "never copied; on the pages branch remove the repeated key from "
                    "index.yaml (merging the two lists of a chart given twice)",
                )


def _github_rows(
    settings: Settings,
    environ: Mapping[str, str],
    rows: dict[tuple[str, str], Row],
    released: dict[tuple[str, str], ReleasedAsset],
) -> str | None:
    gh = settings.channels.github
    if gh is None:
        return None
    from chartship.channels.github.channel import GithubChannel

    assets = GithubChannel(settings, environ).releases()
    # Charts named by the index or by this repository: a gap may be the only
    # release of its version, but its chart is known.
    charts = {chart for chart, _ in rows} | _own_charts(settings)
    for tag, named in assets.items():
        for name, asset in named.items():
            found = _chart_version(name, charts)
            if found is not None and settings.release_tag(*found) == tag:
                row = rows.setdefault(found, Row(*found))
                row.asset = True
                row.release_url = asset.url
                released[found] = asset
    # Only when index entries point at release assets is a missing asset a broken entry.
    assets_serve = settings.channels.pages is not None and (
        settings.channels.pages.packages == "releases"
    )
    for row in rows.values():
        if row.asset is None:
            row.asset = False
        if row.in_index and not row.asset and assets_serve:
            tag = settings.release_tag(row.chart, row.version)
            has_release = tag in assets
            row.flag(
                "asset-missing",
                f"GitHub release {tag} "
                + ("has no asset " if has_release else "does not exist, so there is no asset ")
                + f"{row.chart}-{row.version}.tgz",
                "if the archive is served elsewhere (see url) nothing is lost; otherwise "
                "re-attach the original archive to the release, never a rebuilt one",
            )
        if row.asset and not row.in_index:
            if versions.is_placeholder(row.version):
                row.flag(
                    "placeholder",
                    "the unstamped placeholder version was released (a development build)",
                    "never copied to OCI; record a decision (`chartship migrate accept`)",
                )
            published = released[row.key].published
            if published is not None:
                row.created = published.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return gh.repository


def _own_charts(settings: Settings) -> set[str]:
    try:
        return {c.name for c in chartfiles.load_all(chartfiles.discover(settings))}
    except ChartshipError:
        # The inventory is of the channels: a chart directory that does not load
        # is lint's to report, not a reason to read no releases.
        return set()


def _chart_version(asset_name: str, charts: set[str]) -> tuple[str, str] | None:
    if not asset_name.endswith(".tgz"):
        return None
    stem = asset_name[: -len(".tgz")]
    for chart in sorted(charts, key=len, reverse=True):
        if stem.startswith(chart + "-") and versions.is_valid(stem[len(chart) + 1 :]):
            return chart, stem[len(chart) + 1 :]
    return None


def _oci_rows(
    settings: Settings, registry: Connection | None, rows: dict[tuple[str, str], Row], workers: int
) -> str | None:
    if registry is None:
        return None
    channel = OciChannel(settings, {}, connection=registry)
    target = registry.target
    # helm takes capitals in a chart name, no registry does: such a chart's versions
    # cannot move, and asking the registry about them would fail the whole inventory.
    refused = {
        chart: problem
        for chart in {chart for chart, _ in rows}
        if (problem := names.chart_problem(chart, target.namespace)) is not None
    }
    for row in rows.values():
        if row.chart in refused:
            row.flag(
                UNNAMABLE,
                f"no registry takes the chart name {row.chart!r} under {target.url}: "
                f"{refused[row.chart]}",
                "its versions stay in the classic channel; in OCI the chart needs a name "
                "registries take, which is a new chart for its users (release it under that "
                f"name), or record the gap: `chartship migrate accept {row.version} --chart "
                f'{row.chart} --as skip --reason "..."`',
            )
    charts = sorted({chart for chart, _ in rows} - set(refused))
    for (chart, version), digest in channel.chart_layers(charts, workers=workers).items():
        row = rows.setdefault((chart, version), Row(chart, version))
        row.oci_digest = digest
    phase = settings.channels.phase
    for row in rows.values():
        decided = row.decided_asset
        if decided is not None and row.in_oci and row.oci_digest != f"sha256:{decided}":
            row.flag(
                "decision-differs",
                f"OCI holds {row.oci_digest}, the recorded decision pins sha256:{decided}",
                "find out which bytes are the release; chartship replaces nothing in OCI",
            )
        elif (
            decided is None
            and row.in_oci
            and row.in_index
            and row.index_digest
            and row.digests_equal is False
        ):
            row.flag(
                "channels-differ",
                f"OCI holds {row.oci_digest}, index.yaml says sha256:{row.index_digest}",
                "one of the two channels serves other bytes under the same version; find out "
                "which is the original before anything else, chartship replaces neither",
            )
        if row.in_oci and not row.in_index and phase != "oci-only" and not row.asset:
            row.flag(
                "oci-only",
                "in OCI but not in the classic channel",
                "classic users cannot install it. To serve them the same bytes, attach the "
                f"archive `helm pull {registry.target.url}/{row.chart} --version {row.version}` "
                "gives to its GitHub release and run `chartship migrate repair`; or record the "
                f"gap: `chartship migrate accept {row.version} --chart {row.chart} --as skip "
                '--reason "..."`',
            )
    return registry.target.url


def _check_archive(row: Row) -> bytes | None:
    """Download the classic archive and check it; the bytes, or None with the row flagged."""
    assert row.url is not None
    assert row.index_digest is not None
    try:
        data = classic.fetch(
            row.url, limit=classic.MAX_ARCHIVE_BYTES, timeout=FETCH_TIMEOUT, what="archive"
        )
    except Unavailable as exc:
        row.download_error = str(exc)
        return None
    except RedirectRefused as exc:
        row.flag(
            "bad-url",
            f"the archive's URL {exc}",
            "never fetched or copied; give the entry the http(s) URL its archive is served at",
        )
        return None
    except RegistryError as exc:
        row.flag(
            "asset-missing",
            f"the archive could not be downloaded: {exc}",
            "restore the original archive at its URL; a rebuilt one would change the digest",
        )
        return None
    found = hashlib.sha256(data).hexdigest()
    if found != row.index_digest:
        row.flag(
            "digest-mismatch",
            f"the archive at {row.url} has sha256 {found}, index.yaml says {row.index_digest}",
            "the served bytes are not what was indexed; find the original archive, or record "
            "a decision (`chartship migrate accept VERSION --as asset|skip --reason TEXT`)",
        )
        return None
    return _proven(row, data, row.url)


def _proven(row: Row, data: bytes, where: str) -> bytes | None:
    """``data`` when it is a safe chart archive of the row's chart and version."""
    try:
        row.chart_yaml = chart_archive(row, data, where)
    except ChartError as exc:
        row.flag(
            "unsafe-archive",
            exc.message,
            "never copied; inspect the archive by hand before anyone installs it",
        )
        return None
    row.checked = True
    return data


def chart_archive(row: Row, data: bytes, where: str) -> dict[str, Any]:
    """Refuse ``data`` unless it is a safe chart archive of ``row``'s chart and version;
    its Chart.yaml."""
    source = f"{row.chart}-{row.version}.tgz ({where})"
    info = safetar.inspect_chart_archive(data, source=source)
    safetar.check_identity(info, chart=row.chart, version=row.version, source=source)
    return info.chart


def _check_release_asset(row: Row, asset: ReleasedAsset) -> bytes | None:
    """A gap's release asset, downloaded and proven; None with the row flagged."""
    try:
        data = asset.fetch()
    except (Unavailable, GithubError) as exc:
        row.download_error = str(exc)
        return None
    return _proven(row, data, asset.url)


def asset_bytes(inventory: Inventory, row: Row) -> tuple[bytes, str]:
    """The bytes of ``row``'s release asset (else of its index entry's URL), and where from.

    What an ``asset`` decision copies: the archive as it was released.
    """
    asset = inventory.released.get(row.key)
    if asset is not None:
        return asset.fetch(), asset.url
    if row.url:
        data = classic.fetch(
            row.url, limit=classic.MAX_ARCHIVE_BYTES, timeout=FETCH_TIMEOUT, what="archive"
        )
        return data, row.url
    raise UsageError(
        f"{row.chart} {row.version} has no release asset and no URL in index.yaml: there are "
        "no bytes to copy; record --as skip"
    )


def _check_decided(inventory: Inventory, row: Row) -> bytes | None:
    """The asset an ``asset`` decision pinned, if it still has the pinned sha256."""
    try:
        data, where = asset_bytes(inventory, row)
        found = hashlib.sha256(data).hexdigest()
        if found != row.decided_asset:
            raise ChartError(
                f"the asset at {where} now has sha256 {found}, the decision pins "
                f"{row.decided_asset}"
            )
        row.chart_yaml = chart_archive(row, data, where)
    except ChartshipError as exc:
        if exc.transient:
            row.download_error = str(exc)
        else:
            row.flag(
                "decision-differs",
                f"the decided asset: {exc.message}",
                "find the released archive, or record the decision again",
            )
        return None
    return data


def take_inventory(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    download: bool = True,
    workers: int | None = None,
    registry: Connection | None = None,
    only: Callable[[Row], bool] | None = None,
    use_decisions: bool = True,
) -> Inventory:
    """Read both channels; with ``download`` also fetch and check each archive not yet in OCI.

    ``registry`` is the OCI channel's connection when the caller has one already;
    ``only`` downloads the rows it accepts instead, whatever OCI holds. Without
    ``use_decisions`` the rows are seen as they are, undecided.
    """
    environ = os.environ if environ is None else environ
    if registry is None and settings.channels.oci is not None:
        registry = connect(settings, environ)
    rows: dict[tuple[str, str], Row] = {}
    released: dict[tuple[str, str], ReleasedAsset] = {}
    decisions = load_decisions(settings) if use_decisions else {}
    index_url = _classic_rows(settings, rows)
    github = _github_rows(settings, environ, rows, released)
    for key, decision in decisions.items():
        if key in rows:
            rows[key].decision = decision
    count = workers or (settings.channels.oci.workers if settings.channels.oci else 4)
    oci = _oci_rows(settings, registry, rows, count)
    inventory = Inventory(
        settings.channels.phase, index_url, oci, github, _sorted_rows(rows),
        released=released, decisions=decisions,
    )  # fmt: skip
    if download:
        _download(inventory, count, only)
    return inventory


def _download(inventory: Inventory, workers: int, only: Callable[[Row], bool] | None) -> None:
    """Fetch and prove every archive OCI lacks (see :func:`proving`), all before returning."""
    for _ in proving(inventory, to_download(inventory, only), workers):
        pass


def to_download(inventory: Inventory, only: Callable[[Row], bool] | None = None) -> list[Row]:
    """The rows whose archive :func:`proving` fetches: OCI lacks them (or ``only`` takes
    them) and they are indexed, a gap, or pinned by a decision."""
    return [
        r
        for r in inventory.rows
        if (not r.in_oci if only is None else only(r))
        and not r.has(UNNAMABLE)
        and (
            (r.decided_asset is not None and not r.undecided)
            or (not r.anomalies and r.in_index and r.url and r.index_digest)
            or (r.gap and r.key in inventory.released)
        )
    ]


def proving(
    inventory: Inventory, rows: list[Row], workers: int
) -> Iterator[tuple[Row, bytes | None]]:
    """Fetch and prove the archives of ``rows`` (:func:`to_download`), ``workers`` at a time.

    Each row comes out as soon as its archive is proven, in the order the proofs
    finish, with the bytes (also kept in ``inventory.archives``) or None (the row
    then has its download error or anomaly): a backfill pushes the first
    versions while later ones are still downloading. Closing the iterator early
    cancels the downloads not yet started.
    """

    def check(row: Row) -> bytes | None:
        if row.decided_asset is not None:
            return _check_decided(inventory, row)
        if row.in_index:
            return _check_archive(row)
        return _check_release_asset(row, inventory.released[row.key])

    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        pending = {pool.submit(check, row): row for row in rows}
        for future in as_completed(pending):
            row, data = pending[future], future.result()
            if data is not None:
                inventory.archives[row.key] = data
            yield row, data
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------- reports


_GAP_ADVICE = (
    "`chartship migrate repair` adds its entry from the release asset, "
    "`chartship migrate backfill` copies it to OCI"
)


def _mark(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "-"}[value]


def table_lines(inventory: Inventory) -> list[str]:
    header = ("chart", "version", "index", "asset", "oci", "digests", "state / anomalies")
    body = [
        (
            r.chart,
            r.version,
            _mark(r.in_index),
            _mark(r.asset),
            _mark(r.in_oci),
            {True: "equal", False: "DIFFER", None: "-"}[r.digests_equal],
            ", ".join(a.kind for a in r.anomalies) or r.state,
        )
        for r in inventory.rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=True)]
    return [
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in (header, *body)
    ]


def markdown(inventory: Inventory) -> str:
    lines = [
        "# Chart channels inventory",
        "",
        f"- phase: `{inventory.phase}`",
        f"- classic index: {inventory.index_url}",
        f"- OCI repository: {inventory.oci or '(not configured)'}",
        f"- GitHub repository: {inventory.github or '(not configured)'}",
        "- " + ", ".join(f"{state}: {n}" for state, n in inventory.counts().items()),
        "",
        "| chart | version | index | release asset | OCI | digests | state |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in inventory.rows:
        equal = {True: "equal", False: "**differ**", None: "-"}[r.digests_equal]
        lines.append(
            f"| {r.chart} | {r.version} | {_mark(r.in_index)} | {_mark(r.asset)} | "
            f"{_mark(r.in_oci)} | {equal} | {r.state} |"
        )
    if inventory.gaps:
        lines += ["", "## Released, not in index.yaml", ""]
        lines += [f"- **{r.chart} {r.version}**: {_GAP_ADVICE}." for r in inventory.gaps]
    if inventory.anomalies:
        lines += ["", "## Anomalies", ""]
        for r in inventory.anomalies:
            for a in r.anomalies:
                lines.append(f"- **{r.chart} {r.version}** `{a.kind}`: {a.message}. {a.advice}.")
    return "\n".join(lines) + "\n"


def write_reports(inventory: Inventory, directory: Path, stem: str = "inventory") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    as_json = directory / f"{stem}.json"
    as_md = directory / f"{stem}.md"
    as_json.write_text(json.dumps(inventory.as_json(), indent=2) + "\n", encoding="utf-8")
    as_md.write_text(markdown(inventory), encoding="utf-8")
    return [as_json, as_md]


def print_inventory(inventory: Inventory, out: Callable[[str], None]) -> None:
    for line in table_lines(inventory):
        out(line)
    for r in inventory.anomalies:
        for a in r.anomalies:
            out(f"{r.chart} {r.version}: {a.kind}: {a.message}; {a.advice}")
    for r in inventory.gaps:
        out(f"{r.chart} {r.version}: released but not in index.yaml: {_GAP_ADVICE}")
    for r in inventory.rows:
        if r.decision is not None:
            out(f"{r.chart} {r.version}: decided: {r.decision.describe()}")
    for r in inventory.rows:
        if r.download_error:
            out(f"{r.chart} {r.version}: not read this time: {r.download_error}; run it again")
    out("status: " + ", ".join(f"{s}: {n}" for s, n in inventory.counts().items()))

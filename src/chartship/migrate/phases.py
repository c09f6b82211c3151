"""Moving a repository from the classic channel to OCI, one checked phase at a time.

classic -> dual -> oci-primary -> oci-only. Each move checks what the next
phase relies on and refuses with every reason that fails; a move back is
always allowed (it only publishes to more channels). The classic index is
never truncated or rewritten, whatever the phase.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast, get_args

from chartship import charts as chartfiles
from chartship.channels.classic import pages
from chartship.channels.oci.channel import connect
from chartship.config import Phase, Settings, load_settings
from chartship.errors import (
    ChartshipError,
    ChecksFailed,
    ConfigError,
    PhaseRefused,
    Unavailable,
    UsageError,
)
from chartship.migrate import notices
from chartship.migrate.decisions import ACTIONS, Action, Decision, record
from chartship.migrate.inventory import (
    DRIFT_KINDS,
    Inventory,
    Row,
    asset_bytes,
    chart_archive,
    take_inventory,
)
from chartship.yamlfiles import load_yaml

PHASES: tuple[str, ...] = get_args(Phase)
README = "README.md"
NOTICE_START = "<!-- chartship:deprecation:start -->"
NOTICE_END = "<!-- chartship:deprecation:end -->"

#: Phases in which the classic channel still receives versions, so must hold every release.
_CLASSIC_SERVES = ("classic", "dual", "oci-primary")


@dataclass
class Parity:
    """What verify found: every problem per version, and the decisions it relied on."""

    inventory: Inventory
    drift: list[tuple[Row, str]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.drift

    @property
    def decisions(self) -> list[Decision]:
        return [r.decision for r in self.inventory.rows if r.decision is not None]

    def lines(self) -> list[str]:
        decided = [f"  decided: {d.describe()}" for d in self.decisions]
        if self.clean:
            both = sum(1 for r in self.inventory.rows if r.in_oci and (r.in_index or r.asset))
            extra = f"; {len(decided)} decision(s) recorded" if decided else ""
            return [f"verify: parity clean: {both} version(s) in both channels{extra}", *decided]
        width = max(len(f"{r.chart} {r.version}") for r, _ in self.drift)
        out = [f"{'version'.ljust(width)}  problem"]
        out += [f"{f'{r.chart} {r.version}'.ljust(width)}  {why}" for r, why in self.drift]
        out += decided
        out.append(f"verify: {len(self.drift)} problem(s) in {self.versions} version(s)")
        return out

    @property
    def versions(self) -> int:
        return len({r.key for r, _ in self.drift})


def _problems(row: Row, phase: str) -> list[str]:
    found = [f"{a.kind}: {a.message}" for a in row.anomalies if a.kind in DRIFT_KINDS]
    undecided = row.undecided
    if undecided:
        kinds = ", ".join(a.kind for a in undecided)
        found.append(
            f"{kinds}: no decision recorded (chartship migrate accept {row.version} "
            f"--chart {row.chart} --as asset|skip --reason TEXT)"
        )
        return found
    if row.download_error:
        return [*found, f"not read this time: {row.download_error}; run it again"]
    copyable = not row.anomalies or row.decided_asset is not None
    if copyable and (row.in_index or row.asset) and not row.in_oci:
        found.append("missing in OCI (run chartship migrate backfill)")
    if row.gap and phase in _CLASSIC_SERVES:
        found.append("released but missing in index.yaml (run chartship migrate repair)")
    return found


def parity(settings: Settings, *, environ: Mapping[str, str] | None = None) -> Parity:
    """Every valid release in every channel the phase needs, every anomaly decided."""
    # Downloads only what OCI lacks: a broken classic archive is an anomaly, not drift.
    inventory = take_inventory(settings, environ=environ, download=True)
    result = Parity(inventory)
    for row in inventory.rows:
        result.drift.extend((row, why) for why in _problems(row, settings.channels.phase))
    return result


def require_parity(result: Parity) -> None:
    if not result.clean:
        raise ChecksFailed(
            f"verify found {len(result.drift)} problem(s) in {result.versions} version(s)",
            count=len(result.drift),
        )


# --------------------------------------------------------------------------- decisions


def accept(
    settings: Settings,
    version: str,
    action: str,
    reason: str,
    *,
    chart: str | None = None,
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
) -> tuple[Decision, Path]:
    """Record what happens to an anomalous version; the decision and the file it is in.

    ``asset`` pins the release asset's sha256 (the asset must be a safe chart
    archive of that chart and version); ``skip`` leaves the version out of OCI.
    """
    if action not in ACTIONS:
        raise UsageError(f"--as must be one of {', '.join(ACTIONS)}, not {action!r}")
    if not reason.strip():
        raise UsageError("--reason is required: say why, for whoever reviews the decision")

    def wanted(row: Row) -> bool:
        return row.version == version and (chart is None or row.chart == chart)

    inventory = take_inventory(
        settings, environ=environ, download=True, only=wanted, use_decisions=False
    )
    found = [r for r in inventory.rows if wanted(r)]
    named = f"{chart} {version}" if chart else f"version {version}"
    if not found:
        raise UsageError(f"{named} is in neither channel nor among the GitHub releases")
    if len(found) > 1:
        names = ", ".join(r.chart for r in found)
        raise UsageError(f"several charts have version {version} ({names}): name one with --chart")
    row = found[0]
    if row.download_error:
        raise Unavailable(f"{row.chart} {row.version}: not read this time: {row.download_error}")
    kinds = sorted({a.kind for a in row.anomalies if a.kind not in DRIFT_KINDS})
    if not kinds:
        drift = ", ".join(a.kind for a in row.anomalies)
        raise UsageError(
            f"{row.chart} {row.version}: the channels disagree ({drift}); no decision settles "
            "that: find which bytes are the release"
            if drift
            else f"{row.chart} {row.version} has no anomaly to decide on (state: {row.state})"
        )
    sha = _asset_sha256(inventory, row, kinds) if action == "asset" else None
    decision = Decision(
        row.chart, row.version, cast(Action, action), reason.strip(), tuple(kinds), sha
    )
    return decision, record(settings, decision, dry_run=dry_run)


def _asset_sha256(inventory: Inventory, row: Row, kinds: list[str]) -> str:
    """The sha256 of the release asset an ``asset`` decision copies, once proven."""
    unfit = [k for k in kinds if k in ("placeholder", "not-semver")]
    if unfit:
        raise UsageError(
            f"{row.chart} {row.version} ({', '.join(unfit)}) never goes to OCI: record --as skip"
        )
    try:
        data, where = asset_bytes(inventory, row)
        chart_archive(row, data, where)
    except ChartshipError as exc:
        if exc.transient:
            raise
        raise UsageError(
            f"{row.chart} {row.version}: no release asset to copy as it is: {exc}; "
            "restore the released archive, or record --as skip"
        ) from None
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- deprecation


def _with_notice(notice: str, old: str | None) -> str:
    block = f"{NOTICE_START}\n{notice}{NOTICE_END}\n"
    if old and NOTICE_START in old and NOTICE_END in old:
        head, rest = old.split(NOTICE_START, 1)
        tail = rest.split(NOTICE_END, 1)[1].lstrip("\n")
        return head + block + ("\n" + tail if tail else "")
    return block + ("\n" + old if old else "")


def deprecation_text(
    settings: Settings, *, environ: Mapping[str, str] | None = None
) -> tuple[str, Parity]:
    """The notice deprecate writes, from a verify that must be clean."""
    if not notices.classic_deprecated(settings):
        raise UsageError(
            f"deprecate belongs to the oci-primary phase, not {settings.channels.phase!r}: "
            "move there first (`chartship migrate phase oci-primary`, which runs verify)"
        )
    notices.require_sunset(settings)  # before the channels are read: it is a setting
    result = parity(settings, environ=environ)
    if not result.clean:
        # No table printed before this refusal: it carries every problem itself.
        raise ChecksFailed(
            "no notice before verify is clean:\n"
            + "\n".join(f"  - {r.chart} {r.version}: {why}" for r, why in result.drift),
            count=len(result.drift),
        )
    return notices.deprecation_notice(settings, result.inventory), result


def deprecate(
    settings: Settings, *, dry_run: bool = False, environ: Mapping[str, str] | None = None
) -> tuple[pages.FileUpdate, str]:
    """Put the deprecation notice at the top of the pages site's README; the update and notice.

    The notice says which versions are not in OCI and why, from a clean
    verify. New GitHub releases carry a short notice from the oci-primary
    phase on; index.yaml and its entries are left exactly as they are, so
    nothing a classic client relies on changes.
    """
    notice, _ = deprecation_text(settings, environ=environ)
    update = pages.update_file(
        settings,
        README,
        lambda old: _with_notice(notice, old),
        subject="Deprecate this chart repository in favour of OCI",
        dry_run=dry_run,
        environ=environ,
    )
    return update, notice


def is_deprecated(settings: Settings) -> bool:
    text = pages.read_file(settings, README)
    return text is not None and NOTICE_START in text


# --------------------------------------------------------------------------- phases


def _classic_dependencies(settings: Settings) -> list[str]:
    """Dependencies fetched from a classic HTTP repository: they tie the build to that channel."""
    found = []
    for chart in chartfiles.load_all(chartfiles.discover(settings)):
        for dep in chart.dependencies:
            # An alias is what it is configured to be (dependencies.repositories).
            repo = settings.dependencies.url_for(dep.repository or "") or dep.repository or ""
            if repo.startswith(("http://", "https://")):
                found.append(
                    f"{chart.name} depends on {dep.name} {dep.version or ''} from the classic "
                    f"repository {repo} ({chart.declared_file}); publish {dep.name} to OCI and "
                    "point the dependency at its oci:// repository"
                )
    return found


@dataclass
class Unmet:
    """Why a phase cannot be entered yet, and the errors of the channels that could not
    be read: the refusal exits as the first of them would have (a service that did not
    answer 5, a wrong setting 2, a bad served index 3), as every other command does."""

    reasons: list[str] = field(default_factory=list)
    errors: list[ChartshipError] = field(default_factory=list)

    def add(self, context: str, exc: ChartshipError) -> None:
        self.reasons.append(f"{context}: {exc}")
        self.errors.append(exc)


def preconditions(
    settings: Settings, to: str, *, environ: Mapping[str, str] | None = None
) -> Unmet:
    """Why moving to phase ``to`` is not safe yet; no reasons when it is."""
    environ = os.environ if environ is None else environ
    current = settings.channels.phase
    if to not in PHASES:
        raise UsageError(f"unknown phase {to!r}; phases: {', '.join(PHASES)}")
    if PHASES.index(to) <= PHASES.index(current):
        return Unmet()
    if PHASES.index(to) > PHASES.index(current) + 1:
        nxt = PHASES[PHASES.index(current) + 1]
        return Unmet([f"phases are entered one at a time: {current} -> {nxt} first"])
    unmet = Unmet()
    if settings.channels.oci is None:
        return Unmet(["channels.oci is not configured"])
    if to == "dual":
        registry = connect(settings, environ)
        try:
            registry.client.ping()
        except ChartshipError as exc:
            unmet.add(f"the OCI registry {registry.target.url} is not usable", exc)
        return unmet
    # Every check runs, whatever failed before it: a refusal names all that is unmet.
    try:
        result = parity(settings, environ=environ)
        unmet.reasons += [f"{r.chart} {r.version}: {why}" for r, why in result.drift]
    except ChartshipError as exc:
        unmet.add("the channels could not be compared", exc)
    if to == "oci-only":
        try:
            if not is_deprecated(settings):
                unmet.reasons.append(
                    "the classic channel carries no deprecation notice yet (run migrate deprecate)"
                )
        except ChartshipError as exc:
            unmet.add("the pages branch could not be read for the notice", exc)
        unmet.reasons += _classic_dependencies(settings)
    return unmet


_PHASE_LINE = re.compile(r"^(?P<head>\s+phase:\s*)(?P<value>[^\s#]+)(?P<tail>.*)$")


def _write_phase(settings: Settings, to: str) -> None:
    path = settings.source
    if path is None:
        raise UsageError("no chartship.yaml to record the phase in")
    doc = load_yaml(path)
    # Bytes in and out: text mode would turn CRLF line ends into LF all over the file.
    lines = path.read_bytes().decode("utf-8").splitlines(keepends=True)
    at = doc.lines.get(("channels", "phase"))
    if at is not None:
        match = _PHASE_LINE.match(lines[at - 1].rstrip("\r\n"))
        if match is None:
            raise ConfigError("cannot rewrite this line", path=path, key="channels.phase", line=at)
        ending = lines[at - 1][len(lines[at - 1].rstrip("\r\n")) :]
        lines[at - 1] = f"{match['head']}{to}{match['tail']}{ending}"
    elif doc.lines.get(("channels",)) is not None:
        start = doc.lines[("channels",)]
        child = next(
            (
                line
                for key, line in sorted(doc.lines.items(), key=lambda kv: kv[1])
                if len(key) == 2 and key[0] == "channels"
            ),
            None,
        )
        indent = "  "
        if child is not None:
            text = lines[child - 1]
            indent = text[: len(text) - len(text.lstrip())]
        ending = lines[start - 1][len(lines[start - 1].rstrip("\r\n")) :] or "\n"
        lines.insert(start, f"{indent}phase: {to}{ending}")
    else:
        raise ConfigError("has no channels section to record the phase in", path=path)
    path.write_bytes("".join(lines).encode("utf-8"))
    load_settings(path)  # the edit must leave a valid file


def advance(
    settings: Settings,
    to: str,
    *,
    environ: Mapping[str, str] | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Check and record the move to phase ``to`` in chartship.yaml; what was checked."""
    unmet = preconditions(settings, to, environ=environ)
    if unmet.reasons:
        message = f"cannot move from {settings.channels.phase} to {to}:\n" + "\n".join(
            f"  - {r}" for r in unmet.reasons
        )
        if unmet.errors:
            raise PhaseRefused(message, count=len(unmet.reasons), cause=unmet.errors[0])
        raise ChecksFailed(message, count=len(unmet.reasons))
    if settings.channels.phase == to:
        return [f"phase is already {to}"]
    if not dry_run:
        _write_phase(settings, to)
    verb = "would move" if dry_run else "moved"
    return [f"phase: {verb} from {settings.channels.phase} to {to} ({settings.source})"]

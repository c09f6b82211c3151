"""Moving a repository from the classic channel to OCI, one checked phase at a time.

classic -> dual -> oci-primary -> oci-only. Each move checks what the next
phase relies on and refuses with every reason that fails; a move back is
always allowed (it only publishes to more channels). The classic index is
never truncated or rewritten, whatever the phase.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import get_args

from chartship import charts as chartfiles
from chartship.channels.classic import pages
from chartship.channels.oci.channel import connect
from chartship.config import Phase, Settings, load_settings
from chartship.errors import ChartshipError, ChecksFailed, ConfigError, UsageError
from chartship.migrate import notices
from chartship.migrate.inventory import Inventory, Row, take_inventory
from chartship.yamlfiles import load_yaml

PHASES: tuple[str, ...] = get_args(Phase)
README = "README.md"
NOTICE_START = "<!-- chartship:deprecation:start -->"
NOTICE_END = "<!-- chartship:deprecation:end -->"

#: Anomalies that mean the two channels disagree; the others are facts to know about.
_DRIFT_KINDS = ("channels-differ", "oci-only")


@dataclass
class Parity:
    inventory: Inventory
    drift: list[tuple[Row, str]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.drift

    def lines(self) -> list[str]:
        if self.clean:
            known = len(self.inventory.anomalies)
            both = sum(1 for r in self.inventory.rows if r.state == "both")
            extra = f"; {known} known anomalies left alone (see status)" if known else ""
            return [f"verify: parity clean: {both} version(s) in both channels{extra}"]
        width = max(len(f"{r.chart} {r.version}") for r, _ in self.drift)
        out = [f"{'version'.ljust(width)}  drift"]
        out += [f"{f'{r.chart} {r.version}'.ljust(width)}  {why}" for r, why in self.drift]
        out.append(f"verify: {len(self.drift)} difference(s) between the channels")
        return out


def parity(settings: Settings, *, environ: Mapping[str, str] | None = None) -> Parity:
    """Every publishable classic version in OCI with the same digest, and nothing else there."""
    # Downloads only what OCI lacks: a broken classic archive is an anomaly, not drift.
    inventory = take_inventory(settings, environ=environ, download=True)
    result = Parity(inventory)
    for row in inventory.rows:
        drift = [a for a in row.anomalies if a.kind in _DRIFT_KINDS]
        if drift:
            result.drift.extend((row, f"{a.kind}: {a.message}") for a in drift)
        elif row.in_index and not row.anomalies and not row.in_oci:
            result.drift.append((row, "missing in OCI (run backfill)"))
    return result


def require_parity(result: Parity) -> None:
    if not result.clean:
        raise ChecksFailed(
            f"the channels differ in {len(result.drift)} version(s)", count=len(result.drift)
        )


# --------------------------------------------------------------------------- deprecation


def _with_notice(settings: Settings, old: str | None) -> str:
    block = f"{NOTICE_START}\n> **Deprecated.** {notices.move_to_oci(settings)}\n{NOTICE_END}\n"
    if old and NOTICE_START in old and NOTICE_END in old:
        head, rest = old.split(NOTICE_START, 1)
        tail = rest.split(NOTICE_END, 1)[1].lstrip("\n")
        return head + block + ("\n" + tail if tail else "")
    return block + ("\n" + old if old else "")


def deprecate(
    settings: Settings, *, dry_run: bool = False, environ: Mapping[str, str] | None = None
) -> pages.FileUpdate:
    """Put the deprecation notice at the top of the pages site's README.

    New GitHub releases carry the same notice from the oci-primary phase on;
    index.yaml and its entries are left exactly as they are, so nothing a
    classic client relies on changes.
    """
    if not notices.classic_deprecated(settings):
        raise UsageError(
            f"deprecate belongs to the oci-primary phase, not {settings.channels.phase!r}: "
            "move there first (`chartship migrate phase oci-primary`, which checks parity)"
        )
    require_parity(parity(settings, environ=environ))
    return pages.update_file(
        settings,
        README,
        lambda old: _with_notice(settings, old),
        subject="Deprecate this chart repository in favour of OCI",
        dry_run=dry_run,
        environ=environ,
    )


def is_deprecated(settings: Settings) -> bool:
    text = pages.read_file(settings, README)
    return text is not None and NOTICE_START in text


# --------------------------------------------------------------------------- phases


def _classic_dependencies(settings: Settings) -> list[str]:
    """Dependencies fetched from a classic HTTP repository: they tie the build to that channel."""
    found = []
    for chart in chartfiles.load_all(chartfiles.discover(settings)):
        for dep in chart.dependencies:
            repo = dep.repository or ""
            if repo.startswith(("http://", "https://")):
                found.append(
                    f"{chart.name} depends on {dep.name} {dep.version or ''} from the classic "
                    f"repository {repo} ({chart.chart_yaml}); publish {dep.name} to OCI and "
                    "point the dependency at its oci:// repository"
                )
    return found


def preconditions(
    settings: Settings, to: str, *, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Why moving to phase ``to`` is not safe yet; empty when it is."""
    environ = os.environ if environ is None else environ
    current = settings.channels.phase
    if to not in PHASES:
        raise UsageError(f"unknown phase {to!r}; phases: {', '.join(PHASES)}")
    if PHASES.index(to) <= PHASES.index(current):
        return []
    if PHASES.index(to) > PHASES.index(current) + 1:
        nxt = PHASES[PHASES.index(current) + 1]
        return [f"phases are entered one at a time: {current} -> {nxt} first"]
    reasons: list[str] = []
    if settings.channels.oci is None:
        return ["channels.oci is not configured"]
    if to == "dual":
        registry = connect(settings, environ)
        try:
            registry.client.ping()
        except ChartshipError as exc:
            reasons.append(f"the OCI registry {registry.target.url} is not usable: {exc}")
        return reasons
    result = parity(settings, environ=environ)
    reasons += [f"{r.chart} {r.version}: {why}" for r, why in result.drift]
    if to == "oci-only":
        if not is_deprecated(settings):
            reasons.append(
                "the classic channel carries no deprecation notice yet (run migrate deprecate)"
            )
        reasons += _classic_dependencies(settings)
    return reasons


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
    reasons = preconditions(settings, to, environ=environ)
    if reasons:
        raise ChecksFailed(
            f"cannot move from {settings.channels.phase} to {to}:\n"
            + "\n".join(f"  - {r}" for r in reasons),
            count=len(reasons),
        )
    if settings.channels.phase == to:
        return [f"phase is already {to}"]
    if not dry_run:
        _write_phase(settings, to)
    verb = "would move" if dry_run else "moved"
    return [f"phase: {verb} from {settings.channels.phase} to {to} ({settings.source})"]

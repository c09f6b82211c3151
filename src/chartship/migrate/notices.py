"""The words classic-channel users see once the channel is deprecated.

Written for people who install charts, not for whoever runs chartship: no
phase names, no step names, only what is where and the helm commands to use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chartship.channels.classic.pages import base_url
from chartship.config import PagesSettings, Settings
from chartship.errors import UsageError

if TYPE_CHECKING:
    from chartship.migrate.inventory import Inventory, Row

DEPRECATED_PHASES = ("oci-primary", "oci-only")

#: Why a version is not in the OCI registry, in a chart user's words, by anomaly kind.
_WHY = {
    "placeholder": "a development build (the unstamped version), never a release",
    "asset-missing": "its released archive is missing, so its bytes cannot be checked",
    "digest-mismatch": "the archive served for it does not match the checksum index.yaml lists",
    "duplicate": "index.yaml lists it more than once",
    "unsafe-archive": "its archive fails the safety checks for chart archives",
    "not-semver": "its version is not a SemVer version, which OCI registries require",
    "no-digest": "index.yaml lists no checksum for it, so its bytes cannot be checked",
    "no-url": "index.yaml lists no download URL for it",
}


def classic_deprecated(settings: Settings) -> bool:
    return settings.channels.phase in DEPRECATED_PHASES


def _oci_base(settings: Settings) -> str:
    if settings.channels.oci is None:
        raise UsageError("channels.oci is not configured: there is no OCI registry to move to")
    return settings.channels.oci.repository.rstrip("/")


def _until(settings: Settings) -> str:
    sunset = settings.channels.pages.sunset if settings.channels.pages else None
    return f" and receives no new chart versions after {sunset}" if sunset else ""


def move_to_oci(settings: Settings, chart: str | None = None) -> str:
    """One paragraph: the classic repository is deprecated, and the OCI reference to use."""
    pages = settings.channels.pages
    where = f"The chart repository at {base_url(pages.index_url)}" if pages else "This repository"
    if settings.channels.oci is None:
        return f"{where} is deprecated{_until(settings)}."
    base = _oci_base(settings)
    ref = f"{base}/{chart}" if chart else f"{base}/<chart>"
    return (
        f"{where} is deprecated{_until(settings)}. New versions are published at "
        f"{base}: `helm install <release> {ref} --version <version>`."
    )


def _why(row: Row) -> str:
    kinds = [a.kind for a in row.anomalies] or list(row.decision.anomalies if row.decision else [])
    reasons = [_WHY.get(kind, "it could not be copied unchanged") for kind in kinds]
    text = "; ".join(dict.fromkeys(reasons)) or "it was not copied"
    if row.decision is not None:
        text += f" (maintainers' note: {row.decision.reason})"
    return text


def require_sunset(settings: Settings) -> tuple[PagesSettings, str]:
    """The pages channel and its ``sunset`` date, which a deprecation notice must give."""
    pages = settings.channels.pages
    if pages is None or not pages.sunset:
        raise UsageError(
            "set channels.pages.sunset (YYYY-MM-DD) in chartship.yaml: the notice tells users "
            "the date after which this repository receives no new versions"
        )
    return pages, pages.sunset


def deprecation_notice(settings: Settings, inventory: Inventory) -> str:
    """The Markdown notice for the pages site: where to go, how, and what is not there."""
    pages, sunset = require_sunset(settings)
    base = _oci_base(settings)
    charts = sorted({r.chart for r in inventory.rows}) or ["<chart>"]
    lines = [
        "## This chart repository is deprecated",
        "",
        f"The chart repository at {base_url(pages.index_url)} receives no new chart "
        f"versions after {sunset}. The versions it serves stay available. New "
        f"versions are published to the OCI registry at `{base}`.",
        "",
        "To switch, use the OCI reference instead of the repository name:",
        "",
        "```console",
    ]
    for chart in charts:
        lines += [
            f"helm pull {base}/{chart} --version <version>",
            f"helm install <release> {base}/{chart} --version <version>",
        ]
    lines += [
        "```",
        "",
        "A chart that depends on one of these names the registry in its Chart.yaml:",
        "",
        "```yaml",
        "dependencies:",
        f"  - name: {charts[0]}",
        "    version: <version>",
        f"    repository: {base}",
        "```",
        "",
    ]
    served = [r for r in inventory.rows if r.in_index or r.asset]
    missing = [r for r in served if not r.in_oci]
    if missing:
        lines += ["Not available from the OCI registry (install these from this repository):", ""]
        lines += [f"- {r.chart} {r.version}: {_why(r)}" for r in missing]
        lines.append("")
    else:
        lines += ["Every version this repository serves is also in the OCI registry.", ""]
    differ = [r for r in served if r.in_oci and r.in_index and r.digests_equal is False]
    if differ:
        lines += [
            "In the OCI registry with other bytes than this repository's index.yaml lists "
            "(the registry has the released archive):",
            "",
        ]
        lines += [
            f"- {r.chart} {r.version}: OCI {r.oci_digest}, index.yaml sha256:{r.index_digest}"
            for r in differ
        ]
        lines.append("")
    return "\n".join(lines)

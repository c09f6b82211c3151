"""The words classic-channel users see once the channel is deprecated."""

from __future__ import annotations

from chartship.config import Settings

DEPRECATED_PHASES = ("oci-primary", "oci-only")


def classic_deprecated(settings: Settings) -> bool:
    return settings.channels.phase in DEPRECATED_PHASES


def move_to_oci(settings: Settings, chart: str | None = None) -> str:
    """One paragraph: the classic repository is deprecated, and the OCI reference to use."""
    pages = settings.channels.pages
    oci = settings.channels.oci
    where = f"The chart repository at {pages.index_url}" if pages else "This chart repository"
    if oci is None:
        return f"{where} is deprecated."
    base = oci.repository.rstrip("/")
    ref = f"{base}/{chart}" if chart else f"{base}/<chart>"
    return (
        f"{where} is deprecated and will receive no new versions once chartship's "
        f"OCI-only phase begins. Every version it serves is also published, with the "
        f"same bytes, at {base}: `helm install <release> {ref} --version <version>`."
    )

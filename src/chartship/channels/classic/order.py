"""helm's order of the versions of one chart in index.yaml: highest first.

Precedence is SemVer's as helm's Masterminds semver parses it (a leading
``v`` and missing minor or patch numbers allowed); versions it cannot parse
sort last.
"""

from __future__ import annotations

import re

_LOOSE_VERSION = re.compile(
    r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)

VersionKey = tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]


def version_key(version: str) -> VersionKey | None:
    """Sort key with helm's precedence (Masterminds semver); None if helm cannot parse it.

    Build metadata is ignored, as SemVer says; numeric prerelease identifiers
    compare as numbers and below alphanumeric ones.
    """
    match = _LOOSE_VERSION.match(version)
    if match is None:
        return None
    major, minor, patch, pre, _build = match.groups()
    if not pre:
        return (int(major), int(minor or 0), int(patch or 0), 1, ())
    parts = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return (int(major), int(minor or 0), int(patch or 0), 0, parts)


def sorts_before(new: VersionKey | None, existing: VersionKey | None) -> bool:
    """Whether a new version goes before an existing one in helm's order (highest first).

    Versions helm cannot parse sort last; equal precedence keeps the existing first.
    """
    if existing is None:
        return new is not None
    return new is not None and new > existing

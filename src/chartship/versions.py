"""Chart versions: strict SemVer 2, the unstamped placeholder, and helm's rules.

Helm itself accepts loose versions ("1.2", "v1.2.3"); a release tool must not,
because OCI tags, index entries and git tags are all derived from the string.
"""

from __future__ import annotations

import re

import semver

from chartship.errors import VersionError
from chartship.safetext import shown

#: What MetalLB and others keep in Chart.yaml on main until a release stamps it.
PLACEHOLDER = "0.0.0"
#: The longest version an OCI registry can hold as a tag: the distribution spec's
#: tag grammar is ``[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}``, and a SemVer version
#: (with '+' written '_', as helm does) is in that alphabet.
MAX_LENGTH = 128


def parse(text: object, *, what: str = "version") -> semver.Version:
    """Parse a strict SemVer 2 version of at most :data:`MAX_LENGTH` characters,
    or raise :class:`VersionError`."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise VersionError(f"{what} {shown(text)} is not a SemVer 2 version")
    # YAML reads 1.2 as a number; helm reads it as the string "1.2".
    text = str(text)
    if len(text) > MAX_LENGTH:
        raise VersionError(
            f"{what} {shown(text, 40)} is longer than {MAX_LENGTH} characters, "
            "the longest tag an OCI registry accepts"
        )
    try:
        return semver.Version.parse(text)
    except ValueError:
        hint = " (drop the leading 'v')" if text[:1] in "vV" else ""
        raise VersionError(f"{what} {shown(text)} is not a SemVer 2 version{hint}") from None


def is_valid(text: object) -> bool:
    return isinstance(text, str) and len(text) <= MAX_LENGTH and semver.Version.is_valid(text)


def is_placeholder(text: object) -> bool:
    return text == PLACEHOLDER


def oci_tag(version: str) -> str:
    """The tag helm stores a chart version under: OCI tags cannot hold '+'."""
    return version.replace("+", "_")


def is_prerelease(version: str) -> bool:
    return parse(version).prerelease is not None


def highest(versions: list[str]) -> str | None:
    """The highest of the given versions by SemVer precedence, ignoring invalid ones."""
    valid = [v for v in versions if is_valid(v)]
    if not valid:
        return None
    return max(valid, key=semver.Version.parse)


# Masterminds/semver constraint grammar as helm evaluates kubeVersion:
# comma (or space) separated AND terms joined by "||", each an operator and a
# possibly partial version with x/X/* wildcards, or a hyphen range.
_PARTIAL = (
    r"v?(?:0|[1-9]\d*|[xX*])(?:\.(?:0|[1-9]\d*|[xX*])){0,2}"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
_TERM = re.compile(rf"^(?:(?:=|!=|>=|=>|<=|=<|>|<|~>|~|\^)\s*)?{_PARTIAL}$")
_OPERATOR_GAP = re.compile(r"(!=|>=|=>|<=|=<|~>|[=><~^])\s+")
_HYPHEN = re.compile(rf"^{_PARTIAL}\s+-\s+{_PARTIAL}$")


def is_valid_constraint(text: object) -> bool:
    """Whether ``text`` is a version constraint helm can evaluate."""
    if not isinstance(text, str) or not text.strip():
        return False
    for alternative in text.split("||"):
        alternative = alternative.strip()
        if not alternative:
            return False
        if _HYPHEN.match(alternative):
            continue
        joined = _OPERATOR_GAP.sub(r"\1", alternative)
        terms = re.split(r"\s*,\s*|\s+", joined)
        if not all(_TERM.match(t) for t in terms):
            return False
    return True

"""Chart versions: strict SemVer 2, the unstamped placeholder, and helm's rules.

Helm itself accepts loose versions ("1.2", "v1.2.3"); a release tool must not,
because OCI tags, index entries and git tags are all derived from the string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import semver

from chartship.errors import UsageError, VersionError
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


def is_valid_constraint(text: object) -> bool:
    """Whether ``text`` is a version constraint helm can evaluate (Masterminds/semver v3)."""
    if not isinstance(text, str) or not text.strip():
        return False
    try:
        _groups(text)
    except VersionError:
        return False
    return True


#: Versions as helm itself reads Chart.yaml's version (Masterminds' NewVersion):
#: partial, an optional ``v``, leading zeros allowed.
_LOOSE = re.compile(
    r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$"
)


def is_helm_version(text: object) -> bool:
    """Whether helm accepts ``text`` as a chart version (looser than :func:`is_valid`)."""
    return isinstance(text, str) and _LOOSE.match(text) is not None


# --------------------------------------------------------------------------- constraint checks

# Masterminds/semver v3 (what helm 3.19 and 4.3 resolve dependencies with), ported
# rule for rule: parsing, hyphen ranges, wildcards, and prereleases admitted only
# by an AND group that names one.
_CV = (
    r"v?([0-9x*X]+)(\.[0-9x*X]+)?(\.[0-9x*X]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
_ONE = re.compile(rf"^\s*({_OPS})\s*({_CV})\s*$")
_RANGE = re.compile(rf"\s*({_CV})\s+-\s+({_CV})\s*")
_FIND = re.compile(rf"({_OPS})\s*({_CV})")
_VALID = re.compile(rf"^(\s*({_OPS})\s*({_CV})\s*)((?:\s+|,\s*)({_OPS})\s*({_CV})\s*)*$")


def _is_x(part: str | None) -> bool:
    return part in ("x", "X", "*")


@dataclass(frozen=True)
class _Term:
    op: str
    con: semver.Version
    dirty: bool
    minor_dirty: bool
    patch_dirty: bool

    def check(self, v: semver.Version, include_pre: bool) -> bool:
        if v.prerelease and not include_pre:
            return False
        return bool(_CHECKS[self.op](v, self))


def _term(text: str) -> _Term:
    if not text:
        return _Term("", semver.Version(0, 0, 0), True, False, False)
    m = _ONE.match(text)
    if m is None:
        raise VersionError(f"improper constraint {text!r}")
    major, minor, patch = m.group(3), m.group(4), m.group(5)
    pre = m.group(6) or ""
    minor_dirty = patch_dirty = dirty = False
    if _is_x(major) or not major:
        ver, dirty = f"0.0.0{pre}", True
    elif minor is None or _is_x(minor[1:]):
        ver, dirty, minor_dirty = f"{major}.0.0{pre}", True, True
    elif patch is None or _is_x(patch[1:]):
        ver, dirty, patch_dirty = f"{major}{minor}.0{pre}", True, True
    else:
        ver = f"{int(major)}.{int(minor[1:])}.{int(patch[1:])}{pre}"
    # Masterminds reads numbers with ParseUint: leading zeros (1.05.0) are fine.
    numbers, _, rest = ver.partition("-")
    ver = ".".join(str(int(n)) for n in numbers.split(".")) + (f"-{rest}" if rest else "")
    try:
        con = semver.Version.parse(ver.split("+")[0], optional_minor_and_patch=True)
    except ValueError:
        raise VersionError(f"improper constraint {text!r}") from None
    return _Term(m.group(1), con, dirty, minor_dirty, patch_dirty)


def _cmp(v: semver.Version, o: semver.Version) -> int:
    # Build metadata never counts, in SemVer as in Masterminds.
    return v.replace(build=None).compare(o.replace(build=None))


def _not_equal(v: semver.Version, c: _Term) -> bool:
    if c.dirty:
        if c.con.major != v.major:
            return True
        if c.con.minor != v.minor and not c.minor_dirty:
            return True
        if c.minor_dirty:
            return False
        if c.con.patch != v.patch and not c.patch_dirty:
            return True
        if c.patch_dirty:
            # Same X.Y: only the prereleases can still differ.
            return (v.prerelease or "") != (c.con.prerelease or "")
    return _cmp(v, c.con) != 0


def _greater(v: semver.Version, c: _Term) -> bool:
    if not c.dirty:
        return _cmp(v, c.con) == 1
    if v.major != c.con.major:
        return v.major > c.con.major
    if c.minor_dirty:
        return False
    if c.patch_dirty:
        return v.minor > c.con.minor
    return _cmp(v, c.con) == 1


def _less_equal(v: semver.Version, c: _Term) -> bool:
    if not c.dirty:
        return _cmp(v, c.con) <= 0
    if v.major > c.con.major:
        return False
    return not (v.major == c.con.major and v.minor > c.con.minor and not c.minor_dirty)


def _tilde(v: semver.Version, c: _Term) -> bool:
    if _cmp(v, c.con) < 0:
        return False
    if (c.con.major, c.con.minor, c.con.patch) == (0, 0, 0) and not (
        c.minor_dirty or c.patch_dirty
    ):
        return True
    if v.major != c.con.major:
        return False
    return v.minor == c.con.minor or c.minor_dirty


def _tilde_or_equal(v: semver.Version, c: _Term) -> bool:
    return _tilde(v, c) if c.dirty else _cmp(v, c.con) == 0


def _caret(v: semver.Version, c: _Term) -> bool:
    if _cmp(v, c.con) < 0:
        return False
    if c.con.major > 0 or c.minor_dirty:
        return v.major == c.con.major
    if v.major > 0:
        return False
    if c.con.minor > 0 or c.patch_dirty:
        return v.minor == c.con.minor
    if v.minor > 0:
        return False
    return v.patch == c.con.patch


_CHECKS = {
    "": _tilde_or_equal,
    "=": _tilde_or_equal,
    "!=": _not_equal,
    ">": _greater,
    "<": lambda v, c: _cmp(v, c.con) < 0,
    ">=": lambda v, c: _cmp(v, c.con) >= 0,
    "=>": lambda v, c: _cmp(v, c.con) >= 0,
    "<=": _less_equal,
    "=<": _less_equal,
    "~": _tilde,
    "~>": _tilde,
    "^": _caret,
}


def _groups(constraint: str) -> list[list[_Term]]:
    text = _RANGE.sub(lambda m: f">= {m.group(1)}, <= {m.group(11)} ", constraint)
    groups = []
    for alternative in text.split("||"):
        if not _VALID.match(alternative):
            raise VersionError(f"improper constraint {constraint!r}")
        found = [m.group(0) for m in _FIND.finditer(alternative)] or [alternative]
        groups.append([_term(t) for t in found])
    return groups


def satisfies(version: str, constraint: str) -> bool:
    """Whether helm resolves a dependency pinned by ``constraint`` to ``version``."""
    v = parse(version)
    for group in _groups(constraint):
        include_pre = any(t.con.prerelease for t in group)
        if all(t.check(v, include_pre) for t in group):
            return True
    return False


_RETARGETABLE = re.compile(
    r"^(?P<op>=|~>|~|\^|>=|=>)?\s*(?P<v>v?)(?P<parts>[0-9xX*]+(?:\.[0-9xX*]+){0,2})"
    r"(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"
)


def retarget(constraint: str, version: str) -> str | None:
    """``constraint`` moved up so that it admits ``version``, in the same form.

    Only one-term constraints that pin a floor move: ``1.2.3``, ``=1.2.3``,
    ``~1.2``, ``^1.2.3``, ``1.2.x``, ``>=1.2``. Each number given is replaced
    by the new version's, wildcards stay (``0.1.x`` -> ``0.2.x``); when that
    form cannot admit a prerelease the whole new version is written
    (``~0.1.0`` -> ``~0.2.0-rc.1``). None: a form whose intent is not a
    floor (``<``, ranges, alternatives), which a person has to edit.
    """
    match = _RETARGETABLE.match(constraint.strip())
    if match is None:
        return None
    new = parse(version)
    op = match.group("op") or ""
    numbers = (str(new.major), str(new.minor), str(new.patch))
    parts = match.group("parts").split(".")
    shaped = ".".join(p if _is_x(p) else numbers[i] for i, p in enumerate(parts))
    plain = str(new.replace(build=None))
    for candidate in (f"{op}{match.group('v')}{shaped}", f"{op}{match.group('v')}{plain}"):
        if satisfies(version, candidate):
            return candidate
    return None


# --------------------------------------------------------------------------- next versions

Level = Literal["major", "minor", "patch"]
_PRE_ID = re.compile(r"^[0-9A-Za-z-]+$")
_PRE_ID_RULE = "a prerelease identifier is letters, digits and '-', and not only digits"


def is_pre_id(text: str) -> bool:
    """Whether ``text`` can open a ``ID.N`` prerelease (a number there would be N)."""
    return bool(_PRE_ID.match(text)) and not text.isdigit()


def next_version(
    base: str, level: Level | None = None, pre: str | None = None, taken: Iterable[str] = ()
) -> str:
    """The version after ``base`` for ``--patch``/``--minor``/``--major`` and ``--pre ID``.

    The level (patch when only ``pre`` is given) names the release to reach:
    one level up from ``base``, except that a prerelease of a version that is
    already that level up is finished instead (1.3.0-rc.2 --minor -> 1.3.0,
    1.2.4-rc.1 --patch -> 1.2.4, 1.2.4-rc.1 --minor -> 1.3.0). With ``pre``,
    that release's next ``ID.N`` prerelease: N is one above the highest
    among ``base`` and ``taken`` (released versions), else 1
    (1.2.3 --pre rc -> 1.2.4-rc.1; 1.2.4-rc.1 --pre rc -> 1.2.4-rc.2).
    """
    if pre is not None and not is_pre_id(pre):
        raise VersionError(f"--pre {pre!r}: {_PRE_ID_RULE}")
    start = parse(base)
    core = start.replace(prerelease=None, build=None)
    finishing = start.prerelease is not None
    level = level or "patch"
    if level == "patch":
        target = core if finishing else core.bump_patch()
    elif level == "minor":
        target = core if finishing and core.patch == 0 else core.bump_minor()
    else:
        target = core if finishing and core.patch == core.minor == 0 else core.bump_major()
    if pre is None:
        return str(target)
    numbers = [0]
    for seen in (base, *taken):
        if not is_valid(seen):
            continue
        candidate = parse(seen)
        ids = (candidate.prerelease or "").split(".")
        if (
            candidate.replace(prerelease=None, build=None) == target
            and len(ids) == 2
            and ids[0] == pre
            and ids[1].isdigit()
        ):
            numbers.append(int(ids[1]))
    result = str(target.replace(prerelease=f"{pre}.{max(numbers) + 1}"))
    if parse(result) <= start:
        raise VersionError(f"{result} (--pre {pre}) would not be higher than {base}")
    return result


@dataclass(frozen=True)
class Increment:
    """``--patch``/``--minor``/``--major`` and ``--pre ID``: each chart's own next version.

    The rule is :func:`next_version`'s; bump counts from the higher of the
    chart's version (unless it is the placeholder) and its highest release tag.
    """

    level: Level | None = None
    pre: str | None = None

    def flags(self) -> str:
        parts = [f"--{self.level}"] if self.level else []
        if self.pre is not None:
            parts.append(f"--pre {self.pre}")
        return " ".join(parts)


def version_request(
    version: str | None = None,
    *,
    patch: bool = False,
    minor: bool = False,
    major: bool = False,
    pre: str | None = None,
) -> str | Increment:
    """What the bump flags ask for: an explicit version or an :class:`Increment`."""
    flags: tuple[tuple[Level, bool], ...] = (
        ("patch", patch),
        ("minor", minor),
        ("major", major),
    )
    levels = [level for level, given in flags if given]
    if version and (levels or pre):
        raise UsageError(
            "--version names the version itself; it cannot be combined with "
            "--patch, --minor, --major or --pre"
        )
    if len(levels) > 1:
        raise UsageError("give only one of --patch, --minor and --major")
    if version:
        parse(version, what="--version")
        return version
    if not levels and not pre:
        raise UsageError("bump needs --version X.Y.Z, --patch, --minor, --major or --pre ID")
    if pre is not None and not is_pre_id(pre):
        raise UsageError(f"--pre {pre!r}: {_PRE_ID_RULE}")
    return Increment(levels[0] if levels else None, pre or None)

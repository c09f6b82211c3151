"""Version rules: strict SemVer, helm's OCI tag form, kubeVersion constraints."""

from __future__ import annotations

import pytest

from chartship import versions
from chartship.errors import VersionError


@pytest.mark.parametrize(
    "good", ["0.0.0", "1.2.3", "1.2.3-rc.1", "1.2.3+build.4", "1.2.3-rc.1+b.2"]
)
def test_valid(good: str) -> None:
    assert versions.parse(good)
    assert versions.is_valid(good)


@pytest.mark.parametrize(
    "bad", ["1.2", "v1.2.3", "01.2.3", "1.2.3.4", "", "latest", 1.2, None, True]
)
def test_invalid(bad: object) -> None:
    assert not versions.is_valid(bad)
    with pytest.raises(VersionError, match="SemVer 2"):
        versions.parse(bad)


def test_leading_v_gets_a_hint() -> None:
    with pytest.raises(VersionError, match="drop the leading 'v'"):
        versions.parse("v1.2.3")


def test_oci_tag_and_prerelease() -> None:
    assert versions.oci_tag("1.2.3+build.4") == "1.2.3_build.4"
    assert versions.oci_tag("1.2.3-rc.1") == "1.2.3-rc.1"
    assert versions.is_prerelease("1.2.3-rc.1")
    assert not versions.is_prerelease("1.2.3+meta")


def test_highest_uses_semver_precedence() -> None:
    assert versions.highest(["0.9.0", "0.10.0", "0.10.0-rc.1", "junk"]) == "0.10.0"
    assert versions.highest(["junk"]) is None


@pytest.mark.parametrize(
    "constraint",
    [
        ">= 1.19.0-0",
        ">=1.19.0-0 <1.30",
        "^1.2",
        "~1.2.x",
        "1.2 - 1.4.5",
        ">= 1.19.0-0 || < 1.0",
        ">=1.2, <2",
        "1.x",
        "*",
        "v1.20",
        "=1.2.3",
        "!=1.2.3",
        "~>1.2",
    ],
)
def test_valid_constraints(constraint: str) -> None:
    assert versions.is_valid_constraint(constraint)


@pytest.mark.parametrize(
    "constraint", ["banana", ">= 1.19.0-0,", ">== 1.2", "", "||", 1.19, "1.2.3.4"]
)
def test_invalid_constraints(constraint: object) -> None:
    assert not versions.is_valid_constraint(constraint)


@pytest.mark.parametrize(
    ("base", "level", "pre", "taken", "expected"),
    [
        ("1.2.3", "patch", None, [], "1.2.4"),
        ("1.2.3", "minor", None, [], "1.3.0"),
        ("1.2.3", "major", None, [], "2.0.0"),
        ("1.2.3+build.7", "patch", None, [], "1.2.4"),
        # A prerelease of the version the level reaches is finished.
        ("1.2.4-rc.1", "patch", None, [], "1.2.4"),
        ("1.3.0-rc.2", "minor", None, [], "1.3.0"),
        ("2.0.0-rc.1", "major", None, [], "2.0.0"),
        # ... and one of a lower level goes on to the next of this level.
        ("1.2.4-rc.1", "minor", None, [], "1.3.0"),
        ("1.2.4-rc.1", "major", None, [], "2.0.0"),
        ("1.3.0-rc.1", "major", None, [], "2.0.0"),
        ("1.2.3", None, "rc", [], "1.2.4-rc.1"),
        ("1.2.4-rc.1", None, "rc", [], "1.2.4-rc.2"),
        ("1.2.4-rc.9", None, "rc", [], "1.2.4-rc.10"),
        ("1.2.3", "minor", "rc", [], "1.3.0-rc.1"),
        ("1.3.0-rc.1", "minor", "rc", [], "1.3.0-rc.2"),
        ("1.2.3", "major", "beta", [], "2.0.0-beta.1"),
        ("1.2.4-alpha.3", None, "beta", [], "1.2.4-beta.1"),
        ("1.2.4-rc", None, "rc", [], "1.2.4-rc.1"),
        # Released prereleases of the same version count; other versions and IDs do not.
        (
            "1.2.3",
            None,
            "rc",
            ["1.2.4-rc.1", "1.2.4-rc.3", "1.2.4-beta.7", "1.2.5-rc.8"],
            "1.2.4-rc.4",
        ),
    ],
)
def test_next_version(
    base: str, level: versions.Level | None, pre: str | None, taken: list[str], expected: str
) -> None:
    assert versions.next_version(base, level, pre, taken) == expected


@pytest.mark.parametrize(("base", "pre"), [("1.2.4-rc.1", "alpha"), ("1.2.4-rc.3", "rc.2")])
def test_next_version_never_goes_down(base: str, pre: str) -> None:
    with pytest.raises(VersionError):
        versions.next_version(base, None, pre)


@pytest.mark.parametrize(
    ("constraint", "version", "moved"),
    [
        ("0.1.0", "0.2.0", "0.2.0"),
        ("=0.1.0", "0.2.0", "=0.2.0"),
        ("v0.1.0", "0.2.0", "v0.2.0"),
        ("~0.1.0", "0.2.0", "~0.2.0"),
        ("~>0.1", "0.2.0", "~>0.2"),
        ("^0.1.0", "0.2.0", "^0.2.0"),
        ("^1", "2.0.0", "^2"),
        ("0.1.x", "0.2.0", "0.2.x"),
        ("1.x", "2.0.0", "2.x"),
        (">=0.1.0", "0.2.0-rc.1", ">=0.2.0-rc.1"),
        ("~0.1.0", "0.2.0-rc.1", "~0.2.0-rc.1"),
        ("0.1.x", "0.2.0-rc.1", "0.2.0-rc.1"),
        (" ~0.1.0 ", "0.2.0", "~0.2.0"),
        ("<0.2.0", "0.2.0", None),
        (">=0.1.0 <0.2.0", "0.2.0", None),
        ("0.1.0 || 0.1.1", "0.2.0", None),
        ("!=0.2.0", "0.2.0", None),
        ("1.0 - 1.5", "2.0.0", None),
    ],
)
def test_retarget(constraint: str, version: str, moved: str | None) -> None:
    assert versions.retarget(constraint, version) == moved
    if moved is not None:
        assert versions.satisfies(version, moved)


def test_satisfies_refuses_what_helm_cannot_parse() -> None:
    with pytest.raises(VersionError, match="improper constraint"):
        versions.satisfies("1.0.0", ">== 1.0")

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

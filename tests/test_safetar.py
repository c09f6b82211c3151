"""Downloaded chart archives are read as hostile input: every refusal, and what passes."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from chartship.errors import ChartError
from chartship.helm import Helm
from chartship.safetar import Limits, check_identity, inspect_chart_archive

CHART_YAML = b"apiVersion: v2\nname: demo\nversion: 1.0.0\n"
SOURCE = "demo-1.0.0.tgz (http://127.0.0.1:9/demo-1.0.0.tgz)"


Member = tuple[tarfile.TarInfo, bytes]


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def archive(*members: Member, mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:  # type: ignore[call-overload]
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


GOOD = [
    member("demo/Chart.yaml", CHART_YAML),
    member("demo/templates", kind=tarfile.DIRTYPE),
    member("demo/templates/cm.yaml", b"kind: ConfigMap\n"),
    member("demo/charts/sub/Chart.yaml", b"apiVersion: v2\nname: sub\nversion: 0.1.0\n"),
]


def refused(data: bytes, match: str, limits: Limits | None = None) -> ChartError:
    with pytest.raises(ChartError, match=match) as caught:
        inspect_chart_archive(data, source=SOURCE, limits=limits)
    assert str(caught.value).startswith(SOURCE + ": ")
    return caught.value


def test_a_normal_chart_passes_and_names_itself() -> None:
    info = inspect_chart_archive(archive(*GOOD), source=SOURCE)
    assert info.top == "demo"
    assert info.chart == {"apiVersion": "v2", "name": "demo", "version": "1.0.0"}
    check_identity(info, chart="demo", version="1.0.0", source=SOURCE)


def test_a_requirements_yaml_gives_the_dependencies_as_helms_loader_does() -> None:
    requirements = b"dependencies:\n- name: sub\n  version: 0.1.0\n"
    info = inspect_chart_archive(
        archive(*GOOD, member("demo/requirements.yaml", requirements)), source=SOURCE
    )
    assert info.chart["dependencies"] == [{"name": "sub", "version": "0.1.0"}]
    # One inside a subchart is that subchart's, not this chart's.
    nested = member("demo/charts/sub/requirements.yaml", requirements)
    assert "dependencies" not in inspect_chart_archive(archive(*GOOD, nested), source=SOURCE).chart
    twice = b"dependencies: []\ndependencies: []\n"
    refused(archive(*GOOD, member("demo/requirements.yaml", twice)), "requirements.yaml")


@pytest.mark.parametrize(
    ("chart", "version", "match"),
    [
        ("other", "1.0.0", "holds demo 1.0.0, but the index entry is other 1.0.0"),
        ("demo", "1.0", r"holds demo 1\.0\.0, but the index entry is demo 1\.0$"),
    ],
)
def test_identity_must_match_the_entry_exactly(chart: str, version: str, match: str) -> None:
    info = inspect_chart_archive(archive(*GOOD), source=SOURCE)
    with pytest.raises(ChartError, match=match):
        check_identity(info, chart=chart, version=version, source=SOURCE)


def test_top_directory_must_be_the_chart_name() -> None:
    info = inspect_chart_archive(archive(member("renamed/Chart.yaml", CHART_YAML)), source=SOURCE)
    with pytest.raises(ChartError, match="top directory is 'renamed', not the chart name 'demo'"):
        check_identity(info, chart="demo", version="1.0.0", source=SOURCE)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (member("/etc/passwd", b"x"), "'/etc/passwd' has an absolute path"),
        (member("C:/evil", b"x"), "'C:/evil' has an absolute path"),
        (member("demo/../../evil", b"x"), r"climbs out of the archive with '\.\.'"),
        (member("demo/l", kind=tarfile.SYMTYPE, link="/etc"), r"'demo/l' is a link \(to '/etc'\)"),
        (member("demo/h", kind=tarfile.LNKTYPE, link="demo/Chart.yaml"), "'demo/h' is a link"),
        (member("demo/c", kind=tarfile.CHRTYPE), "'demo/c' is a device or FIFO"),
        (member("demo/b", kind=tarfile.BLKTYPE), "'demo/b' is a device or FIFO"),
        (member("demo/f", kind=tarfile.FIFOTYPE), "'demo/f' is a device or FIFO"),
        (member("demo/Chart.yaml", b"name: shadow\n"), "'demo/Chart.yaml' appears twice"),
        (member("other/x.yaml", b"x"), "one top-level directory, found: demo, other"),
    ],
    ids=[
        "absolute", "drive", "dotdot", "symlink", "hardlink", "char-device", "block-device",
        "fifo", "duplicate", "two-tops",
    ],
)  # fmt: skip
def test_hostile_members_are_refused(extra: Member, match: str) -> None:
    refused(archive(*GOOD, extra), match)


def test_size_limits() -> None:
    small = Limits(max_member_bytes=1000, max_total_bytes=5000, max_members=5)
    refused(
        archive(*GOOD, member("demo/big", b"x" * 2000)), "declares 2000 bytes, over 1000", small
    )
    many = [member(f"demo/f{n}", b"x") for n in range(6)]
    refused(archive(member("demo/Chart.yaml", CHART_YAML), *many), "more than 5 members", small)
    wide = [member(f"demo/f{n}", b"x" * 1000) for n in range(3)]
    total = Limits(max_member_bytes=1000, max_total_bytes=2500)
    refused(archive(member("demo/Chart.yaml", CHART_YAML), *wide), "inflates to over 2500", total)


def test_an_archive_bomb_is_stopped_by_its_ratio() -> None:
    bomb = archive(member("demo/Chart.yaml", CHART_YAML), member("demo/z", b"\0" * (3 * 2**20)))
    refused(bomb, "inflates more than 200 times its size", Limits(max_member_bytes=2**30))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"not an archive at all", "not a readable .tgz chart archive"),
        (archive(*GOOD)[:60], "not a readable .tgz chart archive"),
        (archive(*GOOD, mode="w"), "not a readable .tgz chart archive"),
        (archive(member("demo/values.yaml", b"a: 1\n")), r"no demo/Chart\.yaml"),
        (archive(member("demo/Chart.yaml", b"name: [unclosed\n")), "not valid YAML"),
        (archive(member("demo/Chart.yaml", b"- a list\n")), "is not a mapping"),
    ],
    ids=["not-gzip", "truncated", "plain-tar", "no-chart-yaml", "bad-yaml", "list"],
)
def test_unreadable_archives(data: bytes, match: str) -> None:
    refused(data, match)


def test_reads_what_helm_packages(helm: Helm, tmp_path: Path) -> None:
    # helm's gzip header carries an extra field, which tarfile's streaming reader mishandles.
    helm.run(["create", str(tmp_path / "made")])
    helm.run(["package", str(tmp_path / "made"), "--destination", str(tmp_path)])
    data = (tmp_path / "made-0.1.0.tgz").read_bytes()
    assert data[3] & 4, "expected helm to write a gzip FEXTRA field"
    info = inspect_chart_archive(data, source="made-0.1.0.tgz")
    check_identity(info, chart="made", version="0.1.0", source="made-0.1.0.tgz")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        files = {m.name for m in tar if m.isfile()}
    assert set(info.files) == files
    assert "made/values.yaml" in info.files

"""Opening a downloaded chart archive without trusting it.

Old archives come from a web server chartship does not control; before one is
copied anywhere it is read as a stream, in memory, and refused for anything a
chart archive never needs: paths that escape, links, devices, members larger
than declared or than any chart, and archives that inflate without bound.
Nothing is ever extracted to disk.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import yaml

from chartship import yamlfiles
from chartship.artifacts import as_loaded
from chartship.errors import ChartError

_CHUNK = 64 * 1024
#: The ratio check starts after this much output, so tiny archives never trip it.
_RATIO_FLOOR = 2**20
#: Tar headers and padding on top of the members' own bytes.
_TAR_SLACK = 2**20


@dataclass(frozen=True)
class Limits:
    max_members: int = 10_000
    max_member_bytes: int = 20 * 2**20
    max_total_bytes: int = 100 * 2**20
    max_ratio: int = 200


def _error(source: str, message: str) -> ChartError:
    # ``source`` is often a URL, which a Path would mangle: it leads the message instead.
    return ChartError(f"{source}: {message}")


def _refuse(source: str, message: str) -> ChartError:
    return _error(source, f"unsafe chart archive: {message}")


def _check_name(name: str, source: str) -> PurePosixPath:
    if not name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise _refuse(source, f"member {name!r} has an absolute path")
    path = PurePosixPath(name.replace("\\", "/"))
    if any(part == ".." for part in path.parts):
        raise _refuse(source, f"member {name!r} climbs out of the archive with '..'")
    return path


def _check_type(member: tarfile.TarInfo, source: str) -> None:
    if member.issym() or member.islnk():
        raise _refuse(source, f"member {member.name!r} is a link (to {member.linkname!r})")
    if member.ischr() or member.isblk() or member.isfifo():
        raise _refuse(source, f"member {member.name!r} is a device or FIFO")
    if not (member.isfile() or member.isdir()):
        raise _refuse(source, f"member {member.name!r} is not a regular file or directory")


@dataclass(frozen=True)
class ArchiveInfo:
    top: str  # the one top-level directory; helm names it after the chart
    #: its Chart.yaml, parsed, with a requirements.yaml's dependencies (:func:`as_loaded`)
    chart: dict[str, Any]
    #: sha256 of every regular file by its path: what the chart is, whatever the tar metadata.
    files: dict[str, str] = field(default_factory=dict, compare=False)


class _Inflater(io.RawIOBase):
    """gzip decompressed in bounded steps, refusing archive bombs as it goes.

    tarfile's own streaming gzip reader cannot read helm's archives: helm
    writes a gzip header with an extra field, which that reader mishandles.
    """

    def __init__(self, data: bytes, limits: Limits, source: str) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self._pending = b""
        self._limits = limits
        self._source = source
        self.total = 0

    def readable(self) -> bool:
        return True

    def _more(self) -> bytes:
        tail = self._inflate.unconsumed_tail
        if not tail:
            tail = bytes(self._data[self._pos : self._pos + _CHUNK])
            self._pos += len(tail)
            if not tail:
                raise _error(self._source, "not a readable .tgz chart archive (truncated)")
        out = self._inflate.decompress(tail, _CHUNK)
        self.total += len(out)
        if self.total > self._limits.max_total_bytes + _TAR_SLACK:
            raise _refuse(
                self._source,
                f"inflates to over {self._limits.max_total_bytes} bytes (an archive bomb)",
            )
        if self.total > _RATIO_FLOOR and self.total > self._limits.max_ratio * len(self._data):
            raise _refuse(
                self._source,
                f"inflates more than {self._limits.max_ratio} times its size (an archive bomb)",
            )
        return out

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            if self._inflate.eof:
                return 0
            self._pending = self._more()
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def inspect_chart_archive(data: bytes, *, source: str, limits: Limits | None = None) -> ArchiveInfo:
    """Check a chart archive given as bytes; see the module docstring."""
    limits = limits or Limits()
    seen: set[str] = set()
    tops: set[str] = set()
    chart_yaml: bytes | None = None
    requirements: bytes | None = None
    files: dict[str, str] = {}
    total = 0
    try:
        stream = io.BufferedReader(_Inflater(data, limits, source), buffer_size=_CHUNK)
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for count, member in enumerate(tar, 1):
                if count > limits.max_members:
                    raise _refuse(source, f"more than {limits.max_members} members")
                path = _check_name(member.name, source)
                _check_type(member, source)
                key = str(path)
                if key in seen:
                    raise _refuse(source, f"member {member.name!r} appears twice")
                seen.add(key)
                if path.parts and path.parts != (".",):
                    tops.add(path.parts[0])
                if not member.isfile():
                    continue
                if member.size > limits.max_member_bytes:
                    raise _refuse(
                        source, f"member {member.name!r} declares {member.size} bytes, "
                        f"over {limits.max_member_bytes}",
                    )  # fmt: skip
                content = _read_member(tar, member, limits, source, total, len(data))
                total += len(content)
                files[key] = hashlib.sha256(content).hexdigest()
                if len(path.parts) == 2 and path.parts[1] == "Chart.yaml":
                    chart_yaml = content
                elif len(path.parts) == 2 and path.parts[1] == "requirements.yaml":
                    requirements = content
    except ChartError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise _error(source, f"not a readable .tgz chart archive ({exc})") from None
    if len(tops) != 1:
        found = ", ".join(sorted(tops)) or "none"
        raise _refuse(source, f"expected one top-level directory, found: {found}")
    if chart_yaml is None:
        raise _error(source, f"no {next(iter(tops))}/Chart.yaml in the archive")
    try:
        meta = yamlfiles.load_data(chart_yaml.decode("utf-8"), yamlfiles.CHART)
    except UnicodeDecodeError:
        raise _error(source, "Chart.yaml in the archive is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise _error(source, f"Chart.yaml in the archive is not valid YAML ({exc})") from None
    if not isinstance(meta, dict):
        raise _error(source, "Chart.yaml in the archive is not a mapping")
    if requirements is not None:
        meta = as_loaded(meta, _requirements(requirements, source))
    return ArchiveInfo(next(iter(tops)), meta, files)


def _requirements(content: bytes, source: str) -> Any:
    try:
        return yamlfiles.load_data(content.decode("utf-8"), yamlfiles.REQUIREMENTS)
    except UnicodeDecodeError:
        raise _error(source, "requirements.yaml in the archive is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise _error(
            source, f"requirements.yaml in the archive is not valid YAML ({exc})"
        ) from None


def _read_member(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    limits: Limits,
    source: str,
    total_before: int,
    compressed: int,
) -> bytes:
    handle = tar.extractfile(member)
    if handle is None:
        return b""
    parts: list[bytes] = []
    size = 0
    while chunk := handle.read(_CHUNK):
        size += len(chunk)
        total = total_before + size
        if size > limits.max_member_bytes:
            raise _refuse(source, f"member {member.name!r} is over {limits.max_member_bytes} bytes")
        if total > limits.max_total_bytes:
            raise _refuse(
                source, f"inflates to over {limits.max_total_bytes} bytes (an archive bomb)"
            )
        if total > _RATIO_FLOOR and total > limits.max_ratio * max(compressed, 1):
            raise _refuse(
                source,
                f"inflates more than {limits.max_ratio} times its size (an archive bomb)",
            )
        parts.append(chunk)
    return b"".join(parts)


def check_identity(info: ArchiveInfo, *, chart: str, version: str, source: str) -> None:
    """The archive's Chart.yaml must name ``chart`` at ``version``, as the index entry does."""
    name, found = str(info.chart.get("name")), str(info.chart.get("version"))
    if name != chart or found != version:
        raise _error(
            source, f"the archive holds {name} {found}, but the index entry is {chart} {version}"
        )
    if info.top != chart:
        raise _error(
            source, f"the archive's top directory is {info.top!r}, not the chart name {chart!r}"
        )


def file_differences(ours: Mapping[str, str], theirs: Mapping[str, str]) -> list[str]:
    """How two archives' files differ (``ArchiveInfo.files``), one phrase per file.

    Tar metadata (mtimes, member order) is no difference: only names and contents.
    """
    changed = sorted(n for n in ours.keys() & theirs.keys() if ours[n] != theirs[n])
    only_ours = sorted(ours.keys() - theirs.keys())
    only_theirs = sorted(theirs.keys() - ours.keys())
    return (
        [f"{n} differs" for n in changed]
        + [f"{n} is new" for n in only_ours]
        + [f"{n} is gone" for n in only_theirs]
    )

"""Index entries: one chart version as helm lists it in index.yaml.

An entry is the chart's Chart.yaml metadata as helm keeps it (helm's
``Metadata`` fields only, with helm's normalisation) plus ``urls``,
``created`` and ``digest``. Here too are the Go rules that normalisation
rests on: how helm's YAML library reads a number or a date into a string
field, which whitespace Go folds, and the RFC3339Nano timestamps helm writes
for ``created`` and ``generated``.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Mapping
from datetime import date, datetime, timezone
from pathlib import Path

from chartship.artifacts import Artifact
from chartship.errors import ChartError

# typing only for mypy: an index merge's start-up does not import it (chartship.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# --------------------------------------------------------------------------- timestamps


def timestamp(ns: int | None = None) -> str:
    """UTC time as Go's RFC3339Nano writes it (helm's ``created``/``generated``).

    Nanoseconds, with trailing zeros (and a zero fraction) dropped.
    """
    if ns is None:
        ns = time.time_ns()
    seconds, fraction = divmod(ns, 10**9)
    base = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f".{fraction:09d}".rstrip("0") if fraction else ""
    return f"{base}{frac}Z"


def _created(created: datetime | str | None) -> str:
    if created is None:
        return timestamp()
    if isinstance(created, str):
        return created
    moment = created if created.tzinfo is not None else created.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    whole = int(moment.replace(microsecond=0).timestamp())
    return timestamp(whole * 10**9 + moment.microsecond * 1000)


# --------------------------------------------------------------------------- helm's metadata

#: Chart.yaml string fields helm keeps (``omitempty``).
_STRING_FIELDS = (
    "apiVersion",
    "appVersion",
    "condition",
    "description",
    "home",
    "icon",
    "kubeVersion",
    "name",
    "tags",
    "type",
    "version",
)
#: The ones helm's ``Metadata.Validate`` passes through ``sanitizeString``.
_SANITIZED = frozenset(
    {"appVersion", "condition", "description", "home", "icon", "kubeVersion", "name", "tags"}
)
#: Go's ``unicode.IsSpace`` in Latin-1; beyond it, the White_Space property.
_GO_LATIN1_SPACE = frozenset("\t\n\v\f\r \x85\xa0")


def _is_go_space(char: str) -> bool:
    return char in _GO_LATIN1_SPACE if char <= "\xff" else char.isspace()


def sanitize(text: str) -> str:
    """helm's ``sanitizeString``: whitespace becomes a space, unprintables go."""
    if text.isprintable():
        return text
    return "".join(
        " " if _is_go_space(c) else c for c in text if _is_go_space(c) or c.isprintable()
    )


def _float32(value: float) -> float:
    packed: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return packed


def go_float(value: float) -> str:
    """``strconv.FormatFloat(value, 'g', -1, 32)``: how helm turns a YAML number
    given for a string field (``appVersion: 1.10``) into text ("1.1")."""
    if math.isnan(value):
        return "NaN"
    try:
        single = _float32(value)
    except OverflowError:
        single = math.copysign(math.inf, value)
    if math.isinf(single):
        return "+Inf" if single > 0 else "-Inf"
    if single == 0:
        return "-0" if math.copysign(1.0, single) < 0 else "0"
    text = ""
    for digits in range(1, 10):
        text = f"{abs(single):.{digits - 1}e}"
        if _float32(float(text)) == abs(single):
            break
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text)
    decimals = mantissa.replace(".", "").rstrip("0") or "0"
    sign = "-" if single < 0 else ""
    if exponent < -4 or exponent >= 6:
        tail = f".{decimals[1:]}" if len(decimals) > 1 else ""
        return f"{sign}{decimals[0]}{tail}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
    point = exponent + 1
    if point <= 0:
        return f"{sign}0.{'0' * -point}{decimals}"
    if point >= len(decimals):
        return f"{sign}{decimals}{'0' * (point - len(decimals))}"
    return f"{sign}{decimals[:point]}.{decimals[point:]}"


def _go_string(value: object, what: str, path: Path | None) -> str:
    """A YAML value read into a Go string field, the way helm's YAML library does."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise ChartError(f"Chart.yaml {what} must be a string, not {type(value).__name__}", path=path)


def _string_list(value: object, what: str, path: Path | None) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ChartError(f"Chart.yaml {what} must be a list of strings", path=path)
    return [sanitize(_go_string(item, what, path)) for item in value]


def jsonable(value: object) -> Any:
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _flag(raw: Mapping[str, Any], key: str, what: str, path: Path | None) -> bool:
    value = raw.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise ChartError(f"Chart.yaml {what} must be true or false, not {value!r}", path=path)


def _maintainer(raw: object, path: Path | None) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        raise ChartError("Chart.yaml maintainers must not contain empty or null nodes", path=path)
    found: dict[str, str] = {}
    for key in ("email", "name", "url"):
        value = sanitize(_go_string(raw.get(key), f"maintainers.{key}", path))
        if value:
            found[key] = value
    return found


def _dependency(raw: object, path: Path | None) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ChartError("Chart.yaml dependencies must not contain empty or null nodes", path=path)
    # name and repository have no omitempty in helm: written even when empty.
    dep: dict[str, Any] = {
        "name": sanitize(_go_string(raw.get("name"), "dependencies.name", path)),
        "repository": sanitize(_go_string(raw.get("repository"), "dependencies.repository", path)),
    }
    for key in ("version", "condition"):
        value = sanitize(_go_string(raw.get(key), f"dependencies.{key}", path))
        if value:
            dep[key] = value
    alias = _go_string(raw.get("alias"), "dependencies.alias", path)
    if alias:
        dep["alias"] = alias
    tags = _string_list(raw.get("tags"), "dependencies.tags", path)
    if tags:
        dep["tags"] = tags
    if _flag(raw, "enabled", "dependencies.enabled", path):
        dep["enabled"] = True
    imports = raw.get("import-values")
    if imports:
        if not isinstance(imports, list):
            raise ChartError("Chart.yaml dependencies.import-values must be a list", path=path)
        dep["import-values"] = jsonable(imports)
    return dict(sorted(dep.items()))


def chart_metadata(raw: Mapping[str, Any], *, path: Path | None = None) -> dict[str, Any]:
    """Chart.yaml reduced to what helm keeps in an index entry, normalised as helm does.

    Unknown keys are dropped, empty values omitted, numbers given for string
    fields turned into text as helm's YAML library does, and the sanitised
    fields have whitespace folded to spaces and unprintables removed.
    """
    meta: dict[str, Any] = {}
    for key in _STRING_FIELDS:
        value = _go_string(raw.get(key), key, path)
        if key in _SANITIZED:
            value = sanitize(value)
        if value:
            meta[key] = value
    meta.setdefault("apiVersion", "v1")
    for key in ("keywords", "sources"):
        items = _string_list(raw.get(key), key, path)
        if items:
            meta[key] = items
    maintainers = raw.get("maintainers")
    if maintainers:
        if not isinstance(maintainers, list):
            raise ChartError("Chart.yaml maintainers must be a list", path=path)
        meta["maintainers"] = [_maintainer(m, path) for m in maintainers]
    annotations = raw.get("annotations")
    if annotations:
        if not isinstance(annotations, Mapping):
            raise ChartError("Chart.yaml annotations must be a mapping", path=path)
        meta["annotations"] = {
            str(k): _go_string(v, f"annotations.{k}", path) for k, v in annotations.items()
        }
    dependencies = raw.get("dependencies")
    if dependencies:
        if not isinstance(dependencies, list):
            raise ChartError("Chart.yaml dependencies must be a list", path=path)
        meta["dependencies"] = [_dependency(d, path) for d in dependencies]
    if _flag(raw, "deprecated", "deprecated", path):
        meta["deprecated"] = True
    return dict(sorted(meta.items()))


_HEX_DIGITS = "0123456789abcdef"


def is_digest(text: str) -> bool:
    """Whether ``text`` is a sha256 as index.yaml holds it (and as a merge requires it)."""
    return len(text) == 64 and not text.strip(_HEX_DIGITS)


def entry_for(
    artifact: Artifact, url: str, created: datetime | str | None = None
) -> dict[str, Any]:
    """The index entry helm would write for ``artifact`` served at ``url``.

    ``created`` defaults to now (UTC); ``digest`` is the archive's sha256.
    """
    meta = chart_metadata(artifact.metadata(), path=artifact.archive)
    if meta.get("name") != artifact.chart or meta.get("version") != artifact.version:
        raise ChartError(
            f"holds {meta.get('name')} {meta.get('version')}, "
            f"expected {artifact.chart} {artifact.version}",
            path=artifact.archive,
        )
    if not url:
        raise ChartError("has no URL to be served from", path=artifact.archive)
    if not is_digest(artifact.sha256):
        raise ChartError(f"sha256 {artifact.sha256!r} is not a hex digest", path=artifact.archive)
    meta.update(urls=[url], created=_created(created), digest=artifact.sha256)
    return dict(sorted(meta.items()))

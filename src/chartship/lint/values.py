"""Values files against values.schema.json, merged the way helm merges them.

Also the guard that keeps a schema from sending helm (or jsonschema) to a
server or a file: references resolve only inside the schema document.
"""

from __future__ import annotations

import copy
import re
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chartship import yamlfiles
from chartship.charts import ChartDir
from chartship.errors import ChartError
from chartship.jsonfiles import load_json
from chartship.lint.model import Collector
from chartship.safetext import shown
from chartship.yamlfiles import YamlDocument

if TYPE_CHECKING:
    # jsonschema and referencing cost a large part of start-up: imported by the
    # values check alone, when a chart has a schema.
    import jsonschema
    import referencing

SCHEMA_FILE = "values.schema.json"


def coalesce(values: Any, override: Any) -> Any:
    """``override`` merged onto the chart's ``values`` as ``helm lint`` merges them.

    helm's ``CoalesceTables(CoalesceTables({}, override), values)``, ported rule
    for rule (the same in helm 3.19 and 4.3): the override wins; maps merge;
    lists and scalars replace; a ``null`` in the override deletes the key where
    the chart's values have the map holding it (and always at the top level);
    a map never replaces a scalar or a scalar a map.
    """
    base = copy.deepcopy(values) if isinstance(values, dict) else {}
    if not isinstance(override, dict):
        return base
    return _coalesce_tables(copy.deepcopy(override), base)


def _coalesce_tables(dst: dict[str, Any], src: dict[str, Any]) -> dict[str, Any]:
    for key, value in dst.items():
        if value is None:
            src[key] = None
    for key, value in src.items():
        if key in dst and dst[key] is None:
            del dst[key]
        elif key not in dst:
            dst[key] = value
        elif isinstance(value, dict) and isinstance(dst[key], dict):
            _coalesce_tables(dst[key], value)
    return dst


def values_files(directory: Path) -> list[Path]:
    """ci/*-values.yaml, the extra values files chart-testing also lints with."""
    ci = directory / "ci"
    return sorted(ci.glob("*-values.yaml")) if ci.is_dir() else []


def _error_keys(error: jsonschema.ValidationError) -> tuple[str | int, ...]:
    """Where an error is: for an unexpected key, the key itself rather than its parent."""
    keys: tuple[str | int, ...] = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        declared = schema.get("properties", {})
        patterns = list(schema.get("patternProperties", {}))
        extras = [
            key
            for key in error.instance
            if key not in declared and not any(re.search(p, str(key)) for p in patterns)
        ]
        if extras:
            keys = (*keys, str(extras[0]))
    return keys


def _depth(doc: YamlDocument, keys: tuple[str | int, ...]) -> int:
    """How much of ``keys`` the document itself spells out."""
    return max((n for n in range(len(keys) + 1) if keys[:n] in doc.lines or n == 0), default=0)


_REFERENCE_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")
_ID_KEYS = ("$id", "id")


def _refuse_retrieval(uri: str) -> referencing.Resource[Any]:
    import referencing.exceptions

    raise referencing.exceptions.NoSuchResource(ref=uri)  # type: ignore[call-arg]


def _pointer(parts: Sequence[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def foreign_references(schema: Any) -> list[tuple[str, str]]:
    """(JSON pointer, reference) of every reference that leaves the schema document.

    A reference stays inside when, resolved against the base URI in force
    (``$id`` of the enclosing schemas), it names this document (``#/$defs/x``),
    a schema the document itself declares with ``$id``, or one of the JSON
    Schema meta-schemas jsonschema carries. Anything else (``http(s)://``,
    ``file:``, a relative file name) would be fetched or read from disk by
    helm and by a JSON Schema library: that is never for a chart to decide.
    """
    declared: set[str] = set()
    found: list[tuple[list[str | int], str, str]] = []
    stack: list[tuple[Any, str, list[str | int]]] = [(schema, "", [])]
    while stack:
        node, base, where = stack.pop()
        if isinstance(node, dict):
            for key in _ID_KEYS:
                if isinstance(node.get(key), str):
                    base = urllib.parse.urljoin(base, node[key])
                    declared.add(urllib.parse.urldefrag(base).url)
                    break
            for key, value in node.items():
                if key in _REFERENCE_KEYS and isinstance(value, str):
                    found.append(([*where, key], base, value))
                else:
                    stack.append((value, base, [*where, key]))
        elif isinstance(node, list):
            stack.extend((item, base, [*where, i]) for i, item in enumerate(node))
    if not found:
        return []
    from jsonschema_specifications import (  # type: ignore[import-untyped]
        REGISTRY as meta_schemas,
    )

    foreign = []
    for where, base, ref in found:
        target = urllib.parse.urldefrag(urllib.parse.urljoin(base, ref)).url
        if target in ("", urllib.parse.urldefrag(base).url) or target in declared:
            continue
        if target in meta_schemas or target + "#" in meta_schemas:
            continue
        foreign.append((_pointer(where), ref))
    return sorted(foreign)


def check_values(where: ChartDir, out: Collector) -> None:
    schema_path = where.directory / SCHEMA_FILE
    values_path = where.directory / "values.yaml"
    base_doc = out.load(values_path, yamlfiles.VALUES, "values") if values_path.is_file() else None
    loaded = [out.load(path, yamlfiles.VALUES, "values") for path in values_files(where.directory)]
    ci_docs = [doc for doc in loaded if doc is not None]
    if not schema_path.is_file():
        return
    try:
        schema = load_json(schema_path, yamlfiles.SCHEMA)
    except ChartError as exc:
        out.add(schema_path, exc.message, "schema", exc.line)
        return
    foreign = foreign_references(schema)
    for pointer, ref in foreign:
        out.add(
            schema_path,
            f"{pointer or '/'}: reference {shown(ref)} is outside the schema; references "
            f"resolve only inside {SCHEMA_FILE} (copy the definition under $defs)",
            "schema-ref",
        )
    if foreign:
        return
    import jsonschema
    import referencing
    import referencing.exceptions

    validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    try:
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        out.add(schema_path, f"not a valid JSON schema: {exc.message}", "schema")
        return
    # A reference the static check let through (a base URI it did not foresee)
    # still never reaches a server or a file: the registry refuses every retrieval.
    refusing: referencing.Registry[Any] = referencing.Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]
    validator = validator_cls(schema, registry=refusing)
    base = base_doc.data if base_doc is not None and base_doc.data is not None else {}
    targets: list[tuple[YamlDocument | None, Any]] = [(base_doc, base)]
    targets += [(doc, coalesce(base, doc.data)) for doc in ci_docs]
    for doc, merged in targets:
        try:
            errors = sorted(validator.iter_errors(merged), key=lambda e: list(e.absolute_path))
        except referencing.exceptions.Unresolvable as exc:
            out.add(
                schema_path,
                f"reference {shown(str(exc))} does not resolve inside the schema",
                "schema-ref",
            )
            return
        except RecursionError:
            out.add(schema_path, "references loop without end", "schema")
            return
        for error in errors:
            keys = _error_keys(error)
            dotted = ".".join(str(k) for k in keys) or "(top level)"
            # Blame the file that sets the offending key (or the most of its path).
            blamed = base_doc
            if doc is not None and (
                base_doc is None or _depth(doc, keys) >= _depth(base_doc, keys)
            ):
                blamed = doc
            path = blamed.path if blamed is not None else values_path
            line = blamed.line(*keys) if blamed is not None else None
            out.add(path, f"{dotted}: {error.message} (values.schema.json)", "schema", line)

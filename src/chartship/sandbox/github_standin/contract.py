"""The contract: GitHub's OpenAPI description, and every request and answer checked against it.

The description is ``src/chartship/sandbox/data/github-api/releases-openapi.json`` (octokit's
dereferenced subset, OpenAPI 3.0.3). :class:`Contract` checks each request
against the operation it matches (path and query parameters, body) and each
JSON answer against the schema documented for that operation and status, and
keeps what departs from it in ``violations``: on the request side the client
sent something the API does not describe, on the response side the stand-in
has a bug. Where the description documents no body for a status the
stand-in sends, the body is held to the description's own "Basic Error" /
"Validation Error" schema and the case is noted in ``undocumented``.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import jsonschema
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

from chartship.sandbox.github_standin.exchange import DOCS_ROOT, Json, RecordedRequest, Reply

DESCRIPTION = Path(__file__).resolve().parents[1] / "data" / "github-api" / "releases-openapi.json"
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

Direction = Literal["request", "response"]


def to_json_schema(schema: Json) -> Json:
    """OpenAPI 3.0 schema -> JSON Schema: ``nullable: true`` becomes a ``null`` type."""
    if isinstance(schema, list):
        return [to_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {
        key: (value if key in ("example", "examples", "enum") else to_json_schema(value))
        for key, value in schema.items()
        if key != "nullable"
    }
    if schema.get("nullable") is True:
        if "type" in converted:
            kind = converted["type"]
            converted["type"] = [*kind, "null"] if isinstance(kind, list) else [kind, "null"]
            if "enum" in converted and None not in converted["enum"]:
                converted["enum"] = [*converted["enum"], None]
        else:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


def _format_checker() -> jsonschema.FormatChecker:
    """``uri`` and ``date-time`` checked without optional dependencies."""
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("uri", raises=ValueError)
    def _uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urllib.parse.urlsplit(value)
        return bool(parts.scheme) and bool(parts.netloc) and " " not in value

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
            return False
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True

    return checker


FORMATS = _format_checker()


def _validator(schema: Json) -> Validator:
    jsonschema.Draft4Validator.check_schema(schema)
    validator: Validator = jsonschema.Draft4Validator(schema, format_checker=FORMATS)
    return validator


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # "path" | "query"
    required: bool
    schema: Json
    validator: Validator


@dataclass(frozen=True)
class Operation:
    """One method of one path of the description."""

    method: str
    template: str
    operation_id: str
    docs_url: str
    parameters: tuple[Parameter, ...]
    body_types: tuple[str, ...]
    body_required: bool
    body_validator: Validator | None
    #: status -> validator of its JSON body, or None when the status documents no body.
    responses: Mapping[str, Validator | None]
    pattern: re.Pattern[str]

    @property
    def literal_segments(self) -> int:
        return sum(1 for part in self.template.split("/") if part and "{" not in part)


class ApiDescription:
    """The operations of an OpenAPI 3.0 description, with compiled validators."""

    def __init__(self, path: Path) -> None:
        self.path = path
        document = json.loads(path.read_text(encoding="utf-8"))
        self.title: str = document["info"]["title"]
        self.operations: list[Operation] = []
        for template, item in document["paths"].items():
            for method, spec in item.items():
                if method in _HTTP_METHODS:
                    self.operations.append(self._operation(method.upper(), template, spec))
        # Most literal templates first, so that /releases/latest is not release "latest".
        self.operations.sort(key=lambda op: -op.literal_segments)
        self.basic_error = self._find_schema(document, "Basic Error")
        self.validation_error = self._find_schema(document, "Validation Error")

    @staticmethod
    def _operation(method: str, template: str, spec: Json) -> Operation:
        parameters = tuple(
            Parameter(
                p["name"],
                p["in"],
                bool(p.get("required")),
                to_json_schema(p["schema"]),
                _validator(to_json_schema(p["schema"])),
            )
            for p in spec.get("parameters", [])
        )
        regex = "^"
        for part in re.split(r"(\{[^}]+\})", template):
            if part.startswith("{"):
                name = part[1:-1]
                multi = any(
                    p.get("x-multi-segment")
                    for p in spec.get("parameters", [])
                    if p["name"] == name
                )
                regex += f"(?P<{name}>{'.+' if multi else '[^/]+'})"
            else:
                regex += re.escape(part)
        body = spec.get("requestBody") or {}
        content = body.get("content", {})
        json_schema = content.get("application/json", {}).get("schema")
        responses: dict[str, Validator | None] = {}
        for status, response in spec["responses"].items():
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            responses[status] = None if schema is None else _validator(to_json_schema(schema))
        return Operation(
            method=method,
            template=template,
            operation_id=spec["operationId"],
            docs_url=spec.get("externalDocs", {}).get("url", DOCS_ROOT),
            parameters=parameters,
            body_types=tuple(content),
            body_required=bool(body.get("required")),
            body_validator=None if json_schema is None else _validator(to_json_schema(json_schema)),
            responses=responses,
            pattern=re.compile(regex + "$"),
        )

    def _find_schema(self, document: Json, title: str) -> Validator:
        for item in document["paths"].values():
            for spec in item.values():
                for response in spec.get("responses", {}).values():
                    schema = response.get("content", {}).get("application/json", {}).get("schema")
                    if isinstance(schema, dict) and schema.get("title") == title:
                        return _validator(to_json_schema(schema))
        raise LookupError(f"no {title!r} schema in {self.path}")

    def match(self, method: str, raw_path: str) -> tuple[Operation | None, dict[str, str], bool]:
        """The operation for ``method raw_path``, its (still quoted) path parameters,
        and whether the path is described at all (for some other method)."""
        matching = [op for op in self.operations if op.pattern.match(raw_path)]
        if not matching:
            return None, {}, False
        best = [op for op in matching if op.literal_segments == matching[0].literal_segments]
        for op in best:
            found = op.pattern.match(raw_path)
            if op.method == method and found is not None:
                return op, found.groupdict(), True
        return None, {}, True

    def error_validator(self, status: int) -> Validator:
        return self.validation_error if status == 422 else self.basic_error


@functools.cache
def load_description(path: Path = DESCRIPTION) -> ApiDescription:
    return ApiDescription(path)


# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class Violation:
    direction: Direction
    method: str
    target: str
    status: int | None
    detail: str

    def __str__(self) -> str:
        status = f" -> {self.status}" if self.status is not None else ""
        return f"{self.direction}: {self.method} {self.target}{status}: {self.detail}"


@dataclass(frozen=True)
class Checked:
    """A response body that was validated, and against what."""

    operation: str | None
    status: int
    schema: str  # "documented" | "basic-error" | "validation-error"


@dataclass
class Call:
    """A request matched to its operation: path and query parameters decoded, body parsed."""

    op: Operation
    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    data: Json


def error_reply(
    op: Operation | None,
    status: int,
    message: str,
    errors: list[dict[str, Json]] | None = None,
) -> Reply:
    """GitHub's error body (the description's "Basic Error", with ``errors`` its
    "Validation Error"), pointing at the operation's documentation."""
    payload: dict[str, Json] = {
        "message": message,
        "documentation_url": op.docs_url if op is not None else DOCS_ROOT,
        "status": str(status),
    }
    if errors is not None:
        payload["errors"] = errors
    return Reply(status, payload)


def missing_field(op: Operation, field: str) -> Reply:
    """GitHub's 422 for an upload that lacks a required field."""
    detail: dict[str, Json] = {
        "resource": "ReleaseAsset",
        "code": "missing_field",
        "field": field,
    }
    return error_reply(op, 422, "Validation Failed", [detail])


class Contract:
    """What departed from ``description``, on either side, and what was validated."""

    def __init__(self, description: ApiDescription, lock: threading.RLock) -> None:
        self.description = description
        self.violations: list[Violation] = []
        self.checked: list[Checked] = []
        self.undocumented: list[str] = []
        self._lock = lock

    @property
    def validations(self) -> int:
        """How many response bodies were validated against the description."""
        with self._lock:
            return len(self.checked)

    def clear_violations(self) -> list[Violation]:
        """Forget (and return) the violations so far: for tests that provoke them."""
        with self._lock:
            cleared, self.violations = self.violations, []
            return cleared

    def report(self) -> str:
        with self._lock:
            lines = [f"{len(self.violations)} violation(s) of {self.description.path.name}:"]
            lines += [f"  {violation}" for violation in self.violations]
            return "\n".join(lines)

    def violation(self, direction: Direction, request: RecordedRequest, detail: str) -> None:
        status = request.status or None
        self.violations.append(Violation(direction, request.method, request.target, status, detail))

    def answered(self, since: int, status: int) -> None:
        """Stamp the violations recorded since there were ``since`` with the answer's status."""
        self.violations[since:] = [replace(v, status=status) for v in self.violations[since:]]

    def check_request(
        self,
        request: RecordedRequest,
        call: Call,
        raw_params: dict[str, str],
        query: dict[str, list[str]],
    ) -> Reply | None:
        """Record every way the request departs from the description; return the
        answer GitHub gives to the first that it refuses, if any."""
        op = call.op
        early: Reply | None = None

        def refuse(reply: Reply) -> None:
            nonlocal early
            if early is None:
                early = reply

        for parameter in op.parameters:
            if parameter.location == "path":
                value = urllib.parse.unquote(raw_params[parameter.name])
                call.params[parameter.name] = value
                if parameter.schema.get("type") == "integer" and not value.isdigit():
                    self.violation("request", request, f"path parameter {parameter.name}={value!r}")
                    refuse(error_reply(op, 404, "Not Found"))
            elif parameter.location == "query":
                values = query.get(parameter.name)
                if values is None:
                    if parameter.required:
                        self.violation(
                            "request", request, f"missing query parameter {parameter.name}"
                        )
                        refuse(missing_field(op, parameter.name))
                    continue
                if len(values) > 1:
                    self.violation("request", request, f"query parameter {parameter.name} twice")
                call.query[parameter.name] = values[0]
                coerced: Json = values[0]
                if parameter.schema.get("type") == "integer":
                    coerced = int(values[0]) if re.fullmatch(r"-?\d+", values[0]) else values[0]
                for error in self._errors(parameter.validator, coerced):
                    self.violation(
                        "request", request, f"query parameter {parameter.name}: {error.message}"
                    )
        known = {p.name for p in op.parameters if p.location == "query"}
        for name in sorted(set(query) - known):
            self.violation("request", request, f"query parameter {name} not in the description")

        if not op.body_types:
            if call.body:
                self.violation("request", request, "a body, but the operation takes none")
            return early
        if op.body_validator is None:  # the upload: raw bytes of any media type
            if "content-type" not in call.headers:
                self.violation("request", request, "upload without Content-Type")
                refuse(missing_field(op, "content_type"))
            return early
        if not call.body.strip():
            data: Json = {}
            if op.body_required:
                self.violation("request", request, "required JSON body missing")
        else:
            try:
                data = json.loads(call.body)
            except ValueError:
                self.violation("request", request, "body is not JSON")
                refuse(error_reply(op, 400, "Problems parsing JSON"))
                return early
        call.data = data
        errors = self._errors(op.body_validator, data)
        for error in errors:
            self.violation("request", request, f"body{_pointer(error)}: {error.message}")
        if errors:
            refuse(error_reply(op, 422, "Invalid request.\n\n" + _describe(errors[0])))
        elif isinstance(data, dict):
            schema = op.body_validator.schema
            properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
            for name in sorted(set(data) - set(properties)):
                self.violation("request", request, f"body field {name!r} not in the description")
        return early

    @staticmethod
    def _errors(validator: Validator, instance: Json) -> list[ValidationError]:
        return sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))

    def check_response(self, request: RecordedRequest, op: Operation | None, reply: Reply) -> None:
        """Validate the JSON body of ``reply`` against what the description documents."""
        if reply.payload is None or not reply.check:
            return
        status = str(reply.status)
        where = op.operation_id if op is not None else None
        documented = op is not None and status in op.responses
        validator = op.responses.get(status) if op is not None else None
        if validator is not None:
            kind = "documented"
        else:
            if reply.status < 400:
                self.violation("response", request, f"status {status} with a body not documented")
                return
            validator = self.description.error_validator(reply.status)
            kind = "validation-error" if reply.status == 422 else "basic-error"
            if not documented:
                self.undocumented.append(f"{request.method} {request.path} -> {status}")
        self.checked.append(Checked(where, reply.status, kind))
        request.validated = kind
        for error in self._errors(validator, reply.payload):
            detail = f"{kind} schema, at {_pointer(error) or '/'}: {error.message}"
            self.violation("response", request, detail)


def _pointer(error: ValidationError) -> str:
    """Where in the instance ``error`` is, as a JSON pointer ("" for the root)."""
    return "".join(f"/{part}" for part in error.absolute_path)


def _describe(error: ValidationError) -> str:
    """A JSON-schema error in GitHub's words ("Invalid request.\\n\\n<this>")."""
    where = "/".join(["properties", *(str(p) for p in error.absolute_path)])
    if not error.absolute_path:
        where = "links/0/schema"
    expected: Any = error.validator_value
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in expected if name not in error.instance]
        return f'"{missing[0]}" wasn\'t supplied.' if missing else error.message
    if error.validator == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        wanted = " or ".join(f"{'an' if k[0] in 'aeiou' else 'a'} {k}" for k in kinds)
        return f"For '{where}', {json.dumps(error.instance)} is not {wanted}."
    if error.validator == "enum":
        return (
            f"For '{where}', {json.dumps(error.instance)} is not a member of "
            f"{json.dumps(expected)}."
        )
    return f"For '{where}', {error.message}."

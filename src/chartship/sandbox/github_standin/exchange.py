"""One request as the stand-in recorded it, and one answer as it sends it."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Literal

Json = Any
JSON_TYPE = "application/json; charset=utf-8"
DOCS_ROOT = "https://docs.github.com/rest"


@dataclass
class RecordedRequest:
    """One request as received; ``headers`` are lower-cased and lack ``authorization``."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    credentials: Literal["valid", "invalid", "missing"]
    request_id: str
    operation: str | None = None
    status: int = 0
    faulted: bool = False
    #: Content type of the answer ("" without a body).
    response_type: str = ""
    #: Which schema the JSON answer was validated against, None if it was not.
    validated: str | None = None

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.target).query, True)


@dataclass
class Reply:
    status: int
    payload: Json = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE
    #: Validate ``payload`` (False only for bodies a test scripted with ``fail(body=...)``).
    check: bool = True

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.payload is None:
            return b""
        return json.dumps(self.payload, separators=(",", ":")).encode()


class Reject(Exception):
    """Raised by an operation to answer with ``reply`` at once."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply

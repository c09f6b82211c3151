"""A stand-in for GitHub's REST API (releases, release assets, repository, rate
limit) on 127.0.0.1, held to GitHub's own OpenAPI description.

Unmodified PyGithub works against it: ``Github(auth=Auth.Token(standin.token),
base_url=standin.api_url)``. Every request it receives is checked against the
description in ``src/chartship/sandbox/data/github-api/releases-openapi.json`` and answered the
way GitHub answers it, and every JSON body it sends is validated against the
response schema documented for that operation and status. A mismatch on either
side lands in ``violations``; the ``github`` fixture fails the test at teardown
if any are left.

Its parts, one module each:

* ``contract``: the description, and the checks of requests and answers
  against it (``violations``, ``checked``, ``undocumented``);
* ``state``: users, repositories, releases, assets and the repositories' git
  data, which tests arrange directly;
* ``representations``: the JSON GitHub sends for each of them;
* ``routes``: each request from arrival to answer, injected faults, and the
  operations (what GitHub does that the description does not say is listed
  there);
* ``server``: the HTTP server and :class:`GithubStandin`, what tests hold;
* ``exchange``: a recorded request and an answer, shared by the others.

Stricter than GitHub on purpose: query parameters and body fields the
description does not list are answered as GitHub does (ignored) but still
recorded as violations, as are requests to paths or methods it does not list.

Where the description is silent about a status this stand-in sends (401s, 404s
on some operations, 403/429/5xx faults, the 422 of an upload), the body is
validated against the description's own "Basic Error" / "Validation Error"
schema and the case is noted in ``undocumented``, which is not a failure.
"""

from chartship.sandbox.github_standin.contract import (
    DESCRIPTION,
    ApiDescription,
    Checked,
    Operation,
    Parameter,
    Violation,
    load_description,
    to_json_schema,
)
from chartship.sandbox.github_standin.exchange import RecordedRequest
from chartship.sandbox.github_standin.representations import quote_segment
from chartship.sandbox.github_standin.routes import API_VERSIONS, RATE_LIMIT, Fault
from chartship.sandbox.github_standin.server import IO_TIMEOUT, GithubStandin
from chartship.sandbox.github_standin.state import (
    Asset,
    Release,
    Repo,
    User,
    sanitize_asset_name,
    valid_tag_name,
)

__all__ = [
    "API_VERSIONS",
    "DESCRIPTION",
    "IO_TIMEOUT",
    "RATE_LIMIT",
    "ApiDescription",
    "Asset",
    "Checked",
    "Fault",
    "GithubStandin",
    "Operation",
    "Parameter",
    "RecordedRequest",
    "Release",
    "Repo",
    "User",
    "Violation",
    "load_description",
    "quote_segment",
    "sanitize_asset_name",
    "to_json_schema",
    "valid_tag_name",
]

"""The routes: each request taken from arrival to answer, and the operations behind them.

:meth:`Routes.handle` records the request, matches it to an operation of the
description (paths under ``/repositories/{id}/...``, where GitHub's ``Link``
headers point, are served as their ``/repos/{owner}/{repo}/...`` twin), has
the contract check it, answers 401 without valid credentials, applies an
injected :class:`Fault` or the rate limit, runs the operation, and adds
GitHub's headers before the contract validates the answer.

What GitHub does and the description does not say, modelled here:

* schema failures of a JSON body answer 422 ``"Invalid request.\\n\\n..."``
  (GitHub's wording, no ``errors``); business rules answer 422
  ``"Validation Failed"`` with ``errors`` (``already_exists`` on a duplicate
  release tag or asset name, ``custom`` on a malformed tag, ``invalid`` on an
  unknown ``target_commitish``); a body that is not JSON answers 400;
* an unknown path or method answers 404 ``Not Found``; an unknown release,
  asset or repository answers 404 even where the description lists no 404;
* no ``Authorization`` answers 401 ``Requires authentication``, a wrong token
  401 ``Bad credentials`` (``token X`` and ``Bearer X`` are both accepted);
* uploads go to the same host and port (the ``upload_url`` template): PyGithub
  refuses absolute URLs on its own host with another port, so a separate
  "uploads" port would break it;
* ``browser_download_url`` serves the exact bytes without authentication;
  ``GET .../releases/assets/{id}`` with ``Accept: application/octet-stream``
  redirects there (302);
* drafts are listed and found by id but not by tag; a draft gets its git tag
  (created at ``target_commitish``, which must name a branch or commit of the
  repository's git data) when it is published by ``PATCH draft: false``;
* with the repository's immutable releases on, a release is immutable once
  published: an upload answers 422 "Cannot upload assets to an immutable
  release", changing or deleting its assets, moving its tag or making it a
  draft again answer 422, and its tag can never name another release (422
  "tag_name was used by an immutable release"), even after it is deleted;
* asset names are renamed roughly as GitHub does (characters outside
  ``[A-Za-z0-9._+-]`` become ``.``; leading and trailing dots are dropped).
"""

from __future__ import annotations

import contextlib
import hashlib
import http
import itertools
import math
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from chartship.sandbox.github_standin.contract import (
    Call,
    Contract,
    Operation,
    error_reply,
)
from chartship.sandbox.github_standin.exchange import (
    DOCS_ROOT,
    JSON_TYPE,
    Json,
    RecordedRequest,
    Reject,
    Reply,
)
from chartship.sandbox.github_standin.representations import Representations
from chartship.sandbox.github_standin.state import (
    Asset,
    Release,
    Repo,
    State,
    now,
    sanitize_asset_name,
    valid_tag_name,
)

RATE_LIMIT = 5000
API_VERSIONS = ("2022-11-28", "2026-03-10")
RATE_LIMIT_DOCS = (
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)


@dataclass
class Fault:
    """An injected answer; see :meth:`GithubStandin.fail`."""

    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str]
    body: Json | bytes | None = None
    content_type: str | None = None
    #: Carry the request out before answering the fault: the answer was "lost".
    perform: bool = False
    hits: int = 0

    @property
    def remaining(self) -> int:
        return self.times - self.hits

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and self.method in ("*", method)
            and self.pattern.search(path) is not None
        )


@dataclass
class Intercept:
    """Something to do when a request arrives; see :meth:`GithubStandin.intercept`."""

    method: str
    pattern: re.Pattern[str]
    action: Callable[[RecordedRequest], None]
    #: After the request was carried out (its answer not sent yet); else before, and
    #: the request is then not carried out at all.
    after: bool
    fired: threading.Event

    def matches(self, method: str, path: str) -> bool:
        return (
            not self.fired.is_set()
            and self.method in ("*", method)
            and self.pattern.search(path) is not None
        )


class Routes:
    """Answers requests from ``state``, checked by ``contract``, URLs from ``views``."""

    def __init__(
        self,
        state: State,
        contract: Contract,
        views: Representations,
        *,
        token: str,
        port: int,
        lock: threading.RLock,
    ) -> None:
        self.state = state
        self.contract = contract
        self.views = views
        self.token = token
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.intercepts: list[Intercept] = []
        self.rate_used = 0
        self.rate_reset = int(time.time()) + 3600
        self._port = port
        self._lock = lock
        self._request_ids = itertools.count(1)

    def calls(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """Recorded requests, filtered by method and by a regex searched in the path."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method)
                and (path is None or re.search(path, r.path) is not None)
            ]

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Json | bytes | None = None,
        content_type: str | None = None,
        perform: bool = False,
    ) -> Fault:
        """Answer the next ``times`` requests whose method is ``method`` ("*" for any) and
        whose path (as sent: percent-encoded, no query; ``/download/...`` included)
        matches ``path_regex`` (``re.search``) with ``status``, then behave.

        Without ``body`` the answer is GitHub's: 403 is a primary rate limit
        (``x-ratelimit-remaining: 0``, ``x-ratelimit-reset`` one second ahead), 429
        a secondary one (``Retry-After: 1``), 422 "Validation Failed", others the
        status phrase. ``headers`` are added to (and override) those. A ``body``
        (JSON-able, or bytes sent as is) is not validated. Faults come after the
        credentials check, so 401 still wins. With ``perform`` the request is
        carried out first and only its answer is replaced, as when GitHub creates a
        release and the 502 comes from a proxy in front of it.
        """
        fault = Fault(
            method=method.upper(),
            pattern=re.compile(path_regex),
            status=status,
            times=times,
            headers=dict(headers or {}),
            body=body,
            content_type=content_type,
            perform=perform,
        )
        with self._lock:
            self.faults.append(fault)
        return fault

    def intercept(
        self,
        method: str,
        path_regex: str,
        action: Callable[[RecordedRequest], None],
        *,
        after: bool,
    ) -> threading.Event:
        """Call ``action`` once, for the first request whose method is ``method`` ("*"
        for any) and whose path matches ``path_regex``: when it arrives (it is then not
        carried out, and answered 503), or with ``after`` once it has been carried out,
        before its answer is sent. What a client killed at that point leaves behind.
        The event is set once ``action`` has returned."""
        hook = Intercept(method.upper(), re.compile(path_regex), action, after, threading.Event())
        with self._lock:
            self.intercepts.append(hook)
        return hook.fired

    def _intercept(self, request: RecordedRequest, *, after: bool) -> bool:
        """Run the intercept due for ``request`` at this point; whether one ran."""
        for hook in self.intercepts:
            if hook.after == after and hook.matches(request.method, request.path):
                hook.action(request)
                hook.fired.set()
                return True
        return False

    def rate_json(self) -> dict[str, Json]:
        core = {
            "limit": RATE_LIMIT,
            "used": self.rate_used,
            "remaining": max(RATE_LIMIT - self.rate_used, 0),
            "reset": self.rate_reset,
        }
        quiet = {"limit": 30, "used": 0, "remaining": 30, "reset": self.rate_reset}
        return {
            "resources": {
                "core": core,
                "search": quiet,
                "code_search": {**quiet, "limit": 10, "remaining": 10},
                "graphql": {**core, "used": 0, "remaining": RATE_LIMIT},
                "integration_manifest": {**core, "used": 0, "remaining": RATE_LIMIT},
            },
            "rate": core,
        }

    # ------------------------------------------------------------------ request handling

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        with self._lock:
            request = RecordedRequest(
                method=method,
                target=target,
                headers={k: v for k, v in headers.items() if k != "authorization"},
                body=body,
                credentials=self._credentials(headers.get("authorization")),
                request_id=self._request_id(),
            )
            self.requests.append(request)
            first = len(self.contract.violations)
            op: Operation | None = None
            try:
                if self._intercept(request, after=False):
                    raise Reject(error_reply(None, 503, "Service Unavailable"))
                op, reply = self._route(request, headers, body)
                self._intercept(request, after=True)
            except Reject as rejected:
                reply = rejected.reply
            except Exception as error:  # a bug here: say so instead of dropping the connection
                detail = f"stand-in crashed: {type(error).__name__}: {error}"
                self.contract.violation("response", request, detail)
                reply = error_reply(op, 500, "Server Error")
            request.status = reply.status
            self.contract.answered(first, reply.status)
            if not request.path.startswith("/download/"):
                self._finish(request, op, reply)
            if reply.raw is not None or reply.payload is not None:
                request.response_type = reply.content_type
            return reply

    def _credentials(self, authorization: str | None) -> Literal["valid", "invalid", "missing"]:
        if not authorization:
            return "missing"
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() in ("token", "bearer") and value.strip() == self.token:
            return "valid"
        return "invalid"

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.hits += 1
                return fault
        return None

    def _fault_reply(self, request: RecordedRequest, op: Operation | None, fault: Fault) -> Reply:
        status = fault.status
        headers: dict[str, str] = {}
        if status == 403:
            reply = error_reply(
                op,
                status,
                f"API rate limit exceeded for user ID {self.state.user.id}. If you reach out to "
                "GitHub Support for help, please include the request ID "
                f"{request.request_id}.",
            )
            reply.payload["documentation_url"] = (
                "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
            )
            headers = {
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": str(RATE_LIMIT),
                "x-ratelimit-reset": str(int(time.time()) + 1),
            }
        elif status == 429:
            reply = error_reply(
                op,
                status,
                "You have exceeded a secondary rate limit. Please wait a few minutes before "
                "you try again. If you reach out to GitHub Support for help, please include "
                f"the request ID {request.request_id}.",
            )
            reply.payload["documentation_url"] = RATE_LIMIT_DOCS
            headers = {"retry-after": "1"}
        elif status == 422:
            reply = error_reply(
                op,
                status,
                "Validation Failed",
                [{"resource": "Release", "code": "custom", "message": "injected failure"}],
            )
        else:
            reply = error_reply(op, status, http.HTTPStatus(status).phrase)
        reply.headers.update(headers)
        reply.headers.update({k.lower(): v for k, v in fault.headers.items()})
        if fault.body is not None:
            reply.check = False
            if isinstance(fault.body, bytes):
                reply.payload, reply.raw = None, fault.body
                reply.content_type = fault.content_type or "text/html; charset=utf-8"
            else:
                reply.payload = fault.body
                reply.content_type = fault.content_type or JSON_TYPE
        return reply

    def _route(
        self, request: RecordedRequest, headers: dict[str, str], body: bytes
    ) -> tuple[Operation | None, Reply]:
        parts = urllib.parse.urlsplit(request.target)
        path = parts.path
        if path.startswith("/download/"):
            fault = self._take_fault(request.method, path)
            if fault is not None:
                request.faulted = True
                return None, self._fault_reply(request, None, fault)
            return None, self._download(request.method, path)
        aliased = re.fullmatch(r"/repositories/(\d+)(/releases(?:/[^/]+/assets)?)", path)
        if aliased is not None:
            repo = self.state.repo_by_id(int(aliased[1]))
            if repo is None:
                return None, error_reply(None, 404, "Not Found")
            path = f"/repos/{repo.full_name}{aliased[2]}"
        op, raw_params, path_known = self.contract.description.match(request.method, path)
        if op is None:
            unknown = "method" if path_known else "path"
            self.contract.violation("request", request, f"{unknown} not in the description")
            return None, error_reply(None, 404, "Not Found")
        request.operation = op.operation_id
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        call = Call(op, {}, {}, headers, body, None)
        early = self.contract.check_request(request, call, raw_params, query)
        if request.credentials != "valid":
            message = "Bad credentials" if request.credentials == "invalid" else None
            reply = error_reply(op, 401, message or "Requires authentication")
            if message:
                reply.payload["documentation_url"] = DOCS_ROOT
            return op, reply
        if op.operation_id != "rate-limit/get":
            self.rate_used += 1
        handler = self._handlers()[op.operation_id]
        fault = self._take_fault(request.method, request.path)
        if fault is not None:
            request.faulted = True
            if fault.perform and early is None:
                with contextlib.suppress(Reject):
                    handler(call)
            return op, self._fault_reply(request, op, fault)
        if early is not None:
            return op, early
        if self.rate_used > RATE_LIMIT:
            exhausted = Fault("*", re.compile(""), 403, 1, {})
            return op, self._fault_reply(request, op, exhausted)
        return op, handler(call)

    def _request_id(self) -> str:
        number = next(self._request_ids)
        return f"C0DE:{self._port:04X}:{number:06X}:{number * 7919:07X}:{int(time.time()):08X}"

    def _finish(self, request: RecordedRequest, op: Operation | None, reply: Reply) -> None:
        """Add GitHub's headers and validate the body against the description."""
        version = request.headers.get("x-github-api-version", API_VERSIONS[0])
        common = {
            "x-github-api-version-selected": version
            if version in API_VERSIONS
            else API_VERSIONS[0],
            "x-github-media-type": "github.v3; format=json",
            "x-github-request-id": request.request_id,
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": str(max(RATE_LIMIT - self.rate_used, 0)),
            "x-ratelimit-reset": str(self.rate_reset),
            "x-ratelimit-used": str(self.rate_used),
            "x-ratelimit-resource": "core",
            "x-oauth-scopes": "repo",
        }
        reply.headers = {**common, **reply.headers}
        self.contract.check_response(request, op, reply)

    # ------------------------------------------------------------------ operations

    def _handlers(self) -> dict[str, Callable[[Call], Reply]]:
        return {
            "rate-limit/get": self._rate_limit,
            "repos/get": self._get_repo,
            "repos/list-releases": self._list_releases,
            "repos/create-release": self._create_release,
            "repos/get-release": self._get_release,
            "repos/update-release": self._update_release,
            "repos/delete-release": self._delete_release,
            "repos/get-release-by-tag": self._get_release_by_tag,
            "repos/get-latest-release": self._get_latest_release,
            "repos/generate-release-notes": self._generate_notes,
            "repos/list-release-assets": self._list_assets,
            "repos/upload-release-asset": self._upload_asset,
            "repos/get-release-asset": self._get_asset,
            "repos/update-release-asset": self._update_asset,
            "repos/delete-release-asset": self._delete_asset,
            "pulls/list": self._list_pulls,
            "pulls/create": self._create_pull,
        }

    def _repo_for(self, call: Call) -> Repo:
        full_name = f"{call.params['owner']}/{call.params['repo']}".lower()
        repo = self.state.find_repo(full_name)
        if repo is None:
            raise Reject(error_reply(call.op, 404, "Not Found"))
        return repo

    def _release_for(self, call: Call, repo: Repo) -> Release:
        release = repo.releases.get(int(call.params["release_id"]))
        if release is None:
            raise Reject(error_reply(call.op, 404, "Not Found"))
        return release

    def _asset_for(self, call: Call, repo: Repo) -> Asset:
        wanted = int(call.params["asset_id"])
        for release in repo.releases.values():
            for asset in release.assets:
                if asset.id == wanted:
                    return asset
        raise Reject(error_reply(call.op, 404, "Not Found"))

    def _page(self, call: Call, items: list[Json], link_path: str) -> Reply:
        def number(name: str, default: int) -> int:
            raw = call.query.get(name, "")
            return int(raw) if raw.isdigit() and int(raw) > 0 else default

        per_page = min(number("per_page", 30), 100)
        page = number("page", 1)
        last = max(math.ceil(len(items) / per_page), 1)
        reply = Reply(200, items[(page - 1) * per_page : page * per_page])
        links = []

        def link(to: int, rel: str) -> str:
            query = {"per_page": str(per_page)} if "per_page" in call.query else {}
            query["page"] = str(to)
            return f'<{self.views.api_url}{link_path}?{urllib.parse.urlencode(query)}>; rel="{rel}"'

        if page > 1:
            links.append(link(min(page - 1, last), "prev"))
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links.append(link(1, "first"))
        if links:
            reply.headers["link"] = ", ".join(links)
        return reply

    def _rate_limit(self, call: Call) -> Reply:
        return Reply(200, self.rate_json())

    def _get_repo(self, call: Call) -> Reply:
        return Reply(200, self.views.repo_json(self._repo_for(call)))

    def _list_releases(self, call: Call) -> Reply:
        repo = self._repo_for(call)
        items = [self.views.release_json(r) for r in self.state.listed(repo)]
        return self._page(call, items, f"/repositories/{repo.id}/releases")

    def _release_rules(
        self, call: Call, repo: Repo, tag: str, commitish: str | None, release: Release | None
    ) -> None:
        errors: list[dict[str, Json]] = []
        if not valid_tag_name(tag):
            errors += [
                {
                    "resource": "Release",
                    "code": "custom",
                    "field": "tag_name",
                    "message": "tag_name is not a valid tag",
                },
                {
                    "resource": "Release",
                    "code": "custom",
                    "field": "tag_name",
                    "message": "tag_name is not well-formed",
                },
                {
                    "resource": "Release",
                    "code": "custom",
                    "message": "Published releases must have a valid tag",
                },
            ]
        if commitish is not None and self.state.commit_of(repo, commitish) is None:
            errors.append({"resource": "Release", "code": "invalid", "field": "target_commitish"})
        if tag in repo.spent_tags and (release is None or not release.immutable):
            errors.append(
                {
                    "resource": "Release",
                    "code": "custom",
                    "field": "tag_name",
                    "message": "tag_name was used by an immutable release",
                }
            )
        taken = self.state.by_tag(repo, tag)
        if taken is not None and (release is None or taken.id != release.id):
            errors.append({"resource": "Release", "code": "already_exists", "field": "tag_name"})
        if errors:
            raise Reject(error_reply(call.op, 422, "Validation Failed", errors))

    def _tag_in_git(self, call: Call, repo: Repo, tag: str, commitish: str | None) -> None:
        if repo.git_dir is not None and not self.state.tag_in_git(repo, tag, commitish):
            error = {"resource": "Release", "code": "invalid", "field": "target_commitish"}
            raise Reject(error_reply(call.op, 422, "Validation Failed", [error]))

    def _notes(self, repo: Repo, tag: str, previous: str | None) -> dict[str, str]:
        if previous:
            changelog = self.views.web(repo.full_name, "compare", f"{previous}...{tag}")
        else:
            changelog = self.views.web(repo.full_name, "commits", tag)
        return {"name": tag, "body": f"## What's Changed\n\n\n**Full Changelog**: {changelog}"}

    def _create_release(self, call: Call) -> Reply:
        repo = self._repo_for(call)
        data: dict[str, Json] = call.data
        tag = data["tag_name"]
        self._release_rules(call, repo, tag, data.get("target_commitish"), None)
        if not data.get("draft", False):
            self._tag_in_git(call, repo, tag, data.get("target_commitish"))
        name, body = data.get("name"), data.get("body")
        if data.get("generate_release_notes"):
            notes = self._notes(repo, tag, None)
            name = name or notes["name"]
            body = f"{body}\n\n{notes['body']}" if body else notes["body"]
        release = self.state.create_release(
            repo.full_name,
            tag,
            name=name,
            body=body,
            draft=bool(data.get("draft", False)),
            prerelease=bool(data.get("prerelease", False)),
            make_latest=data.get("make_latest", "true"),
            target_commitish=data.get("target_commitish"),
        )
        reply = Reply(201, self.views.release_json(release))
        reply.headers["location"] = reply.payload["url"]
        return reply

    def _get_release(self, call: Call) -> Reply:
        repo = self._repo_for(call)
        return Reply(200, self.views.release_json(self._release_for(call, repo)))

    def _update_release(self, call: Call) -> Reply:
        repo = self._repo_for(call)
        release = self._release_for(call, repo)
        data: dict[str, Json] = call.data if isinstance(call.data, dict) else {}
        tag = data.get("tag_name", release.tag_name)
        self._release_rules(call, repo, tag, data.get("target_commitish"), release)
        was_draft = release.draft
        publishing = was_draft and not data.get("draft", True)
        if release.immutable and (
            tag != release.tag_name
            or data.get("draft")
            or data.get("target_commitish", release.target_commitish) != release.target_commitish
        ):
            raise Reject(error_reply(call.op, 422, "Cannot modify the tag of an immutable release"))
        if publishing:
            self._tag_in_git(
                call, repo, tag, data.get("target_commitish", release.target_commitish)
            )
        release.tag_name = tag
        for key in ("name", "body", "target_commitish"):
            if key in data:
                setattr(release, key, data[key])
        release.draft = bool(data.get("draft", release.draft))
        release.prerelease = bool(data.get("prerelease", release.prerelease))
        release.updated_at = now()
        if was_draft and not release.draft:
            release.published_at = release.updated_at
            self.state.published(repo, release)
        elif release.draft:
            release.published_at = None
        self.state.make_latest(
            repo, release, data.get("make_latest"), newly_published=was_draft and not release.draft
        )
        return Reply(200, self.views.release_json(release))

    def _delete_release(self, call: Call) -> Reply:
        repo = self._repo_for(call)
        release = self._release_for(call, repo)
        del repo.releases[release.id]
        if repo.latest_id == release.id:
            repo.latest_id = None
        return Reply(204)

    def _get_release_by_tag(self, call: Call) -> Reply:
        release = self.state.by_tag(self._repo_for(call), call.params["tag"])
        if release is None:
            return error_reply(call.op, 404, "Not Found")
        return Reply(200, self.views.release_json(release))

    def _get_latest_release(self, call: Call) -> Reply:
        release = self.state.latest(self._repo_for(call))
        if release is None:
            return error_reply(call.op, 404, "Not Found")
        return Reply(200, self.views.release_json(release))

    def _generate_notes(self, call: Call) -> Reply:
        repo = self._repo_for(call)
        data: dict[str, Json] = call.data
        return Reply(200, self._notes(repo, data["tag_name"], data.get("previous_tag_name")))

    def _list_assets(self, call: Call) -> Reply:
        repo = self._repo_for(call)
        release = self._release_for(call, repo)
        items = [self.views.asset_json(a) for a in release.assets]
        return self._page(call, items, f"/repositories/{repo.id}/releases/{release.id}/assets")

    def _upload_asset(self, call: Call) -> Reply:
        repo = self._repo_for(call)
        release = self._release_for(call, repo)
        if release.immutable:
            return error_reply(call.op, 422, "Cannot upload assets to an immutable release")
        name = sanitize_asset_name(call.query.get("name", ""))
        if not name:
            return error_reply(
                call.op,
                422,
                "Validation Failed",
                [{"resource": "ReleaseAsset", "code": "invalid", "field": "name"}],
            )
        if any(a.name == name for a in release.assets):
            return error_reply(
                call.op,
                422,
                "Validation Failed",
                [{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}],
            )
        asset = self.state.add_asset(
            release,
            name,
            call.body,
            content_type=call.headers.get("content-type", "application/octet-stream"),
            label=call.query.get("label"),
        )
        return Reply(201, self.views.asset_json(asset))

    def _get_asset(self, call: Call) -> Reply:
        asset = self._asset_for(call, self._repo_for(call))
        description = self.views.asset_json(asset)
        if "application/octet-stream" in call.headers.get("accept", ""):
            return Reply(302, headers={"location": description["browser_download_url"]})
        return Reply(200, description)

    def _frozen(self, call: Call, asset: Asset) -> None:
        if self.state.release_by_id(asset.release_id).immutable:
            raise Reject(error_reply(call.op, 422, "Cannot modify assets of an immutable release"))

    def _update_asset(self, call: Call) -> Reply:
        asset = self._asset_for(call, self._repo_for(call))
        self._frozen(call, asset)
        data: dict[str, Json] = call.data if isinstance(call.data, dict) else {}
        if "name" in data:
            name = sanitize_asset_name(data["name"])
            siblings = self.state.release_by_id(asset.release_id).assets
            if any(a.name == name and a.id != asset.id for a in siblings):
                return error_reply(
                    call.op,
                    422,
                    "Validation Failed",
                    [{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}],
                )
            asset.name = name
        if "label" in data:
            asset.label = data["label"]
        if "state" in data:
            asset.state = data["state"]
        asset.updated_at = now()
        return Reply(200, self.views.asset_json(asset))

    def _delete_asset(self, call: Call) -> Reply:
        asset = self._asset_for(call, self._repo_for(call))
        self._frozen(call, asset)
        self.state.release_by_id(asset.release_id).assets.remove(asset)
        return Reply(204)

    def _list_pulls(self, call: Call) -> Reply:
        repo = self._repo_for(call)
        state = call.query.get("state", "open")
        head = call.query.get("head")
        base = call.query.get("base")
        chosen = [
            p
            for p in sorted(repo.pulls.values(), key=lambda p: -p.number)
            if state in ("all", p.state)
            and (head is None or head == f"{repo.owner.login}:{p.head}")
            and (base is None or base == p.base)
        ]
        items = [self.views.pull_json(repo, p, full=False) for p in chosen]
        return self._page(call, items, f"/repositories/{repo.id}/pulls")

    def _create_pull(self, call: Call) -> Reply:
        repo = self._repo_for(call)
        data: dict[str, Json] = call.data
        head, base = str(data.get("head", "")), str(data.get("base", ""))
        # "owner:branch" names a branch of this repository's owner; no forks here.
        owner, _, branch = head.rpartition(":")
        head = branch if owner.lower() in ("", repo.owner.login.lower()) else head
        errors: list[dict[str, Json]] = []
        for field_name, branch_name in (("head", head), ("base", base)):
            if self.state.branch_sha(repo, branch_name) is None:
                errors.append({"resource": "PullRequest", "field": field_name, "code": "invalid"})
        already = [
            p for p in repo.pulls.values() if p.state == "open" and (p.head, p.base) == (head, base)
        ]
        if not errors and already:
            errors.append(
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"A pull request already exists for {repo.owner.login}:{head}.",
                }
            )
        if not errors and data.get("title") is None:
            errors.append({"resource": "PullRequest", "field": "title", "code": "missing_field"})
        if errors:
            raise Reject(error_reply(call.op, 422, "Validation Failed", errors))
        pull = self.state.open_pull(
            repo,
            title=str(data["title"]),
            body=data.get("body"),
            head=head,
            base=base,
            draft=bool(data.get("draft", False)),
        )
        reply = Reply(201, self.views.pull_json(repo, pull, full=True))
        reply.headers["location"] = reply.payload["url"]
        return reply

    def _download(self, method: str, path: str) -> Reply:
        """``browser_download_url``: public, no API headers, the stored bytes."""
        not_found = Reply(404, raw=b"Not Found", content_type="text/plain; charset=utf-8")
        parts = path.split("/")
        if method not in ("GET", "HEAD") or len(parts) != 6:
            return not_found
        _, _, owner, name, segment, filename = map(urllib.parse.unquote, parts)
        repo = self.state.find_repo(f"{owner}/{name}")
        if repo is None:
            return not_found
        for release in repo.releases.values():
            if release.download_segment != segment:
                continue
            for asset in release.assets:
                if asset.name == filename:
                    asset.download_count += 1
                    etag = hashlib.md5(asset.data, usedforsecurity=False).hexdigest()
                    return Reply(
                        200,
                        raw=asset.data,
                        content_type="application/octet-stream",
                        headers={
                            "content-disposition": f"attachment; filename={asset.name}",
                            "etag": f'"{etag}"',
                        },
                    )
        return not_found

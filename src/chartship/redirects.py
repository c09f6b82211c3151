"""Following HTTP redirects without leaving HTTP or carrying credentials elsewhere.

urllib's own handler follows a redirect to ``ftp://`` (its default opener can
fetch it) and copies every header, Authorization included, to whatever host a
server names. A registry or a pages site that chartship does not control must
get neither: a redirect is followed only to http(s), and a request that moves
to another origin (scheme, host or port) loses its credentials on the way.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from typing import Any

from chartship.errors import RedirectRefused
from chartship.safetext import shown

#: Headers that carry credentials; dropped when a redirect changes the origin.
CREDENTIAL_HEADERS = ("Authorization", "Proxy-Authorization", "Cookie")


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class SafeRedirects(urllib.request.HTTPRedirectHandler):
    """urllib's redirect handling (bounded at its 10 hops), kept to http(s) and one origin's
    credentials."""

    def http_error_302(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any
    ) -> Any:
        # Checked before urllib's own check, which lets ftp through and turns
        # file: into a plain HTTP error.
        location = headers.get("location") or headers.get("uri")
        if location:
            target = urllib.parse.urljoin(req.full_url, location)
            if urllib.parse.urlsplit(target).scheme.lower() not in ("http", "https"):
                raise RedirectRefused(
                    f"{shown(req.full_url)} redirects to {shown(target)}: chartship follows "
                    "redirects only to http(s) URLs"
                )
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            for name in CREDENTIAL_HEADERS:
                new.remove_header(name.capitalize())  # how Request stores names
        return new


def opener(*handlers: urllib.request.BaseHandler) -> urllib.request.OpenerDirector:
    """An opener with :class:`SafeRedirects` in place of urllib's redirect handler."""
    return urllib.request.build_opener(*handlers, SafeRedirects())

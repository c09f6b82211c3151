"""Text from outside put into messages: shortened, escaped, credentials masked.

Chart names, versions, tags, file lines and URLs reach messages from files a
pull request can change and from servers chartship does not control. Echoed
as they are, a 200,000-character version floods a log, a right-to-left
override reorders what a reviewer reads, and a URL with a password in it
publishes the password. Every message that quotes such a value goes through
:func:`shown`; every URL that may carry credentials through :func:`redact_url`
(and :class:`chartship.errors.ChartshipError` masks any URL left in a message).
"""

from __future__ import annotations

import functools
import re
import urllib.parse

#: Characters of a quoted value kept in a message; the rest is counted, not shown.
SHOWN_CHARS = 80
MASK = "***"

_ASCII_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Unicode categories that are invisible or move other text: controls, formats
#: (bidi overrides, zero-width joiners), separators other than space, unassigned.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*://"


# The patterns are compiled at first use: most processes never mask a URL, and
# each compile costs start-up (an index merge's, for one) a measurable share.
@functools.cache
def _userinfo() -> re.Pattern[str]:
    """``scheme://userinfo@`` at the start of a URL; userinfo never holds '/', '?', '#' or '@'."""
    return re.compile(rf"^(?P<scheme>{_SCHEME})(?P<userinfo>[^/?#@\s]*)@")


@functools.cache
def _userinfo_in_text() -> re.Pattern[str]:
    """The same anywhere in a text, for masking URLs inside a message."""
    return re.compile(rf"(?P<scheme>{_SCHEME})(?P<userinfo>[^/?#@\s'\"<>]*)@")


def _escape(char: str) -> str:
    if char in _ASCII_ESCAPES:
        return _ASCII_ESCAPES[char]
    if char == "\\":
        return "\\\\"
    import unicodedata  # here: only a message quoting outside text needs it

    if unicodedata.category(char) in _HIDDEN_CATEGORIES:
        code = ord(char)
        if code < 0x100:
            return f"\\x{code:02x}"
        return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return char


def escape(text: str) -> str:
    """``text`` with every control, format and invisible character written as an escape."""
    return "".join(_escape(c) for c in text)


def shown(value: object, limit: int = SHOWN_CHARS, *, quote: bool = True) -> str:
    """A value quoted for a message: escaped, cut to ``limit`` characters, URLs masked.

    A string is shown in single quotes (unless ``quote`` is false), anything
    else as its ``repr`` (as ``{value!r}`` would). The length of a cut value is
    given, so the reader knows it was cut.
    """
    text = value if isinstance(value, str) else repr(value)
    # Masked before it is cut: a cut inside the userinfo would keep part of a password.
    masked = redact_urls(text)
    body = escape(masked[:limit])
    if isinstance(value, str) and quote:
        body = f"'{body}'"
    return body if len(masked) <= limit else f"{body}... ({len(text)} characters)"


# --------------------------------------------------------------------------- URLs


def userinfo(url: str) -> str | None:
    """The ``user[:password]`` part of ``url``, or None when it has none."""
    match = _userinfo().match(url.strip())
    return match.group("userinfo") if match else None


def redact_url(url: str) -> str:
    """``url`` with any user name and password replaced by ``***``."""
    match = _userinfo().match(url)
    return f"{match.group('scheme')}{MASK}@{url[match.end() :]}" if match else url


def redact_urls(text: str) -> str:
    """Every ``scheme://user:password@`` in ``text`` masked; the rest unchanged."""
    if "@" not in text:
        return text
    return _userinfo_in_text().sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


def url_secrets(url: str) -> tuple[str, ...]:
    """The secrets in ``url``'s userinfo, as written and percent-decoded, longest first."""
    info = userinfo(url)
    if not info:
        return ()
    user, colon, password = info.partition(":")
    secret = password if colon else user
    found = {info, secret, urllib.parse.unquote(secret)}
    return tuple(sorted((s for s in found if s), key=len, reverse=True))

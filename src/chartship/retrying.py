"""How long to wait before trying a failed remote operation again, within a bound.

One :class:`Budget` covers one operation (an HTTP request, a whole ``helm push``):
waits grow 0.2, 0.4, 0.8 ... up to 5 s, a server's ``Retry-After`` replaces the
computed wait, and once the waits would pass ``seconds`` in total the operation
fails instead. A service that is down therefore costs seconds, not minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: HTTP answers worth another attempt: throttling and server-side failures.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

_FIRST_WAIT = 0.2
_LONGEST_WAIT = 5.0
#: Even "Retry-After: 0" pauses this long, so that a retry is never a busy loop.
_SHORTEST_WAIT = 0.05


class Budget:
    """The waits left to one operation; see the module docstring."""

    def __init__(self, seconds: float, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.seconds = seconds
        self.attempts = 0
        self.waited = 0.0
        self._deadline = time.monotonic() + seconds
        self._sleep = sleep

    def next_wait(self, retry_after: str | None = None) -> float | None:
        """The wait before the next attempt, or None when the budget cannot pay it."""
        self.attempts += 1
        # The exponent is capped: 2.0 ** 1024 overflows a float, and attempts are
        # many when a server keeps asking for no wait at all.
        wait: float = min(_FIRST_WAIT * 2.0 ** min(self.attempts - 1, 5), _LONGEST_WAIT)
        if retry_after and retry_after.strip().replace(".", "", 1).isdigit():
            wait = max(float(retry_after), _SHORTEST_WAIT)
        # The clock alone does not bound a sleep that returns early (an injected
        # or interrupted one): the waits granted so far count against it too.
        remaining = min(self._deadline - time.monotonic(), self.seconds - self.waited)
        if remaining <= 0 or wait > remaining:
            return None
        return wait

    def pause(self, retry_after: str | None = None) -> bool:
        """Sleep before the next attempt; False (and no sleep) when the budget is spent."""
        wait = self.next_wait(retry_after)
        if wait is None:
            return False
        self._sleep(wait)
        self.waited += wait
        return True

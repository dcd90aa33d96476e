"""The admin UI's slowing of password guessing: after five wrong passwords for one name within a
minute, that name's further tries are refused, unread, until the minute since the first of them
has passed. In memory (one server per database; a restart forgets them). Pure.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque


class LoginThrottle:
    """Wrong passwords per name, in memory (one server per database; a restart forgets them)."""

    FAILURES = 5
    WINDOW_SECONDS = 60.0
    MAX_NAMES = 10_000  # names remembered at most: guessing at random names cannot fill memory

    def __init__(self) -> None:
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def wait_seconds(self, name: str, now: float | None = None) -> float:
        """How long `name` must wait before its next try is read; 0: it may try now."""
        now = time.monotonic() if now is None else now
        failures = self._failures.get(name)
        if failures is None:
            return 0.0
        while failures and failures[0] <= now - self.WINDOW_SECONDS:
            failures.popleft()
        if len(failures) < self.FAILURES:
            return 0.0
        return failures[0] + self.WINDOW_SECONDS - now

    def failed(self, name: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        failures = self._failures.setdefault(name, deque(maxlen=self.FAILURES))
        failures.append(now)
        self._failures.move_to_end(name)
        while len(self._failures) > self.MAX_NAMES:
            self._failures.popitem(last=False)

    def succeeded(self, name: str) -> None:
        self._failures.pop(name, None)

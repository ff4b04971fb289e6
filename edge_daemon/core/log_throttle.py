"""Rate limiting for repeated log lines: the first occurrence at once, then a slow cadence."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class LogThrottle:
    """Says when a repeating event should be logged again, and how many were held back.

    A camera that delivers a broken frame 30 times a second, or a frame loop that fails on
    every frame, must not flood the journal: the first event is logged, then at most one line
    per interval carrying the count of the events skipped in between.
    """

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def allow(self, key: str = "") -> int | None:
        """None: stay quiet; else log now, and the int is how many were held back before."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval_s:
                self._held[key] = self._held.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._held.pop(key, 0)

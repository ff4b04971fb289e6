"""Rate limiting for repeated log lines: the first occurrence at once, then a slow cadence.

LogThrottle holds back repeats of an event; OutageLog, built on it, follows a failure that
lasts (a camera, a broker, a disk) from its start to its end. Everything that logs a
repeating event goes through one of the two.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal


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


class OutageLog:
    """Decides when to log a lasting failure: when it starts or changes, then slowly, and its end.

    A camera that cannot be opened, a broker that is down or a disk that is full fails on
    every attempt; Frigate users' most frequent complaint is a log flooded by that. Here each
    kind of failure is logged when it first appears (or replaces another), then at most once
    per `interval_s` (a LogThrottle per kind), and end() says how long the outage lasted.
    """

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.kind: str | None = None
        self.since: float | None = None
        self.attempts = 0  # failures since the outage began
        self._reminders = LogThrottle(interval_s, clock)

    @property
    def active(self) -> bool:
        """True between the first failure and end()."""
        return self.since is not None

    def report(self, kind: str) -> Literal["first", "reminder"] | None:
        """Count one failure of this kind; say whether to log it now and how."""
        self.attempts += 1
        if self.since is None:
            self.since = self.clock()
        if kind != self.kind:
            self.kind = kind
            self._reminders = LogThrottle(self._reminders.interval_s, self.clock)
            self._reminders.allow()
            return "first"
        return "reminder" if self._reminders.allow() is not None else None

    def duration(self) -> float:
        """Seconds since the outage began (0 when there is none)."""
        return 0.0 if self.since is None else self.clock() - self.since

    def end(self) -> float | None:
        """It works again: forget the outage, return how long it lasted (None: there was none)."""
        lasted = None if self.since is None else self.clock() - self.since
        self.kind, self.since, self.attempts = None, None, 0
        return lasted

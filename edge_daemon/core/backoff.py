"""The one retry policy: waits that double from a first delay up to a longest, with jitter.

Used wherever something is retried in the background (a camera reopened, a port bound
again); paho's own reconnect for MQTT is configured to the same shape (sinks/mqtt).
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """The wait before each next attempt: first, 2x first, ... up to longest; reset() restarts.

    jitter spreads each wait by up to that fraction either way, so that several daemons (or
    cameras) that failed together do not all retry in the same instant.
    """

    def __init__(self, first: float, longest: float, jitter: float = 0.0,
                 rand: Callable[[], float] = random.random) -> None:
        if first <= 0 or longest < first:
            raise ValueError(f"need 0 < first <= longest, got {first} and {longest}")
        if not 0.0 <= jitter < 1.0:
            raise ValueError(f"jitter must be in [0, 1), got {jitter}")
        self.first, self.longest, self.jitter = first, longest, jitter
        self._rand = rand
        self._next = first

    def next(self) -> float:
        """The wait before the next attempt (and double the one after, up to longest)."""
        wait = self._next
        self._next = min(self._next * 2, self.longest)
        if self.jitter:
            wait *= 1.0 + self.jitter * (2.0 * self._rand() - 1.0)
        return wait

    def peek(self) -> float:
        """The wait next() will give (before jitter), without moving on."""
        return self._next

    def reset(self) -> None:
        """Success: the next failure waits `first` again."""
        self._next = self.first

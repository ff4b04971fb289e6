"""What the MQTT sink does while the broker is away: a bounded queue and a quiet log."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class PendingMessage:
    """A message made while disconnected, sent on reconnect."""

    topic: str
    payload: bytes
    qos: int
    retain: bool


class OfflineQueue:
    """FIFO of at most `capacity` messages; a full queue drops its oldest and counts it."""

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"queue capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self.dropped = 0
        self._items: deque[PendingMessage] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def push(self, message: PendingMessage) -> None:
        """Append; drop (and count) the oldest when over capacity."""
        if self.capacity == 0:
            self.dropped += 1
            return
        if len(self._items) >= self.capacity:
            self._items.popleft()
            self.dropped += 1
        self._items.append(message)

    def drain(self) -> list[PendingMessage]:
        """Take everything, oldest first."""
        items = list(self._items)
        self._items.clear()
        return items

    def discard(self) -> int:
        """Throw everything away (counted as dropped); return how many."""
        count = len(self._items)
        self.dropped += count
        self._items.clear()
        return count


class OutageLog:
    """Decides when to log a broker problem: once when it starts, then at a slow cadence.

    Frigate users' most frequent MQTT complaint is a log flooded while the broker is down;
    here each kind of problem ("unreachable", "refused") is logged when it first appears and
    then at most once per `interval` seconds until the connection is back.
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.kind: str | None = None
        self.since: float | None = None
        self.attempts = 0
        self._last_log = 0.0

    def report(self, kind: str) -> Literal["first", "reminder"] | None:
        """Count one failure of this kind; say whether to log it now and how."""
        now = self.clock()
        self.attempts += 1
        if self.since is None:
            self.since = now
        if kind != self.kind:
            self.kind, self._last_log = kind, now
            return "first"
        if now - self._last_log >= self.interval:
            self._last_log = now
            return "reminder"
        return None

    def duration(self) -> float:
        """Seconds since the outage began (0 when there is none)."""
        return 0.0 if self.since is None else self.clock() - self.since

    def end(self) -> float | None:
        """The connection is back: forget the outage, return how long it lasted (None: none)."""
        lasted = None if self.since is None else self.clock() - self.since
        self.kind, self.since, self.attempts = None, None, 0
        return lasted

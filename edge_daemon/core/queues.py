"""The one queue every sink hands work through: bounded, never blocking, dropping the oldest.

A sink's publish() runs in a camera's frame loop and must never wait. When a sink's worker
(a broker connection, a disk, a network client) falls behind, the newest result is the one
worth keeping: the oldest waiting item goes, and is counted, as Frigate's queues do.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class DropOldestQueue(Generic[T]):
    """FIFO of at most `capacity` items, safe across threads; a full queue drops its oldest."""

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"queue capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self.dropped = 0  # items pushed out (or refused by a capacity of 0), ever
        self._items: deque[T] = deque()
        self._ready = threading.Condition()

    def __len__(self) -> int:
        return len(self._items)

    def push(self, item: T) -> T | None:
        """Append without waiting; returns the item dropped to make room (None: none was)."""
        with self._ready:
            if self.capacity == 0:
                self.dropped += 1
                return item
            dropped = None
            if len(self._items) >= self.capacity:
                dropped = self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._ready.notify()
            return dropped

    def get(self, timeout: float) -> T | None:
        """The oldest item, waiting up to timeout seconds for one; None if none came (or wake())."""
        with self._ready:
            if not self._items:
                self._ready.wait(timeout)
            return self._items.popleft() if self._items else None

    def wake(self) -> None:
        """Make a waiting get() return now (with an item if there is one)."""
        with self._ready:
            self._ready.notify_all()

    def drain(self) -> list[T]:
        """Take everything, oldest first."""
        with self._ready:
            items = list(self._items)
            self._items.clear()
            return items

    def discard(self) -> int:
        """Throw everything away (counted as dropped); return how many."""
        with self._ready:
            count = len(self._items)
            self.dropped += count
            self._items.clear()
            return count

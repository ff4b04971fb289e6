"""The small mechanisms every stage shares: throttled logs, outages, backoff, the queue."""

from __future__ import annotations

import threading
import time

import pytest

from edge_daemon.core.backoff import Backoff
from edge_daemon.core.log_throttle import LogThrottle, OutageLog
from edge_daemon.core.queues import DropOldestQueue
from edge_daemon.sinks.mqtt.offline import PendingMessage


def test_offline_queue_drops_oldest_and_counts():
    queue = DropOldestQueue(3)
    for i in range(5):
        queue.push(PendingMessage("t", str(i).encode(), 0, False))
    assert len(queue) == 3 and queue.dropped == 2
    assert [m.payload for m in queue.drain()] == [b"2", b"3", b"4"]
    assert len(queue) == 0
    none = DropOldestQueue(0)
    none.push(PendingMessage("t", b"x", 0, False))
    assert len(none) == 0 and none.dropped == 1


def test_outage_log_first_then_slow_reminders_then_reset():
    now = [0.0]
    outage = OutageLog(interval_s=60.0, clock=lambda: now[0])
    verdicts = []
    for t in (0, 1, 2, 59, 61, 62, 130):
        now[0] = t
        verdicts.append(outage.report("unreachable"))
    assert verdicts == ["first", None, None, None, "reminder", None, "reminder"]
    assert outage.report("refused") == "first"  # a different problem is news
    now[0] = 200.0
    assert outage.end() == 200.0
    assert outage.end() is None
    assert outage.report("unreachable") == "first"


def test_outage_log_counts_attempts_and_knows_when_it_is_active():
    now = [0.0]
    outage = OutageLog(interval_s=10.0, clock=lambda: now[0])
    assert not outage.active and outage.duration() == 0.0
    for t in (1.0, 2.0, 3.0):
        now[0] = t
        outage.report("disk full")
    assert outage.active and outage.attempts == 3 and outage.duration() == 2.0


def test_log_throttle_counts_what_it_held_back_per_key():
    now = [0.0]
    throttle = LogThrottle(5.0, clock=lambda: now[0])
    assert throttle.allow("a") == 0
    assert throttle.allow("a") is None and throttle.allow("a") is None
    assert throttle.allow("b") == 0  # another key is not held back by the first
    now[0] = 5.0
    assert throttle.allow("a") == 2


def test_backoff_doubles_up_to_the_longest_and_restarts_after_reset():
    backoff = Backoff(1.0, 5.0)
    assert [backoff.next() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.peek() == 1.0 and backoff.next() == 1.0


def test_backoff_jitter_stays_within_its_fraction():
    low, high = Backoff(10.0, 10.0, jitter=0.2, rand=lambda: 0.0), Backoff(
        10.0, 10.0, jitter=0.2, rand=lambda: 0.999999)
    assert low.next() == pytest.approx(8.0) and high.next() == pytest.approx(12.0, abs=1e-4)
    for bad in ((0.0, 1.0), (2.0, 1.0)):
        with pytest.raises(ValueError):
            Backoff(*bad)


def test_queue_hands_items_across_threads_and_get_times_out_empty():
    queue: DropOldestQueue[int] = DropOldestQueue(2)
    assert queue.get(timeout=0.01) is None
    got: list[int | None] = []
    waiting = threading.Thread(target=lambda: got.append(queue.get(timeout=300.0)))
    waiting.start()
    deadline = time.monotonic() + 60.0
    while waiting.is_alive() and time.monotonic() < deadline:
        queue.wake()  # ends the wait at once, with nothing (again, if it had not begun)
        waiting.join(0.05)
    assert not waiting.is_alive() and got == [None]
    got.clear()
    reader = threading.Thread(target=lambda: got.append(queue.get(timeout=30.0)))
    reader.start()
    queue.push(7)
    reader.join(30.0)
    assert got == [7]
    assert queue.push(1) is None and queue.push(2) is None and queue.push(3) == 1
    assert queue.drain() == [2, 3] and queue.dropped == 1
    queue.push(4)
    assert queue.discard() == 1 and queue.dropped == 2 and len(queue) == 0

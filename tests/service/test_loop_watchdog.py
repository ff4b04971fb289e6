"""LoopWatchdog: pings only while every processing loop progresses (logic and real socket)."""

from __future__ import annotations

import logging
import threading
import time
from itertools import pairwise

import pytest

from edge_daemon.service import LoopWatchdog, SystemdNotifier


class FakeClock:
    """A settable monotonic clock for the pure decision logic."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(interval: float | None = 10.0):
    clock, pings = FakeClock(), []
    watchdog = LoopWatchdog(lambda: pings.append(clock.now), interval, clock=clock)
    return watchdog, clock, pings


def test_pings_every_half_interval_while_all_loops_beat():
    watchdog, clock, pings = make(10.0)
    watchdog.register("front")
    watchdog.register("back")
    clock.now += 4.9
    watchdog.beat("front")
    watchdog.beat("back")
    assert watchdog.check() is False  # not due before half the interval
    clock.now += 0.1
    assert watchdog.check() is True
    assert pings == [105.0]


def test_one_silent_loop_withholds_the_ping_until_it_beats_again(caplog):
    watchdog, clock, pings = make(10.0)
    watchdog.register("front")
    watchdog.register("back")
    clock.now += 5
    assert watchdog.check()  # registration counts as the first beat
    clock.now += 5
    watchdog.beat("front")  # "back" is stuck in an inference
    with caplog.at_level(logging.INFO, logger="edge_daemon.service.watchdog"):
        assert watchdog.check() is False
        clock.now += 1
        assert watchdog.check() is False
        assert watchdog.stalled() == {"back": 11.0}  # silent since it registered
        watchdog.beat("back")
        assert watchdog.check() is True
    assert pings == [105.0, 111.0]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per stall, not once per check
    assert "back" in warnings[0].getMessage() and "front" not in warnings[0].getMessage()
    assert any("resumed" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


def test_an_unregistered_loop_no_longer_counts():
    watchdog, clock, pings = make(10.0)
    watchdog.register("file-source")
    clock.now += 5
    watchdog.check()
    clock.now += 5
    assert watchdog.check() is False
    watchdog.unregister("file-source")  # the video file ended: not a hang
    assert watchdog.check() is True
    assert len(pings) == 2


def test_no_loops_means_alive():
    watchdog, clock, pings = make(2.0)
    clock.now += 1
    assert watchdog.check()
    assert pings == [101.0]


def test_without_watchdog_it_never_pings_and_starts_no_thread():
    watchdog, clock, pings = make(None)
    watchdog.register("front")
    watchdog.beat("front")
    clock.now += 1000
    assert watchdog.check() is False
    watchdog.start()
    assert not any(t.name == "watchdog" for t in threading.enumerate())
    watchdog.stop()
    assert pings == []


def test_a_non_positive_interval_is_refused():
    with pytest.raises(ValueError, match="positive"):
        LoopWatchdog(lambda: None, 0)


class CameraLoop:
    """A processing loop on its own thread whose 'inference' can be made to hang."""

    def __init__(self, name: str, watchdog: LoopWatchdog) -> None:
        self.name, self.watchdog = name, watchdog
        self.hang, self.release, self.stop = threading.Event(), threading.Event(), threading.Event()
        watchdog.register(name)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            if self.hang.is_set():
                self.release.wait()  # a frozen inference: no progress, no beat
            self.watchdog.beat(self.name)
            time.sleep(0.01)

    def close(self) -> None:
        self.stop.set()
        self.release.set()
        self.thread.join()


def start_service(address: str, interval: float):
    """What the daemon does at start: READY=1, then the pinger fed by the loops."""
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": str(int(interval * 1e6))}
    notifier = SystemdNotifier(environ=env)
    watchdog = LoopWatchdog(notifier.watchdog, notifier.watchdog_interval)
    loops = [CameraLoop("front", watchdog), CameraLoop("back", watchdog)]
    notifier.ready()
    watchdog.start()
    return notifier, watchdog, loops


def test_service_lifecycle_ready_pings_at_cadence_then_stopping(notify_listener):
    interval = 1.0
    notifier, watchdog, loops = start_service(notify_listener.address, interval)
    notify_listener.collect(2.6)
    for loop in loops:
        loop.close()
    watchdog.stop()
    notifier.stopping()
    notify_listener.collect(0.6)

    kinds = [next(iter(n.fields)) for n in notify_listener.received]
    assert kinds[0] == "READY" and kinds[-1] == "STOPPING"
    pings = [n.at for n in notify_listener.received if "WATCHDOG" in n.fields]
    assert kinds[1:-1] == ["WATCHDOG"] * len(pings)
    assert 4 <= len(pings) <= 6  # every half interval over 2.6 s
    gaps = [b - a for a, b in pairwise(pings)]
    assert all(interval / 2 - 0.02 <= gap < interval for gap in gaps), gaps


def test_a_stuck_loop_stops_the_pings_and_recovery_resumes_them(notify_listener, caplog):
    interval = 1.0
    notifier, watchdog, loops = start_service(notify_listener.address, interval)
    try:
        assert notify_listener.collect(2, count=2)[-1].fields == {"WATCHDOG": "1"}
        loops[1].hang.set()
        hung_at = time.monotonic()
        during = notify_listener.collect(2.0)
        # At most the ping already earned before the hang; then silence far past WatchdogSec.
        assert len(during) <= 1
        assert all(n.at - hung_at < interval / 2 + 0.2 for n in during)
        assert any("back" in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
        loops[1].release.set()
        released_at = time.monotonic()
        after = notify_listener.collect(2, count=1)
        assert after and after[0].fields == {"WATCHDOG": "1"}
        assert after[0].at - released_at < interval / 2
    finally:
        for loop in loops:
            loop.close()
        watchdog.stop()
        notifier.close()

"""A systemd watchdog fed by the processing loops, so that a hung inference stops the pings.

A pinger thread that only proves the process is alive would keep pinging while every camera
loop is stuck inside a frozen inference or a blocked read. Here each loop calls `beat(name)`
once per iteration, and WATCHDOG=1 goes out (every half WatchdogSec=, as systemd advises)
only when every registered loop has beaten since the previous ping. One stuck loop silences
the pings; systemd then kills the service and `Restart=on-failure` brings it back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class LoopWatchdog:
    """Sends the watchdog ping only while every registered processing loop keeps beating."""

    def __init__(
        self,
        ping: Callable[[], object],
        interval: float | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """ping sends WATCHDOG=1; interval is WatchdogSec= in seconds (None: never ping)."""
        if interval is not None and interval <= 0:
            raise ValueError(f"watchdog interval must be positive, got {interval}")
        self._ping = ping
        self.interval = interval
        self._clock = clock
        self._last_beat: dict[str, float] = {}
        self._last_ping = clock()
        self._withheld = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def period(self) -> float | None:
        """Seconds between pings: half the interval, so one late ping is not yet fatal."""
        return None if self.interval is None else self.interval / 2

    def register(self, name: str) -> None:
        """Watch a loop from now on; registering counts as its first beat."""
        with self._lock:
            self._last_beat[name] = self._clock()

    def unregister(self, name: str) -> None:
        """Stop watching a loop (its camera was removed, or its file source ended)."""
        with self._lock:
            self._last_beat.pop(name, None)

    def beat(self, name: str) -> None:
        """Called by loop `name` once per iteration: it is making progress."""
        # One dict store: cheap enough for every frame, and atomic under the GIL.
        self._last_beat[name] = self._clock()

    def stalled(self, now: float | None = None) -> dict[str, float]:
        """Loops that have not beaten since the last ping, with seconds since their last beat."""
        now = self._clock() if now is None else now
        with self._lock:
            beats = dict(self._last_beat)
            last_ping = self._last_ping
        return {name: now - t for name, t in beats.items() if t < last_ping}

    def check(self, now: float | None = None) -> bool:
        """Ping if a period has passed and every loop beat since the last ping; True if pinged."""
        if self.period is None:
            return False
        now = self._clock() if now is None else now
        if now - self._last_ping < self.period:
            return False
        stalled = self.stalled(now)
        if stalled:
            self._report_withheld(stalled)
            return False
        if self._withheld:
            log.info("all processing loops beat again; watchdog pings resumed")
            self._withheld = False
        with self._lock:
            self._last_ping = now
        self._ping()
        return True

    def _report_withheld(self, stalled: dict[str, float]) -> None:
        """Say once per stall which loops hold the pings back (systemd will kill us for it)."""
        if self._withheld:
            return
        self._withheld = True
        late = ", ".join(f"{name} ({age:.1f} s)" for name, age in sorted(stalled.items()))
        log.warning(
            "processing loop(s) stuck, withholding the watchdog ping: %s; systemd restarts "
            "the service after %.0f s without one",
            late,
            self.interval,
        )

    def start(self) -> None:
        """Check on a background thread, often enough that a ping is never much late."""
        if self.period is None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread (call before STOPPING=1 ends the watchdog anyway)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        # A quarter period: a ping is at most that late, and a loop that recovers is
        # acknowledged quickly, well before systemd's deadline.
        tick = (self.period or 1.0) / 4
        while not self._stop.wait(tick):
            self.check()

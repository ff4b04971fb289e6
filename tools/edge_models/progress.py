"""Progress lines on stderr for the steps that take minutes, with the time left.

    calibrating int8: 40/213 (12 s, about 52 s left)
    converting to ONNX: 20 s (about 25 s left)

Counted steps (calibration, each measured variant) estimate from their own pace; a step
that is one long call (the conversion) is estimated from the network's size and shown
while it runs (Ticker).
"""

from __future__ import annotations

import sys
import threading
import time


def _left(seconds: float) -> str:
    if seconds >= 90:
        return f"about {seconds / 60:.0f} min left"
    return f"about {max(1, round(seconds))} s left"


class Progress:
    """'label: 40/200 (12 s, about 48 s left)', redrawn in place on a terminal, every few s
    otherwise."""

    def __init__(self, label: str, total: int, every_s: float = 5.0) -> None:
        self.label = label
        self.total = total
        self.every_s = every_s
        self.start = time.monotonic()
        self.last = 0.0
        self.tty = sys.stderr.isatty()
        self.finished = False

    def line(self, count: int, now: float) -> str:
        """The progress text after count of total items."""
        spent = now - self.start
        text = f"{self.label}: {count}/{self.total} ({spent:.0f} s"
        if 0 < count < self.total:
            text += ", " + _left(spent / count * (self.total - count))
        return text + ")"

    def update(self, count: int) -> None:
        """Report that count of total items are done."""
        now = time.monotonic()
        if not self.tty and now - self.last < self.every_s and count < self.total:
            return
        self.last = now
        line = self.line(count, now)
        if self.tty:
            sys.stderr.write("\r" + line + "\033[K")
            if count >= self.total:
                sys.stderr.write("\n")
                self.finished = True
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        """End the progress line if the last update did not already."""
        if self.tty and not self.finished:
            sys.stderr.write("\n")
            self.finished = True


class Ticker:
    """For one long call: 'label: 20 s (about 25 s left)' every few seconds while it runs."""

    def __init__(self, label: str, estimate_s: float, every_s: float = 10.0) -> None:
        self.label = label
        self.estimate_s = estimate_s
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self.start = 0.0

    def __enter__(self) -> Ticker:
        self.start = time.monotonic()
        sys.stderr.write(f"{self.label}: {_left(self.estimate_s)}\n")
        sys.stderr.flush()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            spent = time.monotonic() - self.start
            rest = self.estimate_s - spent
            tail = _left(rest) if rest > 0 else "longer than estimated"
            sys.stderr.write(f"{self.label}: {spent:.0f} s ({tail})\n")
            sys.stderr.flush()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        sys.stderr.write(f"{self.label}: done in {time.monotonic() - self.start:.0f} s\n")
        sys.stderr.flush()

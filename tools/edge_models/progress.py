"""Progress lines on stderr for the steps that take minutes (calibration, measurement)."""

from __future__ import annotations

import sys
import time


class Progress:
    """'label: 40/200 (12 s)' on stderr, redrawn in place on a terminal, every few s otherwise."""

    def __init__(self, label: str, total: int, every_s: float = 5.0) -> None:
        self.label = label
        self.total = total
        self.every_s = every_s
        self.start = time.monotonic()
        self.last = 0.0
        self.tty = sys.stderr.isatty()
        self.finished = False

    def update(self, count: int) -> None:
        """Report that count of total items are done."""
        now = time.monotonic()
        if not self.tty and now - self.last < self.every_s and count < self.total:
            return
        self.last = now
        line = f"{self.label}: {count}/{self.total} ({now - self.start:.0f} s)"
        if self.tty:
            sys.stderr.write("\r" + line)
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

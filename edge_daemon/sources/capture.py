"""The capture machinery every backend shares: a thread, a newest-frame slot, reopening.

A backend only says how to open its device (`open_capture`) and how to read one image from
it (`Capture.read`). Around that, `CaptureSource`:

- captures on its own thread and keeps only the newest frame in a single slot, so a slow
  consumer never builds up a queue: a frame replaced before anyone took it counts as dropped;
- when the consumer says when it will next want a frame (`skip_until`, the pipeline does at
  every interval) and the backend can grab a frame without converting it (`grab` and
  `retrieve`, as OpenCV can), frames grabbed before that moment are not converted at all
  (no JPEG decode for an MJPEG webcam, no colour conversion for a video) and count as
  dropped; the frame the consumer then gets is the first one grabbed after it asked, so it
  is fresh, not up to a frame period old;
- watches every open attempt from a second thread, so that a read or an open that hangs
  (a stalled RTSP stream, a wedged USB camera) is noticed after `stall_timeout_s` even while
  the capture thread is stuck inside the driver; the stuck attempt is abandoned (it releases
  its device if it ever returns) and a fresh one starts;
- reopens a failed or stalled source with exponential backoff and counts the attempts;
- logs a failure once, then only when the reason changes or every ten minutes.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np

from edge_daemon.config.cameras import CameraConfig
from edge_daemon.core.backoff import Backoff
from edge_daemon.core.frames import FrameFormatError, to_bgr8
from edge_daemon.core.log_throttle import LogThrottle, OutageLog
from edge_daemon.core.records import Frame
from edge_daemon.core.stats import SourceStats

log = logging.getLogger(__name__)

REMINDER_S = 600.0  # a camera still failing is mentioned again after this long
# What _next_image returns for a frame grabbed but, since nobody will ask for it, not converted.
_SKIPPED = np.empty((0, 0, 3), np.uint8)
WATCH_POLL_S = 0.2
JOIN_TIMEOUT_S = 3.0


class SourceOpenError(RuntimeError):
    """A source could not be opened now (missing device, refused stream); it is retried."""


class SourceUnavailableError(RuntimeError):
    """A backend cannot work on this machine at all (library missing); it is not retried."""


class Capture(Protocol):
    """One opened device or stream."""

    ended: bool  # set by read() when a finite source (a non-looping file) has no more frames
    # Optional: error, a str saying why read() returned None, used in the log line.

    def read(self) -> np.ndarray | None:
        """The next image (blocking until it arrives); None when the source failed or ended."""
        ...

    def release(self) -> None:
        """Close the device."""
        ...

    # Optional, for skipping (see the module docstring): grab() -> bool takes the next frame
    # without converting it (False: failed or ended, as read() returning None); retrieve()
    # -> np.ndarray | None converts the frame grabbed last.


@dataclass
class _Attempt:
    """One open-and-read cycle, shared between the capture thread and its watcher."""

    started: float
    last_frame: float | None = None
    frames: int = 0
    error: str = ""
    ended: bool = False
    abandoned: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


class CaptureSource(ABC):
    """A FrameSource whose backend opens a Capture; see the module docstring."""

    kind: ClassVar[str]  # the config's `type`
    settings_type: ClassVar[type]  # the config class of this backend's source section

    def __init__(self, name: str, camera: CameraConfig) -> None:
        if not isinstance(camera.source, self.settings_type):
            raise TypeError(f"{type(self).__name__} cannot read a {camera.source.type} source")
        self.name = name
        self.camera = camera
        self.settings = camera.source
        self.stats = SourceStats()
        self._cond = threading.Condition()
        self._slot: Frame | None = None
        self._slot_taken = True
        self._next_index = 0
        self._skip_until = -1.0  # monotonic; frames grabbed before it need not be converted
        self._finished = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._attempts: list[tuple[threading.Thread, _Attempt]] = []
        self._outage = OutageLog(REMINDER_S)
        self._reject_log = LogThrottle(60.0)
        # Lockstep: a frame waits until the one before was taken instead of replacing it.
        self.lockstep = False

    @classmethod  # noqa: B027 - not abstract: most backends work everywhere
    def check_available(cls) -> None:
        """Raise SourceUnavailableError when this backend cannot work on this machine."""

    @abstractmethod
    def open_capture(self) -> Capture:
        """Open the device; raise SourceOpenError with a clear reason when it cannot."""

    @abstractmethod
    def describe(self) -> str:
        """What this source reads, for log lines (a device path, a URL without password)."""

    @property
    def finished(self) -> bool:
        """True once a finite source (a non-looping file) has delivered its last frame."""
        return self._finished

    def start(self) -> None:
        """Begin capturing in the background (opening and reopening included)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._supervise, name=f"source-{self.name}", daemon=True
        )
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the capture to end (returns at once; stop() waits for it)."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()

    def stop(self) -> None:
        """Stop capturing and release the device (a thread stuck in a driver is left behind)."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_S)

    @property
    def stuck_threads(self) -> int:
        """Capture threads still blocked inside a driver or library call (stalled attempts)."""
        return sum(1 for thread, _ in self._attempts if thread.is_alive())

    def latest(self, newer_than: int, timeout: float) -> Frame | None:
        """The newest frame with index > newer_than, waiting up to timeout seconds; else None."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                slot = self._slot
                if slot is not None and slot.index > newer_than:
                    self._slot_taken = True
                    self._cond.notify_all()  # a lockstep capture waits for this
                    return slot
                remaining = deadline - time.monotonic()
                if self._finished or self._stopping.is_set() or remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def skip_until(self, when: float) -> None:
        """Promise not to ask for a frame before monotonic time `when` (see the docstring)."""
        self._skip_until = when

    def _offer(self, image: np.ndarray, stamp: tuple[float, float]) -> None:
        """Put a new image in the slot, replacing (and counting as dropped) an untaken one.

        stamp: (time.time(), time.monotonic()) of the moment the frame was grabbed.
        """
        now_wall, now = stamp
        # The loop and every sink share this array across threads: a sink that drew on it
        # would corrupt what the detector sees, so such a bug fails loudly instead.
        image.flags.writeable = False
        with self._cond:
            if not self._slot_taken:
                self.stats.frames_dropped += 1
            self._slot = Frame(self.name, self._next_index, now_wall, now, image)
            self._slot_taken = False
            self._next_index += 1
            self.stats.frames_captured += 1
            self._cond.notify_all()

    def _supervise(self) -> None:
        backoff = Backoff(self.camera.reopen_backoff_s, self.camera.reopen_backoff_max_s)
        while not self._stopping.is_set():
            attempt = _Attempt(started=time.monotonic())
            thread = threading.Thread(
                target=self._capture, args=(attempt,), name=f"capture-{self.name}", daemon=True
            )
            thread.start()
            self._attempts = [(t, a) for t, a in self._attempts if t.is_alive()]
            self._attempts.append((thread, attempt))
            self._watch(attempt)
            if self._stopping.is_set():
                attempt.abandoned.set()
                attempt.done.wait(JOIN_TIMEOUT_S)
                break
            if attempt.ended:
                self._finish()
                break
            if attempt.frames:
                backoff.reset()  # it worked for a while: start over
            delay = backoff.next()
            self._report_failure(attempt.error or "the source failed", delay)
            if self._stopping.wait(delay):
                break
            self.stats.reopen_attempts += 1
        self.stats.connected = False

    def _watch(self, attempt: _Attempt) -> None:
        """Return when the attempt ends, the source is stopped, or no frame came for too long."""
        limit = self.camera.stall_timeout_s
        while not attempt.done.wait(WATCH_POLL_S):
            if self._stopping.is_set():
                return
            last = attempt.last_frame or attempt.started
            if time.monotonic() - last > limit:
                what = "no frame" if attempt.last_frame else "not opened"
                attempt.error = f"stalled: {what} for {limit:g} s"
                attempt.abandoned.set()
                return

    def _capture(self, attempt: _Attempt) -> None:
        """One attempt: open, then read until failure, end, stall or stop (capture thread)."""
        try:
            capture = self.open_capture()
        except (SourceOpenError, SourceUnavailableError) as exc:
            attempt.error = str(exc)
            attempt.done.set()
            return
        except Exception as exc:  # a backend library's own error: keep the daemon alive
            attempt.error = f"cannot open {self.describe()}: {type(exc).__name__}: {exc}"
            attempt.done.set()
            return
        try:
            self._read_frames(capture, attempt)
        except Exception as exc:
            attempt.error = f"read from {self.describe()} failed: {type(exc).__name__}: {exc}"
        finally:
            try:
                capture.release()
            except Exception as exc:
                log.debug("camera %s: release failed: %s", self.name, exc)
            self.stats.connected = False
            attempt.done.set()

    def _read_frames(self, capture: Capture, attempt: _Attempt) -> None:
        grabs = callable(getattr(capture, "grab", None)) and callable(
            getattr(capture, "retrieve", None))
        while not (attempt.abandoned.is_set() or self._stopping.is_set()):
            if self.lockstep:
                self._await_taken(attempt)
            image, stamp = self._next_image(capture, grabs, first=attempt.frames == 0)
            if attempt.abandoned.is_set():
                return  # too late: a newer attempt owns the slot now
            if image is None:
                if capture.ended:
                    attempt.ended = True
                else:  # a backend may say why (a GStreamer bus error)
                    attempt.error = (getattr(capture, "error", "")
                                     or f"reading {self.describe()} failed")
                return
            attempt.last_frame = time.monotonic()
            if image is _SKIPPED:
                self._count_skipped()
                attempt.frames += 1
                continue
            frame = self._conform(image)
            if frame is None:
                continue
            if attempt.frames == 0:
                self._report_streaming(frame)
            self._offer(frame, stamp)
            attempt.frames += 1

    def _await_taken(self, attempt: _Attempt) -> None:
        """Wait until the consumer took the frame in the slot (lockstep)."""
        with self._cond:
            while not (self._slot_taken or self._stopping.is_set()
                       or attempt.abandoned.is_set()):
                self._cond.wait(WATCH_POLL_S)
                attempt.last_frame = time.monotonic()  # a slow consumer is not a stall

    def _next_image(self, capture: Capture, grabs: bool,
                    first: bool) -> tuple[np.ndarray | None, tuple[float, float]]:
        """The next image (or _SKIPPED: grabbed, not converted) and when it was grabbed."""
        if not grabs:
            image = capture.read()
            return image, (time.time(), time.monotonic())
        if not capture.grab():  # type: ignore[attr-defined]
            return None, (0.0, 0.0)
        stamp = (time.time(), time.monotonic())
        if stamp[1] < self._skip_until and not first and not self.lockstep:
            return _SKIPPED, stamp
        return capture.retrieve(), stamp  # type: ignore[attr-defined]

    def _count_skipped(self) -> None:
        with self._cond:
            self._next_index += 1
            self.stats.frames_captured += 1
            self.stats.frames_dropped += 1

    def _conform(self, image: np.ndarray) -> np.ndarray | None:
        try:
            return to_bgr8(image)
        except FrameFormatError as exc:
            self.stats.frames_rejected += 1
            held = self._reject_log.allow()
            if held is not None:
                log.warning("camera %s: frame rejected: %s%s", self.name, exc,
                            f" ({held} more since the last report)" if held else "")
            return None

    def _report_streaming(self, image: np.ndarray) -> None:
        self.stats.connected = True
        self.stats.last_error = ""
        height, width = image.shape[:2]
        again = " again" if self._outage.end() is not None else ""
        log.info("camera %s: streaming%s from %s (%dx%d)",
                 self.name, again, self.describe(), width, height)

    def _report_failure(self, reason: str, delay: float) -> None:
        self.stats.last_error = reason
        if self._outage.report(reason) is not None:
            log.warning("camera %s: %s; retrying in %g s (reopen attempts so far: %d)",
                        self.name, reason, delay, self.stats.reopen_attempts)
        else:
            log.debug("camera %s: %s (reopen attempt %d)",
                      self.name, reason, self.stats.reopen_attempts)

    def _finish(self) -> None:
        log.info("camera %s: %s ended after %d frames",
                 self.name, self.describe(), self.stats.frames_captured)
        with self._cond:
            self._finished = True
            self._cond.notify_all()

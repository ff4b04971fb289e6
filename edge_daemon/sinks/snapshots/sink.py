"""Sampling images of what the model saw: the seed's IMAGES_DIR, done right.

publish() runs in the frame loop and only decides: a frame with at least one face, at most
one per camera every `interval_s`, goes into a small DropOldestQueue (when the saver is
still busy the oldest waiting sample is dropped and counted). Everything else happens on the
saver's own thread: cutting the crops, drawing, encoding, writing (see store) and retention.

A disk that is full, read-only or gone never stops the pipeline: the first failure is logged
once, every failed sample is counted, the next sample (one interval later) simply tries
again, and the first success after failures is logged once as the recovery.
"""

from __future__ import annotations

import logging
import threading
import time

from edge_daemon.config.snapshots import SnapshotsConfig
from edge_daemon.core.log_throttle import OutageLog
from edge_daemon.core.queues import DropOldestQueue
from edge_daemon.core.records import Frame, FrameResult
from edge_daemon.core.stages import FaceCrops
from edge_daemon.core.stats import SnapshotStats
from edge_daemon.sinks.snapshots.sample import sample_images, sidecar_json
from edge_daemon.sinks.snapshots.store import SIDECAR, SnapshotStore, sample_key

log = logging.getLogger(__name__)

QUEUE_SIZE = 4  # samples waiting for the saver; more means the disk cannot keep up
RETENTION_CHECK_S = 60.0  # age limit checked (and the directory re-read) this often
RESCAN_EVERY = 10  # re-read the directory every this many retention checks
REMINDER_S = 600.0  # a disk still failing is mentioned again after this long


def _bump(counts: dict[str, int], key: str, by: int = 1) -> None:
    counts[key] = counts.get(key, 0) + by


class SnapshotSink:
    """Saves a sample per camera at most every interval_s, on its own thread."""

    name = "snapshots"

    def __init__(self, config: SnapshotsConfig, model_view: FaceCrops,
                 queue_size: int = QUEUE_SIZE) -> None:
        """model_view: the classifier's preprocessor, so crops follow the model's crop rule."""
        self.config = config
        self.model_view = model_view
        self.stats = SnapshotStats()
        max_age = config.max_age_days * 86400 if config.max_age_days is not None else None
        self.store = SnapshotStore(config.directory, max_age, int(config.max_total_mb * 1e6))
        self._queue: DropOldestQueue[tuple[FrameResult, Frame]] = DropOldestQueue(
            queue_size)
        self._last_taken: dict[str, float] = {}
        self._ready = False
        self._outage = OutageLog(REMINDER_S)
        self._outage_failures = 0  # samples failed since the current outage began
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- Sink interface
    def start(self) -> None:
        """Start the saver thread (it prepares the directory; failures are retried)."""
        if self._thread is None:
            log.info("snapshots: saving %s to %s, at most one per camera every %g s",
                     " and ".join(self.config.save), self.config.directory,
                     self.config.interval_s)
            self._thread = threading.Thread(target=self._run, name="snapshots", daemon=True)
            self._thread.start()

    def publish(self, result: FrameResult, frame: Frame) -> None:
        """Queue this frame as a sample if it has a face and the camera's interval is over."""
        if not result.faces:
            return
        now = time.monotonic()
        last = self._last_taken.get(result.camera)
        if last is not None and now - last < self.config.interval_s:
            return
        self._last_taken[result.camera] = now
        # The frame is read-only: no copy needed. A saver still busy with older samples
        # loses the oldest waiting one (its camera's count goes up), never this one.
        dropped = self._queue.push((result, frame))
        if dropped is not None:
            _bump(self.stats.dropped, dropped[0].camera)

    @property
    def connected(self) -> None:
        """Writing to a disk has no link to report (failures are in stats)."""
        return None

    def stop(self, timeout: float) -> None:
        """Write what is queued (for at most timeout seconds), then end the saver."""
        self._stopping.set()
        self._queue.wake()  # the saver sees the stop flag at once (queued samples are written)
        if self._thread is not None:
            self._thread.join(timeout)

    # ----------------------------------------------------------------- the saver thread
    def _run(self) -> None:
        self._prepare()
        next_check = time.monotonic() + RETENTION_CHECK_S
        checks = 0
        while True:
            item = self._queue.get(timeout=max(0.0, next_check - time.monotonic()))
            if item is not None:
                self._save(*item)
                self._retain(rescan=False)
            elif self._stopping.is_set():
                return
            if time.monotonic() >= next_check:
                checks += 1
                self._retain(rescan=checks % RESCAN_EVERY == 0)
                next_check = time.monotonic() + RETENTION_CHECK_S
            if self._stopping.is_set() and not len(self._queue):
                return

    def _prepare(self) -> bool:
        if self._ready:
            return True
        try:
            self.store.prepare()
        except OSError as exc:
            self._failed("preparing the directory", exc)
            return False
        self._ready = True
        self._retain(rescan=False)
        return True

    def _save(self, result: FrameResult, frame: Frame) -> None:
        camera = result.camera
        if not self._prepare():
            self._count_failure(camera)
            return
        primary = result.primary
        emotion = result.camera_emotion or (primary.emotion if primary else None) or "none"
        try:
            images = sample_images(result, frame, self.model_view, self.config.save,
                                   self.config.jpeg_quality)
            key = self.store.unique_key(sample_key(result.timestamp, camera, emotion),
                                        [suffix for suffix, _ in images] + [SIDECAR])
            sidecar = sidecar_json(result, frame, self.model_view, key, images)
            self.store.write(key, [*images, (SIDECAR, sidecar)])
        except Exception as exc:  # OSError above all; never let the saver thread die
            self._count_failure(camera)
            self._failed(f"camera {camera}", exc)
            if isinstance(exc, OSError):
                self._ready = False  # the directory may be gone: prepare it again next time
            return
        _bump(self.stats.saved, camera)
        if self.stats.failing:
            self.stats.failing = False
            lasted = self._outage.end() or 0.0
            log.info("snapshots: writing to %s works again after %.0f s (%d samples failed "
                     "meanwhile)", self.config.directory, lasted, self._outage_failures)
            self._outage_failures = 0

    def _count_failure(self, camera: str) -> None:
        _bump(self.stats.failed, camera)
        self._outage_failures += 1

    def _failed(self, where: str, exc: Exception) -> None:
        reason = (exc.strerror if isinstance(exc, OSError) and exc.strerror
                  else f"{type(exc).__name__}: {exc}")
        # When it starts or its reason changes, then every REMINDER_S: never once per sample.
        verdict = self._outage.report(reason)
        if verdict == "first":
            log.error("snapshots: cannot write to %s (%s): %s; samples are counted as failed "
                      "and retried every %g s", self.config.directory, where, reason,
                      self.config.interval_s)
        elif verdict == "reminder":
            log.error("snapshots: still cannot write to %s (%s): %s; %d samples failed so far",
                      self.config.directory, where, reason, self._outage_failures)
        self.stats.failing = True
        self.stats.last_error = reason

    def _retain(self, rescan: bool) -> None:
        if not self._ready:
            return
        try:
            if rescan:
                self.store.rescan()
            deleted = self.store.enforce(time.time())
        except OSError as exc:
            log.debug("snapshots: retention pass failed: %s", exc)
            return
        for reason, count in deleted.items():
            if count:
                _bump(self.stats.deleted, reason, count)
        if any(deleted.values()):
            log.debug("snapshots: retention deleted %s", deleted)
        self.stats.stored_samples = self.store.stored_samples
        self.stats.stored_bytes = self.store.stored_bytes

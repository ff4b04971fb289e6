"""The per-camera processing loop: newest frame -> faces -> emotions -> tracks -> sinks.

One thread per camera. At the camera's interval it takes the newest frame (never a backlog;
with a source that can skip, the first frame captured once the interval is up),
detects every face, drops those too small to judge, classifies all remaining faces of the
frame in one batch, folds them into the camera's tracker and hands the result to every sink.
A frame that fails is logged (rate-limited) and skipped; nothing ends the loop but stop() or
the end of a finite source.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from edge_daemon.core.log_throttle import LogThrottle
from edge_daemon.core.records import Detection, Frame, FrameResult
from edge_daemon.core.stages import FaceDetector, FrameSource, Sink
from edge_daemon.core.stats import LoopStats
from edge_daemon.core.zones import FaceZones
from edge_daemon.inference.classifier import EmotionClassifier
from edge_daemon.tracking import CameraTracker
from edge_daemon.tracking.episodes import EpisodeTracker

log = logging.getLogger(__name__)

FRAME_WAIT_S = 0.5  # longest wait for a frame before the loop looks around (stop, watchdog)
ERROR_LOG_INTERVAL_S = 60.0
SLOW_SINK_S = 0.05  # a sink whose publish() takes longer than this breaks its promise


def faces_big_enough(detections: list[Detection], min_face_px: int) -> list[Detection]:
    """The faces whose box is at least min_face_px wide and high (detector.min_face_px).

    Applied here only, after detection: the detectors find and follow every face, so that
    a small face moving does not read as an unknown change, and the loop counts what it drops.
    """
    if not min_face_px:
        return detections
    return [d for d in detections if min(d.box.width, d.box.height) >= min_face_px]


class CameraLoop:
    """Processes one camera's frames on its own thread until stopped or the source ends."""

    def __init__(
        self,
        name: str,
        source: FrameSource,
        detector: FaceDetector,
        classifier: EmotionClassifier,
        tracker: CameraTracker,
        sinks: Sequence[Sink],
        interval_s: float,
        min_face_px: int = 0,
        on_iteration: Callable[[str], object] | None = None,
        episodes: EpisodeTracker | None = None,
        zones: FaceZones | None = None,
    ) -> None:
        self.name = name
        self.episodes = episodes
        self.zones = zones
        self.source = source
        self.detector = detector
        self.classifier = classifier
        self.tracker = tracker
        self.sinks = list(sinks)
        self.interval_s = interval_s
        self.min_face_px = min_face_px
        self.on_iteration = on_iteration  # e.g. the systemd watchdog's beat(name)
        self.stats = LoopStats()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._errors = LogThrottle(ERROR_LOG_INTERVAL_S)
        self.done = threading.Event()  # set when the loop has ended, for whatever reason

    def start(self) -> None:
        """Start the loop's thread."""
        self._thread = threading.Thread(target=self._run, name=f"loop-{self.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the loop to end after the frame in hand (returns at once)."""
        self._stopping.set()

    def stop(self, timeout: float) -> None:
        """Ask the loop to end and wait up to timeout seconds for the frame in hand."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        last_index = -1
        due = time.monotonic()
        try:
            while not self._stopping.is_set():
                if self.on_iteration is not None:
                    self.on_iteration(self.name)
                wait = due - time.monotonic()
                if wait > 0:
                    # In slices, so that a long interval still beats the watchdog.
                    if self._stopping.wait(min(wait, FRAME_WAIT_S)):
                        break
                    continue
                asked = time.monotonic()
                frame = self.source.latest(last_index, FRAME_WAIT_S)
                if frame is None:
                    if self.source.finished:
                        log.info("camera %s: source finished; loop ends after %d frames",
                                 self.name, self.stats.frames_processed)
                        break
                    continue
                last_index = frame.index
                self._process_safely(frame, time.monotonic() - asked)
                # Fixed rate, no catching up: a late frame moves the schedule, never bursts.
                due = max(due + self.interval_s, time.monotonic())
                # Frames captured before then would never be looked at: the source need
                # not decode them, and hands over the first one captured after it.
                self.source.skip_until(due)
        finally:
            self.done.set()

    def _process_safely(self, frame: Frame, capture_wait: float) -> None:
        try:
            result = self.process(frame, capture_wait)
        except Exception as exc:
            self.stats.frames_failed += 1
            held = self._errors.allow(type(exc).__name__)
            if held is not None:
                more = f" ({held} more failures since the last report)" if held else ""
                log.error("camera %s: frame %d failed: %s: %s%s",
                          self.name, frame.index, type(exc).__name__, exc, more)
                log.debug("camera %s: traceback of the failure", self.name, exc_info=True)
            return
        self._hand_over(result, frame)

    def process(self, frame: Frame, capture_wait: float = 0.0) -> FrameResult:
        """Detect, classify (one batch) and track the faces of one frame."""
        t0 = time.perf_counter()
        detections = self._in_zones(self._big_enough(self.detector.detect(frame.image)), frame)
        t1 = time.perf_counter()
        probabilities = self.classifier.classify(frame.image, [d.box for d in detections])
        t2 = time.perf_counter()
        self._count_unclassified(probabilities)
        faces, camera_emotion = self.tracker.update(detections, probabilities)
        t3 = time.perf_counter()
        self.stats.frames_processed += 1
        self.stats.faces_detected += len(faces)
        self.stats.last_processed = time.monotonic()
        result = FrameResult(
            camera=self.name,
            frame_index=frame.index,
            timestamp=frame.timestamp,
            width=frame.width,
            height=frame.height,
            labels=self.classifier.labels,
            faces=faces,
            camera_emotion=camera_emotion,
            timings={
                "capture_wait": capture_wait,
                "detection": t1 - t0,
                "classification": t2 - t1,
                "tracking": t3 - t2,
                "processing": t3 - t0,
            },
            captured_monotonic=frame.monotonic,
        )
        if self.episodes is not None:
            result = dataclasses.replace(result, events=self.episodes.update(result))
        return result

    def _count_unclassified(self, probabilities: np.ndarray) -> None:
        bad = int((~np.isfinite(probabilities).all(axis=1)).sum()) if len(probabilities) else 0
        if not bad:
            return
        self.stats.faces_unclassified += bad
        held = self._errors.allow("non-finite")
        if held is not None:
            log.error("camera %s: the emotion model gave NaN or infinite probabilities for %d "
                      "face(s); they are published without an emotion (%d so far)", self.name,
                      bad, self.stats.faces_unclassified)

    def _big_enough(self, detections: list[Detection]) -> list[Detection]:
        kept = faces_big_enough(detections, self.min_face_px)
        self.stats.faces_too_small += len(detections) - len(kept)
        return kept

    def _in_zones(self, detections: list[Detection], frame: Frame) -> list[Detection]:
        if self.zones is None:
            return detections
        kept = [d for d in detections if self.zones.counts(d.box, frame.width, frame.height)]
        self.stats.faces_outside_zones += len(detections) - len(kept)
        return kept

    def _hand_over(self, result: FrameResult, frame: Frame) -> None:
        start = time.perf_counter()
        for sink in self.sinks:
            before = time.perf_counter()
            try:
                sink.publish(result, frame)
            except Exception as exc:  # a broken sink must not take the camera down
                held = self._errors.allow(f"sink-{sink.name}")
                if held is not None:
                    log.error("camera %s: sink %s failed: %s: %s",
                              self.name, sink.name, type(exc).__name__, exc)
            spent = time.perf_counter() - before
            if spent > SLOW_SINK_S and self._errors.allow(f"slow-{sink.name}") is not None:
                log.warning("camera %s: sink %s took %.0f ms to accept a result",
                            self.name, sink.name, spent * 1000)
        self.stats.last_publish_s = time.perf_counter() - start

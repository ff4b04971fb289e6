"""Per-stage latency: each variant processes the same frames, stage by stage, interleaved.

A frame goes through what the daemon's CameraLoop.process does, split finer: detection,
crop + pre-processing, classification (one batch for all faces of the frame), tracking, and
publishing (the MQTT sink's publish(), connected to a real broker). "processing" is the wall
time of the first four (CameraLoop.process: the pipeline proper), "total" of all five, each
measured as one span per frame.

The variants take turns of a second each until each has spent its time budget:
a burst of load from elsewhere on the machine then hits every variant alike, so ratios taken
between them within one run stay sound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge_daemon.bench.scenes import Scene
from edge_daemon.bench.stats import summary
from edge_daemon.bench.variants import ONE_FACE_ONLY, Variant
from edge_daemon.core.records import Frame, FrameResult
from edge_daemon.core.stages import Sink
from edge_daemon.tracking import CameraTracker

STAGES = ("detection", "preprocess", "classification", "tracking", "publish")
# processing: what CameraLoop.process does (all but publish); total: the whole frame.
SERIES = (*STAGES, "processing", "total")
WARMUP_FRAMES = 2
# Each variant's turn lasts this long (at least one frame): long enough that the caches
# are warm again after a turn of the 200 MB seed network for most of the turn (with turns
# of 0.25 s the default pipeline measured 2.32 ms in a run with the seed rows and 2.08 ms
# in one without), short enough that a 3 s budget still takes three turns to share out
# bursts of outside load.
TURN_S = 1.0


@dataclass
class Budget:
    """How long each variant is timed on one scene at one thread count."""

    seconds: float
    min_frames: int
    max_frames: int


@dataclass
class StageRecord:
    """Per-stage samples (ms) of one variant on one scene at one thread count."""

    variant: str
    title: str
    scene: str
    threads: int
    note: str = ""
    samples: dict[str, list[float]] = field(
        default_factory=lambda: {name: [] for name in SERIES})
    face_counts: list[int] = field(default_factory=list)
    spent_s: float = 0.0

    @property
    def frames(self) -> int:
        """Frames timed."""
        return len(self.samples["total"])

    def as_dict(self) -> dict:
        """JSON-ready: a summary per stage, faces per frame, classification per face."""
        per_face = [ms / n for ms, n in zip(self.samples["classification"], self.face_counts,
                                            strict=True) if n]
        return {
            "variant": self.variant, "title": self.title, "scene": self.scene,
            "threads": self.threads, "note": self.note, "frames": self.frames,
            "faces_per_frame": sum(self.face_counts) / max(self.frames, 1),
            "stages": {name: summary(self.samples[name]) for name in STAGES},
            "processing": summary(self.samples["processing"]),
            "total": summary(self.samples["total"]),
            "classification_per_face_ms_p50": summary(per_face)["p50"],
        }


class _Runner:
    """One variant's state while timing: its tracker and where it is in the frames."""

    def __init__(self, variant: Variant, scene: Scene, sink: Sink | None) -> None:
        self.variant = variant
        self.scene = scene
        self.sink = sink
        self.tracker = CameraTracker(variant.labels)
        self.camera = f"bench-{variant.key}"
        self.index = 0
        self.record = StageRecord(variant.key, variant.title, scene.name, variant.threads,
                                  variant.note)

    def frame(self, keep: bool) -> None:
        image = self.scene.frames[self.index % len(self.scene.frames)]
        frame = Frame(self.camera, self.index, time.time(), time.monotonic(), image)
        self.index += 1
        v = self.variant
        t0 = time.perf_counter()
        detections = v.detector.detect(image)
        t1 = time.perf_counter()
        boxes = [d.box for d in detections]
        batch = v.preprocessor.batch(image, boxes) if boxes else None
        t2 = time.perf_counter()
        probabilities = (v.classify_batch(batch) if batch is not None
                         else np.zeros((0, len(v.labels)), np.float32))
        t3 = time.perf_counter()
        faces, emotion = self.tracker.update(detections, probabilities)
        t4 = time.perf_counter()
        if self.sink is not None:
            h, w = image.shape[:2]
            self.sink.publish(FrameResult(
                self.camera, frame.index, frame.timestamp, w, h, v.labels, faces, emotion,
                {"detection": t1 - t0, "classification": t3 - t1}, frame.monotonic), frame)
        t5 = time.perf_counter()
        if keep:
            spans = (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t4 - t0, t5 - t0)
            for name, span in zip(SERIES, spans, strict=True):
                self.record.samples[name].append(span * 1000.0)
            self.record.face_counts.append(len(detections))
            self.record.spent_s += t5 - t0


def set_threads(threads: int) -> None:
    """OpenCV's own pool (resize, colour conversion, the Haar cascade) at this many threads."""
    cv2.setNumThreads(threads)


def time_stages(variants: list[Variant], scene: Scene, budget: Budget,
                sink: Sink | None) -> list[StageRecord]:
    """Time every variant (those meant for this scene) on the scene's frames, interleaved."""
    runners = [_Runner(v, scene, sink) for v in variants
               if scene.name == "1 face" or v.key not in ONE_FACE_ONLY]
    for runner in runners:
        runner.variant.activate()
        for _ in range(WARMUP_FRAMES):
            runner.frame(keep=False)

    def wants_more(r: _Runner) -> bool:
        frames = r.record.frames
        return frames < budget.max_frames and (
            frames < budget.min_frames or r.record.spent_s < budget.seconds)

    while True:
        active = [r for r in runners if wants_more(r)]
        if not active:
            break
        for runner in active:
            runner.variant.activate()
            turn_ends = time.perf_counter() + TURN_S
            while wants_more(runner):
                runner.frame(keep=True)
                if time.perf_counter() >= turn_ends:
                    break
    return [r.record for r in runners]

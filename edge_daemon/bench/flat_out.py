"""End-to-end frames per second flat out: the daemon's own loop on a video decoded flat out.

The real parts, in this process: the file source (realtime off, looping: it decodes as fast
as it can on its own thread), CameraLoop at interval 0 (every new frame, as fast as
possible), the tracker, and the MQTT sink connected to a real broker. Frames processed are
counted over a window that starts after a short warm-up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from edge_daemon.config.cameras import CameraConfig
from edge_daemon.config.detector import BlazeFaceConfig
from edge_daemon.core.stages import FaceDetector, Sink
from edge_daemon.inference.classifier import EmotionClassifier
from edge_daemon.pipeline import CameraLoop
from edge_daemon.sources.registry import build_source
from edge_daemon.tracking import CameraTracker

WARMUP_S = 0.3


@dataclass(frozen=True)
class FlatOutResult:
    """Frames per second of one pipeline run flat out."""

    variant: str
    threads: int
    fps: float
    frames: int
    seconds: float
    frames_dropped: int  # decoded but replaced before the loop took them


def flat_out(variant: str, video: Path, detector: FaceDetector, classifier: EmotionClassifier,
             sinks: list[Sink], threads: int, seconds: float) -> FlatOutResult:
    """Run the loop flat out on the video for `seconds` after a warm-up; its frame rate."""
    camera = CameraConfig.model_validate({
        "source": {"type": "file", "path": str(video), "loop": True, "realtime": False},
        "interval_ms": 0,
    })
    source = build_source(f"flat-{variant}", camera)
    loop = CameraLoop(f"flat-{variant}", source, detector, classifier,
                      CameraTracker(classifier.labels), sinks, interval_s=0.0,
                      min_face_px=BlazeFaceConfig().min_face_px)
    source.start()
    loop.start()
    try:
        time.sleep(WARMUP_S)
        frames0, dropped0, start = (loop.stats.frames_processed, source.stats.frames_dropped,
                                    time.monotonic())
        time.sleep(seconds)
        frames1, dropped1, end = (loop.stats.frames_processed, source.stats.frames_dropped,
                                  time.monotonic())
    finally:
        loop.request_stop()
        source.request_stop()
        loop.stop(3.0)
        source.stop()
    frames = frames1 - frames0
    return FlatOutResult(variant, threads, frames / (end - start), frames, end - start,
                         dropped1 - dropped0)

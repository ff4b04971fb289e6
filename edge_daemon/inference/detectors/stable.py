"""Skipping face detection while the faces in view stay where they were.

At a camera interval of 100 ms a face moves a few pixels between two processed frames, and
the classifier's crop rule leaves a margin around each box. So when the last two detections
agree (as many faces, each box overlapping its counterpart by at least `min_iou`), the next
frame reuses those boxes instead of running the detector; after `max_skips` such frames in a
row the detector runs again. A scene that changes (a face arrives, leaves or moves) breaks
the agreement, and then every frame is searched until it settles. A face that appears in a
settled scene is found at most `max_skips` frames later.

Measured on the project's 2-core x86 machine (issue 7): detection is about half of a frame's
processing; skipping it on every other frame cut the daemon's CPU share at a 100 ms interval
by about a fifth.

One instance per camera: it remembers that camera's last detections. The wrapped detector
may be shared by all cameras.
"""

from __future__ import annotations

import numpy as np

from ...records import Detection
from .base import FaceDetector

DEFAULT_MIN_IOU = 0.7


def detections_agree(before: list[Detection], after: list[Detection], min_iou: float) -> bool:
    """True when both hold as many faces and each box of one overlaps one of the other."""
    if len(before) != len(after):
        return False
    unmatched = list(after)
    for old in before:
        best = max(unmatched, key=lambda new: old.box.iou(new.box), default=None)
        if best is None or old.box.iou(best.box) < min_iou:
            return False
        unmatched.remove(best)
    return True


class StableSceneDetector:
    """A FaceDetector that reuses its last result while the scene is settled."""

    def __init__(self, detector: FaceDetector, max_skips: int = 1,
                 min_iou: float = DEFAULT_MIN_IOU) -> None:
        if max_skips < 0:
            raise ValueError(f"max_skips must be >= 0, got {max_skips}")
        self.detector = detector
        self.name = detector.name
        self.max_skips = max_skips
        self.min_iou = min_iou
        self.reused = False  # whether the last detect() reused the previous result
        self._last: list[Detection] | None = None
        self._settled = False
        self._skipped = 0

    def detect(self, image: np.ndarray) -> list[Detection]:
        """The faces in the frame: found now, or those of the last frame when settled."""
        if self._settled and self._skipped < self.max_skips and self._last is not None:
            self._skipped += 1
            self.reused = True
            return list(self._last)
        found = self.detector.detect(image)
        self._settled = self._last is not None and detections_agree(self._last, found,
                                                                    self.min_iou)
        self._last = found
        self._skipped = 0
        self.reused = False
        return found


def camera_detector(detector: FaceDetector, max_skips: int) -> FaceDetector:
    """The detector one camera's loop uses: skipping while settled when max_skips > 0."""
    return StableSceneDetector(detector, max_skips) if max_skips > 0 else detector

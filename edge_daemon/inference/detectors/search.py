"""The whole-frame search: one detector per frame shape, its canvas as wide as configured.

The packaged short-range BlazeFace takes any input size. A canvas `width` pixels wide with
the frame's aspect ratio (its height rounded up to 16) spends no pixels on letterbox bars:
320 x 240 for a 4:3 camera, 320 x 192 for 16:9. A model of one fixed size (full range, or
a file of the user's) is used as it is for every shape.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np

from ...records import Detection
from .base import FaceDetector, as_bgr


def canvas_for(shape: tuple[int, int], width: int) -> tuple[int, int]:
    """(height, width) of the canvas for a frame of shape (height, width)."""
    frame_h, frame_w = shape
    return max(16, math.ceil(width * frame_h / frame_w / 16) * 16), width


class WholeFrameSearch:
    """A FaceDetector for frames of any shape, each searched on a canvas made for it."""

    def __init__(self, make: Callable[[tuple[int, int] | None], FaceDetector],
                 width: int | None, name: str) -> None:
        """make(canvas (height, width), or None for the model's own size) -> a detector;
        width: the canvas width, None when the model has one fixed size."""
        self._make = make
        self.width = width
        self.name = name
        self._by_canvas: dict[tuple[int, int] | None, FaceDetector] = {}
        self._lock = threading.Lock()  # cameras on several threads share the cache
        self.for_frame((480, 640))  # builds (and warms up) the common case at start

    def for_frame(self, shape: tuple[int, int]) -> FaceDetector:
        """The detector a frame of this (height, width) is searched with."""
        canvas = None if self.width is None else canvas_for(shape, self.width)
        with self._lock:
            detector = self._by_canvas.get(canvas)
            if detector is None:
                detector = self._by_canvas[canvas] = self._make(canvas)
        return detector

    def detect(self, image: np.ndarray) -> list[Detection]:
        """All faces in the frame, best first, in its pixels."""
        bgr = as_bgr(image)
        return self.for_frame(bgr.shape[:2]).detect(bgr)

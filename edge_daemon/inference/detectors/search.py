"""The whole-frame search: a two-scale pyramid per frame shape, its fine canvas as configured.

The packaged short-range BlazeFace takes any input size, and a face needs about 20 and at
most about 140 canvas pixels to be found (measured: on a 320x240 canvas, faces of a 640x480
frame up to 280 px are found, of 320 px only 3 in 4, of 380 px almost none). So one canvas
cannot cover a room: the fine one (`search_width` wide, 320 by default) finds faces from
40 px, and a coarse one a quarter as wide (at least 64) finds the faces close to the camera,
up to the whole frame, for a tenth of the fine one's cost. Both keep the frame's aspect ratio
(height rounded up to 16), so no pixels go to letterbox bars: 320x240 and 80x64 for a 4:3
camera. A face both find is kept once, as the fine canvas saw it.

A model of one fixed size (full range, or a file of the user's) is used as it is.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np

from edge_daemon.core.frames import to_bgr8
from edge_daemon.core.records import Detection
from edge_daemon.core.stages import FaceDetector

COARSE_SHARE = 4  # the coarse canvas is this many times narrower than the fine one
COARSE_MIN_WIDTH = 64
SAME_FACE_IOU = 0.3  # a coarse detection overlapping a fine one this much is the same face


def canvas_for(shape: tuple[int, int], width: int) -> tuple[int, int]:
    """(height, width) of the canvas for a frame of shape (height, width)."""
    frame_h, frame_w = shape
    return max(16, math.ceil(width * frame_h / frame_w / 16) * 16), width


def coarse_width(width: int) -> int:
    """The coarse canvas's width for a fine one `width` wide (a multiple of 16)."""
    return max(COARSE_MIN_WIDTH, width // COARSE_SHARE // 16 * 16)


class PyramidSearch:
    """A FaceDetector running the fine and the coarse canvas and keeping each face once."""

    def __init__(self, fine: FaceDetector, coarse: FaceDetector | None) -> None:
        self.fine, self.coarse, self.name = fine, coarse, fine.name

    def detect(self, image: np.ndarray, near: bool = True) -> list[Detection]:
        """All faces in the frame, best first, in its pixels; near=False: the fine canvas only
        (faces up to about 280 px in a 640 x 480 frame)."""
        found = self.fine.detect(image)
        if self.coarse is None or not near:
            return found
        near = [face for face in self.coarse.detect(image)
                if all(face.box.iou(other.box) < SAME_FACE_IOU for other in found)]
        if not near:
            return found
        return sorted(found + near, key=lambda face: -face.score)


class WholeFrameSearch:
    """A FaceDetector for frames of any shape, each searched on canvases made for it."""

    def __init__(self, make: Callable[[tuple[int, int] | None], FaceDetector],
                 width: int | None, name: str) -> None:
        """make(canvas (height, width), or None for the model's own size) -> a detector;
        width: the fine canvas width, None when the model has one fixed size."""
        self._make = make
        self.width = width
        self.name = name
        self._canvases: dict[tuple[int, int] | None, FaceDetector] = {}
        self._by_shape: dict[tuple[int, int], FaceDetector] = {}
        self._lock = threading.Lock()  # cameras on several threads share the cache
        self.for_frame((480, 640))  # builds (and warms up) the common case at start

    def for_frame(self, shape: tuple[int, int]) -> FaceDetector:
        """The detector a frame of this (height, width) is searched with."""
        with self._lock:
            detector = self._by_shape.get(shape)
            if detector is None:
                detector = self._by_shape[shape] = self._build(shape)
        return detector

    def _build(self, shape: tuple[int, int]) -> FaceDetector:
        if self.width is None:
            return self._canvas(None)
        fine = self._canvas(canvas_for(shape, self.width))
        narrow = coarse_width(self.width)
        coarse = self._canvas(canvas_for(shape, narrow)) if narrow < self.width else None
        return PyramidSearch(fine, coarse)

    def _canvas(self, canvas: tuple[int, int] | None) -> FaceDetector:
        detector = self._canvases.get(canvas)
        if detector is None:
            detector = self._canvases[canvas] = self._make(canvas)
        return detector

    def detect(self, image: np.ndarray) -> list[Detection]:
        """All faces in the frame, best first, in its pixels."""
        bgr = to_bgr8(image)
        return self.for_frame(bgr.shape[:2]).detect(bgr)

"""The face detector interface every backend implements, and the frame check they share."""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from ...records import Detection


class FrameFormatError(ValueError):
    """A frame handed to a detector is not an image it can read (wrong type, shape or dtype)."""


class DetectorUnavailableError(RuntimeError):
    """A detector backend was asked for by name but cannot be built here."""


class FaceDetector(Protocol):
    """Finds every face in a BGR uint8 frame."""

    name: str

    def detect(self, image: np.ndarray) -> list[Detection]:
        """All faces in the image, best first, boxes in the image's pixel coordinates."""
        ...


def as_bgr(image: object) -> np.ndarray:
    """The frame as BGR uint8 H x W x 3: returned as is when it already is, else converted.

    Gray (H x W or H x W x 1) and BGRA frames are converted, because cameras deliver them;
    other dtypes are refused, since their value range (0..1 or 0..255?) cannot be known.
    """
    if not isinstance(image, np.ndarray):
        raise FrameFormatError(f"frame is a {type(image).__name__}, expected a numpy array")
    if image.dtype != np.uint8:
        raise FrameFormatError(f"frame dtype is {image.dtype}, expected uint8 (BGR 0..255)")
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise FrameFormatError(f"frame shape {image.shape} is not an image (H x W x 3)")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels == 3:
        return image
    if channels == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    raise FrameFormatError(f"frame has {channels} channels, expected 3 (BGR), 1 or 4")

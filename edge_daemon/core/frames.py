"""Frames as every stage expects them: BGR, uint8, H x W x 3, contiguous.

Sources convert what a camera delivers once, at capture; detectors check what they are
handed (a frame may come from the seed's API or a test) with the same function, so that a
frame has one rule and one error wherever it enters.
"""

from __future__ import annotations

import cv2
import numpy as np


class FrameFormatError(ValueError):
    """An image has a shape or type that cannot be turned into a BGR frame."""


def to_bgr8(image: object) -> np.ndarray:
    """The image as a contiguous BGR uint8 H x W x 3 array; converts gray, BGRA and 16-bit.

    An array that already is one is returned as is (no copy). 16-bit frames (some industrial
    and thermal cameras) keep their top 8 bits. Float frames are refused: whether they run
    0..1 or 0..255 cannot be known from the array.
    """
    if not isinstance(image, np.ndarray):
        raise FrameFormatError(f"frame is a {type(image).__name__}, not an image array")
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise FrameFormatError(f"frame of shape {image.shape} is not an image (H x W x 3)")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise FrameFormatError(f"frame dtype is {image.dtype}, expected uint8 (BGR 0..255) "
                               f"or 16-bit")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels == 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif channels == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif channels != 3:
        raise FrameFormatError(f"frame has {channels} channels, expected 3 (BGR), 1 or 4")
    return np.ascontiguousarray(image)

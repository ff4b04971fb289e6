"""Making captured images what the pipeline expects: BGR, uint8, H x W x 3, contiguous."""

from __future__ import annotations

import cv2
import numpy as np


class UnusableFrameError(ValueError):
    """A captured image has a shape or type that cannot be turned into a BGR frame."""


def to_bgr8(image: object) -> np.ndarray:
    """The image as a contiguous BGR uint8 H x W x 3 array; converts gray, BGRA and 16-bit.

    16-bit frames (some industrial and thermal cameras) keep their top 8 bits. Float frames
    are refused: whether they run 0..1 or 0..255 cannot be known from the array.
    """
    if not isinstance(image, np.ndarray):
        raise UnusableFrameError(f"frame is a {type(image).__name__}, not an image array")
    if image.ndim not in (2, 3) or image.shape[0] < 2 or image.shape[1] < 2:
        raise UnusableFrameError(f"frame of shape {image.shape} is not an image")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise UnusableFrameError(f"frame of type {image.dtype} (only 8- and 16-bit are read)")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels == 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif channels == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif channels != 3:
        raise UnusableFrameError(f"frame with {channels} channels (1, 3 or 4 are read)")
    return np.ascontiguousarray(image)

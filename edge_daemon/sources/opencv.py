"""What the OpenCV backends share: one VideoCapture wrapped as a Capture, and OpenCV's noise.

OpenCV and FFmpeg print their own warnings straight to stderr (several lines per failed open
or corrupt packet), which would break the one-line-per-event log; `quiet_opencv` silences
them, and our sources log what matters themselves.
"""

from __future__ import annotations

import logging
import os

import cv2
import numpy as np

from edge_daemon.sources.capture import SourceOpenError

log = logging.getLogger(__name__)


def quiet_opencv() -> None:
    """Stop OpenCV (and FFmpeg through it) from writing its own lines to stderr."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    # cv2.utils.logging is the PyPI wheels'; distribution builds (Debian's 4.6) lack it.
    logging_module = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging_module is not None:
        logging_module.setLogLevel(logging_module.LOG_LEVEL_SILENT)
    elif hasattr(cv2, "setLogLevel"):
        cv2.setLogLevel(0)  # LOG_LEVEL_SILENT


class OpenCvCapture:
    """A cv2.VideoCapture as a Capture: read() gives an image or None."""

    def __init__(self, capture: cv2.VideoCapture) -> None:
        self.capture = capture
        self.ended = False

    def read(self) -> np.ndarray | None:
        """The next image, or None when the read failed."""
        ok, image = self.capture.read()
        return image if ok and image is not None else None

    def grab(self) -> bool:
        """Take the next frame from the device without decoding or converting it."""
        return bool(self.capture.grab())

    def retrieve(self) -> np.ndarray | None:
        """The frame grabbed last, decoded to BGR (None if that failed)."""
        ok, image = self.capture.retrieve()
        return image if ok and image is not None else None

    def release(self) -> None:
        """Close the device or stream."""
        self.capture.release()


def open_video_capture(
    target: str | int, api: int, what: str, params: list[int] | None = None
) -> cv2.VideoCapture:
    """Open target with one OpenCV backend; raise SourceOpenError naming what failed."""
    capture = cv2.VideoCapture(target, api, params or [])
    if not capture.isOpened():
        capture.release()
        raise SourceOpenError(f"cannot open {what}")
    return capture

"""V4L2 cameras (USB webcams, CSI cameras with a V4L2 driver) through OpenCV's V4L2 backend."""

from __future__ import annotations

import logging
import os
from typing import ClassVar

import cv2

from edge_daemon.config.cameras import V4l2SourceConfig
from edge_daemon.sources.capture import CaptureSource, SourceOpenError
from edge_daemon.sources.opencv import OpenCvCapture, open_video_capture

log = logging.getLogger(__name__)


class V4l2Source(CaptureSource):
    """A /dev/videoN device, with the configured size, rate and pixel format."""

    kind: ClassVar[str] = "v4l2"

    settings_type: ClassVar[type] = V4l2SourceConfig
    settings: V4l2SourceConfig

    def describe(self) -> str:
        """The device path."""
        return self.settings.device

    def open_capture(self) -> OpenCvCapture:
        """Open the device and ask for the configured format."""
        device = self.settings.device
        target: str | int = int(device) if device.isdigit() else device
        if isinstance(target, str):
            if not os.path.exists(target):
                raise SourceOpenError(f"cannot open {device}: no such device")
            if not os.access(target, os.R_OK | os.W_OK):
                raise SourceOpenError(
                    f"cannot open {device}: permission denied (is the user in group video?)"
                )
        capture = open_video_capture(target, cv2.CAP_V4L2, f"{device} (V4L2)")
        self._apply_format(capture)
        return OpenCvCapture(capture)

    def _apply_format(self, capture: cv2.VideoCapture) -> None:
        s = self.settings
        # The pixel format first: drivers pick the sizes and rates they offer from it.
        if s.fourcc:
            capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*s.fourcc.upper()))
        if s.width and s.height:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, s.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, s.height)
        if s.fps:
            capture.set(cv2.CAP_PROP_FPS, s.fps)
        # One driver buffer: the frame read is the one just captured, not one from the past.
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        got = (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT),
               capture.get(cv2.CAP_PROP_FPS))
        if s.width and (int(got[0]), int(got[1])) != (s.width, s.height):
            log.warning("camera %s: asked for %dx%d, the driver gives %dx%d",
                        self.name, s.width, s.height, int(got[0]), int(got[1]))
        if s.fps and abs(got[2] - s.fps) > 0.5:
            log.warning("camera %s: asked for %g fps, the driver gives %g",
                        self.name, s.fps, got[2])

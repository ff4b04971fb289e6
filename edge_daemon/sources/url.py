"""Network streams (RTSP, HTTP MJPEG, HLS) through OpenCV's FFmpeg backend."""

from __future__ import annotations

import os
import threading
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

import cv2

from edge_daemon.config.cameras import UrlSourceConfig
from edge_daemon.sources.capture import CaptureSource
from edge_daemon.sources.opencv import OpenCvCapture, open_video_capture

# OpenCV reads FFmpeg options from this variable when a capture opens; the lock keeps two
# cameras that open at the same moment from seeing each other's options.
_FFMPEG_OPTIONS = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_OPTIONS_LOCK = threading.Lock()


def redact_url(url: str) -> str:
    """The URL with its password replaced by ***, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class UrlSource(CaptureSource):
    """An rtsp://, rtsps://, http:// or https:// stream."""

    kind: ClassVar[str] = "url"

    settings_type: ClassVar[type] = UrlSourceConfig
    settings: UrlSourceConfig

    def describe(self) -> str:
        """The URL without its password."""
        return redact_url(self.settings.url)

    def open_capture(self) -> OpenCvCapture:
        """Open the stream; FFmpeg gives up on opens and reads that hang past the stall limit."""
        timeout_ms = int(self.camera.stall_timeout_s * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms,
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
        options = f"rtsp_transport;{self.settings.rtsp_transport}"
        with _OPTIONS_LOCK:
            previous = os.environ.get(_FFMPEG_OPTIONS)
            os.environ[_FFMPEG_OPTIONS] = options
            try:
                capture = open_video_capture(
                    self.settings.url, cv2.CAP_FFMPEG, self.describe(), params
                )
            finally:
                if previous is None:
                    os.environ.pop(_FFMPEG_OPTIONS, None)
                else:
                    os.environ[_FFMPEG_OPTIONS] = previous
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return OpenCvCapture(capture)

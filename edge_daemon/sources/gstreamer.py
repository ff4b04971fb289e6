"""GStreamer pipelines (a Jetson CSI camera through nvarguscamerasrc) through OpenCV."""

from __future__ import annotations

from typing import ClassVar

import cv2

from edge_daemon.config.cameras import GStreamerSourceConfig
from edge_daemon.sources.capture import CaptureSource, SourceUnavailableError
from edge_daemon.sources.opencv import OpenCvCapture, open_video_capture, opencv_has_gstreamer


class GStreamerSource(CaptureSource):
    """A pipeline description ending in appsink, opened with OpenCV's GStreamer backend."""

    kind: ClassVar[str] = "gstreamer"

    @classmethod
    def check_available(cls) -> None:
        """Refuse at once when this OpenCV was built without GStreamer (the PyPI wheels are)."""
        if not opencv_has_gstreamer():
            raise SourceUnavailableError(
                "this OpenCV has no GStreamer support (cv2.getBuildInformation() says "
                "GStreamer: NO; the PyPI wheels are built without it): use the distribution's "
                "OpenCV (python3-opencv, or JetPack's on a Jetson) in a venv made with "
                "--system-site-packages"
            )

    settings_type: ClassVar[type] = GStreamerSourceConfig
    settings: GStreamerSourceConfig

    def describe(self) -> str:
        """The pipeline's first element."""
        return "GStreamer pipeline " + self.settings.pipeline.split("!")[0].strip()

    def open_capture(self) -> OpenCvCapture:
        """Start the pipeline."""
        return OpenCvCapture(
            open_video_capture(self.settings.pipeline, cv2.CAP_GSTREAMER, self.describe())
        )

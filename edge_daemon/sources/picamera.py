"""The Raspberry Pi camera through libcamera's picamera2 (imported only when configured).

picamera2 is not on PyPI in a usable form for our venv: Raspberry Pi OS ships it as the
Debian package python3-picamera2, so the venv must be made with --system-site-packages.
"""

from __future__ import annotations

import importlib.util
from typing import Any, ClassVar

import numpy as np

from edge_daemon.config.cameras import Picamera2SourceConfig
from edge_daemon.sources.capture import CaptureSource, SourceOpenError, SourceUnavailableError

INSTALL_HINT = (
    "picamera2 is not installed: on Raspberry Pi OS run `sudo apt install python3-picamera2` "
    "and create the venv with --system-site-packages"
)


class PicameraCapture:
    """A started Picamera2 as a Capture."""

    def __init__(self, camera: Any) -> None:
        self.camera = camera
        self.ended = False

    def read(self) -> np.ndarray | None:
        """The next frame of the main stream (blocks until the sensor delivers it)."""
        return self.camera.capture_array("main")

    def release(self) -> None:
        """Stop and close the camera."""
        try:
            self.camera.stop()
        finally:
            self.camera.close()


class Picamera2Source(CaptureSource):
    """A libcamera camera; frames come as 24-bit BGR, which is what the pipeline wants."""

    kind: ClassVar[str] = "picamera2"
    settings_type: ClassVar[type] = Picamera2SourceConfig
    settings: Picamera2SourceConfig

    @classmethod
    def check_available(cls) -> None:
        """Refuse at once when picamera2 cannot be imported."""
        if importlib.util.find_spec("picamera2") is None:
            raise SourceUnavailableError(INSTALL_HINT)

    def describe(self) -> str:
        """Which camera."""
        return f"libcamera camera {self.settings.camera_index}"

    def open_capture(self) -> PicameraCapture:
        """Configure and start the camera."""
        try:
            from picamera2 import Picamera2  # optional, Pi-only: imported when configured
        except ImportError as exc:
            raise SourceUnavailableError(f"{INSTALL_HINT} ({exc})") from None
        s = self.settings
        try:
            camera = Picamera2(camera_num=s.camera_index)
        except (IndexError, RuntimeError) as exc:
            raise SourceOpenError(f"cannot open {self.describe()}: {exc}") from None
        controls = {"FrameRate": s.fps} if s.fps else {}
        # picamera2's "RGB888" is laid out B, G, R in memory: OpenCV's BGR order.
        config = camera.create_video_configuration(
            main={"size": (s.width, s.height), "format": "RGB888"}, controls=controls
        )
        camera.configure(config)
        camera.start()
        return PicameraCapture(camera)

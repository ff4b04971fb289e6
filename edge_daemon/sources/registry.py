"""The source backends by the config's `type`, and building one for a camera."""

from __future__ import annotations

from ..config.cameras import CameraConfig
from .capture import CaptureSource, SourceUnavailableError
from .file import FileSource
from .gstreamer import GStreamerSource
from .picamera import Picamera2Source
from .url import UrlSource
from .v4l2 import V4l2Source

SOURCE_TYPES: dict[str, type[CaptureSource]] = {
    cls.kind: cls for cls in (V4l2Source, UrlSource, GStreamerSource, Picamera2Source, FileSource)
}


def build_source(name: str, camera: CameraConfig) -> CaptureSource:
    """The source for one camera; SourceUnavailableError when its backend cannot work here."""
    cls = SOURCE_TYPES.get(camera.source.type)
    if cls is None:
        known = ", ".join(sorted(SOURCE_TYPES))
        raise SourceUnavailableError(f"unknown source type {camera.source.type!r} ({known})")
    cls.check_available()
    return cls(name, camera)

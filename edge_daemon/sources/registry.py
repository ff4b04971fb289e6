"""The source backends by the config's `type`, and building one for a camera."""

from __future__ import annotations

from edge_daemon.config.cameras import CameraConfig
from edge_daemon.sources.capture import CaptureSource, SourceUnavailableError
from edge_daemon.sources.file import FileSource
from edge_daemon.sources.gstreamer import GStreamerSource
from edge_daemon.sources.picamera import Picamera2Source
from edge_daemon.sources.url import UrlSource
from edge_daemon.sources.v4l2 import V4l2Source

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

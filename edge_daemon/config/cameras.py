"""The `cameras` section: named cameras, each with one source discriminated on `type`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, StringConstraints, field_validator, model_validator

from edge_daemon.config.base import Section
from edge_daemon.config.zones import ZonesConfig

# Camera names end up in MQTT topics and metric labels: no '/', '+', '#' or spaces.
CameraName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
]


class V4l2SourceConfig(Section):
    """A V4L2 camera (USB webcam, Pi camera through its V4L2 driver) opened by OpenCV."""

    type: Literal["v4l2"]
    """Source backend."""
    device: str = "/dev/video0"
    """Device path (/dev/videoN, or a stable /dev/v4l/by-id/... link) or its index N."""
    width: Annotated[int, Field(gt=0, le=8192)] | None = None
    """Requested frame width in pixels; the driver's default when unset."""
    height: Annotated[int, Field(gt=0, le=8192)] | None = None
    """Requested frame height in pixels; the driver's default when unset."""
    fps: Annotated[float, Field(gt=0, le=1000)] | None = None
    """Requested capture rate in frames per second; the driver's default when unset."""
    fourcc: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 ]{4}$")] | None = None
    """Pixel format as a FOURCC code, e.g. MJPG (less USB bandwidth) or YUYV."""

    @model_validator(mode="after")
    def _width_and_height_together(self) -> V4l2SourceConfig:
        if (self.width is None) != (self.height is None):
            raise ValueError("set width and height together, or neither")
        return self


class UrlSourceConfig(Section):
    """A network stream (RTSP, HTTP MJPEG, HLS) opened by OpenCV's FFmpeg backend."""

    type: Literal["url"]
    """Source backend."""
    url: str
    """Stream URL: rtsp://, rtsps://, http:// or https://. Put credentials in a placeholder
    such as rtsp://user:{EMOTION_EDGE_RTSP_PASSWORD}@host/stream."""
    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    """RTSP transport; tcp avoids the smeared frames lost UDP packets cause."""

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = urlsplit(value).scheme.lower()
        if scheme not in ("rtsp", "rtsps", "http", "https"):
            raise ValueError("the URL must start with rtsp://, rtsps://, http:// or https://")
        if not urlsplit(value).hostname:
            raise ValueError("the URL names no host")
        return value


class GStreamerSourceConfig(Section):
    """A GStreamer pipeline ending in appsink (e.g. a Jetson CSI camera via nvarguscamerasrc)."""

    type: Literal["gstreamer"]
    """Source backend."""
    pipeline: str
    """gst-launch-1.0 description ending in an appsink, read through PyGObject; end it in
    `videoconvert ! appsink` and the appsink asks for BGR. Checked at start: an unknown
    element or a missing plugin is a config error."""

    @field_validator("pipeline")
    @classmethod
    def _ends_in_appsink(cls, value: str) -> str:
        if "appsink" not in value:
            raise ValueError("the pipeline must end in an appsink element")
        return value


class Picamera2SourceConfig(Section):
    """A Raspberry Pi camera through libcamera's picamera2 library (when installed)."""

    type: Literal["picamera2"]
    """Source backend."""
    camera_index: Annotated[int, Field(ge=0)] = 0
    """Which libcamera camera to open (0 for the first)."""
    width: Annotated[int, Field(gt=0, le=8192)] = 640
    """Frame width in pixels."""
    height: Annotated[int, Field(gt=0, le=8192)] = 480
    """Frame height in pixels."""
    fps: Annotated[float, Field(gt=0, le=1000)] | None = None
    """Capture rate in frames per second; the sensor mode's default when unset."""


class FileSourceConfig(Section):
    """A video file, for demos and tests; it behaves like a camera by default."""

    type: Literal["file"]
    """Source backend."""
    path: Path
    """Path of the video file (anything FFmpeg reads: mp4, mov, mkv, avi...)."""
    loop: bool = False
    """Start again at the end; when false the camera finishes after the last frame."""
    realtime: bool = True
    """Deliver frames at the video's own frame rate, like a camera; false decodes as fast as
    possible (benchmarks)."""
    every_frame: bool = False
    """Hand the pipeline every frame, each waiting until the one before was taken: nothing is
    dropped, so two runs see the same frames (tools/check_arm64.sh compares machines so).
    Use with `realtime: false` and `interval_ms: 0`."""


SourceConfig = Annotated[
    V4l2SourceConfig
    | UrlSourceConfig
    | GStreamerSourceConfig
    | Picamera2SourceConfig
    | FileSourceConfig,
    Field(discriminator="type"),
]


class CameraConfig(Section):
    """One camera: where its frames come from and how often the pipeline looks at them."""

    source: SourceConfig
    """Where the frames come from; `type` picks the backend."""
    enabled: bool = True
    """A disabled camera is kept in the file but not opened."""
    privacy: bool = False
    """Start with the camera in privacy: closed until its privacy switch (MQTT, Home
    Assistant) is turned off."""
    interval_ms: Annotated[int, Field(ge=0, le=3_600_000)] = 100
    """Milliseconds between processed frames (the seed's `interval`); 0 processes every new
    frame as fast as possible."""
    stall_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 20.0
    """Reopen the source when no frame arrived for this many seconds."""
    reopen_backoff_s: Annotated[float, Field(gt=0, le=3600)] = 1.0
    """First wait before reopening a failed source; doubled after each failure."""
    reopen_backoff_max_s: Annotated[float, Field(gt=0, le=86400)] = 30.0
    """Longest wait between reopen attempts."""
    zones: ZonesConfig = ZonesConfig()
    """Where in the frame faces count and how big they may be; faces ignored here are
    counted, never classified."""

    @model_validator(mode="after")
    def _backoff_bounds(self) -> CameraConfig:
        if self.reopen_backoff_max_s < self.reopen_backoff_s:
            raise ValueError("reopen_backoff_max_s must not be smaller than reopen_backoff_s")
        return self


class NamedCameraConfig(CameraConfig):
    """A camera in the list form of `cameras`, which carries its name inside."""

    name: CameraName
    """The camera's name (used in MQTT topics and metrics)."""


def cameras_as_mapping(value: object) -> object:
    """Turn the list form of `cameras` into the mapping form; leave anything else alone."""
    if not isinstance(value, list):
        return value
    mapping: dict[object, object] = {}
    problems = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or "name" not in item:
            problems.append(f"item {i} has no name")
            continue
        body = {k: v for k, v in item.items() if k != "name"}
        name = item["name"]
        if name in mapping:
            problems.append(f"the name {name!r} is used twice")
        mapping[name] = body
    if problems:
        reasons = "; ".join(problems)
        raise ValueError(f"in the list form every camera needs a unique name: {reasons}")
    return mapping

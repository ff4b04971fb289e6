"""Typed values that flow between the pipeline's stages.

Stages hand each other these small frozen records, never bare tuples or dicts, so that the
meaning of every number travels with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in pixel coordinates of its frame (x2, y2 exclusive)."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        """Width in pixels."""
        return max(0.0, self.x2 - self.x1)

    @property
    def height(self) -> float:
        """Height in pixels."""
        return max(0.0, self.y2 - self.y1)

    @property
    def area(self) -> float:
        """Area in square pixels."""
        return self.width * self.height

    def iou(self, other: Box) -> float:
        """Intersection over union with another box (0 when disjoint)."""
        ix = min(self.x2, other.x2) - max(self.x1, other.x1)
        iy = min(self.y2, other.y2) - max(self.y1, other.y1)
        if ix <= 0 or iy <= 0:
            return 0.0
        inter = ix * iy
        return inter / (self.area + other.area - inter)

    def clipped(self, width: int, height: int) -> Box:
        """The part of this box inside a width x height frame."""
        w, h = float(width), float(height)
        return Box(
            min(max(self.x1, 0.0), w),
            min(max(self.y1, 0.0), h),
            min(max(self.x2, 0.0), w),
            min(max(self.y2, 0.0), h),
        )

    def normalized(self, width: int, height: int) -> tuple[float, float, float, float]:
        """(x1, y1, x2, y2) as fractions of the frame size."""
        return (self.x1 / width, self.y1 / height, self.x2 / width, self.y2 / height)


@dataclass(frozen=True, slots=True)
class Detection:
    """One face found by a detector: its box, score and optional keypoints (pixels)."""

    box: Box
    score: float
    keypoints: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One captured image (BGR, uint8, H x W x 3) with where and when it was taken."""

    camera: str
    index: int
    timestamp: float  # wall clock (time.time()), for messages
    monotonic: float  # time.monotonic() at capture, for latencies
    image: np.ndarray

    @property
    def width(self) -> int:
        """Frame width in pixels."""
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        """Frame height in pixels."""
        return int(self.image.shape[0])


@dataclass(frozen=True, slots=True)
class FaceResult:
    """One tracked face in one frame: raw and smoothed probabilities and its stable emotion."""

    track_id: int
    box: Box
    score: float
    raw: tuple[float, ...]
    smoothed: tuple[float, ...]
    emotion: str | None  # None: the model's output for this face was not finite (NaN, inf)


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """Whether a camera delivers frames, since when (wall clock), and why not."""

    camera: str
    state: str  # "connected", "disconnected" or "disabled"
    since: float
    error: str = ""


@dataclass(frozen=True, slots=True)
class EpisodeEvent:
    """A face's stable emotion (or nobody in view) began, goes on, or ended.

    Times are wall clock (time.time()); peak and mean are the model's raw probability of
    the emotion over the episode's frames (None for a no-face episode).
    """

    kind: str  # "start", "update" or "end"
    camera: str
    episode: int  # numbers the camera's episodes from 1, in the order they began
    track_id: int | None  # None: nobody in view
    emotion: str | None  # None: nobody in view
    start: float
    end: float | None  # set on "end"
    duration: float
    peak: float | None
    mean: float | None
    box: Box | None  # the face's last box (pixels); None with no face
    frames: int  # processed frames in the episode so far


@dataclass(frozen=True, slots=True)
class FrameResult:
    """Everything the pipeline learned from one frame, ready for the sinks."""

    camera: str
    frame_index: int
    timestamp: float
    width: int
    height: int
    labels: tuple[str, ...]
    faces: tuple[FaceResult, ...]
    # The camera's stable dominant emotion (hysteresis over its primary face); None: no face.
    camera_emotion: str | None = None
    # Seconds spent per stage ("capture_wait", "detection", "classification", ...).
    timings: dict[str, float] = field(default_factory=dict)
    captured_monotonic: float = 0.0
    # Episodes that began (once announced), went on or ended with this frame.
    events: tuple[EpisodeEvent, ...] = ()

    @property
    def primary(self) -> FaceResult | None:
        """The largest face, whose values fill the seed-compatible top-level keys."""
        return max(self.faces, key=lambda f: f.box.area, default=None)

"""The `detector` section: which face detector runs and how strict it is."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from .base import Section


class DetectorConfig(Section):
    """The face detector that finds every face in a frame."""

    backend: Literal["blazeface", "mediapipe", "haar"] = "blazeface"
    """blazeface (ONNX, the default and fastest), mediapipe (when installed), or haar (OpenCV's
    Haar cascade, the Keras original's detector: slow, a last resort)."""
    model: str = "short"
    """For blazeface: `short` (faces within about 2 m, 128x128 input), `full` (far faces,
    192x192 input) or the path of a BlazeFace ONNX file. For mediapipe: short or full. For
    haar: short (the bundled frontal-face cascade) or the path of a cascade XML."""
    score_threshold: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    """Detections scoring below this are discarded; unset means the backend's calibrated
    default (0.65 for BlazeFace, which keeps background patterns from passing as faces)."""
    nms_iou: Annotated[float, Field(gt=0.0, le=1.0)] = 0.3
    """Overlapping detections with an intersection over union above this are merged."""
    min_face_px: Annotated[int, Field(ge=0, le=4096)] = 24
    """Faces whose box is narrower or lower than this many pixels are ignored (too small for a
    trustworthy emotion)."""
    skip_stable_frames: Annotated[int, Field(ge=0, le=30)] = 1
    """While the faces stay put (the last two detections found as many faces, each box
    overlapping its previous one by 70 % or more), this many frames in a row reuse the last
    boxes instead of running the detector; the emotion model still runs on every frame. A
    new face in a settled scene is then found up to this many intervals later. 0 runs the
    detector on every frame. At the default 1 the daemon uses about a fifth less CPU."""

    @field_validator("model")
    @classmethod
    def _named_or_path(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("give short, full or the path of a model file")
        return value

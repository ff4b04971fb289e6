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
    """For blazeface: `short` (the default: trained at 128x128 and run on a canvas of
    `search_width`, faces from about 40 px in a 640x480 frame; see docs/detection.md),
    `full` (192x192 only: faces from about 64 px, 3x the cost of a 128 pass) or the path of a
    BlazeFace ONNX file. For mediapipe: short or full. For haar: short (the bundled
    frontal-face cascade) or the path of a cascade XML."""
    score_threshold: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    """Detections scoring below this are discarded; unset means the backend's calibrated
    default (0.65 for BlazeFace, which keeps background patterns from passing as faces)."""
    nms_iou: Annotated[float, Field(gt=0.0, le=1.0)] = 0.3
    """Overlapping detections with an intersection over union above this are merged."""
    min_face_px: Annotated[int, Field(ge=0, le=4096)] = 24
    """Faces whose box is narrower or lower than this many pixels are ignored (too small for a
    trustworthy emotion)."""
    search_width: Annotated[int, Field(ge=128, le=1920, multiple_of=16)] = 320
    """Width in pixels of the canvas the whole frame is searched on (the height follows the
    camera's aspect ratio): faces need about 20 canvas pixels to be found, so 320 finds faces
    from about 40 px in a 640x480 frame (28 px at 80 %), 128 only from about 100 px, at a
    cost that grows with the canvas area (320: about 4x 128). Applies to the packaged
    short-range model (and BlazeFace files of free input size); `full` always searches at
    192x192."""
    rescan_frames: Annotated[int, Field(ge=1, le=600)] = 10
    """The whole frame is searched on the first frame, whenever the image changed away from
    the faces already known (someone arrives, a cut, lights off), when a known face is not
    found again near its last box, and at least every this many frames. In between, known
    faces are re-found in a small region around each (a quarter of a 128x128 pass), or kept
    where the image did not change there. 1 searches every frame."""

    @field_validator("model")
    @classmethod
    def _named_or_path(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("give short, full or the path of a model file")
        return value

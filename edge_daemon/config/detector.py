"""The `detector` section: which face detector runs, with the settings that backend has.

One class per backend, told apart by `backend` (blazeface when omitted), the way camera
sources are told apart by `type`: a setting a backend does not have is an unknown key of
that backend, and an impossible combination fails validation with its key path.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag, ValidationInfo, field_validator

from edge_daemon.config.base import Section

DEFAULT_BACKEND = "blazeface"


class _DetectorSection(Section):
    """What every backend has: how small a face may be, how often the frame is searched."""

    min_face_px: Annotated[int, Field(ge=0, le=4096)] = 24
    """Faces whose box is narrower or lower than this many pixels are ignored (too small for a
    trustworthy emotion)."""
    rescan_frames: Annotated[int, Field(ge=1, le=600)] = 10
    """The whole frame is searched on the first frame, whenever the image changed away from
    the faces already known (someone arrives, a cut, lights off), when a known face is not
    found again near its last box, and at least every this many frames. In between, known
    faces are re-found in a small region around each (a quarter of a 128x128 pass), or kept
    where the image did not change there. 1 searches every frame."""


class BlazeFaceConfig(_DetectorSection):
    """BlazeFace on onnxruntime: the default, and the fastest."""

    backend: Literal["blazeface"] = "blazeface"
    """blazeface (ONNX, the default and fastest), mediapipe (when installed), or haar (OpenCV's
    Haar cascade, the Keras original's detector: slow, a last resort)."""
    model: str = "short"
    """`short` (the default: trained at 128x128 and run on a canvas of `search_width`, faces
    from about 40 px in a 640x480 frame; see docs/detection.md), `full` (192x192 only: faces
    from about 64 px, 3x the cost of a 128 pass) or the path of a BlazeFace ONNX file."""
    score_threshold: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    """Detections scoring below this are discarded; unset means the backend's calibrated
    default (0.65 for BlazeFace, which keeps background patterns from passing as faces)."""
    nms_iou: Annotated[float, Field(gt=0.0, le=1.0)] = 0.3
    """Overlapping detections with an intersection over union above this are merged."""
    search_width: Annotated[int, Field(ge=128, le=1920, multiple_of=16)] = 320
    """Width in pixels of the canvas the whole frame is searched on (the height follows the
    camera's aspect ratio): faces need about 20 canvas pixels to be found, so 320 finds faces
    from about 40 px in a 640x480 frame (28 px at 80 %), 128 only from about 100 px, at a
    cost that grows with the canvas area (320: about 4x 128). Applies to the packaged
    short-range model (and BlazeFace files of free input size); `full` always searches at
    192x192."""

    @field_validator("model")
    @classmethod
    def _named_or_path(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("give short, full or the path of a model file")
        return value

    @field_validator("search_width")
    @classmethod
    def _needs_free_size(cls, value: int, info: ValidationInfo) -> int:
        # Runs only for a value given in the file: the default suits every model.
        if info.data.get("model") == "full":
            raise ValueError("does not apply to model full, which always searches at "
                             "192x192: remove it, or use model short")
        return value

    @property
    def named_model(self) -> bool:
        """True for a packaged model (short, full), False for a file path."""
        return self.model in ("short", "full")


class MediaPipeConfig(_DetectorSection):
    """Google's MediaPipe face detection (only where the mediapipe package is installed)."""

    backend: Literal["mediapipe"]
    """mediapipe: see blazeface for the others."""
    model: Literal["short", "full"] = "short"
    """short (faces within about 2 m) or full (about 5 m); mediapipe takes no model file."""
    score_threshold: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    """Detections scoring below this are discarded; unset means the backend's calibrated
    default (the same as BlazeFace's)."""


class HaarConfig(_DetectorSection):
    """OpenCV's Haar cascade: the Keras original's detector, slow, a last resort."""

    backend: Literal["haar"]
    """haar: see blazeface for the others."""
    model: str = "short"
    """short (the frontal-face cascade OpenCV ships) or the path of a cascade XML."""

    @field_validator("model")
    @classmethod
    def _cascade(cls, value: str) -> str:
        if value == "full":
            raise ValueError("haar has no full-range model: give short or the path of a "
                             "cascade XML")
        if not value.strip():
            raise ValueError("give short or the path of a cascade XML")
        return value


def backend(value: object) -> str:
    """The backend a detector section names (blazeface when it names none)."""
    if isinstance(value, dict):
        return str(value.get("backend", DEFAULT_BACKEND))
    return str(getattr(value, "backend", DEFAULT_BACKEND))


DetectorConfig = Annotated[
    Annotated[BlazeFaceConfig, Tag("blazeface")]
    | Annotated[MediaPipeConfig, Tag("mediapipe")]
    | Annotated[HaarConfig, Tag("haar")],
    Discriminator(backend),
]
"""The `detector` section: one of the backends' classes, picked by `backend`."""

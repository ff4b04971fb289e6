"""Face detector backends, one file each, and the registry that builds one by name.

    build_detector("blazeface", model_path=..., options=RuntimeOptions(...), min_face_size=40)
    build_detector("blazeface", variant="full")   # the packaged full-range model
    build_detector("haar", min_face_size=50)
    build_detector("mediapipe", variant="short")  # only where mediapipe is installed

Adding a backend is adding one file and one line to DETECTOR_BACKENDS.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable

import cv2

from .base import DetectorUnavailableError, FaceDetector, FrameFormatError, as_bgr
from .blazeface import BlazeFaceDetector, default_model_path
from .haar import HaarCascadeDetector
from .mediapipe_backend import MediaPipeDetector

__all__ = [
    "DETECTOR_BACKENDS", "BlazeFaceDetector", "DetectorUnavailableError", "FaceDetector",
    "FrameFormatError", "HaarCascadeDetector", "MediaPipeDetector", "UnknownDetectorError",
    "as_bgr", "available_backends", "build_detector", "default_model_path",
]

DETECTOR_BACKENDS: dict[str, Callable[..., FaceDetector]] = {
    "blazeface": BlazeFaceDetector,
    "haar": HaarCascadeDetector,
    "mediapipe": MediaPipeDetector,
}


class UnknownDetectorError(ValueError):
    """A detector backend name, or an option of one, that the registry does not know."""


def available_backends() -> list[str]:
    """The backends whose libraries are present here (building one may still fail)."""
    present = {
        "blazeface": True,
        "haar": hasattr(cv2, "CascadeClassifier"),
        "mediapipe": importlib.util.find_spec("mediapipe") is not None,
    }
    return [name for name in DETECTOR_BACKENDS if present.get(name, True)]


def build_detector(backend: str, **options: object) -> FaceDetector:
    """Build the named backend from its keyword options; errors name what is available."""
    factory = DETECTOR_BACKENDS.get(backend)
    if factory is None:
        raise UnknownDetectorError(
            f"unknown face detector {backend!r}; known: {', '.join(DETECTOR_BACKENDS)} "
            f"(usable here: {', '.join(available_backends())})"
        )
    accepted = [name for name, p in inspect.signature(factory).parameters.items()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise UnknownDetectorError(
            f"face detector {backend!r} has no option {', '.join(unknown)}; "
            f"its options: {', '.join(accepted)}"
        )
    try:
        return factory(**options)
    except DetectorUnavailableError as exc:
        others = [name for name in available_backends() if name != backend]
        raise DetectorUnavailableError(
            f"{exc}; available here: {', '.join(others) or 'none'}"
        ) from exc

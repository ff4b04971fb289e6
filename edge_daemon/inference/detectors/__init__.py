"""Face detector backends, one file each, and the registry that builds one by name.

    whole_frame_search(config.detector, options)  # the configured backend, as the app runs it
    build_detector("blazeface", variant="full")   # by name: the packaged full-range model
    build_detector("haar", min_face_size=50)
    build_detector("mediapipe", variant="short")  # only where mediapipe is installed

Adding a backend: its file here (a class with detect() and from_config()), its config class
in config/detector.py (one more member of DetectorConfig), and one line in each table below.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable

import cv2

from edge_daemon.config.detector import BlazeFaceConfig, DetectorConfig, HaarConfig, MediaPipeConfig
from edge_daemon.core.stages import FaceDetector
from edge_daemon.inference.detectors.blazeface import BlazeFaceDetector, default_model_path
from edge_daemon.inference.detectors.errors import DetectorUnavailableError
from edge_daemon.inference.detectors.gated import REFIND_CANVAS
from edge_daemon.inference.detectors.haar import HaarCascadeDetector
from edge_daemon.inference.detectors.mediapipe_backend import MediaPipeDetector
from edge_daemon.inference.detectors.search import WholeFrameSearch
from edge_daemon.inference.onnx_model import RuntimeOptions

__all__ = [
    "DETECTOR_BACKENDS", "BlazeFaceDetector", "DetectorUnavailableError", "HaarCascadeDetector",
    "MediaPipeDetector", "UnknownDetectorError", "available_backends", "build_detector",
    "default_model_path", "refind_detector", "whole_frame_search",
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


BACKEND_OF_CONFIG: dict[type, type] = {
    BlazeFaceConfig: BlazeFaceDetector,
    HaarConfig: HaarCascadeDetector,
    MediaPipeConfig: MediaPipeDetector,
}


def whole_frame_search(config: DetectorConfig, options: RuntimeOptions) -> WholeFrameSearch:
    """The configured backend, searching whole frames (on a sized canvas where it can)."""
    if not isinstance(config, BlazeFaceConfig):
        own_size = BACKEND_OF_CONFIG[type(config)].from_config(config)
        return WholeFrameSearch(lambda _canvas: own_size, None, config.backend)
    first = BlazeFaceDetector.from_config(config, options)
    if not first.free_input_size:
        return WholeFrameSearch(lambda _canvas: first, None, config.backend)

    def sized(canvas: tuple[int, int] | None) -> FaceDetector:
        return BlazeFaceDetector.from_config(config, options, input_size=canvas)

    return WholeFrameSearch(sized, config.search_width, config.backend)


def refind_detector(config: DetectorConfig, options: RuntimeOptions) -> FaceDetector | None:
    """The detector that re-finds a known face near its last box (BlazeFace backends only)."""
    if not isinstance(config, BlazeFaceConfig) or config.rescan_frames <= 1:
        return None
    return BlazeFaceDetector(options=options, variant="short", input_size=REFIND_CANVAS)

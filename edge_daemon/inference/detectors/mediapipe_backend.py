"""MediaPipe's own face detection (mp.solutions.face_detection), for users who installed it.

mediapipe is not a dependency: every release requires opencv-contrib-python, whose cv2
overwrites opencv-python-headless's in the same environment, and 0.10.30 and later ship no
face model for this API. It is imported only when this backend is built, so it matters only
to whoever configured it. The default `blazeface` backend runs the same network.
"""

from __future__ import annotations

import logging
import threading

import cv2
import numpy as np

from edge_daemon.config.detector import MediaPipeConfig
from edge_daemon.core.frames import to_bgr8
from edge_daemon.core.records import Box, Detection
from edge_daemon.inference.detectors.errors import DetectorUnavailableError
from edge_daemon.inference.detectors.ssd import VARIANTS

log = logging.getLogger(__name__)

INSTALL_HINT = ("pip install 'mediapipe>=0.10.14,<=0.10.18' (it pulls opencv-contrib-python, "
                "which replaces opencv-python-headless's cv2)")


class MediaPipeDetector:
    """Faces found by MediaPipe's face-detection solution graph, best first."""

    name = "mediapipe"

    def __init__(
        self,
        *,
        variant: str = "short",
        score_threshold: float | None = None,
        min_face_size: float = 0.0,
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown MediaPipe variant {variant!r}; choose short or full")
        if score_threshold is None:  # the same defaults as the blazeface backend's
            score_threshold = VARIANTS[variant].score_threshold
        try:
            import mediapipe
        except ImportError as exc:
            raise DetectorUnavailableError(
                f"face detector 'mediapipe' needs the mediapipe package, which is not "
                f"installed ({exc}); {INSTALL_HINT}"
            ) from exc
        solution = getattr(getattr(mediapipe, "solutions", None), "face_detection", None)
        if solution is None:
            raise DetectorUnavailableError(
                f"face detector 'mediapipe': mediapipe {getattr(mediapipe, '__version__', '?')} "
                f"has no solutions.face_detection (0.10.30+ ship no face model); {INSTALL_HINT}"
            )
        self.variant = variant
        self.min_face_size = float(min_face_size)
        self._graph = solution.FaceDetection(
            model_selection=0 if variant == "short" else 1,
            min_detection_confidence=float(score_threshold),
        )
        # A solution graph takes one image at a time.
        self._lock = threading.Lock()
        log.info("MediaPipe face detection (%s range, mediapipe %s)",
                 variant, getattr(mediapipe, "__version__", "?"))

    @classmethod
    def from_config(cls, config: MediaPipeConfig) -> MediaPipeDetector:
        """The detector of a `detector: {backend: mediapipe}` section."""
        return cls(variant=config.model, score_threshold=config.score_threshold)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """All faces in a BGR uint8 frame (gray and BGRA accepted), best first, in its pixels."""
        bgr = to_bgr8(image)
        h, w = bgr.shape[:2]
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        with self._lock:
            result = self._graph.process(rgb)
        detections = []
        for found in result.detections or ():
            location = found.location_data
            rel = location.relative_bounding_box
            if min(rel.width * w, rel.height * h) < self.min_face_size:
                continue
            box = Box(rel.xmin * w, rel.ymin * h, (rel.xmin + rel.width) * w,
                      (rel.ymin + rel.height) * h).clipped(float(w), float(h))
            points = tuple((k.x * w, k.y * h) for k in location.relative_keypoints)
            detections.append(Detection(box, float(found.score[0]), points))
        detections.sort(key=lambda d: d.score, reverse=True)
        return detections

    def close(self) -> None:
        """Release the MediaPipe graph."""
        self._graph.close()

"""OpenCV's Haar cascade face detector: the last resort, and the Keras original's detector.

Settings follow the `fer` package the Keras original used: the frontal-face cascade, scale
factor 1.1, 5 neighbours, faces of at least 50 x 50 pixels. A cascade gives no calibrated
confidence, so every face scores 1.0 and the largest comes first.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import cv2
import numpy as np

from edge_daemon.config.detector import HaarConfig
from edge_daemon.core.frames import to_bgr8
from edge_daemon.core.records import Box, Detection
from edge_daemon.inference.detectors.errors import DetectorUnavailableError
from edge_daemon.inference.onnx_model import ModelLoadError

log = logging.getLogger(__name__)

CASCADE_FILE = "haarcascade_frontalface_default.xml"
# pip wheels carry cv2.data; distribution builds (Debian, JetPack) install the cascades here.
SYSTEM_CASCADE_DIRS = ("/usr/share/opencv4/haarcascades", "/usr/share/opencv/haarcascades")


def default_cascade_path() -> Path:
    """The frontal-face cascade that ships with the installed OpenCV."""
    data = getattr(cv2, "data", None)
    candidates = [Path(data.haarcascades)] if data is not None else []
    candidates += [Path(d) for d in SYSTEM_CASCADE_DIRS]
    for folder in candidates:
        if (folder / CASCADE_FILE).is_file():
            return folder / CASCADE_FILE
    raise DetectorUnavailableError(
        f"face detector 'haar': this OpenCV ships no {CASCADE_FILE}; "
        "give cascade_path or install opencv-python-headless<5"
    )


class HaarCascadeDetector:
    """Frontal faces by a Haar cascade on the gray frame, largest first."""

    name = "haar"

    def __init__(
        self,
        cascade_path: str | Path | None = None,
        *,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_face_size: float = 50.0,
    ) -> None:
        if not hasattr(cv2, "CascadeClassifier"):
            raise DetectorUnavailableError(
                f"face detector 'haar': OpenCV {cv2.__version__} has no CascadeClassifier "
                "(OpenCV 5 dropped it)"
            )
        if scale_factor <= 1.0:
            raise ValueError(f"scale_factor must be > 1, got {scale_factor}")
        if min_neighbors < 0 or min_face_size < 0:
            raise ValueError("min_neighbors and min_face_size must be >= 0")
        self.path = Path(cascade_path) if cascade_path else default_cascade_path()
        try:
            self._cascade = cv2.CascadeClassifier(str(self.path))
        except (cv2.error, SystemError) as exc:  # a malformed XML raises inside the constructor
            raise ModelLoadError(f"{self.path}: not a readable Haar cascade file") from exc
        if self._cascade.empty():
            raise ModelLoadError(f"{self.path}: not a readable Haar cascade file")
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_face_size = float(min_face_size)
        # OpenCV does not promise that one CascadeClassifier can run on two threads at once.
        self._lock = threading.Lock()
        log.info("Haar cascade from %s (min face %d px)", self.path, self.min_face_size)

    @classmethod
    def from_config(cls, config: HaarConfig) -> HaarCascadeDetector:
        """The detector of a `detector: {backend: haar}` section.

        min_face_px is the cascade's smallest search window: the pipeline drops smaller
        faces anyway, and a cascade that need not look for them runs several times faster.
        """
        return cls(None if config.model == "short" else config.model,
                   min_face_size=config.min_face_px)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """All frontal faces in a BGR uint8 frame (gray and BGRA accepted), largest first."""
        bgr = to_bgr8(image)
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        side = round(self.min_face_size)
        with self._lock:
            found = self._cascade.detectMultiScale(
                gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                flags=cv2.CASCADE_SCALE_IMAGE, minSize=(side, side),
            )
        boxes = [Box(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h in found]
        boxes.sort(key=lambda b: b.area, reverse=True)
        return [Detection(box, 1.0) for box in boxes]

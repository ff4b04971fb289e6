"""The face detector interface every backend implements."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ...records import Detection


class FaceDetector(Protocol):
    """Finds every face in a BGR uint8 frame."""

    name: str

    def detect(self, image: np.ndarray) -> list[Detection]:
        """All faces in the image, best first, boxes in the image's pixel coordinates."""
        ...

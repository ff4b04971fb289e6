"""Which detected faces count: inside the include zones, outside the exclude zones, and of a
size between the limits (a camera's `zones`, see config/zones.py).

Polygons are fractions of the frame; a face counts by the centre of its box.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from edge_daemon.core.records import Box

Polygon = Sequence[tuple[float, float]]


class FaceZones:
    """The rule of one camera's zones, checked per face box."""

    def __init__(self, include: Mapping[str, Polygon], exclude: Mapping[str, Polygon],
                 min_face_px: int = 0, max_face_px: int = 0) -> None:
        def contours(polygons: Mapping[str, Polygon]) -> list[np.ndarray]:
            return [np.asarray(p, np.float32).reshape(-1, 1, 2) for p in polygons.values()]

        self.include = contours(include)
        self.exclude = contours(exclude)
        self.min_face_px = min_face_px
        self.max_face_px = max_face_px

    def counts(self, box: Box, width: int, height: int) -> bool:
        """Whether a face with this box (pixels of a width x height frame) counts."""
        side = min(box.width, box.height)
        if side < self.min_face_px or (self.max_face_px and max(box.width, box.height)
                                       > self.max_face_px):
            return False
        centre = ((box.x1 + box.x2) / 2 / width, (box.y1 + box.y2) / 2 / height)
        if any(cv2.pointPolygonTest(c, centre, False) >= 0 for c in self.exclude):
            return False
        return not self.include or any(
            cv2.pointPolygonTest(c, centre, False) >= 0 for c in self.include)

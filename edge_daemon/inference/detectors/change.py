"""Where a frame differs from what the detector last looked at: a coarse change map.

The frame is shrunk to a grid of about 8 x 8 pixel cells (80 cells across) in grey, the way
Frigate measures motion before it runs its detector: averaging pixels per cell removes
sensor and compression noise, so a cell that moved by more than CELL_DELTA levels shows a
real change: a person, a cut, lights going on or off.

The map compares each cell with the frame in which that cell was last looked at, not with
the previous frame, so a slow change adds up until it is looked at.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_daemon.core.records import Box

GRID_COLUMNS = 80
CELL_DELTA = 12  # grey levels a cell must move by to count as changed


class ChangeMap:
    """Per-cell change of a camera's frames since each cell was last looked at."""

    def __init__(self, columns: int = GRID_COLUMNS, delta: int = CELL_DELTA) -> None:
        self.columns = columns
        self.delta = delta
        self._reference: np.ndarray | None = None
        self._scale = (1.0, 1.0)  # cells per frame pixel, x and y

    def shrink(self, image: np.ndarray) -> np.ndarray:
        """The frame as the grid of grey cells (int16, to subtract without wrapping)."""
        h, w = image.shape[:2]
        rows = max(1, round(self.columns * h / w))
        # Bilinear to twice the grid, then the mean of each 2 x 2: every cell averages 16 of
        # its pixels, enough against noise (2 grey levels of noise move a cell by 0.5), for
        # 0.06 ms per 640 x 480 frame instead of 0.29 ms for INTER_AREA's exact mean of all
        # 64. Shrinking the colour frame first leaves the grey conversion 4,800 pixels.
        twice = cv2.resize(image, (2 * self.columns, 2 * rows), interpolation=cv2.INTER_LINEAR)
        small = cv2.resize(twice, (self.columns, rows), interpolation=cv2.INTER_AREA)
        if small.ndim == 3:
            small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        if self._reference is not None and self._reference.shape != small.shape:
            self._reference = None  # the camera changed its resolution: nothing is known
        self._scale = (self.columns / w, rows / h)
        return small.astype(np.int16)

    @property
    def empty(self) -> bool:
        """True before anything was looked at (or after the frame size changed)."""
        return self._reference is None

    def changed(self, small: np.ndarray) -> np.ndarray:
        """Boolean grid: the cells that moved by more than delta since last looked at."""
        if self._reference is None:
            return np.ones(small.shape, bool)
        return np.abs(small - self._reference) > self.delta

    def cells(self, box: Box) -> tuple[slice, slice]:
        """The grid rows and columns a box in frame pixels covers (at least one cell)."""
        sx, sy = self._scale
        x1, y1 = max(0, int(box.x1 * sx)), max(0, int(box.y1 * sy))
        x2, y2 = max(x1 + 1, int(np.ceil(box.x2 * sx))), max(y1 + 1, int(np.ceil(box.y2 * sy)))
        return slice(y1, y2), slice(x1, x2)

    def looked_at(self, small: np.ndarray, box: Box | None = None) -> None:
        """Remember the cells of box (the whole frame if None) as they are now."""
        if box is None or self._reference is None:
            self._reference = small.copy()
            return
        rows, columns = self.cells(box)
        self._reference[rows, columns] = small[rows, columns]

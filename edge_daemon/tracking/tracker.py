"""An IoU tracker: gives each face a track id that stays the same across frames.

Faces move little between two processed frames (100 ms apart by default), so matching each
detection to the track whose last box overlaps it most is enough; no motion model is needed.
Matching is greedy by descending IoU, which equals the optimal assignment whenever faces do
not overlap each other (the normal case) and needs no solver.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_daemon.core.records import Box


@dataclass
class Track:
    """One followed face: its id, its last matched box and how long it has gone unseen."""

    track_id: int
    box: Box
    missed: int = 0
    hits: int = 1


def iou_matrix(a: Sequence[Box], b: Sequence[Box]) -> np.ndarray:
    """Pairwise intersection over union, shape (len(a), len(b))."""
    # Box.iou in plain Python: a camera has a handful of faces, and for a few pairs that is
    # ten times faster than numpy's vectorized version with its per-call overhead (issue 7).
    rows = [[x.iou(y) for y in b] for x in a]
    return np.array(rows, dtype=np.float64).reshape(len(a), len(b))


def greedy_match(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """(row, column) pairs taken by descending IoU, each row and column once, IoU >= threshold."""
    rows, cols = np.nonzero(iou >= threshold)
    order = np.argsort(-iou[rows, cols], kind="stable")
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs = []
    for i in order:
        r, c = int(rows[i]), int(cols[i])
        if r not in used_rows and c not in used_cols:
            used_rows.add(r)
            used_cols.add(c)
            pairs.append((r, c))
    return pairs


class IouTracker:
    """Follows boxes across frames; ids start at 1 and only grow (never reused)."""

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 5) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if max_missed < 0:
            raise ValueError(f"max_missed must be >= 0, got {max_missed}")
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, boxes: Sequence[Box]) -> list[int]:
        """Match this frame's boxes to the tracks; return the track id of each box, in order."""
        iou = iou_matrix([t.box for t in self.tracks], boxes)
        pairs = greedy_match(iou, self.iou_threshold)
        ids: list[int | None] = [None] * len(boxes)
        matched_tracks = set()
        for t_index, b_index in pairs:
            track = self.tracks[t_index]
            track.box, track.missed = boxes[b_index], 0
            track.hits += 1
            ids[b_index] = track.track_id
            matched_tracks.add(t_index)
        kept = []
        for t_index, track in enumerate(self.tracks):
            if t_index not in matched_tracks:
                track.missed += 1
            if track.missed <= self.max_missed:
                kept.append(track)
        for b_index, box in enumerate(boxes):
            if ids[b_index] is None:
                kept.append(Track(self._next_id, box))
                ids[b_index] = self._next_id
                self._next_id += 1
        self.tracks = kept
        return [i for i in ids if i is not None]

    @property
    def active_ids(self) -> set[int]:
        """Ids of the tracks still followed (seen now or missed at most max_missed frames)."""
        return {t.track_id for t in self.tracks}

"""IoU tracker: ids stable across frames, new ids only grow, tracks survive short misses."""

from __future__ import annotations

import numpy as np
import pytest

from edge_daemon.core.records import Box
from edge_daemon.tracking.tracker import IouTracker, greedy_match, iou_matrix


def shifted(box: Box, dx: float, dy: float = 0.0) -> Box:
    return Box(box.x1 + dx, box.y1 + dy, box.x2 + dx, box.y2 + dy)


LEFT = Box(10, 10, 110, 110)
RIGHT = Box(300, 10, 400, 110)


def test_iou_matrix_matches_box_iou():
    a = [LEFT, RIGHT, Box(0, 0, 0, 0)]
    b = [shifted(LEFT, 20), RIGHT, Box(50, 50, 350, 90)]
    matrix = iou_matrix(a, b)
    assert matrix.shape == (3, 3)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            assert matrix[i, j] == pytest.approx(x.iou(y))
    assert iou_matrix([], b).shape == (0, 3)


def test_greedy_match_takes_best_pairs_once_and_respects_threshold():
    iou = np.array([[0.9, 0.8], [0.85, 0.1], [0.05, 0.2]])
    # Row 0 takes column 0 (0.9); row 1 cannot have column 0 any more and 0.1 < 0.3.
    assert greedy_match(iou, 0.3) == [(0, 0)]
    # With a low threshold row 1 gets nothing better than column 1 (0.1 < 0.2 of row 2).
    assert sorted(greedy_match(iou, 0.05)) == [(0, 0), (2, 1)]


def test_faces_keep_their_ids_while_moving():
    tracker = IouTracker(iou_threshold=0.3, max_missed=2)
    assert tracker.update([LEFT, RIGHT]) == [1, 2]
    for step in range(1, 6):
        # Order of detections changes; ids follow the boxes, not the positions in the list.
        ids = tracker.update([shifted(RIGHT, 5 * step), shifted(LEFT, 5 * step)])
        assert ids == [2, 1]


def test_new_face_gets_next_id_and_ids_are_never_reused():
    tracker = IouTracker(iou_threshold=0.3, max_missed=0)
    assert tracker.update([LEFT]) == [1]
    assert tracker.update([]) == []  # LEFT missed once: with max_missed=0 its track ends
    assert tracker.update([LEFT]) == [2]
    assert tracker.update([LEFT, RIGHT]) == [2, 3]


def test_track_survives_up_to_max_missed_frames():
    tracker = IouTracker(iou_threshold=0.3, max_missed=3)
    tracker.update([LEFT])
    for _ in range(3):
        assert tracker.update([]) == []
    assert tracker.active_ids == {1}
    assert tracker.update([LEFT]) == [1]
    for _ in range(4):
        tracker.update([])
    assert tracker.active_ids == set()
    assert tracker.update([LEFT]) == [2]


def test_overlap_below_threshold_starts_a_new_track():
    tracker = IouTracker(iou_threshold=0.5, max_missed=5)
    tracker.update([LEFT])
    moved = shifted(LEFT, 40)  # IoU 60*100 / (2*10000 - 6000) = 0.43 < 0.5
    assert LEFT.iou(moved) < 0.5
    assert tracker.update([moved]) == [2]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="iou_threshold"):
        IouTracker(iou_threshold=0.0)
    with pytest.raises(ValueError, match="max_missed"):
        IouTracker(max_missed=-1)

"""CameraTracker: tracked faces with raw/smoothed probabilities and the camera's stable emotion."""

from __future__ import annotations

import numpy as np
import pytest

from edge_daemon.config.tracking import TrackingConfig
from edge_daemon.core.records import Box, Detection
from edge_daemon.tracking import CameraTracker

LABELS = ("angry", "happy", "neutral")
HAPPY = [0.1, 0.8, 0.1]
ANGRY = [0.8, 0.1, 0.1]
BIG = Detection(Box(100, 100, 300, 300), 0.9)
SMALL = Detection(Box(400, 100, 450, 150), 0.7)


def make(**settings) -> CameraTracker:
    return CameraTracker(LABELS, TrackingConfig(**settings))


def test_faces_carry_ids_raw_and_smoothed_probabilities():
    tracker = make(smoothing_alpha=0.5, hysteresis_frames=2)
    faces, _ = tracker.update([BIG, SMALL], np.array([HAPPY, ANGRY]))
    assert [f.track_id for f in faces] == [1, 2]
    assert faces[0].raw == pytest.approx(HAPPY) and faces[0].smoothed == pytest.approx(HAPPY)
    assert faces[0].emotion == "happy" and faces[1].emotion == "angry"  # first argmax at once
    assert faces[0].score == pytest.approx(0.9) and faces[0].box == BIG.box
    faces, _ = tracker.update([BIG, SMALL], np.array([ANGRY, ANGRY]))
    assert faces[0].raw == pytest.approx(ANGRY)
    assert faces[0].smoothed == pytest.approx([0.45, 0.45, 0.1])
    assert all(isinstance(p, float) for p in faces[0].smoothed)


def test_face_emotion_changes_with_hysteresis():
    tracker = make(smoothing_alpha=1.0, hysteresis_frames=3)
    tracker.update([BIG], np.array([HAPPY]))
    emotions = [tracker.update([BIG], np.array([ANGRY]))[0][0].emotion for _ in range(3)]
    assert emotions == ["happy", "happy", "angry"]


def test_camera_emotion_follows_primary_face_after_k_results():
    tracker = make(smoothing_alpha=1.0, hysteresis_frames=3)
    out = [tracker.update([SMALL, BIG], np.array([ANGRY, HAPPY]))[1] for _ in range(3)]
    assert out == [None, None, "happy"]  # the largest face (BIG) decides, after k results
    assert tracker.emotion == "happy"


def test_camera_emotion_survives_short_gaps_and_clears_after_clear_after_frames():
    tracker = make(smoothing_alpha=1.0, hysteresis_frames=2, clear_after=4)
    for _ in range(2):
        tracker.update([BIG], np.array([HAPPY]))
    empty = np.zeros((0, 3))
    assert [tracker.update([], empty)[1] for _ in range(3)] == ["happy"] * 3
    assert tracker.update([BIG], np.array([HAPPY]))[1] == "happy"  # back before clear_after
    assert [tracker.update([], empty)[1] for _ in range(4)] == ["happy"] * 3 + [None]
    assert tracker.update([BIG], np.array([HAPPY]))[1] is None  # needs k results again
    assert tracker.update([BIG], np.array([HAPPY]))[1] == "happy"


def test_weak_results_do_not_change_camera_emotion():
    tracker = make(smoothing_alpha=1.0, hysteresis_frames=1, min_score=0.6)
    assert tracker.update([BIG], np.array([[0.4, 0.35, 0.25]]))[1] is None
    assert tracker.update([BIG], np.array([HAPPY]))[1] == "happy"


def test_ended_tracks_release_their_state():
    tracker = make(max_missed=1)
    tracker.update([BIG, SMALL], np.array([HAPPY, ANGRY]))
    tracker.update([BIG], np.array([HAPPY]))
    tracker.update([BIG], np.array([HAPPY]))
    assert set(tracker._tracks) == {1}
    faces, _ = tracker.update([BIG, SMALL], np.array([HAPPY, ANGRY]))
    assert [f.track_id for f in faces] == [1, 3]
    assert faces[1].smoothed == pytest.approx(ANGRY)  # a fresh smoother, not the old one


def test_wrong_probability_shape_is_one_clear_error():
    tracker = make()
    with pytest.raises(ValueError, match=r"shape \(1, 2\).*\(1, 3\)"):
        tracker.update([BIG], np.array([[0.5, 0.5]]))
    with pytest.raises(ValueError, match="at least one label"):
        CameraTracker([], TrackingConfig())

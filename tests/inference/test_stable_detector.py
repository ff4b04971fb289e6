"""Skipping detection while the scene is settled: the real BlazeFace on real videos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_daemon.inference.detectors import BlazeFaceDetector
from edge_daemon.inference.detectors.stable import (
    StableSceneDetector,
    camera_detector,
    detections_agree,
)
from edge_daemon.records import Box, Detection


def video_frames(path: Path, step: int = 3) -> list[np.ndarray]:
    """Every step-th frame: a 30 fps video seen at the daemon's default 100 ms interval."""
    capture = cv2.VideoCapture(str(path))
    frames, index = [], 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        if index % step == 0:
            frames.append(image)
        index += 1
    capture.release()
    assert frames, path
    return frames


@pytest.fixture(scope="module")
def blazeface() -> BlazeFaceDetector:
    return BlazeFaceDetector(variant="short")


def test_a_settled_face_is_detected_every_other_frame_and_its_reused_box_still_fits(
    assets, blazeface
):
    frames = video_frames(assets / "feat-test-data" / "single_face.mp4")
    stable = StableSceneDetector(blazeface, max_skips=1)
    reused = 0
    for image in frames:
        found = stable.detect(image)
        fresh = blazeface.detect(image)
        assert len(found) == len(fresh) == 1
        assert found[0].box.iou(fresh[0].box) > 0.7  # 100 ms old, still on the face
        reused += stable.reused
    # After the first two detections agree, every other frame is a reuse.
    assert len(frames) // 2 - 2 <= reused <= len(frames) // 2


def test_no_reuse_twice_in_a_row_at_one_skip_and_more_with_more_skips(assets, blazeface):
    frames = video_frames(assets / "feat-test-data" / "single_face.mp4")
    for max_skips in (1, 3):
        stable = StableSceneDetector(blazeface, max_skips=max_skips)
        run, longest = 0, 0
        for image in frames:
            stable.detect(image)
            run = run + 1 if stable.reused else 0
            longest = max(longest, run)
        assert longest == max_skips


def test_a_face_leaving_is_reported_gone_within_the_skips(assets, blazeface):
    # face_noface.mov: a face in frames 0-71, none after.
    frames = video_frames(assets / "feat-test-data" / "face_noface.mov", step=1)
    stable = StableSceneDetector(blazeface, max_skips=1)
    counts = [len(stable.detect(image)) for image in frames]
    assert sum(1 for c in counts[:60] if c) >= 0.9 * 60
    late = counts[74:]
    assert late and not any(late)  # gone at most one frame after the detector stops seeing it


def test_a_face_arriving_in_a_settled_empty_scene_is_found_within_the_skips(assets,
                                                                            blazeface):
    # noface_face.mov: no face at first, then one.
    frames = video_frames(assets / "feat-test-data" / "noface_face.mov", step=1)
    stable = StableSceneDetector(blazeface, max_skips=1)
    fresh = [bool(blazeface.detect(image)) for image in frames]
    seen = [bool(stable.detect(image)) for image in frames]
    first_fresh = fresh.index(True)
    assert seen.index(True) <= first_fresh + 1
    assert not any(seen[:first_fresh])


def test_zero_skips_gives_the_plain_detector(blazeface):
    assert camera_detector(blazeface, 0) is blazeface
    wrapped = camera_detector(blazeface, 2)
    assert isinstance(wrapped, StableSceneDetector) and wrapped.name == "blazeface"
    with pytest.raises(ValueError, match="max_skips"):
        StableSceneDetector(blazeface, max_skips=-1)


def _det(x: float, y: float, side: float = 100.0) -> Detection:
    return Detection(Box(x, y, x + side, y + side), 0.9)


def test_agreement_needs_as_many_faces_each_overlapping_its_own():
    assert detections_agree([], [], 0.7)
    assert detections_agree([_det(0, 0), _det(300, 0)], [_det(305, 2), _det(4, 3)], 0.7)
    assert not detections_agree([_det(0, 0)], [], 0.7)
    assert not detections_agree([_det(0, 0)], [_det(40, 0)], 0.7)  # moved: IoU 0.43
    # Two old faces may not both claim the same new one.
    assert not detections_agree([_det(0, 0), _det(2, 0)], [_det(1, 0), _det(500, 0)], 0.7)

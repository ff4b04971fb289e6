"""The default detection on a video with hard cuts: no phantom face, the right count at once.

The video is made here from the registry's real faces and no-face footage (bench/room_scenes),
written as an MJPEG file and decoded back, and run frame by frame through the daemon's own
camera loop (the default detector as the daemon builds it, the bundled emotion model, the
tracker). Every frame is checked against the truth, the first frame after each cut included.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_daemon.app import load_detector, load_refind
from edge_daemon.bench.room_scenes import FacePatch, face_patches, no_face_frames, paste
from edge_daemon.config.classifier import ClassifierConfig
from edge_daemon.config.detector import BlazeFaceConfig
from edge_daemon.config.runtime import RuntimeConfig
from edge_daemon.core.records import Box, Frame
from edge_daemon.inference.classifier import EmotionClassifier
from edge_daemon.inference.detectors import build_detector
from edge_daemon.inference.detectors.gated import ChangeGatedDetector, camera_detector
from edge_daemon.pipeline import CameraLoop
from edge_daemon.tracking import CameraTracker

SIZE = (640, 480)


def _default_camera_detector() -> ChangeGatedDetector:
    config, runtime = BlazeFaceConfig(), RuntimeConfig(threads=1)
    detector = camera_detector(load_detector(config, runtime), load_refind(config, runtime),
                               config.rescan_frames)
    assert isinstance(detector, ChangeGatedDetector)
    return detector


@pytest.fixture(scope="module")
def patches(assets) -> list[FacePatch]:
    found = face_patches(assets, build_detector("blazeface", variant="full"), per_source=1)
    by_source = {p.source: p for p in found}
    names = ("feat-test-data/single_face.jpg", "fer-test-data/justin.jpg",
             "face-recognition-test-data/obama.jpg", "face-recognition-test-data/biden.jpg",
             "feat-test-data/0-f1-su-ph.jpg")
    return [by_source[name] for name in names]


# Segments: (frames, [(patch, width, cx, cy)], "black" or None). Each starts with a hard cut.
SEGMENTS = (
    (6, [(0, 110, 200, 200)], None),
    (3, [], "black"),                                        # lights off
    (4, [(0, 110, 204, 202)], None),                         # lights on
    (6, [(1, 90, 480, 300)], None),                          # another person, elsewhere
    (6, [(0, 80, 100, 110), (1, 85, 320, 100), (2, 90, 540, 120), (3, 80, 200, 330),
         (4, 95, 450, 350)], None),                          # one face to five
    (5, [(1, 90, 330, 240)], None),                          # four leave at once
    (4, [], None),                                           # the room, empty
)


@pytest.fixture(scope="module")
def cut_video(tmp_path_factory, assets, patches) -> tuple[list[np.ndarray], list[list[Box]],
                                                          list[int]]:
    """Frames decoded from the MJPEG file, the true boxes of each, the first frame of each cut."""
    background = no_face_frames(assets, SIZE, step=30)[1]
    path = tmp_path_factory.mktemp("cuts") / "cuts.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, SIZE)
    assert writer.isOpened()
    truth, cuts = [], []
    rng = np.random.default_rng(3)
    for count, faces, kind in SEGMENTS:
        cuts.append(len(truth))
        for index in range(count):
            image = np.zeros((SIZE[1], SIZE[0], 3), np.uint8) if kind else background.copy()
            boxes = [paste(image, patches[p], width, cx + 2 * index, cy + index)
                     for p, width, cx, cy in faces]
            noise = rng.normal(0, 2.0, image.shape)
            writer.write(np.clip(image + noise, 0, 255).astype(np.uint8))
            truth.append(boxes)
    writer.release()
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    assert len(frames) == len(truth)
    return frames, truth, cuts


def test_every_frame_of_the_cut_video_has_exactly_its_faces(cut_video):
    frames, truth, cuts = cut_video
    classifier = EmotionClassifier(ClassifierConfig().model_path())
    detector = _default_camera_detector()
    loop = CameraLoop("cuts", None, detector, classifier,  # type: ignore[arg-type]
                      CameraTracker(classifier.labels), [], interval_s=0.1)
    for index, (image, boxes) in enumerate(zip(frames, truth, strict=True)):
        result = loop.process(Frame("cuts", index, 0.0, 0.0, image))
        found = [face.box for face in result.faces]
        assert len(found) == len(boxes), (
            f"frame {index} (cut at {max(c for c in cuts if c <= index)}): "
            f"{len(found)} faces published, {len(boxes)} in view")
        for box in found:
            assert max(box.iou(true) for true in boxes) >= 0.4, f"frame {index}: phantom {box}"
    # The gate did its job: not every frame was a whole-frame search.
    assert detector.stats.searches < len(frames) / 2, detector.stats
    assert detector.stats.refinds + detector.stats.reused > 0


def test_a_still_scene_reuses_its_boxes_and_a_cut_searches_at_once(cut_video):
    frames, _truth, cuts = cut_video
    detector = _default_camera_detector()
    still = frames[0]
    first = detector.detect(still)
    assert len(first) == 1 and detector.searched
    again = detector.detect(still.copy())
    assert again == first and not detector.searched and detector.stats.reused == 1
    black = frames[cuts[1]]
    assert detector.detect(black) == [] and detector.searched


def test_a_face_arriving_away_from_known_ones_is_found_on_its_first_frame(cut_video, patches):
    frames, _truth, cuts = cut_video
    detector = _default_camera_detector()
    scene = frames[cuts[3]]
    assert len(detector.detect(scene)) == 1
    arrived = scene.copy()
    paste(arrived, patches[4], 80, 120, 120)
    assert len(detector.detect(arrived)) == 2 and detector.searched


def test_a_known_face_that_moved_is_refound_near_its_last_box(cut_video):
    frames, truth, cuts = cut_video
    detector = _default_camera_detector()
    start = cuts[3]
    detector.detect(frames[start])
    moved = detector.detect(frames[start + 1])
    assert len(moved) == 1 and not detector.searched and detector.stats.refinds == 1
    assert moved[0].box.iou(truth[start + 1][0]) >= 0.5


def test_rescan_frames_one_searches_every_frame():
    config, runtime = BlazeFaceConfig(rescan_frames=1), RuntimeConfig(threads=1)
    search = load_detector(config, runtime)
    assert camera_detector(search, load_refind(config, runtime), 1) is search


def test_a_face_arriving_close_to_the_camera_is_found_by_the_coarse_canvas(cut_video, patches):
    frames, _truth, cuts = cut_video
    detector = _default_camera_detector()
    scene = frames[cuts[3]]
    assert len(detector.detect(scene)) == 1
    close = scene.copy()
    truth = paste(close, patches[2], 330, 200, 250)  # too large for the fine canvas alone
    found = detector.detect(close)
    assert detector.searched and detector.stats.near_searches == 2  # the first frame, this one
    assert any(face.box.iou(truth) >= 0.5 for face in found)


def test_periodic_searches_of_a_still_scene_run_the_coarse_canvas_one_time_in_five(cut_video):
    frames, _truth, _cuts = cut_video
    detector = _default_camera_detector()
    for _ in range(10 * 10):
        detector.detect(frames[0])
    assert detector.stats.searches == 10  # the first frame, then every 10th
    assert detector.stats.near_searches == 1 + 9 // 5

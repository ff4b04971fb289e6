"""The frames and stand-in camera the benchmark runs on, from the registry's face video."""

from __future__ import annotations

import cv2

from edge_daemon.bench.scenes import CANVAS, camera_stand_in, read_video


def test_camera_stand_in_delivers_one_frame_per_interval(assets, tmp_path):
    video = assets / "feat-test-data" / "single_face.mp4"  # 30 fps, 72 frames, 640x360
    out = camera_stand_in(video, 100, tmp_path / "camera.avi")
    capture = cv2.VideoCapture(str(out))
    try:
        assert capture.get(cv2.CAP_PROP_FPS) == 10.0
        fourcc = int(capture.get(cv2.CAP_PROP_FOURCC))
        assert fourcc.to_bytes(4, "little") == b"MJPG"
    finally:
        capture.release()
    frames, _ = read_video(out, 100)
    assert len(frames) == 24  # every third of the 72 frames
    assert {f.shape for f in frames} == {(CANVAS[1], CANVAS[0], 3)}

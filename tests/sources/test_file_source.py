"""The capture machinery on real videos: newest frame, drops, end, loop, reopen, stall."""

from __future__ import annotations

import itertools
import os
import shutil
import threading
import time
from pathlib import Path

import cv2
import pytest
from polling import wait_until

from edge_daemon.config.cameras import CameraConfig

SINGLE_FACE_FRAMES = 72  # single_face.mp4: 72 frames at 30 fps, 640 x 360


def camera(path: Path | str, **options) -> CameraConfig:
    source = {"type": "file", "path": str(path)}
    for key in ("loop", "realtime", "every_frame"):
        if key in options:
            source[key] = options.pop(key)
    return CameraConfig.model_validate({"source": source, **options})


@pytest.fixture
def single_face(assets) -> Path:
    return assets / "feat-test-data" / "single_face.mp4"


def test_a_slow_consumer_gets_the_newest_frame_and_the_rest_count_as_dropped(
    single_face, started
):
    source = started("cam", camera(single_face))
    taken, last = [], -1
    while (frame := source.latest(last, 2.0)) is not None:
        taken.append(frame.index)
        last = frame.index
        time.sleep(0.2)  # six frames of a 30 fps video go by meanwhile
    stats = source.stats
    assert source.finished
    assert stats.frames_captured == SINGLE_FACE_FRAMES
    assert taken == sorted(set(taken)) and len(taken) < SINGLE_FACE_FRAMES / 3
    gaps = [b - a for a, b in itertools.pairwise(taken)]
    assert min(gaps) >= 3  # never an old frame: always the one just captured
    untaken_last = 0 if taken[-1] == SINGLE_FACE_FRAMES - 1 else 1
    assert stats.frames_dropped == SINGLE_FACE_FRAMES - len(taken) - untaken_last


def test_a_fast_consumer_gets_every_frame_paced_like_the_camera(single_face, started):
    source = started("cam", camera(single_face))
    began = time.monotonic()
    frames, last = [], -1
    while (frame := source.latest(last, 2.0)) is not None:
        frames.append(frame)
        last = frame.index
    elapsed = time.monotonic() - began
    assert len(frames) >= SINGLE_FACE_FRAMES - 2 and source.stats.frames_dropped <= 2
    assert 1.8 < elapsed < 4.0  # 72 frames at 30 fps take 2.4 s, not a decoding sprint
    frame = frames[0]
    assert frame.image.shape == (360, 640, 3) and frame.image.dtype.name == "uint8"
    assert frame.camera == "cam" and frame.width == 640 and frame.height == 360


def test_every_frame_waits_for_a_slow_consumer_and_drops_nothing(single_face, started):
    source = started("cam", camera(single_face, realtime=False, every_frame=True,
                                   stall_timeout_s=0.5))
    taken, last = [], -1
    while (frame := source.latest(last, 5.0)) is not None:
        taken.append(frame.index)
        last = frame.index
        if len(taken) <= 3:
            time.sleep(0.8)  # longer than the stall timeout: waiting on us is no stall
        source.skip_until(time.monotonic() + 1.0)  # and no frame is skipped for it either
    assert taken == list(range(SINGLE_FACE_FRAMES))
    assert source.finished
    assert source.stats.frames_dropped == 0 and source.stats.reopen_attempts == 0


def test_latest_waits_only_for_a_newer_frame(single_face, started):
    source = started("cam", camera(single_face, realtime=False))
    assert wait_until(lambda: source.finished, 10)
    last = source.latest(-1, 1.0)
    assert last is not None and last.index == SINGLE_FACE_FRAMES - 1
    began = time.monotonic()
    assert source.latest(last.index, 0.3) is None
    assert time.monotonic() - began < 0.2  # a finished source does not make anyone wait


def test_a_looping_video_goes_on_past_its_end(single_face, started):
    source = started("cam", camera(single_face, loop=True, realtime=False))
    assert wait_until(lambda: source.stats.frames_captured > 2 * SINGLE_FACE_FRAMES, 15)
    assert not source.finished
    frame = source.latest(-1, 1.0)
    assert frame is not None and frame.index >= 2 * SINGLE_FACE_FRAMES
    assert source.stats.reopen_attempts == 0 and source.stats.connected


def test_a_missing_file_is_retried_with_backoff_and_picked_up_when_it_appears(
    single_face, started, tmp_path
):
    path = tmp_path / "later.mp4"
    source = started("cam", camera(path, reopen_backoff_s=0.05, reopen_backoff_max_s=0.2))
    assert wait_until(lambda: source.stats.reopen_attempts >= 3, 5)
    assert "no such file" in source.stats.last_error and not source.stats.connected
    assert source.latest(-1, 0.1) is None and not source.finished
    shutil.copy(single_face, path)
    frame = source.latest(-1, 5.0)
    assert frame is not None and frame.image.shape == (360, 640, 3)


def test_an_unreadable_file_is_retried_and_named(started, tmp_path):
    path = tmp_path / "garbage.mp4"
    path.write_bytes(os.urandom(50_000))
    source = started("cam", camera(path, reopen_backoff_s=0.05, reopen_backoff_max_s=0.1))
    assert wait_until(lambda: source.stats.reopen_attempts >= 2, 5)
    assert str(path) in source.stats.last_error
    assert source.stats.frames_captured == 0 and not source.finished


def test_one_failing_source_does_not_disturb_another(single_face, started, tmp_path):
    broken = started("broken", camera(tmp_path / "absent.mp4", reopen_backoff_s=0.05))
    good = started("good", camera(single_face, realtime=False))
    assert wait_until(lambda: good.finished, 10)
    assert good.stats.frames_captured == SINGLE_FACE_FRAMES
    assert wait_until(lambda: broken.stats.reopen_attempts >= 2, 5) and not broken.finished
    assert good.stats.reopen_attempts == 0


@pytest.fixture
def streamable_video(single_face, tmp_path) -> bytes:
    """single_face.mp4 re-encoded as MJPEG AVI, which FFmpeg can read from a pipe."""
    path = tmp_path / "stream.avi"
    reader = cv2.VideoCapture(str(single_face))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 360))
    while True:
        ok, image = reader.read()
        if not ok:
            break
        writer.write(image)
    writer.release()
    reader.release()
    return path.read_bytes()


def test_a_stream_that_stops_delivering_is_declared_stalled_and_reopened(
    streamable_video, started, tmp_path
):
    fifo = tmp_path / "camera.avi"
    os.mkfifo(fifo)
    writer_holder: list = []

    def feed_half_then_hang() -> None:
        pipe = open(fifo, "wb")  # noqa: SIM115 - held open on purpose: the stream "hangs"
        writer_holder.append(pipe)
        try:
            pipe.write(streamable_video[: len(streamable_video) // 2])
            pipe.flush()
        except BrokenPipeError:
            pass

    feeder = threading.Thread(target=feed_half_then_hang, daemon=True)
    feeder.start()
    source = started("cam", camera(fifo, realtime=False, stall_timeout_s=1.0,
                                   reopen_backoff_s=0.1))
    assert wait_until(lambda: source.stats.frames_captured > 5, 5)
    assert wait_until(lambda: source.stats.reopen_attempts >= 1, 5)
    assert "stalled: no frame for 1 s" in source.stats.last_error
    source.stop()
    for pipe in writer_holder:  # the end of the stream releases the readers stuck in it
        pipe.close()
    unblock = os.open(fifo, os.O_RDWR)  # a reader blocked in open() needs a writer to return
    os.close(unblock)
    assert wait_until(lambda: source.stuck_threads == 0, 5)


def test_the_path_is_followed_a_deleted_file_stops_and_a_new_one_is_picked_up(
    assets, single_face, started, tmp_path
):
    path = tmp_path / "camera.mp4"
    shutil.copy(single_face, path)
    source = started("cam", camera(path, loop=True, reopen_backoff_s=0.05,
                                   reopen_backoff_max_s=0.2))
    frame = source.latest(-1, 5.0)
    assert frame is not None and frame.image.shape == (360, 640, 3)
    path.unlink()  # the open file would play on from its inode
    assert wait_until(lambda: not source.stats.connected, 10), source.stats
    assert wait_until(lambda: "no such file" in (source.stats.last_error or ""), 10)
    last = source.latest(-1, 0.1)
    stopped_at = last.index if last is not None else -1
    shutil.copy(assets / "fer-test-data" / "test.mp4", path)  # another video, 596 x 336
    assert wait_until(lambda: (f := source.latest(stopped_at, 0.1)) is not None
                      and f.image.shape == (336, 596, 3), 10)
    # Replaced in place (a new inode at the same path) while it plays: followed too.
    replacement = tmp_path / "next.mp4"
    shutil.copy(single_face, replacement)
    os.replace(replacement, path)
    assert wait_until(lambda: (f := source.latest(-1, 0.1)) is not None
                      and f.image.shape == (360, 640, 3), 10)

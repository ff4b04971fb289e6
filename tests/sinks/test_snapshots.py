"""Image sampling with real frames, the bundled models, real JPEGs and real file systems.

The full-disk and read-only cases mount a small tmpfs and a read-only bind mount (CI runs as
root); they are skipped, saying why, where mounting is not permitted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import stat
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
from collecting_sink import CollectingSink
from polling import wait_until

from edge_daemon.config.cameras import CameraConfig
from edge_daemon.config.classifier import ClassifierConfig
from edge_daemon.config.snapshots import SnapshotsConfig
from edge_daemon.core.records import Box, FaceResult, Frame, FrameResult
from edge_daemon.inference.classifier import EmotionClassifier
from edge_daemon.inference.crop import crop_box
from edge_daemon.inference.detectors import build_detector
from edge_daemon.pipeline import CameraLoop
from edge_daemon.sinks.snapshots import sink as snapshots_module
from edge_daemon.sinks.snapshots.sink import SnapshotSink
from edge_daemon.sources.registry import build_source
from edge_daemon.tracking import CameraTracker

NAME = re.compile(r"^(\d{8}T\d{6}\.\d{3}Z)_([A-Za-z0-9_-]+)_([a-z]+)(-\d+)?"
                  r"(_face\d+\.jpg|_frame\.jpg|\.json)$")


@pytest.fixture(scope="module")
def classifier() -> EmotionClassifier:
    return EmotionClassifier(ClassifierConfig().model_path())


@pytest.fixture(scope="module")
def detector():
    return build_detector("blazeface", variant="full")


def frame_of(image: np.ndarray, camera: str = "cam", index: int = 0,
             timestamp: float | None = None) -> Frame:
    image = image.copy()
    image.flags.writeable = False  # as the sources hand them over
    return Frame(camera, index, time.time() if timestamp is None else timestamp,
                 time.monotonic(), image)


def processed(classifier, detector, image, camera="cam", index=0, timestamp=None):
    """(result, frame) of one image through the real detector, classifier and tracker."""
    loop = CameraLoop(camera, None, detector, classifier, CameraTracker(classifier.labels), [],
                      interval_s=0.0)
    frame = frame_of(image, camera, index, timestamp)
    return loop.process(frame), frame


def make_sink(classifier, directory: Path, **options) -> SnapshotSink:
    config = SnapshotsConfig(enabled=True, directory=directory, **options)
    return SnapshotSink(config, classifier.preprocessor)


def samples(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.json"))


@pytest.fixture
def face_image(assets) -> np.ndarray:
    return cv2.imread(str(assets / "feat-test-data" / "single_face.jpg"))


@pytest.fixture
def group_image(assets) -> np.ndarray:
    return cv2.imread(str(assets / "feat-test-data" / "multi_face.jpg"))


# --------------------------------------------------------------------------- what is saved
def test_one_sample_per_camera_per_interval_only_with_faces(
        classifier, detector, face_image, assets, tmp_path):
    empty = cv2.imread(str(assets / "fer-test-data" / "no-faces.jpg"))
    sink = make_sink(classifier, tmp_path / "snaps", interval_s=0.6)
    sink.start()
    faceless, faceless_frame = processed(classifier, detector, empty, "a")
    assert not faceless.faces
    sink.publish(faceless, faceless_frame)  # no face: never a sample, no interval started
    started = time.monotonic()
    while time.monotonic() - started < 1.0:  # ~50 frames a second for one second
        for camera in ("a", "b"):
            sink.publish(*processed(classifier, detector, face_image, camera))
        time.sleep(0.02)
    sink.stop(5)
    names = samples(tmp_path / "snaps")
    per_camera = {c: sum(1 for n in names if NAME.match(n)[2] == c) for c in ("a", "b")}
    assert per_camera == {"a": 2, "b": 2}  # at 0 and 0.6 s
    assert sink.stats.saved == {"a": 2, "b": 2} and not sink.stats.failed


def test_names_sidecar_and_face_crops_follow_the_models_crop_rule(
        classifier, detector, group_image, tmp_path):
    result, frame = processed(classifier, detector, group_image, "lobby", index=7)
    assert len(result.faces) == 5
    sink = make_sink(classifier, tmp_path, save=("face", "frame"))
    sink.start()
    sink.publish(result, frame)
    sink.stop(5)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 5 + 1 + 1  # five crops, the frame, the sidecar
    match = NAME.match(files[0])
    assert match and all(NAME.match(f) for f in files)
    when = datetime.fromtimestamp(frame.timestamp, timezone.utc)
    assert match[1] == when.strftime("%Y%m%dT%H%M%S.") + f"{when.microsecond // 1000:03d}Z"
    assert match[2] == "lobby"
    assert match[3] == (result.camera_emotion or result.primary.emotion)

    sidecar = json.loads((tmp_path / next(f for f in files if f.endswith(".json"))).read_text())
    meta = classifier.meta
    assert sidecar["camera"] == "lobby" and sidecar["frame_index"] == 7
    assert sidecar["labels"] == list(classifier.labels)
    assert sidecar["model"]["name"] == meta.name
    assert sidecar["epoch"] == frame.timestamp
    assert (tmp_path / sidecar["frame_image"]).exists()
    frame_jpeg = cv2.imread(str(tmp_path / sidecar["frame_image"]))
    assert frame_jpeg.shape == frame.image.shape
    for face, saved in zip(result.faces, sidecar["faces"], strict=True):
        assert saved["track_id"] == face.track_id and saved["emotion"] == face.emotion
        assert list(saved["raw"]) == list(classifier.labels)
        assert np.allclose(list(saved["raw"].values()), face.raw, atol=1e-5)
        assert np.allclose(list(saved["smoothed"].values()), face.smoothed, atol=1e-5)
        assert saved["box"] == {"x1": face.box.x1, "y1": face.box.y1,
                                "x2": face.box.x2, "y2": face.box.y2}
        x1, y1, x2, y2 = crop_box(face.box, meta.crop, frame.width, frame.height)
        assert saved["crop"] == {"x1": x1, "y1": y1, "x2": x2, "y2": y2}
        crop = cv2.imread(str(tmp_path / saved["image"]))
        assert crop.shape == (y2 - y1, x2 - x1, 3)  # the region the model saw, unresized
        expected = frame.image[y1:y2, x1:x2].astype(float)
        assert np.abs(crop.astype(float) - expected).mean() < 6  # same pixels, up to JPEG


def test_a_repeated_time_never_overwrites(classifier, detector, face_image, tmp_path):
    sink = make_sink(classifier, tmp_path, interval_s=0.01)
    sink.start()
    moment = time.time()
    for _ in range(3):  # the same capture time three times (a clock stepped back)
        sink.publish(*processed(classifier, detector, face_image, timestamp=moment))
        time.sleep(0.05)
    sink.stop(5)
    names = samples(tmp_path)
    assert len(names) == 3
    assert {NAME.match(n)[4] for n in names} == {None, "-1", "-2"}


def test_directory_0700_and_files_0600_whatever_the_umask(
        classifier, detector, face_image, tmp_path):
    directory = tmp_path / "state" / "snapshots"
    previous = os.umask(0)
    try:
        sink = make_sink(classifier, directory, save=("face", "frame"))
        sink.start()
        sink.publish(*processed(classifier, detector, face_image))
        sink.stop(5)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = list(directory.iterdir())
    assert len(files) == 3
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}


def test_an_existing_open_directory_is_used_with_a_warning(
        classifier, detector, face_image, tmp_path, caplog):
    tmp_path.chmod(0o755)
    sink = make_sink(classifier, tmp_path)
    with caplog.at_level(logging.WARNING, logger="edge_daemon.sinks"):
        sink.start()
        sink.publish(*processed(classifier, detector, face_image))
        sink.stop(5)
    assert len(samples(tmp_path)) == 1
    assert any("open to other users" in r.getMessage() for r in caplog.records)


def test_colours_survive_the_round_trip(classifier, tmp_path):
    # A known-colour frame: top half red, bottom half blue (BGR order, as frames are).
    image = np.zeros((240, 320, 3), np.uint8)
    image[:120] = (0, 0, 255)
    image[120:] = (255, 0, 0)
    labels = classifier.labels
    probabilities = tuple(1.0 if i == 0 else 0.0 for i in range(len(labels)))
    face = FaceResult(1, Box(140, 40, 180, 80), 0.9, probabilities, probabilities, labels[0])
    frame = frame_of(image)
    result = FrameResult("cam", 0, frame.timestamp, 320, 240, labels, (face,), labels[0])
    sink = make_sink(classifier, tmp_path, save=("face", "frame"))
    sink.start()
    sink.publish(result, frame)
    sink.stop(5)
    crop = cv2.imread(str(next(tmp_path.glob("*_face0.jpg"))))
    saved = cv2.imread(str(next(tmp_path.glob("*_frame.jpg"))))
    b, g, r = crop.reshape(-1, 3).mean(axis=0)
    assert r > 240 and b < 15 and g < 15  # red stays red
    b, g, r = saved[200:230, 20:100].reshape(-1, 3).mean(axis=0)
    assert b > 240 and r < 15  # blue stays blue
    assert saved[150:230, 200:300].reshape(-1, 3).mean(axis=0)[0] > 240  # no box drawn there


def test_publish_never_waits_for_the_disk_it_drops_and_counts(
        classifier, detector, face_image, tmp_path):
    sink = make_sink(classifier, tmp_path, interval_s=0.001)  # saver not started: never drains
    result, frame = processed(classifier, detector, face_image)
    spent = []
    for _ in range(20):
        time.sleep(0.002)
        began = time.perf_counter()
        sink.publish(result, frame)
        spent.append(time.perf_counter() - began)
    assert sink.stats.dropped["cam"] == 20 - snapshots_module.QUEUE_SIZE
    assert max(spent) < 0.005


# --------------------------------------------------------------------------- retention
def _old_sample(directory: Path, key: str, age_days: float, size: int = 1000) -> None:
    when = time.time() - age_days * 86400
    for suffix in ("_face0.jpg", ".json"):
        path = directory / (key + suffix)
        path.write_bytes(b"x" * size)
        os.utime(path, (when, when))


def test_retention_by_age_at_start_and_while_running(
        classifier, detector, face_image, tmp_path, monkeypatch):
    monkeypatch.setattr(snapshots_module, "RETENTION_CHECK_S", 0.2)
    monkeypatch.setattr(snapshots_module, "RESCAN_EVERY", 1)  # sees the utime() below
    _old_sample(tmp_path, "20200101T000000.000Z_cam_happy", age_days=40)
    _old_sample(tmp_path, "20200102T000000.000Z_cam_sad", age_days=31)
    _old_sample(tmp_path, "20200103T000000.000Z_cam_sad", age_days=2)
    notes = tmp_path / "notes.txt"  # not ours: never touched
    notes.write_text("keep me")
    os.utime(notes, (0, 0))
    stale = tmp_path / ".20200104T000000.000Z_cam_sad.json.k2j4.tmp"  # a crash's leftover
    stale.write_text("{")
    sink = make_sink(classifier, tmp_path, max_age_days=30)
    sink.start()
    assert wait_until(lambda: sink.stats.deleted.get("age") == 2)
    assert samples(tmp_path) == ["20200103T000000.000Z_cam_sad.json"]
    assert notes.exists() and not stale.exists()
    # While running: a sample that ages past the limit goes at the next periodic check.
    sink.publish(*processed(classifier, detector, face_image))
    assert wait_until(lambda: len(samples(tmp_path)) == 2)
    for path in tmp_path.glob("2020*"):
        os.utime(path, (time.time() - 31 * 86400,) * 2)
    assert wait_until(lambda: sink.stats.deleted.get("age") == 3, timeout=3)
    sink.stop(5)
    assert len(samples(tmp_path)) == 1 and sink.stats.stored_samples == 1


def test_retention_by_total_size_keeps_the_newest(classifier, detector, face_image, tmp_path):
    sink = make_sink(classifier, tmp_path, interval_s=0.01, save=("face", "frame"),
                     max_total_mb=0.12)
    sink.start()

    def on_disk() -> int:
        total = 0
        for path in tmp_path.iterdir():  # the retention thread may delete one meanwhile
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    for i in range(8):
        sink.publish(*processed(classifier, detector, face_image, index=i))
        assert wait_until(lambda i=i: sum(sink.stats.saved.values()) == i + 1)
        assert wait_until(lambda: on_disk() <= 120_000)  # enforced right after each save
        time.sleep(0.02)
    sink.stop(5)
    kept = samples(tmp_path)
    assert 1 <= len(kept) < 8 and sink.stats.deleted["size"] == 8 - len(kept)
    sidecars = [json.loads((tmp_path / k).read_text())["frame_index"] for k in kept]
    assert sidecars == list(range(8 - len(kept), 8))  # the oldest went first
    assert sink.stats.stored_bytes == sum(p.stat().st_size for p in tmp_path.iterdir())


# --------------------------------------------------------------------------- broken disks
def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mount {' '.join(args)} not permitted here: {done.stderr.strip()}")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


class RunningCamera:
    """A real file camera, loop, snapshot sink and a collecting sink."""

    def __init__(self, assets, classifier, detector, sink: SnapshotSink) -> None:
        camera = CameraConfig.model_validate({"source": {
            "type": "file", "path": str(assets / "feat-test-data" / "single_face.mp4"),
            "loop": True}, "interval_ms": 0})
        self.source = build_source("cam", camera)
        self.collected = CollectingSink()
        self.sink = sink
        self.loop = CameraLoop("cam", self.source, detector, classifier,
                               CameraTracker(classifier.labels), [sink, self.collected],
                               interval_s=0.0)

    def __enter__(self) -> RunningCamera:
        self.sink.start()
        self.source.start()
        self.loop.start()
        return self

    def __exit__(self, *exc) -> None:
        self.loop.stop(5)
        self.source.stop()
        self.sink.stop(5)


def _check_outage_and_recovery(camera: RunningCamera, caplog, heal) -> None:
    sink = camera.sink
    assert wait_until(lambda: sink.stats.failed.get("cam", 0) >= 3, timeout=10)
    before = len(camera.collected.results)
    # The pipeline keeps publishing while the disk fails.
    assert wait_until(lambda: len(camera.collected.results) > before + 5, timeout=30)
    assert not sink.stats.saved and sink.stats.failing
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]  # once, not per sample
    heal()
    assert wait_until(lambda: sink.stats.saved.get("cam", 0) >= 2, timeout=10)
    assert not sink.stats.failing
    recovered = [r for r in caplog.records if "works again" in r.getMessage()]
    assert len(recovered) == 1
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


def test_a_full_disk_is_logged_once_counted_and_recovered(
        assets, classifier, detector, tmp_path, caplog):
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    _mount("-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mount_point))
    try:
        filler = mount_point / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:  # fill it up completely
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        sink = make_sink(classifier, mount_point / "snaps", interval_s=0.2)
        with caplog.at_level(logging.INFO, logger="edge_daemon.sinks"), \
                RunningCamera(assets, classifier, detector, sink) as camera:
            _check_outage_and_recovery(camera, caplog, heal=filler.unlink)
        assert "No space left on device" in sink.stats.last_error
        assert not list(mount_point.glob("snaps/.*.tmp"))  # no half-written leftovers
    finally:
        _umount(mount_point)


def test_a_read_only_directory_is_logged_once_counted_and_recovered(
        assets, classifier, detector, tmp_path, caplog):
    directory = tmp_path / "snaps"
    directory.mkdir(mode=0o700)
    _mount("--bind", str(directory), str(directory))
    try:
        _mount("-o", "remount,bind,ro", str(directory))
        sink = make_sink(classifier, directory, interval_s=0.2)
        with caplog.at_level(logging.INFO, logger="edge_daemon.sinks"), \
                RunningCamera(assets, classifier, detector, sink) as camera:
            _check_outage_and_recovery(
                camera, caplog, heal=lambda: _mount("-o", "remount,bind,rw", str(directory)))
        assert "Read-only file system" in sink.stats.last_error
    finally:
        _umount(directory)


# --------------------------------------------------------------------------- IMAGES_DIR
def test_images_dir_in_the_environment_turns_saving_on(assets, daemon_factory, tmp_path):
    images = tmp_path / "images"
    daemon = daemon_factory({
        "cameras": {"cam": {"source": {"type": "file", "loop": False,
                                       "path": str(assets / "feat-test-data" /
                                                   "single_face.mp4")}}},
        "mqtt": {"enabled": False},
        "metrics": {"enabled": False},
        "snapshots": {"interval_s": 0.5},
    }, env={"IMAGES_DIR": str(images)})
    assert daemon.wait(timeout=60) == 0, daemon.stderr()  # the 2.4 s video ended
    names = samples(images)
    assert len(names) >= 3 and all(NAME.match(n)[2] == "cam" for n in names)
    assert stat.S_IMODE(images.stat().st_mode) == 0o700
    assert "snapshots.enabled set from environment variable IMAGES_DIR" in daemon.stderr()


def test_a_regular_file_in_the_directorys_place_is_left_alone_logged_once_and_recovered(
        assets, classifier, detector, tmp_path, caplog):
    path = tmp_path / "snaps"
    path.write_bytes(b"the user's own file")
    path.chmod(0o644)
    sink = make_sink(classifier, path, interval_s=0.2)
    modes = []

    def heal() -> None:
        modes.append(stat.S_IMODE(path.stat().st_mode))
        path.unlink()
        path.mkdir(mode=0o700)

    with caplog.at_level(logging.INFO, logger="edge_daemon.sinks"), \
            RunningCamera(assets, classifier, detector, sink) as camera:
        _check_outage_and_recovery(camera, caplog, heal=heal)
    assert modes == [0o644]  # never chmodded while it was the user's file
    assert "not a directory" in sink.stats.last_error
    assert not [r for r in caplog.records if "created" in r.getMessage()]

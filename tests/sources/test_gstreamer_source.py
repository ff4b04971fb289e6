"""GStreamer pipelines through PyGObject's appsink, on real pipelines: test sources, a face
video through decodebin, a real RTSP server that goes away and comes back, and bad pipelines.

Needs the distribution's gi linked into the venv (tools/test.sh does it); skipped where this
Python has no gi (the other-Python runs of .ci/run, whose system gi is built for 3.11).
"""

from __future__ import annotations

import importlib.util
import logging
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from polling import wait_until

from edge_daemon.config.cameras import CameraConfig
from edge_daemon.mosquitto import free_port, wait_listening
from edge_daemon.sources.capture import SourceUnavailableError
from edge_daemon.sources.registry import build_source

pytestmark = pytest.mark.skipif(importlib.util.find_spec("gi") is None,
                                reason="PyGObject (gi) is not importable in this Python")

RTSP_SERVER = Path(__file__).resolve().parent.parent / "rtsp_server.py"
RED_BGR = [0, 0, 255]


def camera(pipeline: str, **options) -> CameraConfig:
    return CameraConfig.model_validate(
        {"source": {"type": "gstreamer", "pipeline": pipeline}, **options})


def test_a_live_test_source_gives_bgr_frames_and_a_slow_reader_gets_the_newest(started):
    # 333 px: rows of 999 bytes, padded to 1000 by GStreamer, must not shear the image.
    source = started("test", camera(
        "videotestsrc is-live=true pattern=red ! "
        "video/x-raw,width=333,height=200,framerate=30/1 ! videoconvert ! appsink"))
    first = source.latest(-1, 10.0)
    assert first is not None, source.stats.last_error
    assert first.image.shape == (200, 333, 3) and first.image.dtype == np.uint8
    assert (first.image == RED_BGR).all()  # BGR order, every row aligned
    assert wait_until(lambda: source.stats.frames_captured >= first.index + 10, 5)
    newest = source.latest(first.index, 2.0)
    assert newest is not None and newest.index >= first.index + 9
    assert source.stats.frames_dropped >= 8  # the frames nobody took in between
    assert source.stats.connected and source.stats.reopen_attempts == 0


@pytest.mark.parametrize("caps", ["format=RGBx,width=321,height=50",
                                  "format=RGB,width=321,height=50",
                                  "format=GRAY8,width=321,height=50"])
def test_caps_the_pipeline_gives_its_appsink_are_converted_to_bgr(started, caps):
    source = started("caps", camera(
        f"videotestsrc pattern=red ! videoconvert ! video/x-raw,{caps} ! appsink"))
    frame = source.latest(-1, 10.0)
    assert frame is not None, source.stats.last_error
    assert frame.image.shape == (50, 321, 3)
    if "GRAY8" in caps:
        gray = frame.image[0, 0]
        assert gray[0] == gray[1] == gray[2] > 0
    else:
        assert (frame.image == RED_BGR).all()


def test_a_face_video_through_decodebin_gives_faces_over_mqtt(
    assets, mosquitto, mqtt_recorder, daemon_factory
):
    video = assets / "feat-test-data" / "single_face.mp4"
    recorder = mqtt_recorder(mosquitto.host, mosquitto.port, ["gst/#"])
    daemon = daemon_factory({
        "cameras": {"gst": {
            "source": {"type": "gstreamer",
                       "pipeline": f"filesrc location={video} ! decodebin ! videoconvert ! "
                                   f"appsink"},
            "interval_ms": 0}},
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "topic_prefix": "gst",
                 "homeassistant": {"enabled": False}},
    })
    with_faces = recorder.wait_for(
        lambda m: m.topic == "gst/gst/results" and len(m.json()["faces"]) == 1, timeout=60,
        what="a result with the face")
    result = with_faces.json()
    assert (result["width"], result["height"]) == (640, 360)
    assert result["faces"][0]["score"] > 0.5
    assert "streaming from GStreamer pipeline filesrc" in daemon.stderr()
    assert "Traceback" not in daemon.stderr()


class RtspServer:
    """tests/rtsp_server.py on a fixed loopback port, stoppable and restartable."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/cam"
        self.process: subprocess.Popen | None = None

    def start(self) -> RtspServer:
        launch = ("videotestsrc is-live=true pattern=red ! "
                  "video/x-raw,format=I420,width=320,height=240,framerate=15/1 ! jpegenc ! "
                  "rtpjpegpay name=pay0 pt=26")
        self.process = subprocess.Popen([sys.executable, str(RTSP_SERVER), str(self.port), launch],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not wait_listening(self.process, "127.0.0.1", self.port, 30):
            raise RuntimeError(f"the RTSP server did not start: {self.process.stderr.read()}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def rtsp_server():
    server = RtspServer()
    yield server.start()
    server.stop()


def test_rtsp_from_a_real_server_that_goes_away_and_comes_back(
    rtsp_server, started, caplog
):
    caplog.set_level(logging.INFO, logger="edge_daemon.sources.capture")
    source = started("door", camera(
        f"rtspsrc location={rtsp_server.url} protocols=tcp latency=0 ! rtpjpegdepay ! "
        f"jpegdec ! videoconvert ! appsink",
        stall_timeout_s=3.0, reopen_backoff_s=0.2, reopen_backoff_max_s=0.5))
    first = source.latest(-1, 30.0)
    assert first is not None, source.stats.last_error
    assert first.image.shape == (240, 320, 3)
    assert np.abs(first.image.astype(int) - RED_BGR).max() < 40  # JPEG is close, not exact

    rtsp_server.stop()
    assert wait_until(lambda: source.stats.reopen_attempts >= 2, 30), source.stats.last_error
    assert not source.stats.connected
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(failures) >= 1
    assert all("\n" not in line for line in failures)
    assert "camera door: GStreamer pipeline rtspsrc" in failures[0]

    rtsp_server.start()
    seen = source.stats.frames_captured
    assert wait_until(lambda: source.stats.frames_captured > seen + 5, 60), (
        source.stats.last_error)
    assert source.stats.connected
    assert any("streaming again" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("pipeline", "says"), [
    ("videotestsrc ! nosuchelement ! appsink", 'no element "nosuchelement"'),
    ("videotestsrc ! videoconvert ! fakesink name=appsink", "ends in 'fakesink', not an appsink"),
    ("videotestsrc ! video/x-raw,format=BGR ! audioconvert ! appsink", "could not link"),
])
def test_a_bad_pipeline_is_one_line_at_start_not_a_retry(pipeline, says):
    with pytest.raises(SourceUnavailableError) as raised:
        build_source("bad", camera(pipeline))
    line = str(raised.value)
    assert says in line and "\n" not in line
    if "no element" in says:
        assert "plugin" in line  # a missing plugin reads the same: say so


def test_check_config_and_the_daemon_name_a_bad_pipeline_and_run_the_other_camera(
    assets, tmp_path, mosquitto, mqtt_recorder, daemon_factory
):
    config = {
        "cameras": {
            "good": {"source": {"type": "file", "loop": True,
                                "path": str(assets / "feat-test-data" / "single_face.mp4")},
                     "interval_ms": 0},
            "csi": {"source": {"type": "gstreamer",
                               "pipeline": "nvarguscamerasrc ! nvvidconv ! appsink"}},
        },
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "topic_prefix": "mixed",
                 "homeassistant": {"enabled": False}},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    checked = subprocess.run([sys.executable, "-m", "edge_daemon", "check-config", "--config",
                              str(path)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 1
    errors = checked.stderr.strip().splitlines()
    assert errors == [f'{path}: camera csi: GStreamer pipeline: no element "nvarguscamerasrc" '
                      f"(a misspelt element, or its plugin package is not installed: "
                      f"`gst-inspect-1.0 NAME` tells which)"]

    recorder = mqtt_recorder(mosquitto.host, mosquitto.port, ["mixed/#"])
    daemon = daemon_factory(config)
    recorder.wait_for(lambda m: m.topic == "mixed/good/results", timeout=60,
                      what="a result of the good camera")
    log = daemon.stderr()
    lines = [line for line in log.splitlines() if "nvarguscamerasrc" in line]
    assert len(lines) == 1 and "camera csi" in lines[0] and "skipped" in lines[0]
    assert "Traceback" not in log


def test_a_frozen_rtsp_server_is_a_stall_and_the_stream_comes_back_when_it_thaws(
    rtsp_server, started
):
    # SIGSTOP: the TCP connection stays up and nothing arrives, no error, no end of stream.
    source = started("frozen", camera(
        f"rtspsrc location={rtsp_server.url} protocols=tcp latency=0 ! rtpjpegdepay ! "
        f"jpegdec ! videoconvert ! appsink",
        stall_timeout_s=2.0, reopen_backoff_s=0.2, reopen_backoff_max_s=0.5))
    assert source.latest(-1, 30.0) is not None, source.stats.last_error
    rtsp_server.process.send_signal(signal.SIGSTOP)
    try:
        assert wait_until(lambda: source.stats.reopen_attempts >= 1, 30)
        assert "no frame for 2 s" in source.stats.last_error or "stalled" in (
            source.stats.last_error)
        assert not source.stats.connected
    finally:
        rtsp_server.process.send_signal(signal.SIGCONT)
    seen = source.stats.frames_captured
    assert wait_until(lambda: source.stats.frames_captured > seen + 5, 60), (
        source.stats.last_error)
    assert source.stuck_threads <= 1  # an attempt stuck in rtspsrc is left, not piled up

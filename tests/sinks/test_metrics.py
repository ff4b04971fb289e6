"""The Prometheus endpoint of a running daemon (real video, bundled models, real mosquitto),
scraped over HTTP and parsed with prometheus-client's own parser."""

from __future__ import annotations

import logging
import signal
import socket
import time
import urllib.request

import pytest
import yaml
from polling import wait_until
from prometheus_client.parser import text_string_to_metric_families

from edge_daemon import __version__
from edge_daemon.config.classifier import ClassifierConfig
from edge_daemon.config.metrics import MetricsConfig
from edge_daemon.inference.classifier import EmotionClassifier
from edge_daemon.inference.detectors import build_detector
from edge_daemon.mosquitto import free_port
from edge_daemon.pipeline import CameraLoop
from edge_daemon.sinks.metrics import sink as metrics_module
from edge_daemon.sinks.metrics.sink import LATENCY_BUCKETS, MetricsSink
from edge_daemon.tracking import CameraTracker

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# Labels whose values grow without bound (a new series per face or per frame).
HIGH_CARDINALITY = {"track_id", "track", "id", "face", "frame", "frame_index", "index",
                    "timestamp", "time", "epoch", "path", "file"}


def scrape(port: int) -> tuple[dict, str]:
    """{family name: family} and the raw text of one scrape of /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}, text


def value(families: dict, sample_name: str, **labels) -> float:
    """The one sample of that name whose labels include these."""
    for family in families.values():
        for sample in family.samples:
            if sample.name == sample_name and labels.items() <= sample.labels.items():
                return sample.value
    raise AssertionError(f"no sample {sample_name}{labels}")


def wait_for_scrape(port: int, predicate, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            families, _ = scrape(port)
            if predicate(families):
                return families
        except (OSError, AssertionError) as exc:
            last_error = exc
        time.sleep(0.2)
    raise AssertionError(f"/metrics never showed what was expected: {last_error}")


def daemon_config(assets, mosquitto, port: int, camera: str = "front") -> dict:
    return {
        "cameras": {camera: {"source": {
            "type": "file", "path": str(assets / "feat-test-data" / "single_face.mp4"),
            "loop": True}, "interval_ms": 0}},
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "topic_prefix": "ee-metrics",
                 "client_id": f"ee-metrics-{port}", "homeassistant": {"enabled": False}},
        "metrics": {"port": port},
    }


@pytest.fixture
def running(assets, mosquitto, daemon_factory):
    """(daemon, port) of a daemon that has processed frames."""
    port = free_port()
    daemon = daemon_factory(daemon_config(assets, mosquitto, port))
    wait_for_scrape(port, lambda f: value(f, "emotion_edge_frames_processed_total") > 5)
    return daemon, port


def test_counters_move_as_a_face_video_is_processed(running):
    daemon, port = running
    first, _ = scrape(port)
    cam = {"camera": "front"}
    names = ("emotion_edge_frames_captured_total", "emotion_edge_frames_processed_total",
             "emotion_edge_faces_detected_total", "emotion_edge_mqtt_messages_published_total")

    def moved() -> dict | None:
        second, _ = scrape(port)
        return second if all(value(second, n) > value(first, n) for n in names) else None

    assert wait_until(moved, timeout=30), [(n, value(first, n)) for n in names]
    second, _ = scrape(port)  # counters only grow: a later scrape has moved too
    for stage in ("capture_wait", "detection", "classification", "tracking"):
        count = "emotion_edge_stage_duration_seconds_count"
        assert value(second, count, stage=stage, **cam) > value(first, count, stage=stage)
    count = "emotion_edge_frame_to_publish_seconds_count"
    assert value(second, count, **cam) > value(first, count, **cam)

    results = [s for s in second["emotion_edge_face_results"].samples
               if s.name.endswith("_total")]
    assert {s.labels["emotion"] for s in results} == set(LABELS)  # zeros included
    classified = sum(s.value for s in results)
    assert classified == value(second, "emotion_edge_faces_detected_total", **cam)

    dominant = {s.labels["emotion"]: s.value
                for s in second["emotion_edge_dominant_emotion"].samples}
    assert set(dominant) == {*LABELS, "none"}
    assert sorted(dominant.values()) == [0.0] * len(LABELS) + [1.0]  # exactly one is current
    assert dominant["none"] == 0.0  # the video shows a face all along

    assert 3 < value(second, "emotion_edge_processing_frames_per_second", **cam) < 40
    assert value(second, "emotion_edge_faces_in_view", **cam) == 1
    assert abs(value(second, "emotion_edge_last_processed_timestamp_seconds", **cam)
               - time.time()) < 3
    assert value(second, "emotion_edge_mqtt_connected") == 1
    assert value(second, "emotion_edge_camera_connected", **cam) == 1
    assert value(second, "emotion_edge_frames_dropped_total", reason="failed", **cam) == 0

    info = next(s for f in second.values() for s in f.samples
                if s.name == "emotion_edge_build_info")
    meta = EmotionClassifier(ClassifierConfig().model_path()).meta
    assert info.name == "emotion_edge_build_info" and info.value == 1
    assert info.labels == {"version": __version__, "model": meta.name,
                           "model_arch": meta.arch, "labels": ",".join(meta.labels),
                           "quantization": meta.quantization,
                           "provider": "CPUExecutionProvider", "detector": "blazeface"}
    assert value(second, "process_resident_memory_bytes") > 50e6
    assert value(second, "process_cpu_seconds_total") > 0
    assert "Traceback" not in daemon.stderr()


def test_names_types_units_and_labels_follow_the_conventions(running):
    _, port = running
    families, text = scrape(port)
    ours = [f for f in families.values() if f.name.startswith("emotion_edge_")]
    others = [f for f in families.values() if not f.name.startswith("emotion_edge_")]
    assert len(ours) >= 20
    assert all(f.name.startswith(("process_", "python_")) for f in others), \
        [f.name for f in others]  # besides ours, only prometheus-client's collectors
    for family in ours:
        assert family.documentation, family.name
        for sample in family.samples:
            assert not HIGH_CARDINALITY & set(sample.labels), (sample.name, sample.labels)
            if family.type == "counter":
                assert sample.name.endswith("_total"), sample.name
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
        if family.type != "counter":
            assert not family.name.endswith("_total"), family.name
        assert not any(unit in family.name for unit in ("_ms", "milli", "_kb", "_mb")), \
            family.name
        series = {tuple(sorted(s.labels.items())) for s in family.samples}
        assert len(series) <= 150, family.name  # per camera and stage, never per face
    assert "_created" not in text  # no doubled series for counters and histograms
    assert len(text) < 40_000


def test_stage_histograms_use_buckets_made_for_inference(running):
    _, port = running
    families, _ = scrape(port)
    buckets = [s for s in families["emotion_edge_stage_duration_seconds"].samples
               if s.name.endswith("_bucket") and s.labels["stage"] == "detection"]
    bounds = [float(s.labels["le"]) for s in buckets]
    assert bounds == [*LATENCY_BUCKETS, float("inf")]
    assert bounds[0] == 0.0005 and bounds[-2] == 2.0
    counts = [s.value for s in buckets]
    assert counts == sorted(counts) and counts[-1] > 0
    assert counts[0] < counts[-1]  # detection does not all take under half a millisecond


def test_a_reload_that_renames_the_camera_moves_the_series(
        assets, mosquitto, daemon_factory):
    port = free_port()
    config = daemon_config(assets, mosquitto, port, camera="before")
    daemon = daemon_factory(config)
    wait_for_scrape(port, lambda f: value(f, "emotion_edge_frames_processed_total") > 3)
    renamed = daemon_config(assets, mosquitto, port, camera="after")
    renamed["websocket"] = config["websocket"]  # only the camera changes
    daemon.config_path.write_text(yaml.safe_dump(renamed))
    daemon.process.send_signal(signal.SIGHUP)
    families = wait_for_scrape(port, lambda f: value(
        f, "emotion_edge_frames_processed_total", camera="after") > 3)
    cameras = {s.labels.get("camera") for f in families.values() for s in f.samples
               if f.name.startswith("emotion_edge_")}
    assert cameras == {None, "after"}  # nothing left of the camera that is gone
    assert "MQTT connection kept" in daemon.stderr()


def test_a_taken_port_is_logged_once_and_bound_when_it_is_free(monkeypatch, caplog):
    monkeypatch.setattr(metrics_module, "BIND_RETRY_MIN_S", 0.2)
    monkeypatch.setattr(metrics_module, "BIND_RETRY_MAX_S", 0.2)
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    sink = MetricsSink(MetricsConfig(port=port))
    with caplog.at_level(logging.INFO, logger="edge_daemon.sinks.metrics"):
        sink.start()
        time.sleep(0.7)  # three retries
        assert not sink.serving
        blocker.close()
        deadline = time.monotonic() + 5
        while not sink.serving and time.monotonic() < deadline:
            time.sleep(0.05)
    try:
        assert sink.serving
        families, _ = scrape(port)
        assert "process_cpu_seconds" in families
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and f"127.0.0.1:{port}" in errors[0]
    finally:
        sink.stop(2)
    with socket.socket() as again:  # stop() released the port (no listener is left on it)
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        again.bind(("127.0.0.1", port))
        again.listen()


def test_publish_costs_microseconds(assets):
    import cv2

    classifier = EmotionClassifier(ClassifierConfig().model_path())
    detector = build_detector("blazeface", variant="full")
    image = cv2.imread(str(assets / "feat-test-data" / "multi_face.jpg"))
    loop = CameraLoop("cam", None, detector, classifier, CameraTracker(classifier.labels), [],
                      interval_s=0.0)
    from edge_daemon.core.records import Frame

    frame = Frame("cam", 0, time.time(), time.monotonic(), image)
    result = loop.process(frame)
    assert len(result.faces) == 5
    sink = MetricsSink(MetricsConfig(port=free_port()))  # not started: publish() alone
    rounds = 3000
    began = time.perf_counter()
    for _ in range(rounds):
        sink.publish(result, frame)
    per_frame_us = (time.perf_counter() - began) / rounds * 1e6
    print(f"metrics sink publish(): {per_frame_us:.1f} us per frame of 5 faces")
    assert per_frame_us < 500  # budget: far below a frame's inference time

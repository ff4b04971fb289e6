"""MqttSink against a real mosquitto, observed by a real paho subscriber."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from edge_daemon.config.mqtt import MqttConfig
from edge_daemon.core.records import Box, FaceResult, FrameResult
from edge_daemon.sinks.mqtt.homeassistant import discovery_topic
from edge_daemon.sinks.mqtt.sink import MqttSetupError, MqttSink
from edge_daemon.sinks.results_json import results_payload

LABELS = ("angry", "happy", "sad")
SINK_LOG = "edge_daemon.sinks.mqtt"


def result(index: int, emotion: str | None = None, faces: int = 1,
           camera: str = "front") -> FrameResult:
    """A hand-made FrameResult: `faces` faces side by side, the last one the largest."""
    made = tuple(
        FaceResult(track_id=i + 1, box=Box(10 + 150 * i, 20, 110 + 160 * i, 140 + 20 * i),
                   score=0.9, raw=(0.1, 0.8, 0.1), smoothed=(0.2, 0.7, 0.1), emotion="happy")
        for i in range(faces)
    )
    return FrameResult(camera, index, time.time(), 640, 480, LABELS, made,
                       camera_emotion=emotion, timings={"detection": 0.004})


def wait_until(condition, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.01)


def make_config(broker, **overrides) -> MqttConfig:
    """Short backoffs, and a prefix and client id of its own per test."""
    tag = uuid.uuid4().hex[:8]
    settings = {"host": broker.host, "port": broker.port, "topic_prefix": f"test/{tag}",
                "client_id": f"sink-{tag}", "reconnect_min_delay": 0.05,
                "reconnect_max_delay": 0.2, "homeassistant": {"node_id": f"n{tag}"}}
    settings.update(overrides)
    return MqttConfig(**settings)


@pytest.fixture
def make_sink():
    sinks: list[MqttSink] = []

    def make(config: MqttConfig, cameras=("front",), password=None, start=True) -> MqttSink:
        sink = MqttSink(config, list(cameras), LABELS, password=password)
        sinks.append(sink)
        if start:
            sink.start()
        return sink

    yield make
    for sink in sinks:
        sink.stop(1.0)


def results_frames(recorder, topic: str) -> list[int]:
    return [m.json()["frame"] for m in recorder.on(topic)]


def test_results_schema_and_values(mosquitto, mqtt_recorder, make_sink):
    cfg = make_config(mosquitto)
    rec = mqtt_recorder(mosquitto.host, mosquitto.port, [f"{cfg.topic_prefix}/#"])
    sink = make_sink(cfg)
    topic = f"{cfg.topic_prefix}/front/results"
    rec.wait_for(lambda m: m.text == "online", what="online")
    sent = [result(0, faces=2), result(1, faces=0), result(2, "happy", faces=1)]
    for r in sent:
        sink.publish(r, None)
    rec.wait_for(lambda m: m.topic == topic and m.json()["frame"] == 2, what="frame 2")
    got = rec.on(topic)
    assert [m.json() for m in got] == [results_payload(r) for r in sent]
    assert not any(m.retain for m in got)
    first = got[0].json()
    assert len(first["faces"]) == 2 and first["primary_track_id"] == 2
    assert set(first["predictions"]) == set(LABELS) and first["emotion"] == "happy"
    box = first["faces"][0]["box"]
    assert 0 <= box["x1"] < box["x2"] <= 1 and 0 <= box["y1"] < box["y2"] <= 1
    assert got[1].json()["faces"] == [] and got[1].json()["emotion"] is None
    wait_until(lambda: sink.stats.published >= 3, what="published count")
    assert sink.stats.connected and sink.stats.dropped == 0 and sink.stats.reconnects == 0


def test_emotion_topic_changes_only_on_change_and_is_retained(mosquitto, mqtt_recorder,
                                                             make_sink):
    cfg = make_config(mosquitto)
    rec = mqtt_recorder(mosquitto.host, mosquitto.port, [f"{cfg.topic_prefix}/#"])
    sink = make_sink(cfg)
    emotion = f"{cfg.topic_prefix}/front/emotion"
    rec.wait_for(lambda m: m.topic == emotion, what="initial emotion")
    sequence = [None, None, "happy", "happy", "happy", "sad", "sad", None, None]
    for i, e in enumerate(sequence):
        sink.publish(result(i, e, faces=0 if e is None else 1), None)
    results = f"{cfg.topic_prefix}/front/results"
    rec.wait_for(lambda m: m.topic == results and m.json()["frame"] == len(sequence) - 1)
    rec.wait_for(lambda m: m.topic == emotion and m.text == "none" and m is rec.on(emotion)[-1]
                 and len(rec.on(emotion)) == 4, what="the last emotion change")
    assert [m.text for m in rec.on(emotion)] == ["none", "happy", "sad", "none"]
    late = mqtt_recorder(mosquitto.host, mosquitto.port, [emotion])
    retained = late.wait_for(lambda m: m.topic == emotion, what="retained emotion")
    assert retained.retain and retained.text == "none"


def test_availability_online_then_stopped_on_clean_shutdown(mosquitto, mqtt_recorder, make_sink):
    cfg = make_config(mosquitto)
    avail = f"{cfg.topic_prefix}/availability"
    rec = mqtt_recorder(mosquitto.host, mosquitto.port, [avail])
    sink = make_sink(cfg)
    rec.wait_for(lambda m: m.text == "online", what="online")
    sink.publish(result(0), None)
    started = time.monotonic()
    sink.stop(2.0)
    assert time.monotonic() - started < 2.0
    rec.wait_for(lambda m: m.text == "stopped", what="stopped")
    assert [m.text for m in rec.on(avail)] == ["online", "stopped"]  # no Last Will after it
    late = mqtt_recorder(mosquitto.host, mosquitto.port, [avail])
    kept = late.wait_for(lambda m: True, what="retained availability")
    assert kept.retain and kept.text == "stopped"
    assert not sink.stats.connected


SINK_PROCESS = """
import sys, time
from edge_daemon.config.mqtt import MqttConfig
from edge_daemon.sinks.mqtt import MqttSink
sink = MqttSink(MqttConfig.model_validate_json(sys.argv[1]), ["front"], ["angry", "happy", "sad"])
sink.start()
deadline = time.monotonic() + 10
while not sink.stats.connected and time.monotonic() < deadline:
    time.sleep(0.01)
print("connected" if sink.stats.connected else "not connected", flush=True)
time.sleep(60)
"""


def test_last_will_offline_after_sigkill(mosquitto, mqtt_recorder):
    cfg = make_config(mosquitto)
    avail = f"{cfg.topic_prefix}/availability"
    rec = mqtt_recorder(mosquitto.host, mosquitto.port, [avail])
    proc = subprocess.Popen([sys.executable, "-c", SINK_PROCESS, cfg.model_dump_json()],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "connected"
        rec.wait_for(lambda m: m.text == "online", what="online")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        rec.wait_for(lambda m: m.text == "offline", what="Last Will")
    finally:
        proc.kill()
        proc.wait(5)
    late = mqtt_recorder(mosquitto.host, mosquitto.port, [avail])
    kept = late.wait_for(lambda m: True, what="retained availability")
    assert kept.retain and kept.text == "offline"


def test_broker_restart_reconnects_and_offline_queue_is_bounded(mosquitto_factory,
                                                                 mqtt_recorder, make_sink):
    # A persistent broker and session, so the subscriber misses nothing around the restart.
    broker = mosquitto_factory(persistent=True)
    # The subscriber (back within 0.3 s) reconnects before the sink (0.75 s or more) replays
    # its queue. With both as quick, 1 run in 12 lost the whole replay: mosquitto did not
    # queue those QoS 0 messages for the subscriber's session restored from disk while it
    # was not yet back. What is tested is the sink's queue, not that broker behaviour.
    cfg = make_config(broker, offline_queue_size=10, reconnect_min_delay=1.0,
                      reconnect_max_delay=1.5)
    results = f"{cfg.topic_prefix}/front/results"
    avail = f"{cfg.topic_prefix}/availability"
    rec = mqtt_recorder(broker.host, broker.port, [f"{cfg.topic_prefix}/#"],
                        client_id=f"rec-{uuid.uuid4().hex[:6]}", clean_session=False)
    sink = make_sink(cfg)
    for i in range(5):
        sink.publish(result(i), None)
    rec.wait_for(lambda m: m.topic == results and m.json()["frame"] == 4, what="frame 4")

    broker.stop()
    wait_until(lambda: not sink.stats.connected, what="sink sees the outage")
    slowest = 0.0
    for i in range(5, 55):
        t0 = time.perf_counter()
        sink.publish(result(i), None)
        slowest = max(slowest, time.perf_counter() - t0)
    assert slowest < 0.05  # publish never waits on the network
    assert sink.stats.queued == 10 and sink.stats.dropped == 40

    restarted = time.monotonic()
    broker.start()
    # Connected first, then the queue handed over: wait for both before publishing live.
    wait_until(lambda: sink.stats.connected and sink.stats.queued == 0, timeout=10,
               what="reconnect and replay")
    assert sink.stats.reconnects == 1
    for i in range(55, 60):
        sink.publish(result(i), None)
    rec.wait_for(lambda m: m.topic == results and m.json()["frame"] == 59, timeout=10,
                 what="frame 59 after the restart")
    # Oldest dropped first: of frames 5..54 only the newest 10 survived, in order.
    assert results_frames(rec, results) == [*range(5), *range(45, 60)]
    rec.wait_for(lambda m: m.topic == avail and m.text == "online" and m.received > restarted,
                 what="online again after the restart")
    emotion = f"{cfg.topic_prefix}/front/emotion"
    rec.wait_for(lambda m: m.topic == emotion and m.received > restarted,
                 what="retained emotion re-published after the restart")


def test_results_stay_in_order_while_the_frame_loop_publishes_through_a_reconnect(
        mosquitto_factory, mqtt_recorder, make_sink):
    # The frame loop does not pause for a reconnect: what it publishes while the sink is still
    # replaying its offline queue must reach subscribers after the queued results, not among
    # them (one CI run saw frames 55..59 arrive before the replayed 45..54).
    broker = mosquitto_factory(persistent=True)
    cfg = make_config(broker, offline_queue_size=400, reconnect_min_delay=1.0,
                      reconnect_max_delay=1.5)
    results = f"{cfg.topic_prefix}/front/results"
    rec = mqtt_recorder(broker.host, broker.port, [results],
                        client_id=f"rec-{uuid.uuid4().hex[:6]}", clean_session=False)
    sink = make_sink(cfg)
    sink.publish(result(0), None)
    rec.wait_for(lambda m: m.topic == results, what="frame 0")
    broker.stop()
    wait_until(lambda: not sink.stats.connected, what="sink sees the outage")

    published = [0]
    stop = threading.Event()

    def frame_loop() -> None:
        while not stop.is_set():
            published.append(published[-1] + 1)
            sink.publish(result(published[-1]), None)
            time.sleep(0.002)

    loop = threading.Thread(target=frame_loop, daemon=True)
    loop.start()
    try:
        wait_until(lambda: sink.stats.queued >= 100, what="results queued during the outage")
        broker.start()
        wait_until(lambda: sink.stats.connected, timeout=10, what="reconnect")
        at_reconnect = published[-1]
        wait_until(lambda: published[-1] >= at_reconnect + 200, timeout=20,
                   what="200 results published live after the reconnect")
    finally:
        stop.set()
        loop.join(5)
    last = published[-1]
    rec.wait_for(lambda m: m.json()["frame"] == last, timeout=10, what=f"frame {last}")
    frames = results_frames(rec, results)
    assert frames == sorted(set(frames)), "results arrived out of order or twice"
    # The replayed queue did arrive: frames from before the reconnect follow frame 0.
    assert frames[1] < at_reconnect
    assert sink.stats.reconnects == 1


def test_starts_without_broker_logs_once_and_delivers_later(mosquitto_factory, mqtt_recorder,
                                                            make_sink, caplog):
    broker = mosquitto_factory()
    broker.stop()
    cfg = make_config(broker, outage_log_interval=60.0)
    caplog.set_level(logging.INFO, logger=SINK_LOG)
    sink = make_sink(cfg)
    for i in range(3):
        sink.publish(result(i), None)
    wait_until(lambda: sink.stats.connect_failures >= 4, what="several failed attempts")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert f"cannot reach the broker at {broker.host}:{broker.port}" in warnings[0].getMessage()
    assert sink.stats.queued == 3 and not sink.stats.connected

    broker.start()
    rec = mqtt_recorder(broker.host, broker.port, [f"{cfg.topic_prefix}/#"])
    wait_until(lambda: sink.stats.connected, timeout=10, what="first connection")
    sink.publish(result(3), None)
    rec.wait_for(lambda m: m.topic.endswith("/results") and m.json()["frame"] == 3)
    assert sink.stats.reconnects == 0  # the first successful connection is not a reconnect


def test_refused_credentials_give_one_clear_error_and_no_crash(mosquitto_factory, mqtt_recorder,
                                                              make_sink, caplog):
    broker = mosquitto_factory(users={"edge": "right-password"})
    caplog.set_level(logging.INFO, logger=SINK_LOG)
    bad = make_sink(make_config(broker, username="edge"), password="wrong-password")
    wait_until(lambda: bad.stats.connect_failures >= 3, what="repeated refusals")
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert "refused the connection" in errors[0] and "'edge'" in errors[0]
    assert "Not authorized" in errors[0] or "password" in errors[0]
    assert "wrong-password" not in caplog.text
    bad.publish(result(0), None)  # still accepts results, queued for later
    assert bad.stats.queued == 1 and not bad.stats.connected
    assert "refused" in bad.stats.last_error
    bad.stop(0.5)
    assert bad.stats.dropped == 1 and bad.stats.queued == 0  # discarded at shutdown, counted

    good_cfg = make_config(broker, username="edge")
    rec = mqtt_recorder(broker.host, broker.port, [f"{good_cfg.topic_prefix}/#"],
                        username="edge", password="right-password")
    make_sink(good_cfg, password="right-password")
    rec.wait_for(lambda m: m.text == "online", what="online with the right password")


def test_home_assistant_discovery_retained_and_resent(mosquitto, mqtt_recorder, make_sink):
    cfg = make_config(mosquitto)
    config_topic = discovery_topic(cfg, "front")
    rec = mqtt_recorder(mosquitto.host, mosquitto.port, ["homeassistant/#"])
    sink = make_sink(cfg, cameras=("front", "back"))
    first = rec.wait_for(lambda m: m.topic == config_topic, what="discovery config")
    payload = first.json()
    assert payload["device_class"] == "enum" and payload["options"] == [*LABELS, "none"]
    assert payload["state_topic"] == f"{cfg.topic_prefix}/front/results"
    assert payload["availability_topic"] == f"{cfg.topic_prefix}/availability"
    rec.wait_for(lambda m: m.topic == discovery_topic(cfg, "back"), what="second camera")

    late = mqtt_recorder(mosquitto.host, mosquitto.port, [config_topic])
    assert late.wait_for(lambda m: True, what="retained config").retain

    rec.client.publish(cfg.homeassistant.status_topic, "online")
    rec.wait_for(lambda m: m.topic == config_topic and m is rec.on(config_topic)[-1]
                 and len(rec.on(config_topic)) == 2, what="config re-sent on HA online")
    # A camera first seen in a result gets its config at once.
    sink.publish(result(0, camera="garden"), None)
    rec.wait_for(lambda m: m.topic == discovery_topic(cfg, "garden"), what="new camera config")


def test_bad_setup_is_one_clear_error(tmp_path):
    with pytest.raises(MqttSetupError, match="no such file"):
        MqttSink(MqttConfig(tls={"enabled": True, "ca_file": tmp_path / "missing.pem"}),
                 ["front"], LABELS)
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(MqttSetupError, match="cannot load the certificates"):
        MqttSink(MqttConfig(tls={"enabled": True, "ca_file": garbage}), ["front"], LABELS)
    with pytest.raises(MqttSetupError, match="username is not"):
        MqttSink(MqttConfig(), ["front"], LABELS, password="x")
    with pytest.raises(MqttSetupError, match="no_face_state"):
        MqttSink(MqttConfig(no_face_state="happy"), ["front"], LABELS)
    with pytest.raises(MqttSetupError, match="camera name"):
        MqttSink(MqttConfig(), ["front/door"], LABELS)


def test_unpublishable_camera_is_logged_once_and_counted(caplog):
    sink = MqttSink(MqttConfig(), ["front"], LABELS)  # never started: no broker needed
    caplog.set_level(logging.INFO, logger=SINK_LOG)
    for i in range(3):
        sink.publish(result(i, camera="front/door"), None)
    sink.publish(result(3), None)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "'front/door'" in errors[0]
    assert sink.stats.dropped == 3 and sink.stats.queued == 1
    started = time.monotonic()
    sink.stop(0.5)
    assert time.monotonic() - started < 2 and sink.stats.dropped == 4


def test_attributes_are_throttled_but_follow_emotion_changes(mosquitto, mqtt_recorder,
                                                             make_sink):
    cfg = make_config(mosquitto, topics={"attributes": {"min_interval": 60}})
    rec = mqtt_recorder(mosquitto.host, mosquitto.port, [f"{cfg.topic_prefix}/#"])
    sink = make_sink(cfg)
    attributes = f"{cfg.topic_prefix}/front/attributes"
    results = f"{cfg.topic_prefix}/front/results"
    rec.wait_for(lambda m: m.text == "online")
    for i, e in enumerate([None, None, None, "happy", "happy"]):
        sink.publish(result(i, e), None)
    rec.wait_for(lambda m: m.topic == results and m.json()["frame"] == 4)
    rec.wait_for(lambda m: m.topic == attributes and m.json()["emotion"] == "happy")
    got = [m.json() for m in rec.on(attributes)]
    assert [a["emotion"] for a in got] == ["none", "happy"]  # first frame, then the change
    assert got[1]["happy"] == 0.7 and got[1]["faces"] == 1 and got[1]["track_id"] == 1

"""Cameras on MQTT beyond their results: a retained status each, and no ghost entities.

Real mosquitto, real paho subscribers. Before: a camera that was down published nothing
until Home Assistant's expire_after fired, and a removed or renamed camera's retained
discovery configs stayed on the broker for good (ghost entities).
"""

from __future__ import annotations

import time

import pytest
from polling import wait_until
from test_mqtt_sink import LABELS, make_config

from edge_daemon.core.records import CameraStatus
from edge_daemon.sinks.mqtt.homeassistant import discovery_topic, discovery_topics
from edge_daemon.sinks.mqtt.sink import MqttSink


@pytest.fixture
def make_sink():
    """Start MqttSinks for cameras; all stopped after the test."""
    sinks: list[MqttSink] = []

    def make(config, cameras=("front",)) -> MqttSink:
        sink = MqttSink(config, list(cameras), LABELS)
        sinks.append(sink)
        sink.start()
        return sink

    yield make
    for sink in sinks:
        sink.stop(1.0)


def retained(recorder_factory, broker, topic_filter: str, present: list[str]) -> dict:
    """{topic: payload} of the non-empty retained messages a new subscriber gets now.

    The broker sends all retained messages of a filter in one batch after the subscription:
    once the `present` topics (known to be retained) arrived, the rest of the batch has too.
    """
    recorder = recorder_factory(broker.host, broker.port, [topic_filter])
    for topic in present:
        recorder.wait_for(lambda m, t=topic: m.topic == t and m.retain, timeout=20, what=topic)
    found = {m.topic: m.payload for m in recorder.messages if m.retain}
    recorder.close()
    return {t: p for t, p in found.items() if p}


def test_a_camera_removed_while_the_daemon_was_off_loses_its_entities(
        mosquitto, mqtt_recorder, make_sink):
    cfg = make_config(mosquitto)
    first = make_sink(cfg, cameras=("front", "back"))
    watcher = mqtt_recorder(mosquitto.host, mosquitto.port, ["homeassistant/#"])
    watcher.wait_for(lambda m: m.topic == discovery_topic(cfg, "back", "status"), timeout=20,
                     what="back's status entity")
    first.stop(1.0)
    make_sink(cfg, cameras=("front",))  # restarted with "back" removed from the config
    front = discovery_topics(cfg, "front", LABELS)
    assert wait_until(lambda: not set(discovery_topics(cfg, "back", LABELS)) & set(
        retained(mqtt_recorder, mosquitto, "homeassistant/#", front)), timeout=30)


def test_set_cameras_withdraws_a_removed_camera_at_once(mosquitto, mqtt_recorder, make_sink):
    cfg = make_config(mosquitto)
    sink = make_sink(cfg, cameras=("front", "back"))
    assert wait_until(lambda: sink.stats.connected, timeout=20)
    sink.camera_status(CameraStatus("back", "connected", time.time()))
    recorder = mqtt_recorder(mosquitto.host, mosquitto.port, [f"{cfg.topic_prefix}/#"])
    recorder.wait_for(lambda m: m.topic == f"{cfg.topic_prefix}/back/status" and m.payload,
                      timeout=20,
                      what="back's status")
    sink.set_cameras(["front"])  # a reload without "back"
    recorder.wait_for(lambda m: m.topic == f"{cfg.topic_prefix}/back/status" and not m.payload,
                      timeout=20,
                      what="back's status cleared")
    front = discovery_topics(cfg, "front", LABELS)
    assert wait_until(lambda: not set(discovery_topics(cfg, "back", LABELS)) & set(
        retained(mqtt_recorder, mosquitto, "homeassistant/#", front)), timeout=30)


def test_camera_status_is_retained_and_resent_after_a_reconnect(
        mosquitto, mqtt_recorder, make_sink):
    cfg = make_config(mosquitto)
    sink = make_sink(cfg, cameras=("front",))
    assert wait_until(lambda: sink.stats.connected, timeout=20)
    sink.camera_status(CameraStatus("front", "disconnected", 1_700_000_000.0,
                                    "cannot open /dev/video0"))
    topic = f"{cfg.topic_prefix}/front/status"
    first = mqtt_recorder(mosquitto.host, mosquitto.port, [topic])
    message = first.wait_for(lambda m: m.topic == topic, timeout=20, what="the status")
    assert message.json() == {"state": "disconnected", "since": "2023-11-14T22:13:20.000Z",
                              "error": "cannot open /dev/video0"}
    # Published before or after it subscribed: a subscriber that comes later gets it retained.
    later = mqtt_recorder(mosquitto.host, mosquitto.port, [topic])
    later.wait_for(lambda m: m.retain, timeout=20, what="the retained status")
    mosquitto.restart()  # a broker without persistence forgets retained messages
    assert wait_until(lambda: sink.stats.reconnects >= 1, timeout=30)
    again = mqtt_recorder(mosquitto.host, mosquitto.port, [topic])
    resent = again.wait_for(lambda m: m.topic == topic, timeout=20, what="status re-sent")
    assert resent.json()["state"] == "disconnected"
    last = mqtt_recorder(mosquitto.host, mosquitto.port, [topic])
    assert last.wait_for(lambda m: m.retain, timeout=20, what="retained again").json()[
        "state"] == "disconnected"

def test_the_daemon_publishes_each_cameras_status(assets, mosquitto, mqtt_recorder,
                                                  daemon_factory, tmp_path):
    video = assets / "feat-test-data" / "single_face.mp4"
    prefix = "status-test"
    recorder = mqtt_recorder(mosquitto.host, mosquitto.port, [f"{prefix}/+/status"])
    daemon_factory({
        "cameras": {
            "front": {"source": {"type": "file", "path": str(video), "loop": True}},
            "door": {"source": {"type": "file", "path": str(tmp_path / "missing.mp4")}},
            "garage": {"enabled": False, "source": {"type": "file", "path": str(video)}},
        },
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "topic_prefix": prefix,
                 "client_id": prefix},
        "metrics": {"enabled": False}, "websocket": {"enabled": False},
    })

    def state(camera: str) -> dict:
        message = recorder.wait_for(lambda m: m.topic == f"{prefix}/{camera}/status",
                                    timeout=60, what=f"{camera}'s status")
        return message.json()

    assert state("front")["state"] == "connected"
    door = state("door")
    assert door["state"] == "disconnected" and "no such file" in door["error"]
    assert state("garage")["state"] == "disabled"

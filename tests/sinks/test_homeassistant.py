"""Home Assistant discovery payloads (pure) and their templates rendered with Jinja."""

from __future__ import annotations

import json

import pytest

from edge_daemon.config.mqtt import MqttConfig
from edge_daemon.core.records import Box, FaceResult, FrameResult
from edge_daemon.sinks.mqtt.homeassistant import (
    discovery_messages,
    discovery_topic,
    discovery_topics,
    emotion_sensor_config,
    faces_sensor_config,
    object_id,
    occupancy_config,
    probability_sensor_config,
)
from edge_daemon.sinks.mqtt.payloads import attributes_payload
from edge_daemon.sinks.results_json import encode, results_payload

LABELS = ("angry", "happy", "sad")
CFG = MqttConfig(topic_prefix="ee/pi", homeassistant={"node_id": "ee_pi", "expire_after": 45,
                                                      "device_name": "Kitchen Pi"})


def test_topic_and_ids():
    assert object_id("front-door") == "front-door_emotion"
    assert discovery_topic(CFG, "front") == "homeassistant/sensor/ee_pi/front_emotion/config"
    other = MqttConfig(homeassistant={"discovery_prefix": "ha", "node_id": "n"})
    assert discovery_topic(other, "c") == "ha/sensor/n/c_emotion/config"


def test_enum_sensor_config():
    c = emotion_sensor_config(CFG, "front", LABELS, version="9.9")
    assert c["device_class"] == "enum" and c["options"] == ["angry", "happy", "sad", "none"]
    assert "unit_of_measurement" not in c and "state_class" not in c
    assert c["unique_id"] == "ee_pi_front_emotion"
    assert c["state_topic"] == "ee/pi/front/results"
    assert c["json_attributes_topic"] == "ee/pi/front/attributes"
    assert c["expire_after"] == 45
    assert c["availability_topic"] == "ee/pi/availability"
    assert (c["payload_available"], c["payload_not_available"]) == ("online", "offline")
    assert c["device"] == {"identifiers": ["ee_pi"], "name": "Kitchen Pi", "model": "emotion-edge",
                           "manufacturer": "emotion-edge", "sw_version": "9.9"}
    no_expiry = MqttConfig(homeassistant={"expire_after": 0})
    assert "expire_after" not in emotion_sensor_config(no_expiry, "front", LABELS)


def test_discovery_messages_every_entity_of_every_camera_on_one_device():
    msgs = discovery_messages(CFG, ["front", "back"], LABELS)
    back = {t: json.loads(p) for t, p in msgs if "/back_" in t}
    assert sorted(back) == sorted([
        "homeassistant/sensor/ee_pi/back_emotion/config",
        "homeassistant/sensor/ee_pi/back_faces/config",
        "homeassistant/binary_sensor/ee_pi/back_occupancy/config",
        "homeassistant/sensor/ee_pi/back_status/config",
        "homeassistant/event/ee_pi/back_episode/config",
        "homeassistant/switch/ee_pi/back_privacy/config",
        "homeassistant/sensor/ee_pi/back_angry_probability/config",
        "homeassistant/sensor/ee_pi/back_happy_probability/config",
        "homeassistant/sensor/ee_pi/back_sad_probability/config"])
    assert [t for t, _ in msgs] == discovery_topics(CFG, "front", LABELS) + discovery_topics(
        CFG, "back", LABELS) + ["homeassistant/switch/ee_pi/privacy/config"]
    assert len({c["unique_id"] for c in back.values()}) == 9
    privacy = back["homeassistant/switch/ee_pi/back_privacy/config"]
    assert privacy["command_topic"] == "ee/pi/back/privacy/set"
    assert privacy["state_topic"] == "ee/pi/back/privacy"
    device = json.loads(msgs[-1][1])
    assert device["command_topic"] == "ee/pi/privacy/set" and device["unique_id"] == "ee_pi_privacy"
    assert device["device"]["identifiers"] == ["ee_pi"]
    assert all(c["device"]["identifiers"] == ["ee_pi"] for c in back.values())
    episode = back["homeassistant/event/ee_pi/back_episode/config"]
    assert episode["state_topic"] == "ee/pi/back/events"
    assert episode["event_types"][:3] == ["angry_start", "angry_update", "angry_end"]
    assert episode["event_types"][-3:] == ["none_start", "none_update", "none_end"]
    assert all(c["availability_topic"] == "ee/pi/availability" for c in back.values())

    status = back["homeassistant/sensor/ee_pi/back_status/config"]
    assert status["name"] == "back camera status" and status["state_topic"] == "ee/pi/back/status"
    assert status["options"] == ["connected", "disconnected", "disabled", "paused"]
    assert status["entity_category"] == "diagnostic" and status["unique_id"] == "ee_pi_back_status"
    faces = back["homeassistant/sensor/ee_pi/back_faces/config"]
    assert faces["state_class"] == "measurement" and faces["state_topic"] == "ee/pi/back/results"
    assert faces["expire_after"] == 45
    occupancy = back["homeassistant/binary_sensor/ee_pi/back_occupancy/config"]
    assert occupancy["device_class"] == "occupancy"
    happy = back["homeassistant/sensor/ee_pi/back_happy_probability/config"]
    assert happy["enabled_by_default"] is False and happy["unit_of_measurement"] == "%"
    assert happy["state_class"] == "measurement"
    assert happy["state_topic"] == "ee/pi/back/attributes"
    assert all("enabled_by_default" not in c for t, c in back.items() if "probability" not in t)


def test_the_new_entities_templates_render_counts_occupancy_and_percentages():
    jinja2 = pytest.importorskip("jinja2")
    env = jinja2.Environment()
    face = FaceResult(1, Box(0, 0, 10, 10), 0.9, (0.1, 0.8, 0.1), (0.125, 0.75, 0.125), "happy")
    two = FrameResult("front", 1, 0.0, 20, 20, LABELS, (face, face), camera_emotion="happy")
    none = FrameResult("front", 2, 0.0, 20, 20, LABELS, ())
    faces = env.from_string(faces_sensor_config(CFG, "front")["value_template"])
    occupancy = env.from_string(occupancy_config(CFG, "front")["value_template"])
    happy = env.from_string(probability_sensor_config(CFG, "front", "happy")["value_template"])
    for result, count, occupied in ((two, "2", "ON"), (none, "0", "OFF")):
        value_json = json.loads(encode(results_payload(result)))
        assert faces.render(value_json=value_json) == count
        assert occupancy.render(value_json=value_json) == occupied
    with_face = json.loads(encode(attributes_payload(two, "none")))
    without = json.loads(encode(attributes_payload(none, "none")))
    assert happy.render(value_json=with_face) == "75.0"
    assert happy.render(value_json=without) == "None"  # Home Assistant's "unknown"


def test_templates_render_to_valid_states():
    """Home Assistant renders these with Jinja: the results must be options / availability."""
    jinja2 = pytest.importorskip("jinja2")
    c = emotion_sensor_config(CFG, "front", LABELS)
    env = jinja2.Environment()
    state = env.from_string(c["value_template"])
    face = FaceResult(1, Box(0, 0, 10, 10), 0.9, (0.1, 0.8, 0.1), (0.1, 0.8, 0.1), "happy")
    with_face = FrameResult("front", 1, 0.0, 20, 20, LABELS, (face,), camera_emotion="happy")
    no_face = FrameResult("front", 2, 0.0, 20, 20, LABELS, ())
    for result, expected in ((with_face, "happy"), (no_face, "none")):
        value_json = json.loads(encode(results_payload(result)))
        assert state.render(value_json=value_json) == expected
        assert expected in c["options"]
    avail = env.from_string(c["availability_template"])
    assert [avail.render(value=v) for v in ("online", "offline", "stopped")] == [
        "online", "offline", "offline"]

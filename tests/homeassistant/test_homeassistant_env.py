"""Proof that a real Home Assistant runs for the tests: MQTT discovery reaches its registries.

Needs the venv of tools/homeassistant_env.sh (skipped without it; EMOTION_EDGE_REQUIRE_HA=1
makes that a failure, for CI where the script ran first: the ha_required fixture). It starts
HomeAssistant itself rather than through home_assistant_factory, to time the start and stop.
"""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt
import pytest
from homeassistant import HomeAssistant

pytestmark = [pytest.mark.homeassistant, pytest.mark.slow]

NODE = "ee_proof"
CONFIG_TOPIC = f"homeassistant/sensor/{NODE}/front_faces/config"
STATE_TOPIC = f"emotion-edge/{NODE}/front/faces"


def publish(broker, topic: str, payload: str, retain: bool = False) -> None:
    """One QoS 1 message from a short-lived paho client, waited for until the broker has it."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def test_discovered_sensor_on_its_device_follows_its_state(ha_required, mosquitto, tmp_path):
    # Retained before Home Assistant starts, as a running daemon's configs are: HA gets it
    # when it subscribes to the discovery prefix.
    publish(mosquitto, CONFIG_TOPIC, json.dumps({
        "name": "Faces",
        "unique_id": f"{NODE}_front_faces",
        "state_topic": STATE_TOPIC,
        "state_class": "measurement",
        "device": {"identifiers": [NODE], "name": "Proof Pi", "model": "emotion-edge",
                   "manufacturer": "emotion-edge", "sw_version": "0.1.0"},
    }), retain=True)
    ha = HomeAssistant(tmp_path / "ha", mosquitto.host, mosquitto.port)
    launched = time.monotonic()
    ha.start()
    try:
        print(f"\nHome Assistant started in {time.monotonic() - launched:.1f} s "
              f"(since launch: {ha.ready_seconds})")
        # The entity_id is generated (device name + entity name): find it by its unique_id.
        found = ha.wait_entity(f"{NODE}_front_faces")
        entity_id = found["entity_id"]
        assert entity_id == "sensor.proof_pi_faces"
        assert found["platform"] == "mqtt" and found["disabled_by"] is None
        device = next(d for d in ha.device_registry() if d["id"] == found["device_id"])
        assert device["identifiers"] == [["mqtt", NODE]]
        assert (device["name"], device["model"], device["sw_version"]) == (
            "Proof Pi", "emotion-edge", "0.1.0")
        assert ha.state(entity_id)["state"] == "unknown"  # nothing on its state topic yet

        # A state message is not retained: only after the birth message has Home Assistant
        # surely subscribed to the entity's state topic.
        print(f"birth message {ha.wait_for_birth() - launched:.1f} s after the launch")
        publish(mosquitto, STATE_TOPIC, "2")
        state = ha.wait_state(entity_id, lambda s: s["state"] == "2")
        assert state["attributes"]["state_class"] == "measurement"
        with ha.watch(entity_id) as changes:
            publish(mosquitto, STATE_TOPIC, "3")
            changes.wait_for(lambda s: s is not None and s["state"] == "3")
        assert ha.state(entity_id)["state"] == "3"
        assert "Setup failed" not in ha.log() and "Error setting up" not in ha.log()
    finally:
        stopped = ha.stop()
    print(f"Home Assistant stopped in {stopped:.1f} s")
    assert not ha.running


def test_every_event_of_an_event_entity_is_seen(mosquitto, home_assistant_factory):
    """An event entity's state is the time of its last event: watch() sees back-to-back ones."""
    publish(mosquitto, f"homeassistant/event/{NODE}/front_changed/config", json.dumps({
        "name": "Emotion changed",
        "unique_id": f"{NODE}_front_changed",
        "state_topic": f"emotion-edge/{NODE}/front/changed",
        "event_types": ["happy", "sad"],
        "device": {"identifiers": [NODE], "name": "Proof Pi"},
    }), retain=True)
    ha = home_assistant_factory(mosquitto)
    entity_id = ha.wait_entity(f"{NODE}_front_changed")["entity_id"]
    assert ha.state(entity_id)["state"] == "unknown"
    ha.wait_for_birth()
    with ha.watch(entity_id) as changes:
        for event_type in ("happy", "sad"):
            publish(mosquitto, f"emotion-edge/{NODE}/front/changed",
                    json.dumps({"event_type": event_type}))
        changes.wait_for(lambda s: s["attributes"]["event_type"] == "sad")
    assert [s["attributes"]["event_type"] for s in changes.changes] == ["happy", "sad"]
    assert all(s["state"].endswith("+00:00") for s in changes.changes)  # ISO times

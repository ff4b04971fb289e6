"""Home Assistant MQTT discovery: per camera an enum sensor of the dominant emotion and one
of the camera's status (connected, disconnected, disabled).

Pure functions from the config to (topic, payload) pairs; the MQTT sink publishes them
retained on every connect and again when Home Assistant announces `online`.

The sensor's state is read from the per-frame results topic (`camera_emotion`, or the
config's no-face value such as `none`), not from the retained emotion topic: that topic only
changes on a change of emotion, and Home Assistant's `expire_after` needs regular updates to
tell "same emotion for an hour" from "camera stalled". Home Assistant writes a state only
when it changes, so the frame rate does not flood its recorder; the probabilities come as
attributes from the throttled attributes topic for the same reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from edge_daemon import __version__
from edge_daemon.config.mqtt import MqttConfig
from edge_daemon.sinks.mqtt.payloads import OFFLINE, ONLINE, TopicLayout, check_camera_name
from edge_daemon.sinks.results_json import encode

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def object_id(camera: str, entity: str = "emotion") -> str:
    """The discovery object id of a camera's sensor, e.g. `front_door_emotion`."""
    return f"{_UNSAFE.sub('_', check_camera_name(camera)).strip('_') or 'camera'}_{entity}"


def discovery_topic(config: MqttConfig, camera: str, entity: str = "emotion") -> str:
    """`<discovery_prefix>/sensor/<node_id>/<object_id>/config`."""
    ha = config.homeassistant
    return f"{ha.discovery_prefix}/sensor/{ha.node_id}/{object_id(camera, entity)}/config"


def discovery_subscription(config: MqttConfig) -> str:
    """The topic filter matching every discovery config of this device (to find ghosts)."""
    ha = config.homeassistant
    return f"{ha.discovery_prefix}/+/{ha.node_id}/+/config"


def discovery_topics(config: MqttConfig, camera: str) -> list[str]:
    """Every discovery config topic of one camera."""
    return [discovery_topic(config, camera, entity) for entity in ENTITIES]


def device_block(config: MqttConfig, version: str = __version__) -> dict[str, Any]:
    """The device that groups this daemon's entities (one per daemon, i.e. per host)."""
    ha = config.homeassistant
    return {
        "identifiers": [ha.node_id],
        "name": ha.device_name,
        "model": "emotion-edge",
        "manufacturer": "emotion-edge",
        "sw_version": version,
    }


def emotion_sensor_config(
    config: MqttConfig, camera: str, labels: Sequence[str], version: str = __version__
) -> dict[str, Any]:
    """Discovery config of one camera's dominant-emotion sensor (`device_class: enum`)."""
    layout = TopicLayout(config)
    ha = config.homeassistant
    no_face = config.no_face_state
    # json.dumps quotes the value safely for the Jinja template.
    state_template = f"{{{{ value_json.camera_emotion or {json.dumps(no_face)} }}}}"
    payload: dict[str, Any] = {
        "name": f"{camera} emotion",
        "unique_id": f"{ha.node_id}_{object_id(camera)}",
        "device_class": "enum",
        "options": [*labels, no_face],
        "state_topic": layout.results(camera),
        "value_template": state_template,
        "json_attributes_topic": layout.attributes(camera),
        "availability_topic": layout.availability,
        # `stopped` (a clean shutdown) must read as unavailable too, not be ignored.
        "availability_template": f"{{{{ {json.dumps(ONLINE)} if value == {json.dumps(ONLINE)} "
                                 f"else {json.dumps(OFFLINE)} }}}}",
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "qos": config.topics.results.qos,
        "icon": "mdi:emoticon-outline",
        "device": device_block(config, version),
        "origin": {"name": "emotion-edge", "sw_version": version},
    }
    if ha.expire_after > 0:
        payload["expire_after"] = ha.expire_after
    return payload


STATUS_STATES = ("connected", "disconnected", "disabled")


def status_sensor_config(config: MqttConfig, camera: str,
                         version: str = __version__) -> dict[str, Any]:
    """Discovery config of one camera's status sensor (connected / disconnected / disabled)."""
    layout = TopicLayout(config)
    ha = config.homeassistant
    return {
        "name": f"{camera} camera status",
        "unique_id": f"{ha.node_id}_{object_id(camera, 'status')}",
        "device_class": "enum",
        "options": list(STATUS_STATES),
        "entity_category": "diagnostic",
        "state_topic": layout.status(camera),
        "value_template": "{{ value_json.state }}",
        "json_attributes_topic": layout.status(camera),
        "availability_topic": layout.availability,
        "availability_template": f"{{{{ {json.dumps(ONLINE)} if value == {json.dumps(ONLINE)} "
                                 f"else {json.dumps(OFFLINE)} }}}}",
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "qos": config.topics.status.qos,
        "icon": "mdi:cctv",
        "device": device_block(config, version),
        "origin": {"name": "emotion-edge", "sw_version": version},
    }


ENTITIES = ("emotion", "status")


def discovery_messages(
    config: MqttConfig, cameras: Sequence[str], labels: Sequence[str], version: str = __version__
) -> list[tuple[str, bytes]]:
    """(topic, payload) of every discovery config to publish retained."""
    out = []
    for camera in cameras:
        out.append((discovery_topic(config, camera),
                    encode(emotion_sensor_config(config, camera, labels, version))))
        out.append((discovery_topic(config, camera, "status"),
                    encode(status_sensor_config(config, camera, version))))
    return out

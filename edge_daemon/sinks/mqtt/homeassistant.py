"""Home Assistant MQTT discovery: the entities of each camera, grouped on the daemon's device.

Per camera: the dominant emotion (an enum sensor), the faces in view (a measurement), someone
in view (an occupancy binary sensor), the camera's status (connected, disconnected,
disabled, paused), its emotion episodes (an event entity), its privacy switch and one
probability sensor per emotion, created disabled so that the recorder is not flooded unless
the user turns them on. Per device: a privacy switch for all cameras at once.

Pure functions from the config to (topic, payload) pairs; the MQTT sink publishes them
retained on every connect and again when Home Assistant announces `online`.

The emotion, faces and occupancy states are read from the per-frame results topic (not from
the retained emotion topic): that topic only changes on a change of emotion, and Home
Assistant's `expire_after` needs regular updates to tell "same emotion for an hour" from
"camera stalled". Home Assistant writes a state only when it changes, so the frame rate does
not flood its recorder; the probabilities come from the throttled attributes topic for the
same reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from edge_daemon import __version__
from edge_daemon.config.mqtt import MqttConfig
from edge_daemon.sinks.mqtt.payloads import (
    EPISODE_KINDS,
    OFFLINE,
    ONLINE,
    TopicLayout,
    check_camera_name,
    event_type,
)
from edge_daemon.sinks.results_json import encode

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def object_id(camera: str, entity: str = "emotion") -> str:
    """The discovery object id of a camera's entity, e.g. `front_door_emotion`."""
    return f"{_UNSAFE.sub('_', check_camera_name(camera)).strip('_') or 'camera'}_{entity}"


def probability_entity(label: str) -> str:
    """The entity key of one emotion's probability sensor, e.g. `happy_probability`."""
    return f"{_UNSAFE.sub('_', label).strip('_') or 'label'}_probability"


def camera_entities(labels: Sequence[str]) -> dict[str, str]:
    """Entity key -> Home Assistant component, for every entity a camera has."""
    entities = {"emotion": "sensor", "faces": "sensor", "occupancy": "binary_sensor",
                "status": "sensor", "episode": "event", "privacy": "switch"}
    entities.update({probability_entity(label): "sensor" for label in labels})
    return entities


def discovery_topic(config: MqttConfig, camera: str, entity: str = "emotion",
                    component: str = "sensor") -> str:
    """`<discovery_prefix>/<component>/<node_id>/<object_id>/config`."""
    ha = config.homeassistant
    return f"{ha.discovery_prefix}/{component}/{ha.node_id}/{object_id(camera, entity)}/config"


DEVICE_PRIVACY = "privacy"  # the object id of the device's own privacy switch


def device_discovery_topics(config: MqttConfig) -> list[str]:
    """The discovery config topics of the device's own entities (not of a camera)."""
    ha = config.homeassistant
    return [f"{ha.discovery_prefix}/switch/{ha.node_id}/{DEVICE_PRIVACY}/config"]


def discovery_subscription(config: MqttConfig) -> str:
    """The topic filter matching every discovery config of this device (to find ghosts)."""
    ha = config.homeassistant
    return f"{ha.discovery_prefix}/+/{ha.node_id}/+/config"


def discovery_topics(config: MqttConfig, camera: str, labels: Sequence[str]) -> list[str]:
    """Every discovery config topic of one camera."""
    return [discovery_topic(config, camera, entity, component)
            for entity, component in camera_entities(labels).items()]


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


def _availability(config: MqttConfig) -> dict[str, Any]:
    # `stopped` (a clean shutdown) must read as unavailable too, not be ignored.
    return {
        "availability_topic": TopicLayout(config).availability,
        "availability_template": f"{{{{ {json.dumps(ONLINE)} if value == {json.dumps(ONLINE)} "
                                 f"else {json.dumps(OFFLINE)} }}}}",
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
    }


def _entity(config: MqttConfig, camera: str, entity: str, name: str, version: str,
            **fields: Any) -> dict[str, Any]:
    """What every entity of a camera shares: ids, availability, the device, the origin."""
    ha = config.homeassistant
    return {
        "name": f"{camera} {name}",
        "unique_id": f"{ha.node_id}_{object_id(camera, entity)}",
        **fields,
        **_availability(config),
        "device": device_block(config, version),
        "origin": {"name": "emotion-edge", "sw_version": version},
    }


def _results_fields(config: MqttConfig, camera: str) -> dict[str, Any]:
    """Read from the per-frame results topic, expiring when the camera goes quiet."""
    fields: dict[str, Any] = {"state_topic": TopicLayout(config).results(camera),
                              "qos": config.topics.results.qos}
    if config.homeassistant.expire_after > 0:
        fields["expire_after"] = config.homeassistant.expire_after
    return fields


def emotion_sensor_config(
    config: MqttConfig, camera: str, labels: Sequence[str], version: str = __version__
) -> dict[str, Any]:
    """Discovery config of one camera's dominant-emotion sensor (`device_class: enum`)."""
    no_face = config.no_face_state
    # json.dumps quotes the value safely for the Jinja template.
    state_template = f"{{{{ value_json.camera_emotion or {json.dumps(no_face)} }}}}"
    return _entity(config, camera, "emotion", "emotion", version,
                   device_class="enum", options=[*labels, no_face],
                   value_template=state_template,
                   json_attributes_topic=TopicLayout(config).attributes(camera),
                   icon="mdi:emoticon-outline", **_results_fields(config, camera))


def faces_sensor_config(config: MqttConfig, camera: str,
                        version: str = __version__) -> dict[str, Any]:
    """Discovery config of the number of faces in view (a measurement, for graphs)."""
    return _entity(config, camera, "faces", "faces", version,
                   state_class="measurement", unit_of_measurement="faces",
                   value_template="{{ value_json.faces | length }}",
                   icon="mdi:account-group", **_results_fields(config, camera))


def occupancy_config(config: MqttConfig, camera: str,
                     version: str = __version__) -> dict[str, Any]:
    """Discovery config of "someone in view" (a binary sensor, device class occupancy)."""
    return _entity(config, camera, "occupancy", "someone in view", version,
                   device_class="occupancy",
                   value_template="{{ 'ON' if value_json.faces | length > 0 else 'OFF' }}",
                   payload_on="ON", payload_off="OFF", **_results_fields(config, camera))


def probability_sensor_config(config: MqttConfig, camera: str, label: str,
                              version: str = __version__) -> dict[str, Any]:
    """Discovery config of one emotion's smoothed probability (percent), disabled by default.

    From the throttled attributes topic; unknown while no face is in view.
    """
    key = json.dumps(label)
    return _entity(config, camera, probability_entity(label), f"{label} probability", version,
                   state_class="measurement", unit_of_measurement="%",
                   state_topic=TopicLayout(config).attributes(camera),
                   value_template=f"{{{{ (value_json[{key}] * 100) | round(1) "
                                  f"if value_json[{key}] is number else none }}}}",
                   qos=config.topics.attributes.qos, enabled_by_default=False,
                   icon="mdi:percent")


def episode_event_config(config: MqttConfig, camera: str, labels: Sequence[str],
                         version: str = __version__) -> dict[str, Any]:
    """Discovery config of a camera's episode events: an automation triggers on
    `happy_start` (after `episodes.min_duration_s`) without a template."""
    types = [event_type(label, kind, config.no_face_state)
             for label in [*labels, config.no_face_state] for kind in EPISODE_KINDS]
    return _entity(config, camera, "episode", "emotion episode", version,
                   state_topic=TopicLayout(config).events(camera), event_types=types,
                   qos=config.topics.events.qos, icon="mdi:timeline-clock-outline")


def privacy_switch_config(config: MqttConfig, camera: str | None,
                          version: str = __version__) -> dict[str, Any]:
    """Discovery config of a camera's privacy switch (None: the device's, for all cameras).

    On closes the camera: nothing is captured, processed, saved or streamed.
    """
    layout = TopicLayout(config)
    ha = config.homeassistant
    fields = {"command_topic": layout.privacy_command(camera),
              "state_topic": layout.privacy(camera), "payload_on": "ON", "payload_off": "OFF",
              "state_on": "ON", "state_off": "OFF", "qos": 1, "retain": False,
              "icon": "mdi:eye-off"}
    if camera is not None:
        return _entity(config, camera, "privacy", "privacy", version, **fields)
    return {"name": "privacy (all cameras)", "unique_id": f"{ha.node_id}_{DEVICE_PRIVACY}",
            **fields, **_availability(config), "device": device_block(config, version),
            "origin": {"name": "emotion-edge", "sw_version": version}}


STATUS_STATES = ("connected", "disconnected", "disabled", "paused")


def status_sensor_config(config: MqttConfig, camera: str,
                         version: str = __version__) -> dict[str, Any]:
    """Discovery config of one camera's status sensor (connected / disconnected / disabled)."""
    layout = TopicLayout(config)
    return _entity(config, camera, "status", "camera status", version,
                   device_class="enum", options=list(STATUS_STATES),
                   entity_category="diagnostic", state_topic=layout.status(camera),
                   value_template="{{ value_json.state }}",
                   json_attributes_topic=layout.status(camera),
                   qos=config.topics.status.qos, icon="mdi:cctv")


def camera_discovery(config: MqttConfig, camera: str, labels: Sequence[str],
                     version: str = __version__) -> dict[str, dict[str, Any]]:
    """Entity key -> discovery config, for every entity of one camera."""
    configs = {
        "emotion": emotion_sensor_config(config, camera, labels, version),
        "faces": faces_sensor_config(config, camera, version),
        "occupancy": occupancy_config(config, camera, version),
        "status": status_sensor_config(config, camera, version),
        "episode": episode_event_config(config, camera, labels, version),
        "privacy": privacy_switch_config(config, camera, version),
    }
    for label in labels:
        configs[probability_entity(label)] = probability_sensor_config(config, camera, label,
                                                                       version)
    return configs


def discovery_messages(
    config: MqttConfig, cameras: Sequence[str], labels: Sequence[str], version: str = __version__
) -> list[tuple[str, bytes]]:
    """(topic, payload) of every discovery config to publish retained."""
    components = camera_entities(labels)
    out = [(discovery_topic(config, camera, entity, components[entity]), encode(payload))
           for camera in cameras
           for entity, payload in camera_discovery(config, camera, labels, version).items()]
    if cameras:
        (device_switch,) = device_discovery_topics(config)
        out.append((device_switch, encode(privacy_switch_config(config, None, version))))
    return out

"""The daemon as Home Assistant sees it: a real Home Assistant 2025 with its MQTT integration,
a real mosquitto, the daemon on registry videos; everything read back through Home
Assistant's own REST and WebSocket APIs."""

from __future__ import annotations

import signal
import uuid

import pytest
import yaml
from polling import wait_until

pytestmark = [pytest.mark.homeassistant, pytest.mark.slow]

LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
CAMERA_ENTITIES = {  # entity key -> (domain, device class discovery sent)
    "emotion": ("sensor", "enum"), "faces": ("sensor", None),
    "occupancy": ("binary_sensor", "occupancy"), "status": ("sensor", "enum"),
    "episode": ("event", None), "privacy": ("switch", None),
}


def daemon_config(broker, node: str, assets, cameras=("front", "hall")) -> dict:
    feat = assets / "feat-test-data"
    videos = {"front": feat / "single_face.mp4", "hall": feat / "face_noface.mov"}
    return {
        "cameras": {name: {"source": {"type": "file", "path": str(videos[name]), "loop": True},
                           "interval_ms": 100} for name in cameras},
        "mqtt": {"host": broker.host, "port": broker.port, "topic_prefix": f"ee/{node}",
                 "client_id": node,
                 "homeassistant": {"node_id": node, "device_name": f"{node} pi",
                                   "expire_after": 20}},
        "episodes": {"min_duration_s": 1.0, "end_grace_s": 0.5, "update_interval_s": 0},
    }


def entity_ids(ha, node: str, camera: str) -> dict[str, str]:
    """entity key -> entity_id of one camera, once Home Assistant has them all."""
    return {key: ha.wait_entity(f"{node}_{camera}_{key}")["entity_id"]
            for key in CAMERA_ENTITIES}


def test_entities_states_events_switch_reload_and_stop(
    assets, mosquitto, daemon_factory, home_assistant_factory, tmp_path
):
    node = f"ee_{uuid.uuid4().hex[:6]}"
    config = daemon_config(mosquitto, node, assets)
    daemon = daemon_factory(config)
    ha = home_assistant_factory(mosquitto)

    # Every entity on one device, with the class discovery gave it.
    front, hall = entity_ids(ha, node, "front"), entity_ids(ha, node, "hall")
    registry = {e["entity_id"]: e for e in ha.entity_registry()}
    (device,) = [d for d in ha.device_registry() if ["mqtt", node] in d["identifiers"]]
    assert device["name"] == f"{node} pi" and device["model"] == "emotion-edge"
    for ids in (front, hall):
        for key, entity_id in ids.items():
            domain, device_class = CAMERA_ENTITIES[key]
            assert entity_id.startswith(f"{domain}."), entity_id
            assert registry[entity_id]["device_id"] == device["id"]
            assert ha.entity(entity_id)["original_device_class"] == device_class, entity_id
    assert registry[front["status"]]["entity_category"] == "diagnostic"
    probabilities = [e for e in registry.values()
                     if e["unique_id"].startswith(f"{node}_front_") and "probability" in
                     e["unique_id"]]
    assert len(probabilities) == len(LABELS)
    assert all(e["disabled_by"] == "integration" for e in probabilities)  # off by default
    switch = ha.wait_entity(f"{node}_privacy")
    assert switch["device_id"] == device["id"]

    # States follow the videos: a face at the front; the hall's face comes and goes.
    ha.wait_state(front["faces"], lambda s: s["state"] == "1", timeout=60)
    ha.wait_state(front["occupancy"], lambda s: s["state"] == "on")
    ha.wait_state(front["emotion"], lambda s: s["state"] in LABELS)
    ha.wait_state(front["status"], lambda s: s["state"] == "connected")
    with ha.watch(hall["occupancy"]) as occupancy, ha.watch(hall["episode"]) as episodes:
        occupancy.wait_for(lambda s: s and s["state"] == "off", timeout=60,
                           what="nobody in the hall")
        occupancy.wait_for(lambda s: s and s["state"] == "on", timeout=60,
                           what="someone in the hall again")
        kinds = lambda s: (s or {}).get("attributes", {}).get("event_type", "")  # noqa: E731
        started = episodes.wait_for(lambda s: kinds(s).endswith("_start")
                                    and not kinds(s).startswith("none"), timeout=60,
                                    what="a face's episode start")
        emotion = kinds(started).removesuffix("_start")
        assert emotion in LABELS and started["attributes"]["track_id"] is not None
        episodes.wait_for(lambda s: kinds(s) == f"{emotion}_end", timeout=60,
                          what=f"the end of that {emotion} episode")
        episodes.wait_for(lambda s: kinds(s) == "none_start", timeout=60,
                          what="nobody in view as an episode")

    # The switch closes the camera, and opens it again.
    ha.post("/api/services/switch/turn_on", {"entity_id": front["privacy"]})
    ha.wait_state(front["status"], lambda s: s["state"] == "paused", timeout=30)
    ha.wait_state(front["privacy"], lambda s: s["state"] == "on")
    ha.post("/api/services/switch/turn_off", {"entity_id": front["privacy"]})
    ha.wait_state(front["status"], lambda s: s["state"] == "connected", timeout=60)

    # A camera removed by a reload takes its entities with it.
    config["cameras"].pop("hall")
    daemon.config_path.write_text(yaml.safe_dump(config))
    daemon.process.send_signal(signal.SIGHUP)
    gone = set(hall.values())
    assert wait_until(lambda: not gone & {e["entity_id"] for e in ha.entity_registry()},
                      60), "the hall's entities are still registered"
    assert set(front.values()) <= {e["entity_id"] for e in ha.entity_registry()}

    # SIGTERM: every entity of the device unavailable (the daemon says `stopped`).
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0
    for entity_id in [*front.values(), switch["entity_id"]]:
        ha.wait_state(entity_id, lambda s: s["state"] == "unavailable", timeout=30)


def test_kill_9_makes_only_that_device_unavailable(
    assets, mosquitto, daemon_factory, home_assistant_factory
):
    nodes = [f"ee_{uuid.uuid4().hex[:6]}" for _ in range(2)]
    daemons = [daemon_factory(daemon_config(mosquitto, node, assets, cameras=("front",)))
               for node in nodes]
    ha = home_assistant_factory(mosquitto)
    ids = {node: entity_ids(ha, node, "front") for node in nodes}
    for node in nodes:
        ha.wait_state(ids[node]["status"], lambda s: s["state"] == "connected", timeout=60)
    daemons[0].process.kill()  # no clean exit: the broker sends the Last Will
    for entity_id in ids[nodes[0]].values():
        ha.wait_state(entity_id, lambda s: s["state"] == "unavailable", timeout=60)
    for key in ("status", "emotion", "privacy"):
        assert ha.state(ids[nodes[1]][key])["state"] != "unavailable"

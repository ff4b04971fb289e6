"""A fleet on one broker: ten daemons posing as ten devices (their own node ids, prefixes and
client ids) on one mosquitto, one Prometheus (file-based service discovery) and one Home
Assistant: ten devices, no id collision, the dashboard's variables list all ten, and a
device killed takes only its own entities down."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from polling import wait_until
from prometheus_server import PROMETHEUS, Prometheus

from edge_daemon.mosquitto import free_port

pytestmark = [pytest.mark.homeassistant, pytest.mark.slow]

DEVICES = 10
DASHBOARD = Path(__file__).resolve().parents[2] / "config" / "grafana" / \
    "emotion-edge-dashboard.json"


def device_config(broker, node: str, video: Path, metrics_port: int) -> dict:
    return {
        "cameras": {"door": {"source": {"type": "file", "path": str(video), "loop": True},
                             "interval_ms": 1000}},  # slow: ten of them share two cores
        "mqtt": {"host": broker.host, "port": broker.port, "topic_prefix": f"emotion-edge/{node}",
                 "client_id": node, "homeassistant": {"node_id": node,
                                                      "device_name": node.replace("_", " ")}},
        "metrics": {"port": metrics_port},
        "episodes": {"enabled": False},
    }


def test_ten_devices_on_one_broker_one_prometheus_one_home_assistant(
    assets, mosquitto, daemon_factory, home_assistant_factory, tmp_path
):
    if not Path(PROMETHEUS).exists():
        pytest.fail(f"{PROMETHEUS} not found: install the Debian package prometheus")
    run = uuid.uuid4().hex[:4]
    nodes = [f"fleet_{run}_{i}" for i in range(DEVICES)]
    ports = {node: free_port() for node in nodes}
    video = assets / "feat-test-data" / "single_face.mp4"
    daemons = {node: daemon_factory(device_config(mosquitto, node, video, ports[node]))
               for node in nodes}

    # Prometheus finds them through a file (docs/fleet.md), one target per device.
    targets = tmp_path / "emotion-edge-targets.json"
    targets.write_text(json.dumps([{"targets": [f"127.0.0.1:{port}"],
                                    "labels": {"device": node}}
                                   for node, port in ports.items()]))
    prometheus = Prometheus(tmp_path, [{"job_name": "emotion-edge", "file_sd_configs": [
        {"files": [str(targets)], "refresh_interval": "5s"}]}])
    ha = home_assistant_factory(mosquitto)
    try:
        prometheus.wait_ready()
        assert wait_until(lambda: len(prometheus.api("query", query="emotion_edge_build_info")
                                      ["result"]) == DEVICES, 120), "not every device scraped"
        # The dashboard's instance variable lists every device.
        variables = {v["name"]: v for v in json.loads(DASHBOARD.read_text())["templating"]
                     ["list"]}
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)",
                             variables["instance"]["query"]["query"])
        instances = prometheus.api(f"label/{match[2]}/values", **{"match[]": match[1]})
        assert sorted(instances) == sorted(f"127.0.0.1:{port}" for port in ports.values())

        # Home Assistant: ten devices, each with its own entities, no unique id twice.
        status = {node: ha.wait_entity(f"{node}_door_status", timeout=120)["entity_id"]
                  for node in nodes}
        devices = [d for d in ha.device_registry()
                   if any(i[0] == "mqtt" and i[1] in nodes for i in d["identifiers"])]
        assert len(devices) == DEVICES
        ours = [e for e in ha.entity_registry() if e["unique_id"].startswith(f"fleet_{run}_")]
        assert len({e["unique_id"] for e in ours}) == len(ours)
        assert len({e["entity_id"] for e in ours}) == len(ours)
        assert len({e["device_id"] for e in ours}) == DEVICES
        for entity_id in status.values():
            ha.wait_state(entity_id, lambda s: s["state"] == "connected", timeout=120)

        # One device dies: only its entities go unavailable, and Prometheus sees it down.
        victim = nodes[3]
        daemons[victim].process.kill()
        ha.wait_state(status[victim], lambda s: s["state"] == "unavailable", timeout=60)
        for node in nodes:
            if node != victim:
                assert ha.state(status[node])["state"] == "connected", node
        assert wait_until(lambda: [r["metric"]["device"] for r in prometheus.api(
            "query", query='up{job="emotion-edge"} == 0')["result"]] == [victim], 30)
    finally:
        prometheus.stop()

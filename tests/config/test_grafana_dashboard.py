"""The Grafana dashboard works, not only parses: a real Prometheus scrapes a real daemon running
a face video, and every query of the dashboard (panels and template variables) is evaluated
through Prometheus' HTTP API with the variables substituted the way Grafana does it."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import pytest
import yaml
from prometheus_server import PROMETHEUS, Prometheus

from edge_daemon.mosquitto import free_port

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "config" / "grafana" / "emotion-edge-dashboard.json"
PROVISIONING = REPO / "config" / "grafana" / "provisioning"
SCRAPE_S = 1
CAMERA = "front_door"


def panels(dashboard: dict) -> list[dict]:
    """Every panel, those inside collapsed rows included."""
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out += panel.get("panels", [])
    return out


def targets(dashboard: dict) -> list[tuple[str, dict]]:
    return [(p["title"], t) for p in panels(dashboard) for t in p.get("targets", [])]


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


# --------------------------------------------------------------------------- Grafana's rules
def regex_escape(value: str) -> str:
    """Grafana's escaping of a multi-value variable for a Prometheus regex matcher."""
    value = value.replace("\\", "\\\\\\\\")
    return re.sub(r"[$^*{}\[\]'+?.()|]", lambda m: "\\\\" + m.group(0), value)


def variable_value(variable: dict, selected: list[str] | None) -> str:
    """What Grafana writes for a query variable: allValue for All, else escaped values."""
    if selected is None:
        return variable["allValue"]
    escaped = [regex_escape(v) for v in selected]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def rate_interval(interval_s: int, scrape_s: int) -> str:
    """$__rate_interval: max($__interval + scrape interval, 4 x scrape interval)."""
    return f"{max(interval_s + scrape_s, 4 * scrape_s)}s"


def interpolate(expr: str, values: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        assert name in values, f"unknown variable ${name} in {expr}"
        return values[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]", substitute, expr)


# --------------------------------------------------------------------------- static checks
def test_dashboard_is_provisionable_and_self_consistent(dashboard):
    assert "__inputs" not in dashboard  # no import-time prompts: provisioning works as is
    assert dashboard["uid"] == "emotion-edge" and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("instance", "camera"):
        assert variables[name]["type"] == "query" and variables[name]["includeAll"]
        assert variables[name]["datasource"]["uid"] == "${datasource}"
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for title, target in targets(dashboard):
        assert target["datasource"]["uid"] == "${datasource}", title
        assert target["expr"].strip(), title
    for panel in panels(dashboard):
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel.get("description"), panel["title"]
    titles = " ".join(p["title"].lower() for p in panels(dashboard))
    for subject in ("processing rate", "latency", "faces seen", "emotion distribution",
                    "dominant emotion timeline", "mqtt", "dropped", "cpu", "memory"):
        assert subject in titles, subject


def test_provisioning_examples_point_at_the_dashboard():
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "emotion-edge.yaml").read_text())
    assert provider["apiVersion"] == 1
    assert provider["providers"][0]["type"] == "file"
    assert provider["providers"][0]["options"]["path"]
    source = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())
    assert source["datasources"][0]["type"] == "prometheus"
    assert source["datasources"][0]["jsonData"]["timeInterval"]


@pytest.fixture
def scraped(assets, mosquitto, daemon_factory, tmp_path):
    """A Prometheus that has scraped a face-video daemon for a few seconds."""
    if not Path(PROMETHEUS).exists():
        pytest.fail(f"{PROMETHEUS} not found: install the Debian package prometheus")
    port = free_port()
    daemon_factory({
        "cameras": {CAMERA: {"source": {
            "type": "file", "path": str(assets / "feat-test-data" / "single_face.mp4"),
            "loop": True}, "interval_ms": 0}},
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "topic_prefix": "ee-dash",
                 "client_id": "ee-dash", "homeassistant": {"enabled": False}},
        "metrics": {"port": port},
        "snapshots": {"enabled": True, "directory": str(tmp_path / "snaps"), "interval_s": 0.5},
    })
    prometheus = Prometheus(tmp_path, [{"job_name": "emotion-edge", "static_configs": [
        {"targets": [f"127.0.0.1:{port}"]}]}], SCRAPE_S)
    try:
        prometheus.wait_ready()
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:  # six scrapes with data: rate() has enough points
            found = prometheus.api("query", query="count_over_time("
                                   "emotion_edge_frames_processed_total[1m])")["result"]
            if found and float(found[0]["value"][1]) >= 6:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("prometheus never scraped the daemon six times")
        yield prometheus, f"127.0.0.1:{port}"
    finally:
        prometheus.stop()


def has_data(data: dict) -> bool:
    """At least one series with at least one finite value."""
    for series in data["result"]:
        values = series.get("values") or [series["value"]]
        if any(math.isfinite(float(v)) for _, v in values):
            return True
    return False


def test_every_dashboard_query_returns_data_from_a_real_prometheus(dashboard, scraped):
    """Panels' queries (twice: All selected, then one instance and camera) and variables'."""
    prometheus, instance = scraped
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    interval_s = 1
    selections = {  # All cameras, and one chosen camera on one chosen instance
        "all": {"instance": None, "camera": None},
        "chosen": {"instance": [instance], "camera": [CAMERA]},
    }
    evaluated, empty, foreign = 0, [], []
    for choice, selected in selections.items():
        values = {name: variable_value(variables[name], selected[name])
                  for name in ("instance", "camera")}
        values |= {"__rate_interval": rate_interval(interval_s, SCRAPE_S),
                   "__interval": f"{interval_s}s", "__range": "5m"}
        now = time.time()
        for title, target in targets(dashboard):
            query = interpolate(target["expr"], values)
            if target.get("instant"):
                data = prometheus.api("query", query=query, time=now)
            else:
                data = prometheus.api("query_range", query=query, start=now - 10, end=now,
                                      step=interval_s)
            evaluated += 1
            if not has_data(data):
                empty.append(f"[{choice}] {title}: {query}")
            if choice == "all":
                others = {series["metric"].get("instance") for series in data["result"]} - {
                    instance, None}
                if others:
                    foreign.append(f"{title}: {query} shows {sorted(others)}")
    assert not empty, "queries without data:\n" + "\n".join(empty)
    assert not foreign, "panels showing other targets with All selected:\n" + "\n".join(foreign)
    assert evaluated == 2 * len(targets(dashboard)) >= 60
    check_variable_queries(variables, prometheus, instance)


def check_variable_queries(variables: dict, prometheus: Prometheus, instance: str) -> None:
    """The template variables' label_values() queries list this instance and its camera."""
    expected = {"instance": instance, "camera": CAMERA}
    for name in ("instance", "camera"):
        definition = variables[name]["query"]["query"]
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", definition)
        assert match, definition
        selector = interpolate(match[1], {"instance": regex_escape(instance)})
        found = prometheus.api(f"label/{match[2]}/values", **{"match[]": selector})
        assert expected[name] in found, (definition, found)

"""MqttConfig and TrackingConfig: defaults unique per device, strict, documented."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, ValidationError

from edge_daemon.config.mqtt import MqttConfig, MqttTlsConfig, device_slug
from edge_daemon.config.tracking import TrackingConfig


def test_defaults_are_unique_per_device():
    cfg = MqttConfig()
    slug = device_slug()
    assert cfg.host == "localhost" and cfg.port == 1883
    assert cfg.client_id == f"emotion-edge-{slug}"
    assert cfg.topic_prefix == f"emotion-edge/{slug}"
    assert cfg.homeassistant.node_id == f"emotion_edge_{slug}"
    assert cfg.topics.results.retain is False and cfg.topics.emotion.retain is True
    assert cfg.topics.availability.retain is True


@pytest.mark.parametrize(("hostname", "slug"), [
    ("Pi4-Kitchen.local", "pi4-kitchen"), ("jetson nano", "jetson-nano"), ("###", "device"),
])
def test_device_slug_is_topic_safe(hostname, slug):
    assert device_slug(hostname) == slug


@pytest.mark.parametrize(("data", "message"), [
    ({"hostname": "x"}, "Extra inputs are not permitted"),
    ({"port": 0}, "greater than or equal to 1"),
    ({"topic_prefix": "home/+/x"}, "must not contain '+'"),
    ({"topic_prefix": "/home"}, "must not start or end with '/'"),
    ({"reconnect_min_delay": 10, "reconnect_max_delay": 5}, "reconnect_max_delay"),
    ({"topics": {"results": {"topic": "results"}}}, "must contain {camera}"),
    ({"topics": {"emotion": {"topic": "{cam}/e"}}}, "must contain {camera}"),
    ({"topics": {"availability": {"topic": "{camera}/a"}}}, "takes no placeholder"),
    ({"topics": {"results": {"qos": 3}}}, "Input should be 0, 1 or 2"),
    ({"tls": {"key_file": "/k.pem", "cert_file": None, "enabled": True}}, "cert_file is not"),
    ({"tls": {"ca_file": "/ca.pem"}}, "enabled is false"),
    ({"homeassistant": {"node_id": "a b"}}, "node_id"),
    ({"password": "secret"}, "Extra inputs are not permitted"),
])
def test_bad_values_are_refused_with_the_reason(data, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        MqttConfig(**data)


def test_partial_topic_override_keeps_the_other_defaults():
    cfg = MqttConfig(topics={"results": {"qos": 1}})
    assert cfg.topics.results.topic == "{camera}/results" and cfg.topics.results.qos == 1
    assert cfg.topics.emotion.qos == 1


def test_config_is_frozen():
    cfg = MqttConfig()
    with pytest.raises(ValidationError):
        cfg.host = "elsewhere"  # type: ignore[misc]


def test_tls_config_builds():
    tls = MqttTlsConfig(enabled=True, ca_file="/etc/ca.pem", cert_file="/c.pem",
                        key_file="/k.pem", insecure=True)
    assert str(tls.ca_file) == "/etc/ca.pem" and tls.insecure


def _undocumented(model: type[BaseModel], path: str = "") -> list[str]:
    missing = []
    for name, field in model.model_fields.items():
        if not field.description:
            missing.append(path + name)
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            missing += _undocumented(sub, f"{path}{name}.")
    return missing


@pytest.mark.parametrize("model", [MqttConfig, TrackingConfig])
def test_every_field_has_a_description(model):
    assert _undocumented(model) == []


def test_tracking_defaults_and_bounds():
    cfg = TrackingConfig()
    assert cfg.hysteresis_frames == 3 and 0 < cfg.smoothing_alpha <= 1
    with pytest.raises(ValidationError, match="smoothing_alpha"):
        TrackingConfig(smoothing_alpha=0)
    with pytest.raises(ValidationError, match="hysteresis_frames"):
        TrackingConfig(hysteresis_frames=0)

"""Config section `mqtt`: broker connection, TLS, topics and Home Assistant discovery.

The broker password is deliberately not a field here: it is a secret, resolved from the
environment or a systemd credential by the config loader and handed to the MQTT sink.
"""

from __future__ import annotations

import re
import socket
import string
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from edge_daemon.config.base import Section

QoS = Literal[0, 1, 2]

_SLUG_UNSAFE = re.compile(r"[^a-z0-9_-]+")
_NODE_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def device_slug(hostname: str | None = None) -> str:
    """This device's hostname made safe for topics and ids (lower case, [a-z0-9_-])."""
    name = (hostname if hostname is not None else socket.gethostname()).split(".")[0]
    slug = _SLUG_UNSAFE.sub("-", name.lower()).strip("-")
    return slug or "device"


def default_client_id() -> str:
    """`emotion-edge-<hostname>`: unique per device, so two devices never evict each other."""
    return f"emotion-edge-{device_slug()}"


def default_topic_prefix() -> str:
    """`emotion-edge/<hostname>`: many devices can share one broker."""
    return f"emotion-edge/{device_slug()}"


def check_topic(value: str, what: str) -> str:
    """Refuse an MQTT topic (or topic part) that is empty, has wildcards or stray slashes."""
    if not value:
        raise ValueError(f"{what} must not be empty")
    if any(c in value for c in "+#\0"):
        raise ValueError(f"{what} {value!r} must not contain '+', '#' or NUL")
    if value.startswith("/") or value.endswith("/") or "//" in value:
        raise ValueError(f"{what} {value!r} must not start or end with '/' or contain '//'")
    return value


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


class _CameraTopic(Section):
    """A per-camera topic: `topic` is relative to the prefix and must contain `{camera}`."""

    topic: str
    qos: QoS = 0
    retain: bool = False

    @field_validator("topic")
    @classmethod
    def _camera_template(cls, value: str) -> str:
        check_topic(value, "topic")
        if _placeholders(value) != {"camera"}:
            raise ValueError(f"topic {value!r} must contain {{camera}} and no other placeholder")
        return value


class ResultsTopic(_CameraTopic):
    """Per processed frame, one JSON message per camera (an event stream, not retained)."""

    topic: str = "{camera}/results"
    """Topic under the prefix; `{camera}` is replaced by the camera's name."""
    qos: QoS = 0
    """MQTT QoS (0: at most once, 1: at least once, 2: exactly once)."""
    retain: bool = False
    """Ask the broker to keep the last message for new subscribers."""


class EmotionTopic(_CameraTopic):
    """The camera's stable dominant emotion, sent when it changes and after each reconnect."""

    topic: str = "{camera}/emotion"
    """Topic under the prefix; `{camera}` is replaced by the camera's name."""
    qos: QoS = 1
    """MQTT QoS (0: at most once, 1: at least once, 2: exactly once)."""
    retain: bool = True
    """Ask the broker to keep the last message for new subscribers."""


class AttributesTopic(_CameraTopic):
    """A slow summary of the primary face's smoothed probabilities (Home Assistant attributes)."""

    topic: str = "{camera}/attributes"
    """Topic under the prefix; `{camera}` is replaced by the camera's name."""
    qos: QoS = 0
    """MQTT QoS (0: at most once, 1: at least once, 2: exactly once)."""
    retain: bool = True
    """Ask the broker to keep the last message for new subscribers."""
    min_interval: float = Field(5.0, ge=0.0)
    """Seconds between two summaries (also sent at once when the dominant emotion changes);
    keeps Home Assistant's recorder from storing ten attribute sets a second."""


class StatusTopic(_CameraTopic):
    """Whether the camera delivers frames: connected, disconnected (since when, why) or
    disabled; sent when it changes and after each reconnect."""

    topic: str = "{camera}/status"
    """Topic under the prefix; `{camera}` is replaced by the camera's name."""
    qos: QoS = 1
    """MQTT QoS (0: at most once, 1: at least once, 2: exactly once)."""
    retain: bool = True
    """Ask the broker to keep the last message for new subscribers."""


class EventsTopic(_CameraTopic):
    """Emotion episodes of a camera: a `start`, `update`s and an `end` each (not retained:
    an event is news, not a state)."""

    topic: str = "{camera}/events"
    """Topic under the prefix; `{camera}` is replaced by the camera's name."""
    qos: QoS = 1
    """MQTT QoS (0: at most once, 1: at least once, 2: exactly once)."""
    retain: bool = False
    """Ask the broker to keep the last message for new subscribers."""


class AvailabilityTopic(Section):
    """The device's availability: `online`, `offline` (Last Will) or `stopped` (clean exit)."""

    topic: str = "availability"
    """Topic under the prefix."""
    qos: QoS = 1
    """MQTT QoS (0: at most once, 1: at least once, 2: exactly once)."""
    retain: bool = True
    """Ask the broker to keep the last message for new subscribers."""

    @field_validator("topic")
    @classmethod
    def _plain_topic(cls, value: str) -> str:
        check_topic(value, "topic")
        if _placeholders(value):
            raise ValueError(f"topic {value!r} is per device and takes no placeholder")
        return value


class MqttTopics(Section):
    """The topics published under the prefix, each with its QoS and retain flag."""

    availability: AvailabilityTopic = AvailabilityTopic()
    """Availability of this device (retained)."""
    results: ResultsTopic = ResultsTopic()
    """Per-frame results per camera."""
    emotion: EmotionTopic = EmotionTopic()
    """Stable dominant emotion per camera (retained, on change)."""
    attributes: AttributesTopic = AttributesTopic()
    """Throttled probability summary per camera (Home Assistant attributes)."""
    status: StatusTopic = StatusTopic()
    """Camera status per camera (retained, on change)."""
    events: EventsTopic = EventsTopic()
    """Emotion episodes per camera (start, update, end)."""


class MqttTlsConfig(Section):
    """TLS to the broker; with no CA file the system's trust store verifies the broker."""

    enabled: bool = False
    """Connect with TLS (brokers usually listen for it on port 8883)."""
    ca_file: Path | None = None
    """PEM file of the CA certificate(s) that signed the broker's certificate."""
    cert_file: Path | None = None
    """PEM client certificate, for brokers that authenticate clients by certificate."""
    key_file: Path | None = None
    """PEM private key of the client certificate (unencrypted)."""
    insecure: bool = False
    """Skip the check that the broker's certificate names the host connected to. The chain
    is still verified. For test setups only."""

    @model_validator(mode="after")
    def _consistent(self) -> MqttTlsConfig:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file is set but cert_file is not")
        files = [self.ca_file, self.cert_file, self.key_file]
        if not self.enabled and any(f is not None for f in files):
            raise ValueError("certificate files are set but enabled is false")
        return self


class HomeAssistantConfig(Section):
    """Home Assistant MQTT discovery: one enum sensor of the dominant emotion per camera."""

    enabled: bool = True
    """Publish discovery configs (retained, and again when Home Assistant comes online)."""
    discovery_prefix: str = "homeassistant"
    """Home Assistant's discovery prefix."""
    status_topic: str = "homeassistant/status"
    """Where Home Assistant announces `online`; discovery configs are re-sent on it."""
    node_id: str = Field(default_factory=lambda: f"emotion_edge_{device_slug()}")
    """Node id in the discovery topic and the base of unique ids ([A-Za-z0-9_-]); default
    from the hostname."""
    device_name: str = Field(default_factory=lambda: f"emotion-edge {device_slug()}")
    """Name of the device that groups this daemon's entities in Home Assistant."""
    expire_after: int = Field(30, ge=0)
    """Seconds without a processed frame after which Home Assistant shows the sensor as
    unavailable (0: never)."""

    @field_validator("discovery_prefix", "status_topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        return check_topic(value, "topic")

    @field_validator("node_id")
    @classmethod
    def _node_id(cls, value: str) -> str:
        if not _NODE_ID.match(value):
            raise ValueError(f"node_id {value!r} may only contain letters, digits, '_' and '-'")
        return value


class MqttConfig(Section):
    """The MQTT sink: where results go and how the connection behaves."""

    enabled: bool = True
    """Publish to MQTT at all."""
    host: str = "localhost"
    """Broker host name or address."""
    port: int = Field(1883, ge=1, le=65535)
    """Broker port (1883 plain, usually 8883 with TLS)."""
    username: str | None = None
    """User name for the broker. The password is a secret: environment variable
    EMOTION_EDGE_MQTT_PASSWORD or the systemd credential `mqtt_password`, never the YAML."""
    client_id: str = Field(default_factory=default_client_id, min_length=1)
    """MQTT client id; must be unique per broker (default from the hostname)."""
    topic_prefix: str = Field(default_factory=default_topic_prefix)
    """Prefix of every topic this device publishes (default `emotion-edge/<hostname>`)."""
    keepalive: int = Field(30, ge=5, le=65535)
    """Seconds between keep-alive pings; the broker sends the Last Will after 1.5 times this
    without traffic."""
    reconnect_min_delay: float = Field(1.0, gt=0.0)
    """First wait before reconnecting after the broker was lost (doubled each failure)."""
    reconnect_max_delay: float = Field(5.0, gt=0.0)
    """Longest wait between reconnect attempts; each wait at this cap is drawn between half
    of it and all of it, so that a fleet of sensors does not reconnect in step. Short, since
    results queued while the broker was away are lost once the queue is full: after the
    broker is back, the first result arrives within this many seconds."""
    offline_queue_size: int = Field(1000, ge=0)
    """Results kept while the broker is unreachable, sent on reconnect; when full, the
    oldest is dropped (and counted)."""
    outage_log_interval: float = Field(300.0, gt=0.0)
    """While the broker stays unreachable, seconds between two reminder log lines (the
    outage itself is logged once, at once)."""
    no_face_state: str = Field("none", min_length=1)
    """Value of the dominant-emotion topic (and Home Assistant state) when no face is seen."""
    tls: MqttTlsConfig = MqttTlsConfig()
    """TLS settings."""
    topics: MqttTopics = MqttTopics()
    """Topics, QoS and retain flags."""
    homeassistant: HomeAssistantConfig = HomeAssistantConfig()
    """Home Assistant discovery."""

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return check_topic(value, "topic_prefix")

    @model_validator(mode="after")
    def _delays(self) -> MqttConfig:
        if self.reconnect_max_delay < self.reconnect_min_delay:
            raise ValueError(
                f"reconnect_max_delay ({self.reconnect_max_delay}) is below "
                f"reconnect_min_delay ({self.reconnect_min_delay})"
            )
        return self

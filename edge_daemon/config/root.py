"""The whole configuration: one field per section."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from edge_daemon.config.base import Section
from edge_daemon.config.cameras import CameraConfig, CameraName, cameras_as_mapping
from edge_daemon.config.classifier import ClassifierConfig
from edge_daemon.config.detector import BlazeFaceConfig, DetectorConfig
from edge_daemon.config.episodes import EpisodesConfig
from edge_daemon.config.logs import LoggingConfig
from edge_daemon.config.metrics import MetricsConfig
from edge_daemon.config.mqtt import MqttConfig
from edge_daemon.config.privacy import PrivacyConfig
from edge_daemon.config.runtime import RuntimeConfig
from edge_daemon.config.secrets import SecretsConfig
from edge_daemon.config.snapshots import SnapshotsConfig
from edge_daemon.config.tracking import TrackingConfig
from edge_daemon.config.websocket import WebSocketConfig

DEFAULT_CONFIG_PATH = "/etc/emotion-edge/config.yaml"


class Config(Section):
    """emotion-edge configuration (YAML)."""

    cameras: Annotated[dict[CameraName, CameraConfig], Field(min_length=1)]
    """The cameras, by name: a mapping `name: {source: ...}` or a list of cameras that each
    carry a `name`. Names appear in MQTT topics, so letters, digits, `_` and `-` only."""
    detector: DetectorConfig = BlazeFaceConfig()
    """Face detection."""
    classifier: ClassifierConfig = ClassifierConfig()
    """Emotion classification."""
    runtime: RuntimeConfig = RuntimeConfig()
    """onnxruntime settings for both models."""
    tracking: TrackingConfig = TrackingConfig()
    """Face tracks, smoothing and the hysteresis of the dominant emotion."""
    episodes: EpisodesConfig = EpisodesConfig()
    """Emotion episodes (a start and an end) published as events."""
    mqtt: MqttConfig = MqttConfig()
    """The MQTT broker and topics."""
    privacy: PrivacyConfig = PrivacyConfig()
    """Whether the cameras' privacy switches survive a restart."""
    secrets: SecretsConfig = SecretsConfig()
    """Where the MQTT password is looked up."""
    metrics: MetricsConfig = MetricsConfig()
    """The Prometheus metrics endpoint."""
    snapshots: SnapshotsConfig = SnapshotsConfig()
    """Sampling images of what the model saw."""
    websocket: WebSocketConfig = WebSocketConfig()
    """The local HTTP/WebSocket server: results stream, the seed's protocol, the live page."""
    logging: LoggingConfig = LoggingConfig()
    """Log level."""

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: object) -> object:
        # `classifier:` with nothing (or only comments) under it means "all defaults".
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None or k == "cameras"}
        return data

    @field_validator("cameras", mode="before")
    @classmethod
    def _list_form(cls, value: object) -> object:
        return cameras_as_mapping(value)

    def enabled_cameras(self) -> dict[str, CameraConfig]:
        """The cameras to open, by name."""
        return {name: cam for name, cam in self.cameras.items() if cam.enabled}

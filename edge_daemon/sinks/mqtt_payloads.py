"""What the MQTT sink publishes: topic names and message bodies, built by pure functions.

Kept apart from the connection handling so that the schema can be read, documented and
tested without a broker.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ..config.mqtt import MqttConfig
from ..records import CameraStatus, FaceResult, FrameResult

ONLINE = "online"
OFFLINE = "offline"  # the Last Will: the process died or lost its network
STOPPED = "stopped"  # a clean shutdown

SCHEMA_VERSION = 1


def check_camera_name(camera: str) -> str:
    """Refuse a camera name that cannot be one topic level (empty, '/', '+', '#')."""
    if not camera or any(c in camera for c in "/+#\0"):
        raise ValueError(f"camera name {camera!r} cannot be used in an MQTT topic "
                         "(empty, or contains '/', '+' or '#')")
    return camera


class TopicLayout:
    """The full topic names of one device, from the config's prefix and topic templates."""

    def __init__(self, config: MqttConfig) -> None:
        self.prefix = config.topic_prefix
        self.topics = config.topics
        self.availability = f"{self.prefix}/{config.topics.availability.topic}"

    def _camera(self, template: str, camera: str) -> str:
        return f"{self.prefix}/{template.format(camera=check_camera_name(camera))}"

    def results(self, camera: str) -> str:
        """Per-frame results of a camera."""
        return self._camera(self.topics.results.topic, camera)

    def emotion(self, camera: str) -> str:
        """Stable dominant emotion of a camera (retained)."""
        return self._camera(self.topics.emotion.topic, camera)

    def attributes(self, camera: str) -> str:
        """Throttled probability summary of a camera."""
        return self._camera(self.topics.attributes.topic, camera)

    def status(self, camera: str) -> str:
        """Camera status: connected, disconnected or disabled (retained)."""
        return self._camera(self.topics.status.topic, camera)

    def per_camera(self, camera: str) -> list[str]:
        """Every retained topic of a camera (cleared when the camera is removed)."""
        return [self.emotion(camera), self.attributes(camera), self.status(camera)]


def iso_utc(epoch: float) -> str:
    """ISO 8601 UTC with milliseconds and a `Z`, e.g. 2026-11-24T10:15:30.123Z."""
    stamp = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _number(value: float, digits: int) -> float | None:
    # JSON has no NaN or infinity; a broken model output becomes null rather than bad JSON.
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def label_map(labels: Sequence[str], values: Sequence[float]) -> dict[str, float | None]:
    """Label -> probability, rounded to 5 decimals like the seed's server."""
    return {label: _number(v, 5) for label, v in zip(labels, values, strict=True)}


def face_payload(face: FaceResult, labels: Sequence[str], width: int, height: int) -> dict:
    """One tracked face: id, box normalized to the frame (clipped), score, probabilities."""
    x1, y1, x2, y2 = face.box.clipped(width, height).normalized(width, height)
    return {
        "track_id": face.track_id,
        "box": {"x1": _number(x1, 4), "y1": _number(y1, 4),
                "x2": _number(x2, 4), "y2": _number(y2, 4)},
        "score": _number(face.score, 4),
        "emotion": face.emotion,
        "probabilities": label_map(labels, face.raw),
        "smoothed": label_map(labels, face.smoothed),
    }


def results_payload(result: FrameResult) -> dict[str, Any]:
    """The per-frame message of one camera (faces in detection order, primary = largest)."""
    primary = result.primary
    return {
        "schema": SCHEMA_VERSION,
        "timestamp": iso_utc(result.timestamp),
        "epoch": _number(result.timestamp, 3),
        "camera": result.camera,
        "frame": result.frame_index,
        "width": result.width,
        "height": result.height,
        "faces": [face_payload(f, result.labels, result.width, result.height)
                  for f in result.faces],
        "camera_emotion": result.camera_emotion,
        # Seed-compatible keys: the primary face's raw model output and its stable emotion.
        "predictions": label_map(result.labels, primary.raw) if primary else {},
        "emotion": primary.emotion if primary else None,
        "primary_track_id": primary.track_id if primary else None,
        "timings_ms": {k: _number(v * 1000.0, 2) for k, v in result.timings.items()},
    }


def emotion_state(camera_emotion: str | None, no_face_state: str) -> str:
    """Payload of the retained dominant-emotion topic: the label, or no_face_state."""
    return camera_emotion if camera_emotion is not None else no_face_state


def attributes_payload(result: FrameResult, no_face_state: str) -> dict[str, Any]:
    """Flat summary for Home Assistant attributes: primary face's smoothed probabilities."""
    primary = result.primary
    values = primary.smoothed if primary else [math.nan] * len(result.labels)
    summary: dict[str, Any] = dict(label_map(result.labels, values))
    summary.update(
        emotion=emotion_state(result.camera_emotion, no_face_state),
        faces=len(result.faces),
        track_id=primary.track_id if primary else None,
        timestamp=iso_utc(result.timestamp),
    )
    return summary


def encode(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def status_payload(status: CameraStatus) -> dict[str, Any]:
    """Payload of the retained per-camera status topic."""
    return {"state": status.state, "since": iso_utc(status.since),
            "error": status.error or None}

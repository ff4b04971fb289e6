"""What the MQTT sink publishes besides the results message: topics, states, attributes.

Kept apart from the connection handling so that the schema can be read, documented and
tested without a broker.
"""

from __future__ import annotations

import math
from typing import Any

from edge_daemon.config.mqtt import MqttConfig
from edge_daemon.core.records import CameraStatus, EpisodeEvent, FrameResult
from edge_daemon.sinks.results_json import iso_utc, label_map

ONLINE = "online"
OFFLINE = "offline"  # the Last Will: the process died or lost its network
STOPPED = "stopped"  # a clean shutdown


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

    def privacy(self, camera: str | None = None) -> str:
        """A camera's privacy switch state (retained `ON`/`OFF`); None: the device's."""
        return f"{self.prefix}/privacy" if camera is None else \
            f"{self.prefix}/{check_camera_name(camera)}/privacy"

    def privacy_command(self, camera: str | None = None) -> str:
        """Where a privacy switch is set; None: every camera at once."""
        return f"{self.privacy(camera)}/set"

    def events(self, camera: str) -> str:
        """Emotion episodes of a camera (not retained)."""
        return self._camera(self.topics.events.topic, camera)

    def per_camera(self, camera: str) -> list[str]:
        """Every retained topic of a camera (cleared when the camera is removed)."""
        return [self.emotion(camera), self.attributes(camera), self.status(camera),
                self.privacy(camera)]


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


def status_payload(status: CameraStatus) -> dict[str, Any]:
    """Payload of the retained per-camera status topic."""
    return {"state": status.state, "since": iso_utc(status.since),
            "error": status.error or None}


EPISODE_KINDS = ("start", "update", "end")


def event_type(emotion: str | None, kind: str, no_face_state: str) -> str:
    """Home Assistant's event type of an episode event, e.g. `happy_start`, `none_end`."""
    return f"{emotion if emotion is not None else no_face_state}_{kind}"


def episode_payload(event: EpisodeEvent, width: int, height: int,
                    no_face_state: str) -> dict[str, Any]:
    """Payload of one episode event on `<prefix>/<camera>/events`."""
    box = None
    if event.box is not None:
        x1, y1, x2, y2 = event.box.clipped(width, height).normalized(width, height)
        box = {"x1": round(x1, 4), "y1": round(y1, 4), "x2": round(x2, 4), "y2": round(y2, 4)}
    return {
        "event_type": event_type(event.emotion, event.kind, no_face_state),
        "type": event.kind,
        "camera": event.camera,
        "episode": event.episode,
        "track_id": event.track_id,
        "emotion": event.emotion,
        "start": iso_utc(event.start),
        "end": iso_utc(event.end) if event.end is not None else None,
        "duration_s": round(event.duration, 3),
        "peak": round(event.peak, 5) if event.peak is not None else None,
        "mean": round(event.mean, 5) if event.mean is not None else None,
        "box": box,
        "frames": event.frames,
    }


SWITCH_ON = "ON"
SWITCH_OFF = "OFF"
_SWITCH_PAYLOADS = {"on": True, "off": False, "true": True, "false": False, "1": True, "0": False}


def switch_command(payload: bytes) -> bool | None:
    """A switch command's payload as on (True) or off (False); None when it is neither."""
    try:
        text = payload.decode("ascii").strip().lower()
    except UnicodeDecodeError:
        return None
    return _SWITCH_PAYLOADS.get(text)

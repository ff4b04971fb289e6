"""The results message: one frame's faces and emotions as JSON, the same on every wire.

MQTT's `<prefix>/<camera>/results` topic and the WebSocket `/stream` carry this message,
byte for byte (docs/mqtt.md has its schema). Built by pure functions so that the schema can
be read, documented and tested without a broker or a server.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from edge_daemon.core.records import FaceResult, FrameResult

SCHEMA_VERSION = 1


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


def encode(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()

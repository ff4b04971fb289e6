"""Counters the stages and sinks keep about themselves.

Each object is written by the stage that owns it and only read by everyone else: the metrics
sink at scrape time, the status line, the WebSocket server's /status. Keeping them here, in
the leaf, lets the metrics sink read every stage's counters without importing any stage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class SourceStats:
    """Counters a source keeps about itself (read by the pipeline and the metrics)."""

    frames_captured: int = 0
    frames_dropped: int = 0  # captured but replaced by a newer frame before anyone took it
    frames_rejected: int = 0  # of a shape or type that cannot be made a BGR frame
    reopen_attempts: int = 0
    connected: bool = False
    last_error: str = ""


@dataclass
class LoopStats:
    """Counters of one camera's loop (read by the metrics and the status line)."""

    frames_processed: int = 0
    frames_failed: int = 0
    faces_detected: int = 0
    faces_too_small: int = 0
    faces_outside_zones: int = 0  # ignored by the camera's zones (place or size)
    faces_unclassified: int = 0  # the emotion model's output was NaN or infinite
    last_processed: float = 0.0  # time.monotonic() of the last processed frame
    last_publish_s: float = 0.0  # how long handing the last result to the sinks took


@dataclass
class MqttStats:
    """Counters of the MQTT sink, read by the metrics sink."""

    connected: bool = False
    published: int = 0  # messages handed to the broker (QoS 0 written, QoS 1/2 acknowledged)
    queued: int = 0  # results waiting in the offline queue now
    dropped: int = 0  # results lost: offline queue full, paho's queue full, or shutdown
    reconnects: int = 0  # successful connections after the first
    connect_failures: int = 0  # attempts that failed (unreachable broker or refused CONNACK)
    last_error: str = ""


@dataclass
class SnapshotStats:
    """Counters of the snapshot saver, read by the metrics sink (per camera where keyed)."""

    saved: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # saver busy: sample skipped
    deleted: dict[str, int] = field(default_factory=dict)  # by retention, "age" or "size"
    stored_samples: int = 0
    stored_bytes: int = 0
    failing: bool = False
    last_error: str = ""


@dataclass
class WebSocketStats:
    """What the server has done since it started.

    Written on the server's thread, except results_dropped (camera threads, under a lock).
    """

    listening: bool = False
    stream_clients: int = 0  # stream connections open now
    seed_clients: int = 0  # seed-protocol connections open now
    results_sent: int = 0  # results messages written to stream clients
    results_skipped: int = 0  # dropped from slow clients' queues (they got newer ones)
    results_dropped: int = 0  # never reached the server (its loop was behind: oldest dropped)
    previews_sent: int = 0
    seed_answered: int = 0  # seed messages answered with predictions
    seed_errors: int = 0  # seed messages answered with {"error": ...} (bad input)
    seed_images_refused: int = 0  # of those, images refused as malformed or too slow to decode
    seed_rate_limited: int = 0  # seed messages over the client's rate limit, dropped
    seed_superseded: int = 0  # seed messages replaced by a newer one before their turn
    refused_unauthorized: int = 0  # requests without the right token (401/403)
    refused_full: int = 0  # WebSocket connections refused at max_clients (503)
    last_seed_seconds: float = 0.0  # decode + inference time of the last seed answer

    def as_dict(self) -> dict[str, object]:
        """The counters as a JSON-ready dict."""
        return asdict(self)

"""What the metrics endpoint reads at scrape time: the stages' own counters, never copies.

The sources, the camera loops, the MQTT sink and the snapshot saver already count what they
do (SourceStats, LoopStats, MqttStats, SnapshotStats). `StatsCollector` turns those objects
into Prometheus families when Prometheus asks, so nothing is counted twice and no stage
learns about Prometheus. The App hands a fresh `PipelineView` to the metrics sink whenever
it builds its stages (at start and after each reload).

A reload replaces the sources and loops, so their counters start again from zero: Prometheus'
rate() and increase() read that as a counter reset, which is what it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)

from edge_daemon import __version__
from edge_daemon.core.stats import LoopStats, MqttStats, SnapshotStats, SourceStats

PREFIX = "emotion_edge_"
NO_FACE = "none"  # the dominant-emotion state while a camera sees no face


@dataclass(frozen=True)
class BuildInfo:
    """The constant facts of a running daemon, exported as emotion_edge_build_info."""

    model: str
    model_arch: str
    labels: tuple[str, ...]
    quantization: str
    provider: str
    detector: str
    version: str = __version__

    def as_labels(self) -> dict[str, str]:
        """The info metric's label set."""
        return {"version": self.version, "model": self.model, "model_arch": self.model_arch,
                "labels": ",".join(self.labels), "quantization": self.quantization,
                "provider": self.provider, "detector": self.detector}


@dataclass(frozen=True)
class PipelineView:
    """The stats objects of one App's stages, by camera, and the facts of its models."""

    build: BuildInfo
    sources: Mapping[str, SourceStats]
    loops: Mapping[str, LoopStats]
    mqtt: MqttStats | None = None
    snapshots: SnapshotStats | None = None

    @property
    def cameras(self) -> list[str]:
        """The cameras of this App."""
        return list(self.sources)


@dataclass
class CameraState:
    """What the metrics sink remembers of a camera's latest result (for the gauges)."""

    emotion: str | None = None
    faces_in_view: int = 0
    frames_per_second: float = 0.0  # over the last rate window


_Counter = tuple[str, str, Callable[[SourceStats, LoopStats], int]]

# name (without prefix), help, value: one series per camera.
CAMERA_COUNTERS: tuple[_Counter, ...] = (
    ("frames_captured", "Frames the camera delivered.", lambda s, _: s.frames_captured),
    ("frames_processed", "Frames run through detection and classification.",
     lambda _, lp: lp.frames_processed),
    ("faces_detected", "Faces detected and classified (big enough to judge).",
     lambda _, lp: lp.faces_detected),
    ("faces_too_small", "Faces detected but ignored as smaller than detector.min_face_px.",
     lambda _, lp: lp.faces_too_small),
    ("faces_outside_zones", "Faces detected but ignored by the camera's zones (outside the "
     "include zones, inside an exclude zone, or outside the size limits).",
     lambda _, lp: lp.faces_outside_zones),
    ("camera_reopen_attempts", "Times the camera was reopened after a failure or a stall.",
     lambda s, _: s.reopen_attempts),
)

# reason label -> value: frames that never became a result.
DROP_REASONS: tuple[tuple[str, Callable[[SourceStats, LoopStats], int]], ...] = (
    ("superseded", lambda s, _: s.frames_dropped),  # a newer frame replaced it unprocessed
    ("unusable", lambda s, _: s.frames_rejected),  # a shape or type that is no image
    ("failed", lambda _, lp: lp.frames_failed),  # processing raised an error
)


class StatsCollector:
    """A prometheus_client collector reading a PipelineView and the sink's camera states."""

    def __init__(self, states: Callable[[], Mapping[str, CameraState]],
                 rate_window_s: float) -> None:
        self.view: PipelineView | None = None
        self._states = states  # the sink's per-camera state, copied under its lock
        self._rate_window_s = rate_window_s

    def collect(self) -> Iterable[Metric]:
        """The families, built from the stats as they are now (called at every scrape)."""
        view = self.view
        if view is None:
            return []
        families = [*self._camera_families(view), *self._state_families(view)]
        if view.mqtt is not None:
            families += mqtt_families(view.mqtt)
        if view.snapshots is not None:
            families += snapshot_families(view.snapshots, view.cameras)
        info = InfoMetricFamily(PREFIX + "build", "Version, emotion model and runtime in use.")
        info.add_metric([], view.build.as_labels())
        families.append(info)
        return families

    def _camera_families(self, view: PipelineView) -> list[Metric]:
        cameras = [(c, view.sources[c], view.loops.get(c)) for c in view.cameras]
        cameras = [(c, s, lp) for c, s, lp in cameras if lp is not None]
        families: list[Metric] = []
        for name, doc, value in CAMERA_COUNTERS:
            family = CounterMetricFamily(PREFIX + name, doc, labels=["camera"])
            for camera, source, loop in cameras:
                family.add_metric([camera], value(source, loop))
            families.append(family)
        dropped = CounterMetricFamily(
            PREFIX + "frames_dropped", "Frames that never became a result, by reason.",
            labels=["camera", "reason"])
        connected = GaugeMetricFamily(
            PREFIX + "camera_connected", "1 while the camera delivers frames.", labels=["camera"])
        last = GaugeMetricFamily(
            PREFIX + "last_processed_timestamp_seconds",
            "Unix time of the camera's last processed frame.", labels=["camera"])
        now_wall, now = time.time(), time.monotonic()
        for camera, source, loop in cameras:
            for reason, value in DROP_REASONS:
                dropped.add_metric([camera, reason], value(source, loop))
            connected.add_metric([camera], 1.0 if source.connected else 0.0)
            if loop.last_processed:
                last.add_metric([camera], now_wall - (now - loop.last_processed))
        return [*families, dropped, connected, last]

    def _state_families(self, view: PipelineView) -> list[Metric]:
        states = self._states()
        rate = GaugeMetricFamily(
            PREFIX + "processing_frames_per_second",
            f"Frames processed per second over the last {self._rate_window_s:g} s.",
            labels=["camera"])
        faces = GaugeMetricFamily(PREFIX + "faces_in_view",
                                  "Faces in the camera's latest processed frame.",
                                  labels=["camera"])
        dominant = GaugeMetricFamily(
            PREFIX + "dominant_emotion",
            f"1 for the camera's current stable dominant emotion ({NO_FACE!r}: no face), "
            "0 for the others.", labels=["camera", "emotion"])
        for camera in view.cameras:
            state = states.get(camera, CameraState())
            rate.add_metric([camera], state.frames_per_second)
            faces.add_metric([camera], state.faces_in_view)
            current = state.emotion or NO_FACE
            for emotion in (*view.build.labels, NO_FACE):
                dominant.add_metric([camera, emotion], 1.0 if emotion == current else 0.0)
        return [rate, faces, dominant]


def mqtt_families(stats: MqttStats) -> list[Metric]:
    """The MQTT sink's counters and gauges."""
    def counter(name: str, doc: str, value: float) -> Metric:
        return CounterMetricFamily(PREFIX + name, doc, value=value)

    def gauge(name: str, doc: str, value: float) -> Metric:
        return GaugeMetricFamily(PREFIX + name, doc, value=value)

    return [
        gauge("mqtt_connected", "1 while connected to the MQTT broker.",
              1.0 if stats.connected else 0.0),
        counter("mqtt_messages_published", "MQTT messages handed to the broker.",
                stats.published),
        counter("mqtt_messages_dropped",
                "Results lost: offline queue full, client queue full, or shutdown.",
                stats.dropped),
        gauge("mqtt_queued_messages", "Results waiting in the offline queue now.",
              stats.queued),
        counter("mqtt_reconnects", "Successful connections after the first.", stats.reconnects),
        counter("mqtt_connect_failures", "Connection attempts that failed.",
                stats.connect_failures),
    ]


def snapshot_families(stats: SnapshotStats, cameras: Iterable[str]) -> list[Metric]:
    """The snapshot saver's counters and gauges (every camera's series, zeros included)."""
    per_camera = (
        ("snapshots_saved", "Samples (images and sidecar) written completely.", stats.saved),
        ("snapshots_failed", "Samples that could not be written (disk full, read-only, ...).",
         stats.failed),
        ("snapshots_dropped", "Samples dropped unsaved: the saver was busy and a newer one came.",
         stats.dropped),
    )
    families: list[Metric] = []
    for name, doc, values in per_camera:
        family = CounterMetricFamily(PREFIX + name, doc, labels=["camera"])
        counts = dict(values)  # a copy: the saver thread may add a camera meanwhile
        for camera in sorted({*cameras, *counts}):
            family.add_metric([camera], counts.get(camera, 0))
        families.append(family)
    deleted = CounterMetricFamily(PREFIX + "snapshots_deleted",
                                  "Samples deleted by retention, by reason (age or size).",
                                  labels=["reason"])
    for reason in ("age", "size"):
        deleted.add_metric([reason], stats.deleted.get(reason, 0))
    families.append(deleted)
    families.append(GaugeMetricFamily(PREFIX + "snapshots_stored",
                                      "Samples kept on disk now.", value=stats.stored_samples))
    families.append(GaugeMetricFamily(PREFIX + "snapshots_stored_bytes",
                                      "Bytes taken by the samples kept on disk now.",
                                      value=stats.stored_bytes))
    families.append(GaugeMetricFamily(PREFIX + "snapshots_writable",
                                      "1 while the last write attempt succeeded.",
                                      value=0.0 if stats.failing else 1.0))
    return families

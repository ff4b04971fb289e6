"""The Prometheus sink: serves /metrics over HTTP and times every processed frame.

Per-frame values (time per stage, results per emotion, the latest dominant emotion) come in
through publish(); counters the stages already keep are read at scrape time by
`StatsCollector` (see metrics_view). Everything lives in the sink's own registry, beside
prometheus_client's process, platform and garbage-collector collectors, so that a reload can
build a new sink without clashing with the old one's names.

If the port cannot be bound (taken, or an address this machine does not have) the sensor
keeps running: the problem is logged once and binding is retried with a backoff from
BIND_RETRY_MIN_S to BIND_RETRY_MAX_S, as the WebSocket server does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    start_http_server,
)

from edge_daemon.config.metrics import MetricsConfig
from edge_daemon.core.backoff import Backoff
from edge_daemon.core.records import Frame, FrameResult
from edge_daemon.sinks.metrics.collector import (
    PREFIX,
    CameraState,
    PipelineView,
    StatsCollector,
)

log = logging.getLogger(__name__)

# Inference on a Pi or a Jetson: a fraction of a millisecond (tracking, a tiny model on a
# GPU) up to about two seconds (a large fp32 model on a Pi's CPU). Denser where most
# stages of the default models land (2 to 100 ms).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075,
                   0.1, 0.25, 0.5, 1.0, 2.0)
STAGES = ("capture_wait", "detection", "classification", "tracking")
RATE_WINDOW_S = 10.0
BIND_RETRY_MIN_S, BIND_RETRY_MAX_S = 2.0, 60.0


def _forget_before(times: deque[float], oldest: float) -> None:
    while times and times[0] < oldest:
        times.popleft()


@dataclass
class _CameraSeries:
    """One camera's labelled children, resolved once (labels() costs a lookup per call)."""

    stages: tuple[tuple[str, Histogram], ...]
    to_publish: Histogram
    results: dict[str, Counter]
    processed: deque[float] = field(default_factory=deque)
    first_processed: float = 0.0  # monotonic; the rate of a new camera spans less than a window
    emotion: str | None = None
    faces_in_view: int = 0


class MetricsSink:
    """Serves Prometheus metrics; publish() records one frame's timings and results."""

    name = "metrics"

    def __init__(self, config: MetricsConfig) -> None:
        self.config = config
        # The `_created` series of every counter and histogram would double the scrape for
        # a value Prometheus does not use (process_start_time_seconds says as much).
        disable_created_metrics()
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self._stage_seconds = Histogram(
            PREFIX + "stage_duration_seconds",
            "Time per pipeline stage of one frame (capture_wait: waiting for a new frame).",
            ["camera", "stage"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self._to_publish_seconds = Histogram(
            PREFIX + "frame_to_publish_seconds",
            "Time from a frame's capture until its result is handed to the sinks.",
            ["camera"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self._results = Counter(
            PREFIX + "face_results", "Classified faces, by their stable emotion.",
            ["camera", "emotion"], registry=self.registry)
        self._cameras: dict[str, _CameraSeries] = {}
        self._lock = threading.Lock()  # camera states: written per frame, read per scrape
        self._collector = StatsCollector(self._camera_states, RATE_WINDOW_S)
        self.registry.register(self._collector)
        self._server = None
        self._server_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._binder: threading.Thread | None = None

    # ----------------------------------------------------------------- wiring
    def observe(self, view: PipelineView) -> None:
        """Read these stages from now on (the App calls this at start and after a reload)."""
        with self._lock:
            gone = {c: self._cameras.pop(c) for c in set(self._cameras) - set(view.cameras)}
        for camera, series in gone.items():  # a camera removed by a reload leaves no series
            for stage, _ in series.stages:
                self._stage_seconds.remove(camera, stage)
            self._to_publish_seconds.remove(camera)
            for emotion in series.results:
                self._results.remove(camera, emotion)
        self._collector.view = view
        for camera in view.cameras:
            self._series(camera, view.build.labels)

    def _series(self, camera: str, labels: tuple[str, ...] = ()) -> _CameraSeries:
        series = self._cameras.get(camera)
        if series is None:
            series = _CameraSeries(
                stages=tuple((s, self._stage_seconds.labels(camera, s)) for s in STAGES),
                to_publish=self._to_publish_seconds.labels(camera),
                # Every label present from the start: rate() then shows 0, not "no data".
                results={label: self._results.labels(camera, label) for label in labels},
            )
            with self._lock:
                self._cameras[camera] = series
        return series

    def _camera_states(self) -> Mapping[str, CameraState]:
        now = time.monotonic()
        with self._lock:
            states = {}
            for camera, series in self._cameras.items():
                _forget_before(series.processed, now - RATE_WINDOW_S)
                # A camera that started less than a window ago: its frames are spread over
                # the time it has been running, not over the whole window.
                span = min(RATE_WINDOW_S, max(1.0, now - series.first_processed))
                states[camera] = CameraState(series.emotion, series.faces_in_view,
                                             len(series.processed) / span)
            return states

    # ----------------------------------------------------------------- Sink interface
    def start(self) -> None:
        """Listen on the configured address and port (retried in the background on failure)."""
        if not self._bind(first=True):
            self._binder = threading.Thread(target=self._retry_bind, name="metrics-bind",
                                            daemon=True)
            self._binder.start()

    def publish(self, result: FrameResult, frame: Frame | None = None) -> None:
        """Record one frame's stage timings, end-to-end latency and per-face results."""
        now = time.monotonic()
        series = self._cameras.get(result.camera) or self._series(result.camera, result.labels)
        timings = result.timings
        for stage, histogram in series.stages:
            seconds = timings.get(stage)
            if seconds is not None:
                histogram.observe(seconds)
        if result.captured_monotonic:
            series.to_publish.observe(now - result.captured_monotonic)
        for face in result.faces:
            if face.emotion is None:
                continue  # not classified (the model's output was not finite)
            counter = series.results.get(face.emotion)
            if counter is None:
                counter = series.results[face.emotion] = self._results.labels(
                    result.camera, face.emotion)
            counter.inc()
        with self._lock:
            if not series.first_processed:
                series.first_processed = now
            series.processed.append(now)
            _forget_before(series.processed, now - RATE_WINDOW_S)  # bounded, scraped or not
            series.emotion = result.camera_emotion
            series.faces_in_view = len(result.faces)

    def stop(self, timeout: float) -> None:
        """Stop serving and release the port."""
        self._stopping.set()
        if self._binder is not None:
            self._binder.join(timeout)
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._server_thread is not None:
            self._server_thread.join(timeout)

    @property
    def connected(self) -> None:
        """Prometheus connects to this sink, not the other way round: nothing to report."""
        return None

    @property
    def serving(self) -> bool:
        """True while the HTTP endpoint is listening."""
        return self._server is not None

    # ----------------------------------------------------------------- the HTTP endpoint
    def _bind(self, first: bool) -> bool:
        where = f"{self.config.address}:{self.config.port}"
        try:
            self._server, self._server_thread = start_http_server(
                self.config.port, addr=self.config.address, registry=self.registry)
        except OSError as exc:
            if first:
                log.error("metrics: cannot listen on %s: %s; the sensor runs on without "
                          "metrics and retries in the background (metrics.address/metrics.port)",
                          where, exc.strerror or exc)
            return False
        self._server_thread.name = "metrics-http"  # for `top -H` (service/thread_names.py)
        log.info("metrics: serving http://%s/metrics%s", where,
                 "" if first else " (the port is free now)")
        return True

    def _retry_bind(self) -> None:
        backoff = Backoff(BIND_RETRY_MIN_S, BIND_RETRY_MAX_S)
        while not self._stopping.wait(backoff.next()):
            if self._bind(first=False):
                return

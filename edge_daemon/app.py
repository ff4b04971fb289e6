"""Builds the daemon from a Config (models, cameras, loops, sinks) and runs it until stopped.

What cannot work is refused at start with one clear line (StartupError): an unusable model,
since no camera can do anything without it, or a config the sinks cannot set up. What might
work later is only logged: a camera that cannot open now is retried in the background and
the other cameras carry on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from edge_daemon.config.detector import DetectorConfig
from edge_daemon.config.root import Config
from edge_daemon.config.runtime import RuntimeConfig
from edge_daemon.config.secrets import SecretError, mqtt_password, read_secret
from edge_daemon.config.websocket import WS_TOKEN_ENV
from edge_daemon.config.zones import ZonesConfig
from edge_daemon.core.records import CameraStatus
from edge_daemon.core.stages import CameraStatusSink, FaceDetector, PrivacySink, Sink
from edge_daemon.core.zones import FaceZones
from edge_daemon.inference.classifier import EmotionClassifier
from edge_daemon.inference.detectors import (
    DetectorUnavailableError,
    refind_detector,
    whole_frame_search,
)
from edge_daemon.inference.detectors.gated import camera_detector
from edge_daemon.inference.detectors.search import WholeFrameSearch
from edge_daemon.inference.onnx_model import ModelLoadError, RuntimeOptions
from edge_daemon.pipeline import CameraLoop
from edge_daemon.seed_api.api import SeedApi
from edge_daemon.seed_api.inference import OnDemandInference
from edge_daemon.seed_api.replies import SeedReplies
from edge_daemon.service.privacy_state import load_privacy, save_privacy
from edge_daemon.service.thread_names import name_os_threads
from edge_daemon.sinks.metrics.collector import BuildInfo, PipelineView
from edge_daemon.sinks.metrics.sink import MetricsSink
from edge_daemon.sinks.mqtt.sink import MqttSetupError, MqttSink
from edge_daemon.sinks.snapshots.sink import SnapshotSink
from edge_daemon.sinks.websocket import WebSocketSetupError, WebSocketSink
from edge_daemon.sources.capture import CaptureSource, SourceUnavailableError
from edge_daemon.sources.opencv import quiet_opencv
from edge_daemon.sources.registry import build_source
from edge_daemon.tracking import CameraTracker
from edge_daemon.tracking.episodes import EpisodeTracker

log = logging.getLogger(__name__)

SINK_STOP_TIMEOUT_S = 5.0
ARENA_MAX_MODEL_BYTES = 16 * 1024 * 1024  # larger emotion models run without the memory arena
LOOP_STOP_TIMEOUT_S = 3.0
# A camera still opening is not reported disconnected for this long after start, so that
# a status topic does not flap disconnected -> connected at every start.
STATUS_GRACE_S = 5.0


class StartupError(RuntimeError):
    """The daemon cannot run at all with this configuration on this machine."""


def classifier_options(runtime: RuntimeConfig, path: Path) -> RuntimeOptions:
    """How to run the emotion model at path: the runtime section, no memory arena if large.

    onnxruntime's CPU memory arena keeps a model's peak activation memory for good. Measured
    (issue 7): 42 MB more resident for the 57 MB int8 seed model at no speed gain, while the
    small bundled models run 5-12 % faster with it, for 4 MB.
    """
    options = RuntimeOptions.from_config(runtime)
    try:
        large = path.stat().st_size > ARENA_MAX_MODEL_BYTES
    except OSError:
        return options  # a missing file is reported by the model loader
    return replace(options, cpu_memory_arena=False) if large else options


def camera_zones(zones: ZonesConfig) -> FaceZones | None:
    """The face filter of a camera's zones; None when they filter nothing."""
    if not zones.active:
        return None
    return FaceZones(zones.include, zones.exclude, zones.min_face_px, zones.max_face_px)


def load_classifier(config: Config) -> EmotionClassifier:
    """The emotion model, or StartupError naming the file and what is wrong with it."""
    path = config.classifier.model_path()
    try:
        classifier = EmotionClassifier(path, classifier_options(config.runtime, path))
    except ModelLoadError as exc:
        raise StartupError(f"emotion model unusable: {exc}") from None
    meta = classifier.meta
    log.info("emotion model %s (%s, %s, labels: %s) from %s on %s", meta.name, meta.arch,
             meta.quantization, ", ".join(meta.labels), path, classifier.model.providers[0])
    return classifier


def load_detector(detector: DetectorConfig, runtime: RuntimeConfig) -> WholeFrameSearch:
    """The configured whole-frame search, or StartupError with the reason."""
    try:
        return whole_frame_search(detector, RuntimeOptions.from_config(runtime))
    except (ModelLoadError, DetectorUnavailableError, ValueError) as exc:
        raise StartupError(f"face detector {detector.backend!r} unusable: {exc}") from None


def load_refind(detector: DetectorConfig, runtime: RuntimeConfig) -> FaceDetector | None:
    """The detector that re-finds a known face near its last box (BlazeFace backends only)."""
    try:
        return refind_detector(detector, RuntimeOptions.from_config(runtime))
    except (ModelLoadError, ValueError) as exc:
        raise StartupError(f"face detector: the packaged short-range model is unusable for "
                           f"following known faces: {exc}") from None


class App:
    """The whole daemon: one source and loop per camera, shared models, shared sinks."""

    def __init__(
        self,
        config: Config,
        environ: Mapping[str, str] | None = None,
        on_loop_iteration: Callable[[str], object] | None = None,
        sinks: list[Sink] | None = None,
    ) -> None:
        """Build everything; sinks: already running sinks to reuse (a reload keeps MQTT up)."""
        quiet_opencv()
        self.config = config
        self.classifier = load_classifier(config)
        self.detector = load_detector(config.detector, config.runtime)
        self._refind = load_refind(config.detector, config.runtime)
        self._on_loop_iteration = on_loop_iteration
        self.sources = self._build_sources()
        self._own_sinks = sinks is None
        self.sinks = self._build_sinks(environ) if sinks is None else sinks
        self.loops = [self._camera_loop(name, source) for name, source in self.sources.items()]
        self.privacy = self._initial_privacy()
        self._privacy_requests: queue.SimpleQueue[tuple[str | None, bool]] = queue.SimpleQueue()
        self._observe_metrics()
        self._started = time.monotonic()
        self._opened: dict[str, float] = {}  # camera -> when it was last opened (monotonic)
        self._last_counts: dict[str, tuple[int, float]] = {}
        self._camera_states: dict[str, str] = {}

    def _camera_loop(self, name: str, source: CaptureSource) -> CameraLoop:
        config = self.config
        return CameraLoop(
            name, source,
            camera_detector(self.detector, self._refind, config.detector.rescan_frames),
            self.classifier,
            CameraTracker(self.classifier.labels, config.tracking), self.sinks,
            interval_s=config.cameras[name].interval_ms / 1000,
            min_face_px=config.detector.min_face_px,
            on_iteration=self._on_loop_iteration,
            episodes=EpisodeTracker(name, self.classifier.labels, config.episodes),
            zones=camera_zones(config.cameras[name].zones),
        )

    def _initial_privacy(self) -> dict[str, bool]:
        """Each camera's privacy switch at start: the config's, or the remembered one."""
        states = {name: self.config.cameras[name].privacy for name in self.sources}
        if self.config.privacy.remember:
            remembered = load_privacy(self.config.privacy.state_file)
            states.update({k: v for k, v in remembered.items() if k in states})
        return states

    def _build_sources(self) -> dict[str, CaptureSource]:
        sources = {}
        self._unavailable: dict[str, str] = {}
        enabled = self.config.enabled_cameras()
        for name, camera in enabled.items():
            try:
                sources[name] = build_source(name, camera)
            except SourceUnavailableError as exc:
                log.error("camera %s: %s; this camera is skipped", name, exc)
                self._unavailable[name] = str(exc)
        if not sources:
            why = "no camera is enabled" if not enabled else "no enabled camera can work here"
            raise StartupError(f"nothing to do: {why}")
        return sources

    def _build_sinks(self, environ: Mapping[str, str] | None) -> list[Sink]:
        sinks: list[Sink] = []
        mqtt = self.config.mqtt
        if mqtt.enabled:
            try:
                secret = mqtt_password(self.config.secrets.mqtt_password_credential, environ)
                if secret is not None:
                    log.info("MQTT password from %s", secret.origin)
                sinks.append(MqttSink(mqtt, list(self.sources), self.classifier.labels,
                                      password=secret.value if secret else None))
            except (SecretError, MqttSetupError) as exc:
                raise StartupError(f"MQTT: {exc}") from None
        if self.config.snapshots.enabled:
            sinks.append(SnapshotSink(self.config.snapshots, self.classifier.preprocessor))
        if self.config.websocket.enabled:
            try:
                sinks.append(self._websocket_sink(environ))
            except (SecretError, WebSocketSetupError) as exc:
                raise StartupError(f"WebSocket: {exc}") from None
        if self.config.metrics.enabled:
            sinks.insert(0, MetricsSink(self.config.metrics))  # first: it times frame-to-publish
        return sinks

    def _websocket_sink(self, environ: Mapping[str, str] | None) -> WebSocketSink:
        """The server, with the seed's API on this App's models (SecretError: bad token)."""
        ws = self.config.websocket
        secret = read_secret(WS_TOKEN_ENV, ws.token_credential, environ)
        if secret is not None:
            log.info("WebSocket token from %s", secret.origin)
        replies = SeedReplies.build(self.classifier.labels, ws.seed_labels, ws.seed_label_map,
                                    ws.seed_reply)
        log.info("%s", replies.describe())
        api = SeedApi(OnDemandInference(self.detector, self.classifier), replies,
                      ws.seed_workers, ws.max_image_pixels, ws.seed_rate_limit)
        return WebSocketSink(ws, list(self.sources), api, token=secret.value if secret else None)

    def _observe_metrics(self) -> None:
        """Point the metrics sink (if any) at this App's stages' counters and models."""
        metrics = next((s for s in self.sinks if isinstance(s, MetricsSink)), None)
        if metrics is None:
            return
        meta = self.classifier.meta
        build = BuildInfo(model=meta.name, model_arch=meta.arch, labels=meta.labels,
                          quantization=meta.quantization,
                          provider=self.classifier.model.providers[0],
                          detector=self.config.detector.backend)
        metrics.observe(PipelineView(
            build=build,
            sources={name: source.stats for name, source in self.sources.items()},
            loops={loop.name: loop.stats for loop in self.loops},
            mqtt=next((s.stats for s in self.sinks if isinstance(s, MqttSink)), None),
            snapshots=next((s.stats for s in self.sinks if isinstance(s, SnapshotSink)), None),
        ))

    def start(self) -> None:
        """Start the sinks (unless reused, already running), then the cameras, then the loops."""
        for sink in self.sinks if self._own_sinks else []:
            sink.start()
        self._started = time.monotonic()
        for loop in self.loops:
            if not self.privacy[loop.name]:
                self._open_camera(loop)
        name_os_threads()
        for sink in self._status_sinks():
            sink.set_cameras(list(self.config.cameras))
        for sink in self.sinks:
            if isinstance(sink, WebSocketSink):
                sink.set_zones({name: {"include": cam.zones.include, "exclude": cam.zones.exclude}
                                for name, cam in self.config.cameras.items()
                                if cam.zones.include or cam.zones.exclude})
        disabled = [n for n in self.config.cameras if n not in self.config.enabled_cameras()]
        for name in disabled:
            self._report_status(name, "disabled", "")
        for name, error in self._unavailable.items():
            self._report_status(name, "disconnected", error)
        for sink in self._privacy_sinks():
            sink.on_privacy_command(self.request_privacy)
        self._announce_privacy()
        paused = [name for name, on in self.privacy.items() if on]
        log.info("running %d camera(s): %s%s", len(self.loops),
                 ", ".join(loop.name for loop in self.loops),
                 f"; in privacy (closed): {', '.join(paused)}" if paused else "")

    # ----------------------------------------------------------------- privacy switches
    def request_privacy(self, camera: str | None, on: bool) -> None:
        """Ask for a camera's privacy switch (None: every camera); applied by wait()."""
        self._privacy_requests.put((camera, on))

    def apply_privacy_requests(self) -> None:
        """Close or reopen the cameras whose switch was asked for (on the app's thread)."""
        changed = False
        while not self._privacy_requests.empty():
            camera, on = self._privacy_requests.get()
            for name in [camera] if camera is not None else list(self.privacy):
                if name not in self.privacy or self.privacy[name] == on:
                    continue
                if on:
                    self._pause(name)
                else:
                    self._resume(name)
                changed = True
        if changed:
            self._announce_privacy()
            if self.config.privacy.remember:
                save_privacy(self.config.privacy.state_file, self.privacy)

    def _pause(self, name: str) -> None:
        index = next(i for i, loop in enumerate(self.loops) if loop.name == name)
        loop, source = self.loops[index], self.sources[name]
        loop.request_stop()
        loop.stop(LOOP_STOP_TIMEOUT_S)
        source.stop()  # closes the device: a paused camera's light goes off
        # Sources and loops run once: fresh ones wait for the switch to go off.
        self.sources[name] = build_source(name, self.config.cameras[name])
        self.loops[index] = self._camera_loop(name, self.sources[name])
        self.privacy[name] = True
        log.info("camera %s: privacy on: closed; nothing is captured, processed, saved or "
                 "streamed", name)

    def _resume(self, name: str) -> None:
        self.privacy[name] = False
        self._open_camera(next(loop for loop in self.loops if loop.name == name))
        log.info("camera %s: privacy off: opening it again", name)

    def _open_camera(self, loop: CameraLoop) -> None:
        self._opened[loop.name] = time.monotonic()
        self._camera_states.pop(loop.name, None)
        self.sources[loop.name].start()
        loop.start()

    def _announce_privacy(self) -> None:
        for name, on in self.privacy.items():
            if on:
                self._report_status(name, "paused", "")
        for sink in self._privacy_sinks():
            sink.privacy_state(self.privacy)

    def _privacy_sinks(self) -> list[PrivacySink]:
        return [sink for sink in self.sinks if isinstance(sink, PrivacySink)]

    def running_loops(self) -> list[CameraLoop]:
        """The loops still processing (a non-looping video's loop ends with it)."""
        return [loop for loop in self.loops if not loop.done.is_set()]

    def wait(
        self,
        stop: threading.Event,
        on_loop_done: Callable[[str], object] | None = None,
        on_status: Callable[[str], object] | None = None,
        poll_s: float = 0.5,
        status_every_s: float = 10.0,
    ) -> None:
        """Block until stop is set or every camera has finished.

        on_loop_done(name) is called once per loop that ends (the watchdog stops expecting
        its beats); on_status(line) every status_every_s with a short summary.
        """
        ended: set[int] = set()  # ids of ended loops: a camera out of privacy gets a new one
        next_status = time.monotonic() + status_every_s
        while not stop.wait(poll_s):
            self.apply_privacy_requests()
            name_os_threads()  # capture threads come and go as cameras reconnect
            self.check_camera_status()
            for loop in self.loops:
                if loop.done.is_set() and id(loop) not in ended:
                    ended.add(id(loop))
                    if on_loop_done is not None:
                        on_loop_done(loop.name)
            running = [loop for loop in self.loops if not self.privacy[loop.name]]
            if running and all(loop.done.is_set() for loop in running):
                log.info("every camera has finished; stopping")
                return
            if on_status is not None and time.monotonic() >= next_status:
                on_status(self.status_line())
                next_status = time.monotonic() + status_every_s

    def _status_sinks(self) -> list[CameraStatusSink]:
        return [sink for sink in self.sinks if isinstance(sink, CameraStatusSink)]

    def _report_status(self, name: str, state: str, error: str) -> None:
        if self._camera_states.get(name) == state:
            return
        self._camera_states[name] = state
        status = CameraStatus(name, state, time.time(), error)
        for sink in self._status_sinks():
            sink.camera_status(status)

    def check_camera_status(self) -> None:
        """Tell the status sinks about cameras that connected or were lost since last time."""
        now = time.monotonic()
        for name, source in self.sources.items():
            if self.privacy.get(name):
                continue  # reported paused when the switch went on
            settling = now - self._opened.get(name, self._started) < STATUS_GRACE_S
            if source.stats.connected:
                self._report_status(name, "connected", "")
            elif not settling or name in self._camera_states or source.stats.last_error:
                self._report_status(name, "disconnected", source.stats.last_error)

    def status_line(self) -> str:
        """One line: processed frames per second per camera since the last call, MQTT state."""
        now = time.monotonic()
        parts = []
        for loop in self.loops:
            count, since = self._last_counts.get(loop.name, (0, self._started))
            fps = (loop.stats.frames_processed - count) / max(now - since, 1e-6)
            self._last_counts[loop.name] = (loop.stats.frames_processed, now)
            source = self.sources[loop.name]
            state = ("privacy" if self.privacy.get(loop.name) else "ended"
                     if loop.done.is_set() else f"{fps:.1f} fps"
                     if source.stats.connected else "no signal")
            parts.append(f"{loop.name} {state}")
        for sink in self.sinks:
            connected = sink.connected
            if connected is not None:
                parts.append(f"{sink.name} {'connected' if connected else 'disconnected'}")
        return "; ".join(parts)

    def stop(self, keep_sinks: bool = False) -> bool:
        """Stop the loops, release the cameras, then flush and close the sinks (bounded).

        keep_sinks leaves the sinks running for the App that replaces this one (a reload).
        Returns False when a capture thread is still stuck inside a driver: the process
        should then exit without waiting for it (see cli).
        """
        started = time.monotonic()
        for loop in self.loops:
            loop.request_stop()
        for loop in self.loops:
            loop.stop(LOOP_STOP_TIMEOUT_S)
        for source in self.sources.values():
            source.request_stop()
        for source in self.sources.values():
            source.stop()
        for sink in [] if keep_sinks else self.sinks:
            try:
                sink.stop(SINK_STOP_TIMEOUT_S)
            except Exception as exc:
                log.error("sink %s did not stop cleanly: %s: %s", sink.name,
                          type(exc).__name__, exc)
        stuck = {name: s.stuck_threads for name, s in self.sources.items() if s.stuck_threads}
        if stuck:
            log.warning("capture stuck in the driver, not waited for: %s",
                        ", ".join(f"camera {name}" for name in stuck))
        log.info("stopped in %.1f s", time.monotonic() - started)
        return not stuck

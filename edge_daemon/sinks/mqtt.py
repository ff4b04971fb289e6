"""The MQTT sink: per-frame results, stable emotions, availability and Home Assistant discovery.

paho-mqtt's network loop runs on its own thread (loop_start); connect_async lets the daemon
start while the broker is down, and paho reconnects with exponential backoff. publish() only
encodes a small JSON message and hands it to paho (or to a bounded offline queue), so it never
waits on the network. What is published lives in mqtt_payloads.py and homeassistant.py.
"""

from __future__ import annotations

import logging
import ssl
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from .. import __version__
from ..config.mqtt import MqttConfig
from ..records import Frame, FrameResult
from .homeassistant import discovery_messages
from .mqtt_offline import OfflineQueue, OutageLog, PendingMessage
from .mqtt_payloads import (
    OFFLINE,
    ONLINE,
    STOPPED,
    TopicLayout,
    attributes_payload,
    check_camera_name,
    emotion_state,
    encode,
    results_payload,
)

log = logging.getLogger(__name__)
_paho_log = log.getChild("paho")


class MqttSetupError(ValueError):
    """The MQTT sink cannot be set up from this config (TLS files, credentials, names)."""


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


def _refusal_hint(reason: str) -> str:
    """What to check for a CONNACK refusal reason."""
    text = reason.lower()
    if "authori" in text or "password" in text:
        return "check mqtt.username and the MQTT password secret"
    if "identifier" in text:
        return "check mqtt.client_id"
    return "see the broker's log"


class MqttSink:
    """Publishes every FrameResult to an MQTT broker; survives and reports broker outages."""

    name = "mqtt"

    def __init__(
        self,
        config: MqttConfig,
        cameras: Sequence[str],
        labels: Sequence[str],
        password: str | None = None,
        version: str = __version__,
    ) -> None:
        if config.no_face_state in labels:
            raise MqttSetupError(f"mqtt.no_face_state {config.no_face_state!r} is also a "
                                 "label of the emotion model; choose another value")
        self.config = config
        self.labels = tuple(labels)
        self.version = version
        self.layout = TopicLayout(config)
        self.stats = MqttStats()
        self._cameras: list[str] = []
        for camera in cameras:
            self._add_camera(camera)
        # Re-entrant: paho may call on_publish from inside publish() when no loop runs.
        self._lock = threading.RLock()
        # Only for the published counter: paho calls on_publish while holding its own
        # message mutex, which a publish() under self._lock waits for (a deadlock seen with
        # QoS 1 at full frame rate), so on_publish must never wait for self._lock.
        self._published_lock = threading.Lock()
        self._other_dropped = 0
        self._queue = OfflineQueue(config.offline_queue_size)
        self._outage = OutageLog(config.outage_log_interval)
        self._emotions: dict[str, str] = {c: config.no_face_state for c in self._cameras}
        self._attributes: dict[str, bytes] = {}
        self._attributes_sent: dict[str, float] = {}
        self._bad_cameras: set[str] = set()
        self._ever_connected = False
        self._stopping = False
        self._client = self._make_client(password)

    def _add_camera(self, camera: str) -> None:
        try:
            check_camera_name(camera)
        except ValueError as exc:
            raise MqttSetupError(str(exc)) from None
        if camera not in self._cameras:
            self._cameras.append(camera)

    # ----------------------------------------------------------------- client set-up
    def _make_client(self, password: str | None) -> paho.Client:
        cfg = self.config
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id,
                             protocol=paho.MQTTv311, clean_session=True)
        # A bug in one of our callbacks must not kill the network thread; it is logged.
        client.suppress_exceptions = True
        client.on_log = self._on_log
        if cfg.username is not None:
            client.username_pw_set(cfg.username, password)
        elif password:
            raise MqttSetupError("an MQTT password is set but mqtt.username is not")
        if cfg.tls.enabled:
            self._set_tls(client)
        avail = cfg.topics.availability
        client.will_set(self.layout.availability, OFFLINE, avail.qos, retain=avail.retain)
        client.reconnect_delay_set(cfg.reconnect_min_delay, cfg.reconnect_max_delay)  # type: ignore[arg-type]
        # Bounds paho's own store of QoS 1/2 messages awaiting acknowledgement.
        client.max_queued_messages_set(max(cfg.offline_queue_size, 100))
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _set_tls(self, client: paho.Client) -> None:
        tls = self.config.tls
        for what, path in (("ca_file", tls.ca_file), ("cert_file", tls.cert_file),
                           ("key_file", tls.key_file)):
            if path is not None and not path.is_file():
                raise MqttSetupError(f"mqtt.tls.{what}: no such file {path}")
        try:
            client.tls_set(
                ca_certs=str(tls.ca_file) if tls.ca_file else None,
                certfile=str(tls.cert_file) if tls.cert_file else None,
                keyfile=str(tls.key_file) if tls.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise MqttSetupError(f"mqtt.tls: cannot load the certificates: {exc}") from None
        client.tls_insecure_set(tls.insecure)

    # ----------------------------------------------------------------- Sink interface
    def start(self) -> None:
        """Begin connecting in the background; an absent broker is retried with backoff."""
        cfg = self.config
        log.info("MQTT: connecting to %s:%d as %r, topics under %s/", cfg.host, cfg.port,
                 cfg.client_id, cfg.topic_prefix)
        self._client.connect_async(cfg.host, cfg.port, cfg.keepalive)
        self._client.loop_start()

    def publish(self, result: FrameResult, frame: Frame | None = None) -> None:
        """Send one frame's result (queued while offline); never waits on the network."""
        camera = result.camera
        try:
            if camera not in self._emotions:
                self._new_camera(camera)
            results = self.config.topics.results
            self._send(self.layout.results(camera), encode(results_payload(result)),
                       results.qos, results.retain, queue=True)
            self._update_state(result)
        except ValueError as exc:
            # One clear line per camera, not one per frame.
            if camera not in self._bad_cameras:
                self._bad_cameras.add(camera)
                log.error("MQTT: cannot publish results of camera %r: %s", camera, exc)
            with self._lock:
                self._other_dropped += 1
                self.stats.dropped = self._dropped_total()

    def stop(self, timeout: float) -> None:
        """Publish `stopped`, flush for at most timeout seconds, then disconnect."""
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            connected = self.stats.connected
            discarded = self._queue.discard()
            self.stats.dropped = self._dropped_total()
            self.stats.queued = 0
        if connected:
            avail = self.config.topics.availability
            info = self._client.publish(self.layout.availability, STOPPED, avail.qos,
                                        avail.retain)
            while not info.is_published() and time.monotonic() < deadline:
                time.sleep(0.01)
            if not info.is_published():
                log.warning("MQTT: could not flush within %.1f s at shutdown", timeout)
        elif discarded:
            log.warning("MQTT: broker not connected at shutdown; %d queued results discarded",
                        discarded)
        self._client.disconnect()
        self._client.loop_stop()
        log.info("MQTT: stopped (%d messages published, %d dropped)", self.stats.published,
                 self.stats.dropped)

    # ----------------------------------------------------------------- publishing
    def _send(self, topic: str, payload: bytes | str, qos: int, retain: bool,
              queue: bool) -> None:
        """Publish now if connected; else keep it in the offline queue (queue=True) or skip."""
        with self._lock:
            if self.stats.connected and self._publish_now(topic, payload, qos, retain):
                return
            if queue:
                data = payload.encode() if isinstance(payload, str) else payload
                self._queue.push(PendingMessage(topic, data, qos, retain))
                self.stats.queued = len(self._queue)
                self.stats.dropped = self._dropped_total()

    def _publish_now(self, topic: str, payload: bytes | str, qos: int, retain: bool) -> bool:
        """Hand a message to paho; False when it was refused for want of a connection."""
        info = self._client.publish(topic, payload, qos, retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            self._other_dropped += 1
            self.stats.dropped = self._dropped_total()
            return True
        # paho keeps QoS 1/2 messages itself and resends them on reconnect.
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or qos > 0

    def _dropped_total(self) -> int:
        # Offline queue overflow and shutdown, plus paho's queue full and unpublishable results.
        return self._queue.dropped + self._other_dropped

    def _update_state(self, result: FrameResult) -> None:
        """Send the camera's emotion when it changed, and the attributes when due."""
        camera, cfg = result.camera, self.config
        state = emotion_state(result.camera_emotion, cfg.no_face_state)
        now = time.monotonic()
        with self._lock:
            changed = self._emotions.get(camera) != state
            self._emotions[camera] = state
            due = changed or now - self._attributes_sent.get(camera, -1e9) >= (
                cfg.topics.attributes.min_interval)
            if due:
                self._attributes[camera] = encode(attributes_payload(result, cfg.no_face_state))
                self._attributes_sent[camera] = now
        if changed:
            log.debug("MQTT: camera %s emotion is now %s", camera, state)
            self._send(self.layout.emotion(camera), state, cfg.topics.emotion.qos,
                       cfg.topics.emotion.retain, queue=False)
        if due:
            self._send(self.layout.attributes(camera), self._attributes[camera],
                       cfg.topics.attributes.qos, cfg.topics.attributes.retain, queue=False)

    def _new_camera(self, camera: str) -> None:
        with self._lock:
            self._add_camera(camera)
            self._emotions.setdefault(camera, self.config.no_face_state)
            if self.stats.connected:
                self._publish_discovery([camera])

    def _publish_discovery(self, cameras: Sequence[str]) -> None:
        if not self.config.homeassistant.enabled:
            return
        for topic, payload in discovery_messages(self.config, cameras, self.labels,
                                                 self.version):
            self._client.publish(topic, payload, qos=1, retain=True)

    def _publish_device_state(self) -> None:
        """Everything a newcomer needs, sent on every (re)connect: retained state first."""
        cfg = self.config
        avail = cfg.topics.availability
        self._client.publish(self.layout.availability, ONLINE, avail.qos, avail.retain)
        self._publish_discovery(self._cameras)
        for camera, state in self._emotions.items():
            self._client.publish(self.layout.emotion(camera), state, cfg.topics.emotion.qos,
                                 cfg.topics.emotion.retain)
        for camera, payload in self._attributes.items():
            self._client.publish(self.layout.attributes(camera), payload,
                                 cfg.topics.attributes.qos, cfg.topics.attributes.retain)

    # ----------------------------------------------------------------- paho callbacks
    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            self._on_refused(str(reason))
            return
        with self._lock:
            first = not self._ever_connected
            self._ever_connected = True
            lasted = self._outage.end()
            if self.config.homeassistant.enabled:
                client.subscribe(self.config.homeassistant.status_topic, qos=1)
            self._publish_device_state()
            pending = self._queue.drain()
            for m in pending:
                client.publish(m.topic, m.payload, m.qos, m.retain)
            # Counters change last, so a reader never sees "connected" with a full queue.
            self.stats.queued = 0
            self.stats.last_error = ""
            self.stats.reconnects += 0 if first else 1
            self.stats.connected = True
        cfg = self.config
        if first:
            log.info("MQTT: connected to %s:%d", cfg.host, cfg.port)
        else:
            log.info("MQTT: connected to %s:%d again after %.0f s; sent %d queued results "
                     "(%d dropped so far)", cfg.host, cfg.port, lasted or 0.0, len(pending),
                     self.stats.dropped)

    def _on_refused(self, reason: str) -> None:
        cfg = self.config
        who = f"user {cfg.username!r}" if cfg.username else "no user name (anonymous)"
        problem = f"MQTT broker {cfg.host}:{cfg.port} refused the connection: {reason}"
        with self._lock:
            self.stats.connect_failures += 1
            self.stats.last_error = problem
            verdict = self._outage.report("refused")
        if verdict == "first":
            log.error("%s (%s; %s); retrying every %g s at most", problem, who,
                      _refusal_hint(reason), cfg.reconnect_max_delay)
        elif verdict == "reminder":
            log.error("%s, still, after %.0f s and %d attempts", problem,
                      self._outage.duration(), self._outage.attempts)

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        # paho calls this from inside its `except OSError:`, so the cause is still at hand.
        cause = sys.exc_info()[1]
        cfg = self.config
        where = f"{cfg.host}:{cfg.port}"
        kind = "tls" if isinstance(cause, ssl.SSLError) else "unreachable"
        with self._lock:
            self.stats.connect_failures += 1
            self.stats.last_error = f"cannot connect to the MQTT broker at {where}: {cause}"
            verdict = self._outage.report(kind)
            queued, dropped = len(self._queue), self.stats.dropped
        if verdict == "first" and kind == "tls":
            log.error("MQTT: TLS handshake with the broker at %s failed: %s (check mqtt.tls "
                      "and the broker's certificate); retrying up to every %g s", where,
                      cause, cfg.reconnect_max_delay)
        elif verdict == "first":
            log.warning("MQTT: cannot reach the broker at %s (%s); retrying in the background "
                        "(up to every %g s), keeping up to %d results", where, cause,
                        cfg.reconnect_max_delay, cfg.offline_queue_size)
        elif verdict == "reminder":
            log.warning("MQTT: broker at %s still not connected after %.0f s (%d attempts, "
                        "last: %s); %d results queued, %d dropped", where,
                        self._outage.duration(), self._outage.attempts, cause, queued, dropped)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        with self._lock:
            was_connected = self.stats.connected
            self.stats.connected = False
            if self._stopping or not was_connected:
                return
            self.stats.last_error = f"connection lost: {reason}"
            self._outage.report("unreachable")
        cfg = self.config
        log.warning("MQTT: lost the connection to %s:%d (%s); reconnecting in the background, "
                    "keeping up to %d results", cfg.host, cfg.port, reason,
                    cfg.offline_queue_size)

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: Any,
                    properties: Any) -> None:
        with self._published_lock:
            self.stats.published += 1

    def _on_log(self, client: paho.Client, userdata: Any, level: int, text: str) -> None:
        # paho reports every failed reconnect at error level: that would be the log spam
        # users hate, so its chatter goes to debug and only our callbacks' crashes stay loud.
        if text.startswith("Caught exception"):
            log.error("MQTT: %s", text)
        else:
            _paho_log.debug("%s", text)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        ha = self.config.homeassistant
        if message.topic == ha.status_topic and message.payload.strip() == ONLINE.encode():
            log.info("MQTT: Home Assistant is online; re-sending discovery")
            with self._lock:
                avail = self.config.topics.availability
                client.publish(self.layout.availability, ONLINE, avail.qos, avail.retain)
                self._publish_discovery(self._cameras)

"""The MQTT sink: per-frame results, stable emotions, availability and Home Assistant discovery.

paho-mqtt's network loop runs on its own thread (loop_start); connect_async lets the daemon
start while the broker is down, and paho reconnects with exponential backoff. publish() only
encodes a small JSON message and hands it to paho (or to a bounded offline queue), so it never
waits on the network. What is published lives in mqtt_payloads.py and homeassistant.py.
"""

from __future__ import annotations

import logging
import random
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from edge_daemon import __version__
from edge_daemon.config.mqtt import MqttConfig
from edge_daemon.core.log_throttle import LogThrottle, OutageLog
from edge_daemon.core.queues import DropOldestQueue
from edge_daemon.core.records import CameraStatus, Frame, FrameResult
from edge_daemon.core.stats import MqttStats
from edge_daemon.sinks.mqtt.homeassistant import (
    device_discovery_topics,
    discovery_messages,
    discovery_subscription,
    discovery_topics,
)
from edge_daemon.sinks.mqtt.offline import PendingMessage
from edge_daemon.sinks.mqtt.payloads import (
    OFFLINE,
    ONLINE,
    STOPPED,
    SWITCH_OFF,
    SWITCH_ON,
    TopicLayout,
    attributes_payload,
    check_camera_name,
    emotion_state,
    episode_payload,
    status_payload,
    switch_command,
)
from edge_daemon.sinks.results_json import encode, results_payload

log = logging.getLogger(__name__)
COMMAND_LOG_INTERVAL_S = 60.0  # a client sending bad commands in a loop gets one line a minute
_paho_log = log.getChild("paho")


class MqttSetupError(ValueError):
    """The MQTT sink cannot be set up from this config (TLS files, credentials, names)."""


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
        self._queue: DropOldestQueue[PendingMessage] = DropOldestQueue(config.offline_queue_size)
        self._outage = OutageLog(config.outage_log_interval)
        self._emotions: dict[str, str] = {c: config.no_face_state for c in self._cameras}
        self._attributes: dict[str, bytes] = {}
        self._attributes_sent: dict[str, float] = {}
        self._status: dict[str, bytes] = {}  # camera -> retained status payload
        self._bad_cameras: set[str] = set()
        self._privacy: dict[str, bool] = {}  # camera -> in privacy, as the app reported
        self._privacy_handler: Callable[[str | None, bool], None] | None = None
        self._command_log = LogThrottle(COMMAND_LOG_INTERVAL_S)
        self._ever_connected = False
        self._live = False  # publish() sends directly (else queues): connected, replay done
        self._refused = False
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
        self._set_reconnect_delay(client)
        # Bounds paho's own store of QoS 1/2 messages awaiting acknowledgement.
        client.max_queued_messages_set(max(cfg.offline_queue_size, 100))
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _set_reconnect_delay(self, client: paho.Client) -> None:
        """paho doubles its wait up to the cap; drawing the cap anew after every failure
        spreads the attempts of many sensors once they reach it (paho has no jitter)."""
        cfg = self.config
        cap = max(cfg.reconnect_min_delay, cfg.reconnect_max_delay * random.uniform(0.5, 1.0))
        client.reconnect_delay_set(cfg.reconnect_min_delay, cap)  # type: ignore[arg-type]

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
            events = self.config.topics.events
            for event in result.events:
                payload = episode_payload(event, result.width, result.height,
                                          self.config.no_face_state)
                self._send(self.layout.events(camera), encode(payload), events.qos,
                           events.retain, queue=True)
            self._update_state(result)
        except ValueError as exc:
            # One clear line per camera, not one per frame.
            if camera not in self._bad_cameras:
                self._bad_cameras.add(camera)
                log.error("MQTT: cannot publish results of camera %r: %s", camera, exc)
            with self._lock:
                self._other_dropped += 1
                self.stats.dropped = self._dropped_total()

    def set_cameras(self, cameras: Sequence[str]) -> None:
        """The cameras configured now: a removed camera's entities and retained topics go."""
        for camera in cameras:
            check_camera_name(camera)
        with self._lock:
            removed = [c for c in self._cameras if c not in cameras]
            self._cameras = list(dict.fromkeys(cameras))
            for camera in removed:
                self._emotions.pop(camera, None)
                self._attributes.pop(camera, None)
                self._status.pop(camera, None)
            for camera in self._cameras:
                self._emotions.setdefault(camera, self.config.no_face_state)
            connected = self.stats.connected
        if connected:
            for camera in removed:
                self._withdraw(camera)
            self._publish_discovery(self._cameras)

    def on_privacy_command(self, handler: Callable[[str | None, bool], None]) -> None:
        """Hand valid privacy commands (`<prefix>[/<camera>]/privacy/set`) to handler."""
        self._privacy_handler = handler

    def privacy_state(self, states: Mapping[str, bool]) -> None:
        """Publish each camera's privacy switch and the device's (on when all are), retained."""
        with self._lock:
            self._privacy = dict(states)
            messages = self._privacy_messages()
            connected = self.stats.connected
        if connected:
            for topic, payload, qos, retain in messages:
                self._client.publish(topic, payload, qos, retain)

    def _privacy_messages(self) -> list[tuple[str, bytes | str, int, bool]]:
        if not self._privacy:
            return []
        out: list[tuple[str, bytes | str, int, bool]] = [
            (self.layout.privacy(camera), SWITCH_ON if on else SWITCH_OFF, 1, True)
            for camera, on in self._privacy.items()]
        every = all(self._privacy.values())
        out.append((self.layout.privacy(), SWITCH_ON if every else SWITCH_OFF, 1, True))
        return out

    def camera_status(self, status: CameraStatus) -> None:
        """Publish a camera's state, retained (and again after every reconnect)."""
        payload = encode(status_payload(status))
        with self._lock:
            if status.camera not in self._cameras:
                self._add_camera(status.camera)
            self._status[status.camera] = payload
        topic = self.config.topics.status
        self._send(self.layout.status(status.camera), payload, topic.qos, topic.retain,
                   queue=False)

    def _withdraw(self, camera: str) -> None:
        """Empty retained messages: Home Assistant deletes the entities, the broker forgets."""
        log.info("MQTT: camera %s is no longer configured; its Home Assistant entities and "
                 "retained topics are removed", camera)
        topics = self.layout.per_camera(camera)
        if self.config.homeassistant.enabled:
            topics += discovery_topics(self.config, camera, self.labels)
        for topic in topics:
            self._client.publish(topic, b"", qos=1, retain=True)

    @property
    def connected(self) -> bool:
        """True while connected to the broker."""
        return self.stats.connected

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
        """Publish now if live (connected, replay done); else queue it (queue=True) or skip."""
        with self._lock:
            if self._live and self._publish_now(topic, payload, qos, retain):
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

    def _device_state(self) -> list[tuple[str, bytes | str, int, bool]]:
        """Everything a newcomer needs, sent on every (re)connect after the queue."""
        cfg = self.config
        avail = cfg.topics.availability
        out: list[tuple[str, bytes | str, int, bool]] = [
            (self.layout.availability, ONLINE, avail.qos, avail.retain)]
        if cfg.homeassistant.enabled:
            out += [(topic, payload, 1, True) for topic, payload in discovery_messages(
                cfg, self._cameras, self.labels, self.version)]
        out += [(self.layout.emotion(camera), state, cfg.topics.emotion.qos,
                 cfg.topics.emotion.retain) for camera, state in self._emotions.items()]
        out += [(self.layout.attributes(camera), payload, cfg.topics.attributes.qos,
                 cfg.topics.attributes.retain) for camera, payload in self._attributes.items()]
        out += [(self.layout.status(camera), payload, cfg.topics.status.qos,
                 cfg.topics.status.retain) for camera, payload in self._status.items()]
        return out + self._privacy_messages()

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
            self.stats.last_error = ""
            self.stats.reconnects += 0 if first else 1
            self.stats.connected = True
        if self.config.homeassistant.enabled:
            client.subscribe(self.config.homeassistant.status_topic, qos=1)
            # The broker answers with every retained discovery config of this device: those
            # of cameras no longer configured (renamed, removed while the daemon was off)
            # are deleted in _on_message, so no ghost entity stays in Home Assistant.
            client.subscribe(discovery_subscription(self.config), qos=1)
        # Commands are not retained by us; one a controller left retained applies now.
        client.subscribe([(self.layout.privacy_command(), 1),
                          (f"{self.layout.prefix}/+/privacy/set", 1)])
        replayed = self._replay(client)
        cfg = self.config
        if first:
            log.info("MQTT: connected to %s:%d", cfg.host, cfg.port)
        else:
            log.info("MQTT: connected to %s:%d again after %.0f s; sent %d queued results "
                     "(%d dropped so far)", cfg.host, cfg.port, lasted or 0.0, replayed,
                     self.stats.dropped)

    def _replay(self, client: paho.Client) -> int:
        """Send what was queued offline, oldest first, then the retained state; then go live."""
        # publish() keeps queueing until the queue is empty: a result sent directly while
        # older ones were still being handed to paho would reach subscribers before them.
        # The lock is held per batch, so no frame loop waits on the whole replay.
        replayed = 0
        while True:
            with self._lock:
                pending = self._queue.drain()
                self.stats.queued = 0
                if not pending:
                    # Under the lock: a state change made after this snapshot is sent after it.
                    for topic, payload, qos, retain in self._device_state():
                        client.publish(topic, payload, qos, retain)
                    self._live = True
                    return replayed
            for m in pending:
                client.publish(m.topic, m.payload, m.qos, m.retain)
            replayed += len(pending)

    def _on_refused(self, reason: str) -> None:
        cfg = self.config
        who = f"user {cfg.username!r}" if cfg.username else "no user name (anonymous)"
        problem = f"MQTT broker {cfg.host}:{cfg.port} refused the connection: {reason}"
        with self._lock:
            self.stats.connect_failures += 1
            self.stats.last_error = problem
            self._refused = True  # the disconnect that follows is this same attempt
            verdict = self._outage.report("refused")
        if verdict == "first":
            log.error("%s (%s; %s); retrying every %g s at most", problem, who,
                      _refusal_hint(reason), cfg.reconnect_max_delay)
        elif verdict == "reminder":
            log.error("%s, still, after %.0f s and %d attempts", problem,
                      self._outage.duration(), self._outage.attempts)

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        # paho calls this from inside its `except OSError:`, so the cause is still at hand.
        self._set_reconnect_delay(client)
        self._failed_attempt(sys.exc_info()[1])

    def _failed_attempt(self, cause: object) -> None:
        """Count a connection attempt that failed; log the first of an outage with its cause."""
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
            self.stats.connected = self._live = False
            refused, self._refused = self._refused, False
            if self._stopping or refused:
                return
        self._set_reconnect_delay(client)
        if not was_connected:
            # The broker closed the connection before answering CONNECT: most often plain
            # MQTT sent to a TLS-only listener, which no callback reported before.
            hint = ("" if self.config.tls.enabled else "; if that port only takes TLS, set "
                    "mqtt.tls.enabled")
            self._failed_attempt(ConnectionError(
                f"the broker closed the connection before answering ({reason}){hint}"))
            return
        with self._lock:
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
        if message.topic.startswith(f"{self.layout.prefix}/") and message.topic.endswith(
                "/privacy/set"):
            self._on_privacy_command(message)
            return
        ha = self.config.homeassistant
        if message.topic.startswith(f"{ha.discovery_prefix}/") and message.topic.endswith(
                "/config"):
            self._on_discovery_config(client, message)
            return
        if message.topic == ha.status_topic and message.payload.strip() == ONLINE.encode():
            log.info("MQTT: Home Assistant is online; re-sending discovery")
            with self._lock:
                avail = self.config.topics.availability
                client.publish(self.layout.availability, ONLINE, avail.qos, avail.retain)
                self._publish_discovery(self._cameras)

    def _on_privacy_command(self, message: paho.MQTTMessage) -> None:
        """`ON`/`OFF` for one camera or the device; anything else is one (throttled) line."""
        middle = message.topic[len(self.layout.prefix) + 1:-len("/privacy/set")]
        camera = middle or None
        on = switch_command(message.payload)
        with self._lock:
            known = camera is None or camera in self._cameras
        problem = ("" if known else f"no camera {camera!r} here") or (
            "" if on is not None else f"payload {message.payload[:40]!r} is not ON or OFF")
        if problem:
            held = self._command_log.allow()
            if held is not None:
                more = f" ({held} more since the last report)" if held else ""
                log.warning("MQTT: ignored a privacy command on %s: %s%s", message.topic,
                            problem, more)
            return
        log.info("MQTT: privacy %s for %s", "on" if on else "off",
                 f"camera {camera}" if camera else "every camera")
        if self._privacy_handler is not None:
            self._privacy_handler(camera, bool(on))

    def _on_discovery_config(self, client: paho.Client, message: paho.MQTTMessage) -> None:
        """A retained discovery config of this device: deleted unless a camera has it now."""
        if not message.payload:
            return  # a deletion (ours, or another tool's)
        with self._lock:
            ours = {topic for camera in self._cameras
                    for topic in discovery_topics(self.config, camera, self.labels)}
            ours.update(device_discovery_topics(self.config))
        if message.topic in ours:
            return
        log.info("MQTT: removing the Home Assistant entity %s: no configured camera has it",
                 message.topic)
        client.publish(message.topic, b"", qos=1, retain=True)

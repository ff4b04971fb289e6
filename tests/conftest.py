"""Shared fixtures: where the registry assets live, real brokers and daemons."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge_daemon.mosquitto import free_port, terminate, wait_listening

REPO = Path(__file__).resolve().parent.parent
ASSETS = Path(os.environ.get("EMOTION_EDGE_ASSETS", REPO / ".assets"))


@pytest.fixture(scope="session")
def assets() -> Path:
    """The folder tools/fetch_assets.py fills with registry weights and face data."""
    if not (ASSETS / "feat-test-data" / "SOURCE.json").exists():
        pytest.fail(f"assets missing in {ASSETS}: run python tools/fetch_assets.py")
    return ASSETS


# --------------------------------------------------------------------------- MQTT: real broker
MOSQUITTO = "/usr/sbin/mosquitto"


class MosquittoBroker:
    """A real mosquitto on a free loopback port; can be stopped and restarted on that port.

    users: name -> password (anonymous access is then refused); tls: a dict with ca, cert,
    key (PEM paths) and require_client_cert; persistent: sessions and retained messages survive
    a restart, and QoS 0 messages are queued for disconnected persistent subscribers.
    """

    host = "127.0.0.1"

    def __init__(self, workdir: Path, users: dict[str, str] | None = None,
                 tls: dict | None = None, persistent: bool = False) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.users, self.tls, self.persistent = users, tls, persistent
        self.log_path = workdir / "mosquitto.log"
        self.process: subprocess.Popen | None = None
        self._write_config()

    def _write_config(self) -> None:
        lines = [f"listener {self.port} {self.host}", f"user {getpass.getuser()}",
                 "log_dest stderr", "log_type error", "log_type warning", "log_type notice"]
        if self.persistent:
            lines += ["persistence true", f"persistence_location {self.workdir}/",
                      "autosave_interval 0", "queue_qos0_messages true"]
        else:
            lines.append("persistence false")
        if self.users:
            pwfile = self.workdir / "passwd"
            pwfile.write_text("")
            for name, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pwfile), name, password],
                               check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        if self.tls:
            require = "true" if self.tls.get("require_client_cert") else "false"
            lines += [f"cafile {self.tls['ca']}", f"certfile {self.tls['cert']}",
                      f"keyfile {self.tls['key']}", f"require_certificate {require}"]
        self.config_path = self.workdir / "mosquitto.conf"
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 5.0) -> MosquittoBroker:
        """Start (or restart) on the same port and wait until it accepts connections."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config_path)],
                                        stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if wait_listening(self.process, self.host, self.port, timeout):
            return self
        self.stop()
        raise RuntimeError(f"mosquitto did not start on port {self.port}:\n"
                           + self.log_path.read_text(errors="replace"))

    def stop(self) -> None:
        """Stop it (SIGTERM, so a persistent broker saves its database)."""
        if self.process is not None:
            terminate(self.process)
        self.process = None

    def restart(self) -> None:
        """Stop, then start again on the same port."""
        self.stop()
        self.start()


@pytest.fixture
def mosquitto_factory(tmp_path: Path):
    """Make brokers with options (users, tls, persistent); all are stopped after the test."""
    if not Path(MOSQUITTO).exists():
        pytest.fail(f"{MOSQUITTO} not found: install the Debian package mosquitto")
    brokers: list[MosquittoBroker] = []

    def make(**options) -> MosquittoBroker:
        broker = MosquittoBroker(tmp_path / f"broker{len(brokers)}", **options)
        brokers.append(broker)
        return broker.start()

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture
def mosquitto(mosquitto_factory) -> MosquittoBroker:
    """A running anonymous mosquitto on 127.0.0.1 (attributes host, port; stop/start/restart)."""
    return mosquitto_factory()


@dataclass(frozen=True)
class ReceivedMessage:
    """One message a test subscriber got."""

    topic: str
    payload: bytes
    retain: bool
    received: float  # time.monotonic()

    def json(self):
        """The payload decoded as JSON."""
        return json.loads(self.payload)

    @property
    def text(self) -> str:
        """The payload as text."""
        return self.payload.decode()


class MqttRecorder:
    """A real paho subscriber that records everything on its topics (and resubscribes)."""

    def __init__(self, host: str, port: int, topics: list[str], client_id: str = "",
                 clean_session: bool = True, username: str | None = None,
                 password: str | None = None, **tls) -> None:
        self.messages: list[ReceivedMessage] = []
        self._cond = threading.Condition()
        self._topics = topics
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"recorder-{uuid.uuid4().hex[:8]}",
                                  clean_session=clean_session)
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls:
            self.client.tls_set(**tls)
        self.client.reconnect_delay_set(0.05, 0.3)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect_async(host, port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(5):
            self.close()
            raise RuntimeError(f"test subscriber could not subscribe at {host}:{port}")

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if not reason.is_failure:
            client.subscribe([(t, 1) for t in self._topics])

    def _on_message(self, client, userdata, msg) -> None:
        with self._cond:
            self.messages.append(ReceivedMessage(msg.topic, bytes(msg.payload),
                                                 bool(msg.retain), time.monotonic()))
            self._cond.notify_all()

    def on(self, topic: str) -> list[ReceivedMessage]:
        """Messages received on one topic, in order."""
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, predicate, timeout: float = 5.0, what: str = "a message"):
        """The first recorded message satisfying predicate, waiting up to timeout seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages:
                    if predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = sorted({m.topic for m in self.messages})
                    raise AssertionError(f"no {what} within {timeout} s; topics seen: {seen}")
                self._cond.wait(left)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def mqtt_recorder():
    """Factory of real paho subscribers: recorder(host, port, ["topic/#"], ...); closed after."""
    recorders: list[MqttRecorder] = []

    def make(host: str, port: int, topics: list[str], **options) -> MqttRecorder:
        recorder = MqttRecorder(host, port, topics, **options)
        recorders.append(recorder)
        return recorder

    yield make
    for recorder in recorders:
        recorder.close()


# --------------------------------------------------------------------------- the daemon itself
class DaemonProcess:
    """`python -m edge_daemon run` in a subprocess, with its config and stderr in a folder."""

    def __init__(self, workdir: Path, config: dict | str, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()) -> None:
        import yaml  # only the daemon fixtures need it

        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "config.yaml"
        if isinstance(config, dict):
            # The local servers are on by default at fixed ports; test daemons run side by
            # side (and beside a developer's own), so each gets free ports unless it says.
            # In place, so that a test rewriting its config for a reload keeps the ports.
            for section in ("websocket", "metrics"):
                config[section] = {"port": free_port(), **config.get(section, {})}
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        self.config_path.write_text(text)
        self.stderr_path = workdir / "stderr.log"
        environ = {k: v for k, v in os.environ.items()
                   if k not in ("MODEL_FILE", "IMAGES_DIR", "JOURNAL_STREAM", "NOTIFY_SOCKET")}
        environ.update(env or {})
        with self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "edge_daemon", "run", "--config", str(self.config_path),
                 *args],
                stdout=subprocess.DEVNULL, stderr=stderr, env=environ, cwd=workdir,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait(self, timeout: float) -> int:
        """The exit code, waiting up to timeout seconds (TimeoutExpired otherwise)."""
        return self.process.wait(timeout)

    def stderr(self) -> str:
        """Everything the daemon logged so far."""
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        """Make sure it is gone (SIGKILL if it did not exit)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def daemon_factory(tmp_path: Path):
    """Start daemons: daemon_factory(config_dict_or_yaml, env={...}); all killed after the test."""
    daemons: list[DaemonProcess] = []

    def start(config: dict | str, env: dict[str, str] | None = None,
              args: tuple[str, ...] = ()) -> DaemonProcess:
        daemon = DaemonProcess(tmp_path / f"daemon{len(daemons)}", config, env, args)
        daemons.append(daemon)
        return daemon

    yield start
    for daemon in daemons:
        daemon.stop()


@pytest.fixture(scope="module")
def module_daemon_factory(tmp_path_factory):
    """daemon_factory for a whole test module: one daemon can serve many tests."""
    daemons: list[DaemonProcess] = []

    def start(config: dict | str, env: dict[str, str] | None = None,
              args: tuple[str, ...] = ()) -> DaemonProcess:
        daemon = DaemonProcess(tmp_path_factory.mktemp("daemon"), config, env, args)
        daemons.append(daemon)
        return daemon

    yield start
    for daemon in daemons:
        daemon.stop()

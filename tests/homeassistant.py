"""A real Home Assistant for the tests, its MQTT integration pointed at a test broker.

Nothing of Home Assistant is imported here (it needs Python 3.13 and pins its own aiohttp,
paho-mqtt, ...): tools/homeassistant_env.sh builds its venv, and this module starts
`<venv>/bin/hass -c CONFIG_DIR --skip-pip` as a subprocess and talks to it over its REST and
WebSocket APIs, as any client does.

    ha = HomeAssistant(tmp_path / "ha", broker.host, broker.port).start()
    ha.state("sensor.kitchen_pi_front_emotion")["state"]
    ha.entity_registry(), ha.device_registry()
    with ha.watch("event.front_emotion_changed") as changes: ...; changes.wait_for(...)
    ha.stop()

How a fresh config dir becomes usable without a browser (only public APIs; the one file
written into .storage is the onboarding progress, whose format has been stable since 2021):
- configuration.yaml: http on a free loopback port, no default_config (bootstrap still sets
  up its DEFAULT_INTEGRATIONS: frontend, backup, ...; the venv has their requirements);
- .storage/onboarding marks every onboarding step but `user` as done: the core_config step
  would start config flows for met, radio_browser, ... that need the network and packages;
- POST /api/onboarding/users creates the owner (the `user` step, which completes
  onboarding) and answers an auth code; POST /auth/token turns it into an access token, and
  the WebSocket command auth/long_lived_access_token into a token that is kept in the config
  dir, so that a restart on the same dir reuses it;
- the MQTT config entry is made by the integration's own config flow over REST
  (/api/config/config_entries/flow), which connects to the broker as a user's would.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from websockets.sync.client import ClientConnection, connect

from edge_daemon.mosquitto import free_port

REPO = Path(__file__).resolve().parent.parent
ENV_SCRIPT = REPO / "tools" / "homeassistant_env.sh"
# The build script is the one place the version is written; read it from there.
HA_VERSION = re.search(r"^HA_VERSION=(\S+)$", ENV_SCRIPT.read_text(), re.M).group(1)
# Written by tools/homeassistant_env.sh once the venv passed its check.
READY_MARKER = ".emotion-edge-recipe"
TOKEN_FILE = "emotion-edge-test-token"
OWNER = {"name": "Test Owner", "username": "owner", "password": "emotion-edge-test"}
# Loopback only: never through a proxy from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def ha_venv() -> Path:
    """Where tools/homeassistant_env.sh builds (and keeps) the Home Assistant venv."""
    default = f"/var/cache/emotion-edge/homeassistant-{HA_VERSION}"
    return Path(os.environ.get("EMOTION_EDGE_HA_VENV", default))


def ha_venv_ready(venv: Path | None = None) -> bool:
    """Whether the venv is built (a half-built one has no marker)."""
    venv = venv or ha_venv()
    return (venv / READY_MARKER).is_file() and (venv / "bin" / "hass").is_file()


class HomeAssistantError(RuntimeError):
    """Home Assistant did not do what a test needed; the message ends with its log's tail."""


class HomeAssistant:
    """`hass -c config_dir` from the HA venv, MQTT on broker_host:broker_port.

    A config dir is made on the first start and kept: start() on it again (after stop())
    is a restart with the same token, entities and MQTT entry. Timings of the last start
    and stop are in start_seconds, ready_seconds (phase -> seconds since the launch) and
    stop_seconds.
    """

    def __init__(self, config_dir: Path, broker_host: str, broker_port: int, *,
                 broker_username: str | None = None, broker_password: str | None = None,
                 venv: Path | None = None, port: int | None = None) -> None:
        self.config_dir = Path(config_dir)
        self.broker_host, self.broker_port = broker_host, broker_port
        self.broker_username, self.broker_password = broker_username, broker_password
        self.venv = venv or ha_venv()
        self.port = port or self._configured_port() or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token: str | None = None
        self.process: subprocess.Popen | None = None
        self.start_seconds: float | None = None
        self.ready_seconds: dict[str, float] = {}
        self.stop_seconds: float | None = None
        self._ws: ClientConnection | None = None
        self._ws_stack = contextlib.ExitStack()
        self._ws_id = 0
        self._births: list[float] = []
        self._birth_cond = threading.Condition()
        self._birth_listener: mqtt.Client | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 180.0) -> HomeAssistant:
        """Launch, then poll until the API answers and the MQTT entry is loaded.

        The timeout is generous because a first start compiles Home Assistant's bytecode
        and this machine may be busy; a warm start takes a few seconds.
        """
        if not ha_venv_ready(self.venv):
            raise HomeAssistantError(f"no Home Assistant venv at {self.venv}: "
                                     "run tools/homeassistant_env.sh")
        if self.running:
            raise HomeAssistantError("already running")
        self._write_config()
        self._listen_for_birth()
        self.ready_seconds = {}
        launched = time.monotonic()
        deadline = launched + timeout
        with (self.config_dir / "hass.stdout.log").open("ab") as out:
            self.process = subprocess.Popen(
                [str(self.venv / "bin" / "hass"), "-c", str(self.config_dir),
                 # Every requirement is in the venv (the build script checks it); should one
                 # be missing, an import error here beats a slow pip install at start.
                 "--skip-pip", "--log-no-color"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")})
        try:
            # 401 without a token: the API is up (onboarding's own views exist only until
            # onboarding is done, so a restart cannot wait for those).
            self._poll(lambda: self._status("/api/") == 401, deadline, "the HTTP API to answer")
            self.ready_seconds["http"] = time.monotonic() - launched
            self.token = self._load_or_create_token(deadline)
            self._poll(lambda: self.get("/api/config").get("state") == "RUNNING", deadline,
                       "Home Assistant to be running")
            self.ready_seconds["running"] = time.monotonic() - launched
            if not self.mqtt_entries():
                self._create_mqtt_entry()
            self._poll(lambda: [e["state"] for e in self.mqtt_entries()] == ["loaded"],
                       deadline, "the MQTT config entry to be loaded")
            self.ready_seconds["mqtt"] = time.monotonic() - launched
        except BaseException:
            self.stop()
            raise
        self.start_seconds = self.ready_seconds["mqtt"]
        return self

    def stop(self, timeout: float = 60.0) -> float | None:
        """SIGTERM (Home Assistant's own clean shutdown), SIGKILL after timeout; seconds."""
        self._close_ws()
        if self._birth_listener is not None:
            self._birth_listener.disconnect()
            self._birth_listener.loop_stop()
            self._birth_listener = None
        if self.process is None:
            return None
        began = time.monotonic()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.stop_seconds = time.monotonic() - began
        self.process = None
        return self.stop_seconds

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """Home Assistant's log of the current (or last) run."""
        path = self.config_dir / "home-assistant.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for_birth(self, timeout: float = 30.0) -> float:
        """Wait for the MQTT integration's birth message (`online` on homeassistant/status).

        Home Assistant sends it once it has subscribed to everything and discovery has been
        quiet for 5 s: after it, nothing published is missed (and the daemon republishes its
        discovery configs on it). Returns its time.monotonic().
        """
        deadline = time.monotonic() + timeout
        with self._birth_cond:
            while not self._births:
                left = deadline - time.monotonic()
                if left <= 0 or not self.running:
                    raise self._error(f"no birth message on homeassistant/status in {timeout} s")
                self._birth_cond.wait(min(left, 0.5))
            return self._births[-1]

    # ------------------------------------------------------------------ REST
    def request(self, method: str, path: str, body: Any = None, *,
                form: dict[str, str] | None = None, auth: bool = True) -> Any:
        """One REST call; the decoded JSON answer (HomeAssistantError on an HTTP error)."""
        headers = {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with _HTTP.open(req, timeout=30) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as e:
            raise self._error(f"{method} {path}: HTTP {e.code} {e.read().decode()[:500]}") from e
        return json.loads(text) if text else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body if body is not None else {})

    def states(self) -> list[dict]:
        """Every state: dicts with entity_id, state, attributes, last_changed, ..."""
        return self.get("/api/states")

    def state(self, entity_id: str) -> dict | None:
        """One entity's state, None when it has none (unknown id, or a disabled entity)."""
        try:
            return self.get(f"/api/states/{entity_id}")
        except HomeAssistantError as e:
            if "HTTP 404" in str(e):
                return None
            raise

    def wait_state(self, entity_id: str, predicate: Callable[[dict], object] = bool,
                   timeout: float = 15.0, what: str = "") -> dict:
        """Poll the entity's state until predicate(state dict) holds; that state."""
        seen: list[dict | None] = [None]

        def check() -> bool:
            seen[0] = self.state(entity_id)
            return seen[0] is not None and bool(predicate(seen[0]))

        try:
            self._poll(check, time.monotonic() + timeout,
                       what or f"{entity_id} to reach the expected state")
        except HomeAssistantError as e:
            raise HomeAssistantError(f"{e}\n--- last state: {seen[0]}") from None
        return seen[0]

    def mqtt_entries(self) -> list[dict]:
        """The MQTT config entries (entry_id, state: loaded / setup_retry / ...)."""
        return self.get("/api/config/config_entries/entry?domain=mqtt")

    # ------------------------------------------------------------------ WebSocket
    def command(self, type_: str, **fields: Any) -> Any:
        """One WebSocket command; its result (HomeAssistantError if it failed)."""
        ws = self._websocket()
        self._ws_id += 1
        ws.send(json.dumps({"id": self._ws_id, "type": type_, **fields}))
        while True:
            message = json.loads(ws.recv(timeout=30))
            if message.get("id") == self._ws_id and message.get("type") == "result":
                break
        if not message["success"]:
            raise self._error(f"{type_}: {message.get('error')}")
        return message["result"]

    def entity_registry(self) -> list[dict]:
        """config/entity_registry/list: entity_id, unique_id, platform, device_id,
        disabled_by, hidden_by, entity_category, has_entity_name, original_name, ...
        (no device_class: see entity())."""
        return self.command("config/entity_registry/list")

    def entity(self, entity_id: str) -> dict:
        """config/entity_registry/get: the full entry, with device_class (the user's
        override, None) and original_device_class (what discovery said), capabilities
        (e.g. options of an enum sensor), original_icon, aliases."""
        return self.command("config/entity_registry/get", entity_id=entity_id)

    def wait_entity(self, unique_id: str, timeout: float = 30.0) -> dict:
        """The entity registry entry with this unique_id (discovery's), once it exists."""
        found: list[dict] = []

        def registered() -> bool:
            found[:] = [e for e in self.entity_registry() if e["unique_id"] == unique_id]
            return bool(found)

        self._poll(registered, time.monotonic() + timeout, f"an entity with unique_id {unique_id}")
        return found[0]

    def device_registry(self) -> list[dict]:
        """config/device_registry/list: id, identifiers ([["mqtt", "<id>"], ...]), name,
        manufacturer, model, sw_version, config_entries, ..."""
        return self.command("config/device_registry/list")

    def watch(self, entity_id: str) -> StateWatcher:
        """Record every state change of one entity from now on (a context manager)."""
        return StateWatcher(self, entity_id)

    @contextlib.contextmanager
    def websocket(self) -> Iterator[ClientConnection]:
        """A new authenticated WebSocket connection, closed on leaving the block."""
        # As a context manager: websockets 17 warns about a bare connect() (and its
        # legacy=True flag does not exist in the 15 and 16 that pyproject allows).
        with connect(f"ws://127.0.0.1:{self.port}/api/websocket", proxy=None,
                     open_timeout=30, max_size=None) as ws:
            greeting = json.loads(ws.recv(timeout=30))
            if greeting.get("type") != "auth_required":
                raise self._error(f"unexpected WebSocket greeting {greeting}")
            ws.send(json.dumps({"type": "auth", "access_token": self.token}))
            answer = json.loads(ws.recv(timeout=30))
            if answer.get("type") != "auth_ok":
                raise self._error(f"WebSocket auth failed: {answer}")
            yield ws

    # ------------------------------------------------------------------ internals
    def _websocket(self) -> ClientConnection:
        if self._ws is None:
            self._ws = self._ws_stack.enter_context(self.websocket())
            self._ws_id = 0
        return self._ws

    def _close_ws(self) -> None:
        self._ws_stack.close()
        self._ws = None

    def _configured_port(self) -> int | None:
        """The port of an existing config dir (a restart keeps its URL and token)."""
        path = self.config_dir / "configuration.yaml"
        found = re.search(r"server_port: (\d+)", path.read_text()) if path.exists() else None
        return int(found.group(1)) if found else None

    def _write_config(self) -> None:
        storage = self.config_dir / ".storage"
        storage.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "configuration.yaml").write_text(f"""\
# Written by tests/homeassistant.py. No default_config: only what bootstrap always sets up,
# plus MQTT (its config entry) and the platforms its discovery creates.
homeassistant:
  name: emotion-edge test
  latitude: 52.37
  longitude: 4.89
  elevation: 0
  unit_system: metric
  time_zone: UTC
  currency: EUR
  country: NL
  internal_url: {self.url}
http:
  server_host: 127.0.0.1
  server_port: {self.port}
  # Tests may knock with a bad token on purpose; never ban the loopback for it.
  ip_ban_enabled: false
logger:
  default: info
  logs:
    # No libturbojpeg on the test machines: an ERROR with a traceback at every start.
    homeassistant.components.camera.img_util: critical
""")
        onboarding = storage / "onboarding"
        if not onboarding.exists():
            # Storage version 4 (2021.x to at least 2025.x); an older one would be migrated.
            onboarding.write_text(json.dumps({
                "version": 4, "minor_version": 1, "key": "onboarding",
                "data": {"done": ["core_config", "analytics", "integration"]}}))

    def _load_or_create_token(self, deadline: float) -> str:
        path = self.config_dir / TOKEN_FILE
        if path.exists():
            return path.read_text().strip()
        self._poll(lambda: self._status("/api/onboarding") == 200, deadline, "onboarding")
        client_id = f"{self.url}/"
        code = self.request("POST", "/api/onboarding/users", auth=False,
                            body={**OWNER, "client_id": client_id, "language": "en"})
        tokens = self.request("POST", "/auth/token", auth=False, form={
            "grant_type": "authorization_code", "code": code["auth_code"],
            "client_id": client_id})
        self.token = tokens["access_token"]  # 30 minutes; good for this one command
        long_lived = self.command("auth/long_lived_access_token",
                                  client_name="emotion-edge tests", lifespan=3650)
        self._close_ws()
        path.write_text(long_lived)
        return long_lived

    def _create_mqtt_entry(self) -> None:
        form = self.post("/api/config/config_entries/flow",
                         {"handler": "mqtt", "show_advanced_options": False})
        if form.get("type") != "form" or form.get("step_id") != "broker":
            raise self._error(f"MQTT config flow started with {form}")
        answer: dict[str, Any] = {"broker": self.broker_host, "port": self.broker_port}
        if self.broker_username is not None:
            answer |= {"username": self.broker_username, "password": self.broker_password}
        result = self.post(f"/api/config/config_entries/flow/{form['flow_id']}", answer)
        if result.get("type") != "create_entry":
            raise self._error(f"MQTT config flow answered {result}")

    def _listen_for_birth(self) -> None:
        """Subscribe to the birth topic before Home Assistant connects (it is not retained)."""
        self._births.clear()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=f"ha-birth-{uuid.uuid4().hex[:8]}")
        subscribed = threading.Event()

        def on_message(client, userdata, msg) -> None:
            if msg.payload == b"online":
                with self._birth_cond:
                    self._births.append(time.monotonic())
                    self._birth_cond.notify_all()

        if self.broker_username is not None:
            client.username_pw_set(self.broker_username, self.broker_password)
        # It stays connected while Home Assistant runs: a broker restart brings a new birth.
        client.reconnect_delay_set(0.05, 0.5)
        client.on_connect = lambda c, *a: c.subscribe("homeassistant/status", 1)
        client.on_subscribe = lambda *a: subscribed.set()
        client.on_message = on_message
        client.connect_async(self.broker_host, self.broker_port, keepalive=10)
        client.loop_start()
        if not subscribed.wait(10):
            client.disconnect()
            client.loop_stop()
            raise HomeAssistantError(f"cannot subscribe to homeassistant/status at "
                                     f"{self.broker_host}:{self.broker_port} (credentials?)")
        self._birth_listener = client

    def _status(self, path: str) -> int | None:
        """The HTTP status of an unauthenticated GET, None while nothing listens."""
        try:
            with _HTTP.open(self.url + path, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None

    def _poll(self, predicate: Callable[[], object], deadline: float, what: str) -> None:
        """Poll every 0.1 s until predicate holds; fail at once if Home Assistant exited."""
        last_error = ""
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise self._error(f"Home Assistant exited ({self.process.returncode}) "
                                  f"while waiting for {what}")
            try:
                if predicate():
                    return
            except (HomeAssistantError, OSError) as e:
                # Not up yet, or a component still loading: ask again, but say it on timeout.
                last_error = str(e).split("\n", 1)[0]
            if time.monotonic() > deadline:
                raise self._error(f"timed out waiting for {what}"
                                  + (f" (last error: {last_error})" if last_error else ""))
            time.sleep(0.1)

    def _error(self, message: str) -> HomeAssistantError:
        name, text = "home-assistant.log", self.log()
        if not text.strip():  # died before its logging was set up: the traceback is here
            name = "hass.stdout.log"
            path = self.config_dir / name
            text = path.read_text(errors="replace") if path.exists() else ""
        tail = "\n".join(text.splitlines()[-40:])
        return HomeAssistantError(f"{message}\n--- {name} (tail) ---\n{tail}")


class StateWatcher:
    """Every state_changed of one entity, recorded by a WebSocket subscription's thread.

    Polling the state can miss a change that is followed quickly by another (an event
    entity's state is the time of its last event); this sees each one.
    """

    def __init__(self, ha: HomeAssistant, entity_id: str) -> None:
        self.entity_id = entity_id
        self.changes: list[dict] = []  # new_state dicts (None when the entity was removed)
        self._cond = threading.Condition()
        self._stack = contextlib.ExitStack()
        self._ws = self._stack.enter_context(ha.websocket())
        self._ws.send(json.dumps({"id": 1, "type": "subscribe_events",
                                  "event_type": "state_changed"}))
        answer = json.loads(self._ws.recv(timeout=30))
        if not answer.get("success"):
            self._stack.close()
            raise HomeAssistantError(f"subscribe_events failed: {answer}")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for raw in self._ws:
                message = json.loads(raw)
                data = message.get("event", {}).get("data", {})
                if message.get("type") == "event" and data.get("entity_id") == self.entity_id:
                    with self._cond:
                        self.changes.append(data["new_state"])
                        self._cond.notify_all()
        except Exception:  # the connection closed (close(), or Home Assistant stopped)
            pass

    def wait_for(self, predicate: Callable[[dict | None], object], timeout: float = 15.0,
                 what: str = "a matching state change") -> dict | None:
        """The first recorded new state (from the start) satisfying predicate."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for new_state in self.changes:
                    if predicate(new_state):
                        return new_state
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.entity_id}: no {what} within {timeout} s; "
                                         f"changes seen: {self.changes}")
                self._cond.wait(left)

    def close(self) -> None:
        self._stack.close()
        self._thread.join(5)

    def __enter__(self) -> StateWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Fixtures for the WebSocket server's tests: real daemons on free ports, real face images."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_daemon.inference.detectors import build_detector
from edge_daemon.mosquitto import free_port

# Straight to the daemon, whatever proxy the environment names.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

HAPPY = "0-f15-hao-ph.jpg"  # posed happy face: the bundled mini-Xception says happy, p > 0.99
SURPRISE = "0-f1-su-ph.jpg"  # posed surprise: surprise, p about 0.5-0.7


@dataclass
class Served:
    """A running daemon and where its WebSocket server listens."""

    daemon: object
    port: int
    token: str | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict]:
        """(status, body, headers) of a plain HTTP GET."""
        request = urllib.request.Request(self.http + path, headers=headers or {})
        try:
            with _DIRECT.open(request, timeout=5) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    def wait_until_serving(self, timeout: float = 60.0) -> None:
        """Wait until the page answers (the daemon loads its models first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.daemon.process.poll() is not None:
                pytest.fail(f"the daemon exited ({self.daemon.process.returncode}):\n"
                            + self.daemon.stderr()[-3000:])
            try:
                if self.get("/")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        pytest.fail("the WebSocket server did not answer:\n" + self.daemon.stderr()[-3000:])

    def status(self) -> dict:
        """The server's counters (GET /status)."""
        auth = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        code, body, _ = self.get("/status", auth)
        assert code == 200, body
        return json.loads(body)


@pytest.fixture(scope="session")
def serve_daemon():
    """serve_daemon(factory, cameras, env=..., mqtt=broker_or_None, **websocket) -> Served.

    Starts a daemon (through daemon_factory or module_daemon_factory) with the WebSocket
    server on a free port (or `port`), metrics off, MQTT to the given broker (else off), and
    waits until the server answers (unless wait=False).
    """

    def start(factory, cameras: dict, env: dict[str, str] | None = None, mqtt=None,
              prefix: str = "ws-test", port: int | None = None, wait: bool = True,
              **websocket) -> Served:
        port = port or free_port()
        config = {
            "cameras": cameras,
            "mqtt": ({"host": mqtt.host, "port": mqtt.port, "topic_prefix": prefix,
                      "client_id": prefix, "homeassistant": {"enabled": False}}
                     if mqtt is not None else {"enabled": False}),
            "metrics": {"enabled": False},
            "websocket": {"port": port, **websocket},
        }
        daemon = factory(config, env=env)
        token = (env or {}).get("EMOTION_EDGE_WS_TOKEN")
        served = Served(daemon, port, token)
        if wait:
            served.wait_until_serving()
        return served

    return start


def seed_face_crop(image: np.ndarray) -> np.ndarray:
    """The face as the seed's browser client crops it: the BlazeFace box, extended upward by
    half its height (clamped at the top), width and bottom unchanged."""
    detections = build_detector("blazeface", variant="short").detect(image)
    assert detections, "no face in the test image"
    box = max(detections, key=lambda d: d.box.area).box
    top = max(0.0, box.y1 - box.height / 2)
    return image[round(top):round(box.y2), round(box.x1):round(box.x2)].copy()


@pytest.fixture(scope="session")
def face_image(assets):
    """face_image(name) -> the BGR image of a registry face photo."""

    def read(name: str) -> np.ndarray:
        image = cv2.imread(str(assets / "feat-test-data" / name))
        assert image is not None, name
        return image

    return read


@pytest.fixture(scope="session")
def seed_crop(face_image):
    """seed_crop(name) -> the face of a registry photo cropped as the seed's client does."""
    return lambda name: seed_face_crop(face_image(name))


@pytest.fixture(scope="session")
def posed_faces_video(assets, tmp_path_factory) -> Path:
    """A 20 fps video: the happy face for 1 s, then the surprised face for 1 s."""
    feat = assets / "feat-test-data"
    path = tmp_path_factory.mktemp("video") / "posed.avi"
    images = [cv2.imread(str(feat / name)) for name in (HAPPY, SURPRISE)]
    height, width = images[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20, (width, height))
    for image in images:
        for _ in range(20):
            writer.write(cv2.resize(image, (width, height)))
    writer.release()
    return path


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def browser():
    """Headless Chromium from Debian (never Playwright's own download)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install the Debian package chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"])
        yield chromium
        chromium.close()

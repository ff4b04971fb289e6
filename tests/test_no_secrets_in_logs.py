"""No secret in any log line at any level: the daemon at --log-level debug, for real.

Before the redaction filter, the websockets library's debug lines carried
`GET /stream?token=...` and `Authorization: Bearer ...` into the journal.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import websockets
from polling import wait_until

from edge_daemon.mosquitto import free_port

MQTT_PASSWORD = "mqtt-pa55word-xyz"
WS_TOKEN = "ws-t0ken-value-xyz"
CAMERA_PASSWORD = "cam-pa55-xyz"


async def _connect_both_ways(port: int) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{port}/stream?token={WS_TOKEN}",
                                  proxy=None) as ws:
        await ws.ping()
    async with websockets.connect(f"ws://127.0.0.1:{port}/stream", proxy=None,
                                  additional_headers={"Authorization": f"Bearer {WS_TOKEN}"}
                                  ) as ws:
        await ws.ping()


def test_debug_logs_hold_no_password_or_token(assets, mosquitto_factory, daemon_factory):
    broker = mosquitto_factory(users={"edge": MQTT_PASSWORD})
    video = assets / "feat-test-data" / "single_face.mp4"
    port = free_port()
    daemon = daemon_factory({
        "cameras": {
            "front": {"source": {"type": "file", "path": str(video), "loop": True}},
            "door": {"source": {"type": "url",
                                "url": f"rtsp://viewer:{CAMERA_PASSWORD}@127.0.0.1:9/live"}},
        },
        "mqtt": {"host": broker.host, "port": broker.port, "username": "edge",
                 "topic_prefix": "secrets-test", "client_id": "secrets-test"},
        "websocket": {"port": port},
        "metrics": {"enabled": False},
    }, env={"EMOTION_EDGE_MQTT_PASSWORD": MQTT_PASSWORD, "EMOTION_EDGE_WS_TOKEN": WS_TOKEN},
        args=("--log-level", "debug"))
    assert wait_until(lambda: "running 1 camera" in daemon.stderr()
                      or "running 2 camera" in daemon.stderr(), timeout=60), daemon.stderr()[-3000:]
    deadline = time.monotonic() + 30
    while True:
        try:
            asyncio.run(_connect_both_ways(port))
            break
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail("the WebSocket server never answered:\n" + daemon.stderr()[-3000:])
            time.sleep(0.2)
    # The debug lines these secrets would be in are there (so the check below can fail).
    assert wait_until(lambda: "GET /stream" in daemon.stderr(), timeout=10)
    assert wait_until(lambda: "viewer:***@" in daemon.stderr(), timeout=20), daemon.stderr()[-3000:]
    text = daemon.stderr()
    for secret in (MQTT_PASSWORD, WS_TOKEN, CAMERA_PASSWORD):
        assert secret not in text, f"{secret!r} is in the log"

"""The privacy switch end to end: MQTT commands close and reopen a camera (its file is
really released), nothing of it is saved or streamed meanwhile, the state is retained, bad
commands are one line, and with `privacy.remember` the switch survives a restart."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from polling import wait_until
from websockets.sync.client import connect as ws_connect

VIDEO = "single_face.mp4"


def camera(assets: Path, **extra) -> dict:
    return {"source": {"type": "file", "path": str(assets / "feat-test-data" / VIDEO),
                       "loop": True}, "interval_ms": 100, **extra}


def config(broker, prefix: str, cameras: dict, **sections) -> dict:
    return {"cameras": cameras,
            "mqtt": {"host": broker.host, "port": broker.port, "topic_prefix": prefix,
                     "client_id": prefix},
            **sections}


def send(broker, topic: str, payload: str) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.publish(topic, payload, qos=1).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


def open_count(pid: int, name: str) -> int:
    """How many of the process's open files have that name (the cameras' video)."""
    return sum(1 for fd in Path(f"/proc/{pid}/fd").iterdir() if _points_to(fd, name))


def holds(pid: int, name: str) -> bool:
    """Whether the process has a file of that name open."""
    return open_count(pid, name) > 0


def last(recorder, topic: str):
    messages = recorder.on(topic)
    return messages[-1] if messages else None


@pytest.fixture
def prefix() -> str:
    return f"ee-privacy-{uuid.uuid4().hex[:8]}"


def saved(directory: Path, camera_name: str) -> int:
    """How many samples of that camera the snapshot saver has written (their sidecars)."""
    return sum(1 for _ in directory.glob(f"*_{camera_name}_*.json"))


def test_the_switch_closes_the_camera_and_opens_it_again(
    assets, mosquitto, mqtt_recorder, daemon_factory, prefix, tmp_path
):
    recorder = mqtt_recorder(mosquitto.host, mosquitto.port, [f"{prefix}/#"])
    snapshots = tmp_path / "snapshots"
    cfg = config(mosquitto, prefix, {"front": camera(assets), "back": camera(assets)},
                 snapshots={"enabled": True, "directory": str(snapshots), "interval_s": 0.2})
    daemon = daemon_factory(cfg)
    results = f"{prefix}/front/results"
    recorder.wait_for(lambda m: m.topic == results, timeout=60, what="front's results")
    assert holds(daemon.pid, VIDEO)
    assert wait_until(lambda: saved(snapshots, "front") > 0, 30)

    send(mosquitto, f"{prefix}/front/privacy/set", "ON")
    recorder.wait_for(lambda m: m.topic == f"{prefix}/front/privacy" and m.text == "ON",
                      timeout=20, what="front's privacy ON")
    recorder.wait_for(lambda m: m.topic == f"{prefix}/front/status"
                      and m.json()["state"] == "paused", timeout=20, what="front paused")
    paused_at = len(recorder.on(results))
    back_at = len(recorder.on(f"{prefix}/back/results"))
    assert wait_until(lambda: len(recorder.on(f"{prefix}/back/results")) > back_at + 10, 30)
    assert len(recorder.on(results)) <= paused_at + 1  # a frame in hand may still finish
    # Closed, not muted: only the back camera has the video open now.
    assert wait_until(lambda: open_count(daemon.pid, VIDEO) == 1, 10)
    assert last(recorder, f"{prefix}/privacy").text == "OFF"  # not every camera is

    # Nothing of it is saved or streamed while the back camera goes on doing both.
    front_saved, back_saved = saved(snapshots, "front"), saved(snapshots, "back")
    with ws_connect(f"ws://127.0.0.1:{cfg['websocket']['port']}/stream", proxy=None,
                    open_timeout=10) as stream:
        assert json.loads(stream.recv(timeout=10))["type"] == "hello"
        streamed = []  # the camera of every result (messages without a `type`)
        back_at = len(recorder.on(f"{prefix}/back/results"))
        while len(recorder.on(f"{prefix}/back/results")) < back_at + 10:
            message = json.loads(stream.recv(timeout=10))
            if "type" not in message:
                streamed.append(message["camera"])
    assert streamed and set(streamed) == {"back"}, streamed
    assert wait_until(lambda: saved(snapshots, "back") > back_saved, 30)
    assert saved(snapshots, "front") == front_saved

    for payload in ("maybe", "", "ON please", "\xff"):  # ignored, one line for all
        send(mosquitto, f"{prefix}/front/privacy/set", payload)
    send(mosquitto, f"{prefix}/nowhere/privacy/set", "OFF")
    assert wait_until(lambda: "ignored a privacy command" in daemon.stderr(), 10)
    time.sleep(0.5)  # more commands are in flight; none may log again
    ignored = [line for line in daemon.stderr().splitlines() if "ignored a privacy" in line]
    assert len(ignored) == 1 and "is not ON or OFF" in ignored[0], ignored
    assert len(recorder.on(results)) <= paused_at + 1  # still closed

    send(mosquitto, f"{prefix}/front/privacy/set", "OFF")
    recorder.wait_for(lambda m: m.topic == f"{prefix}/front/privacy" and m.text == "OFF",
                      timeout=20, what="front's privacy OFF")
    assert wait_until(lambda: len(recorder.on(results)) > paused_at + 5, 30)
    recorder.wait_for(lambda m: m.topic == f"{prefix}/front/status"
                      and m.json()["state"] == "connected", timeout=20, what="front again")

    send(mosquitto, f"{prefix}/privacy/set", "ON")  # the device's switch: every camera
    recorder.wait_for(lambda m: m.topic == f"{prefix}/privacy" and m.text == "ON", timeout=20,
                      what="the device's privacy ON")
    assert wait_until(lambda: not holds(daemon.pid, VIDEO), 10)
    assert "Traceback" not in daemon.stderr()


def _points_to(fd: Path, name: str) -> bool:
    try:
        return os.readlink(fd).endswith(name)
    except OSError:
        return False


def test_remembered_switches_survive_a_restart_and_the_config_can_start_closed(
    assets, mosquitto, mqtt_recorder, daemon_factory, prefix, tmp_path
):
    state = tmp_path / "privacy.json"
    cfg = config(mosquitto, prefix, {"front": camera(assets), "back": camera(assets,
                                                                           privacy=True)},
                 privacy={"remember": True, "state_file": str(state)})
    recorder = mqtt_recorder(mosquitto.host, mosquitto.port, [f"{prefix}/#"])
    first = daemon_factory(cfg)
    recorder.wait_for(lambda m: m.topic == f"{prefix}/back/status"
                      and m.json()["state"] == "paused", timeout=60, what="back paused")
    recorder.wait_for(lambda m: m.topic == f"{prefix}/front/results", timeout=60,
                      what="front's results")
    assert not recorder.on(f"{prefix}/back/results")
    send(mosquitto, f"{prefix}/front/privacy/set", "ON")
    assert wait_until(lambda: state.exists() and '"front": true' in state.read_text(), 20)
    first.process.send_signal(signal.SIGTERM)
    assert first.wait(timeout=20) == 0

    recorder.messages.clear()
    second = daemon_factory(cfg)
    recorder.wait_for(lambda m: m.topic == f"{prefix}/front/status"
                      and m.json()["state"] == "paused", timeout=60, what="front still paused")
    recorder.wait_for(lambda m: m.topic == f"{prefix}/privacy" and m.text == "ON", timeout=20,
                      what="every camera in privacy, retained")
    time.sleep(1.0)  # a running camera would publish ten results meanwhile
    assert not recorder.on(f"{prefix}/front/results")
    assert not holds(second.pid, VIDEO)

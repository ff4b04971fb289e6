"""The results stream end to end: a real daemon on real face videos, real WebSocket clients,
a real mosquitto and a real paho subscriber to compare with."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import statistics
import time
import uuid
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def file_camera(path: Path, **source) -> dict:
    return {"source": {"type": "file", "path": str(path), "loop": True, **source},
            "interval_ms": 0}


def ws_connect(url: str, **options) -> connect:
    # close_timeout: a client that stopped reading (its queue full) never sees the server's
    # answer to its close and would wait the default 10 s for it.
    return connect(url, proxy=None, open_timeout=10, close_timeout=1, **options)


async def collect(connection: ClientConnection, seconds: float) -> list[tuple[float, str]]:
    """(wall-clock arrival, text) of every message within the next `seconds`."""
    messages = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            text = await asyncio.wait_for(connection.recv(), left)
        except asyncio.TimeoutError:
            break
        messages.append((time.time(), text))
    return messages


def results_of(messages: list[tuple[float, str]]) -> list[tuple[float, dict, str]]:
    """(arrival, parsed, text) of the results messages (those without a `type`)."""
    parsed = [(at, json.loads(text), text) for at, text in messages]
    return [(at, body, text) for at, body, text in parsed if "type" not in body]


def mqtt_results(recorder, prefix: str) -> dict[tuple[str, int], bytes]:
    by_frame = {}
    for message in recorder.messages:
        if message.topic.startswith(f"{prefix}/") and message.topic.endswith("/results"):
            body = message.json()
            by_frame[(body["camera"], body["frame"])] = message.payload
    return by_frame


@pytest.fixture
def prefix() -> str:
    return f"ws-test-{uuid.uuid4().hex[:8]}"


def test_stream_sends_each_frame_the_mqtt_message_to_several_clients_and_1001_at_stop(
    assets, mosquitto, mqtt_recorder, daemon_factory, serve_daemon, prefix
):
    feat = assets / "feat-test-data"
    recorder = mqtt_recorder(mosquitto.host, mosquitto.port, [f"{prefix}/+/results"])
    served = serve_daemon(daemon_factory, {
        "single": file_camera(feat / "single_face.mp4"),
        "leaving": file_camera(feat / "face_noface.mov"),
    }, mqtt=mosquitto, prefix=prefix)

    async def clients():
        async with ws_connect(f"{served.ws}/stream") as every, \
                ws_connect(f"{served.ws}/stream?camera=single") as single, \
                ws_connect(f"{served.ws}/stream?camera=leaving") as leaving:
            connections = (every, single, leaving)
            hellos = [json.loads(await c.recv()) for c in connections]
            got = await asyncio.gather(*(collect(c, 4.0) for c in connections))
            served.daemon.process.send_signal(signal.SIGTERM)
            for c in connections:
                await asyncio.wait_for(c.wait_closed(), 10)
            return hellos, got, [c.close_code for c in connections]

    hellos, (every, single, leaving), close_codes = asyncio.run(clients())
    assert served.daemon.wait(20) == 0, served.daemon.stderr()[-2000:]
    assert close_codes == [1001, 1001, 1001]  # "going away": the daemon stopped

    assert [h["type"] for h in hellos] == ["hello"] * 3
    assert hellos[0]["labels"] == LABELS and sorted(hellos[0]["cameras"]) == ["leaving", "single"]
    assert [h["camera"] for h in hellos] == [None, "single", "leaving"]
    assert not any(h["preview"] for h in hellos)  # previews are off by default

    mqtt = mqtt_results(recorder, prefix)
    for received, camera_filter in ((every, None), (single, "single"), (leaving, "leaving")):
        results = results_of(received)
        assert len(results) >= 40, len(results)  # 4 s of two 30 fps videos (less on a slow CI)
        cameras = {body["camera"] for _, body, _ in results}
        assert cameras == ({"single", "leaving"} if camera_filter is None else {camera_filter})
        for camera in cameras:
            frames = [body["frame"] for _, body, _ in results if body["camera"] == camera]
            assert frames == sorted(frames)  # in order
            # Every frame MQTT got while the client listened, no more, no less...
            expected = [f for (c, f) in sorted(mqtt) if c == camera and
                        frames[0] <= f <= frames[-1]]
            assert frames == expected
        # ...and byte for byte the MQTT message.
        for _, body, text in results:
            assert text.encode() == mqtt[(body["camera"], body["frame"])]
    latencies = [at - body["epoch"] for at, body, _ in results_of(every)]
    assert statistics.median(latencies) < 0.25 and max(latencies) < 2.0, latencies


# A second of results: a fast client on a loaded machine (its sender task held up for a few
# frames) must lose none, while the slow one, which reads nothing for 5 s, overflows it.
QUEUE = 32


def _slow_socket(port: int) -> socket.socket:
    """A connected socket whose receive window is tiny: a client on a very poor link."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: fixes the window
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def test_a_slow_client_loses_its_oldest_results_and_delays_no_one(
    assets, mosquitto, mqtt_recorder, daemon_factory, serve_daemon, prefix
):
    recorder = mqtt_recorder(mosquitto.host, mosquitto.port, [f"{prefix}/+/results"])
    served = serve_daemon(daemon_factory, {
        "cam": file_camera(assets / "feat-test-data" / "single_face.mp4"),
    }, mqtt=mosquitto, prefix=prefix, client_queue_size=QUEUE)

    async def clients():
        # max_queue=1: the client library stops reading after one unread message, so the
        # server's writes back up at once.
        async with ws_connect(f"{served.ws}/stream", sock=_slow_socket(served.port),
                              max_queue=1) as slow, \
                ws_connect(f"{served.ws}/stream") as fast1, \
                ws_connect(f"{served.ws}/stream") as fast2:
            fast = await asyncio.gather(collect(fast1, 5.0), collect(fast2, 5.0))
            status = await asyncio.to_thread(served.status)
            late = await collect(slow, 1.5)  # now the slow one reads what it still has
            return fast, status, late

    fast, status, late = asyncio.run(clients())
    mqtt = mqtt_results(recorder, prefix)

    for received in fast:
        results = results_of(received)
        frames = [body["frame"] for _, body, _ in results]
        assert len(frames) >= 50  # 5 s of a 30 fps video
        assert frames == [f for (_, f) in sorted(mqtt) if frames[0] <= f <= frames[-1]]
        latencies = sorted(at - body["epoch"] for at, body, _ in results)
        assert latencies[int(0.95 * len(latencies))] < 0.5, latencies[-10:]
        assert not [m for m in received if '"type":"skipped"' in m[1]]

    by_client = sorted(status["clients"], key=lambda c: c["skipped"])
    assert [c["skipped"] for c in by_client[:2]] == [0, 0]
    slow_stats = by_client[2]
    offered = len(results_of(fast[0]))
    # It was offered every result like the others, took few, lost the oldest of the rest
    # (counted) and holds no more than its queue.
    assert slow_stats["skipped"] > 0 and slow_stats["queued"] <= QUEUE
    assert slow_stats["sent"] + slow_stats["skipped"] + slow_stats["queued"] >= 0.9 * offered
    assert slow_stats["sent"] < 0.9 * offered
    assert status["results_skipped"] == slow_stats["skipped"]

    notices = [json.loads(text) for _, text in late if '"type":"skipped"' in text]
    assert notices and notices[0]["skipped_total"] > 0
    # After its small backlog the slow client is back to the newest results.
    last_at, last, _ = results_of(late)[-1]
    assert last_at - last["epoch"] < 0.5


def test_max_clients_refuses_more_connections_with_503_until_one_leaves(
    assets, daemon_factory, serve_daemon
):
    served = serve_daemon(daemon_factory, {
        "cam": file_camera(assets / "feat-test-data" / "no_face.mp4"),
    }, max_clients=2)

    async def clients():
        async with ws_connect(f"{served.ws}/stream") as stream, ws_connect(f"{served.ws}/"):
            await stream.recv()  # hello
            for path in ("/stream", "/"):
                with pytest.raises(InvalidStatus) as refused:
                    async with ws_connect(f"{served.ws}{path}"):
                        pass
                assert refused.value.response.status_code == 503
                assert b"max_clients is 2" in refused.value.response.body
            assert json.loads(await stream.recv())["camera"] == "cam"  # still served
        # Both left: room again.
        async with ws_connect(f"{served.ws}/stream") as again:
            assert json.loads(await again.recv())["type"] == "hello"

    asyncio.run(clients())
    assert served.status()["refused_full"] == 2


def test_a_token_is_required_everywhere_but_the_page_files_when_configured(
    assets, daemon_factory, serve_daemon
):
    token = "correct-horse-battery"
    served = serve_daemon(daemon_factory, {
        "cam": file_camera(assets / "feat-test-data" / "no_face.mp4"),
    }, env={"EMOTION_EDGE_WS_TOKEN": token})
    bearer = {"Authorization": f"Bearer {token}"}

    async def clients():
        for path in ("/stream", "/"):
            with pytest.raises(InvalidStatus) as missing:
                async with ws_connect(f"{served.ws}{path}"):
                    pass
            assert missing.value.response.status_code == 401
            with pytest.raises(InvalidStatus) as wrong:
                async with ws_connect(f"{served.ws}{path}?token=nope"):
                    pass
            assert wrong.value.response.status_code == 403
        async with ws_connect(f"{served.ws}/stream?token={token}") as by_query, \
                ws_connect(f"{served.ws}/stream", additional_headers=bearer) as by_header:
            for connection in (by_query, by_header):
                assert json.loads(await connection.recv())["type"] == "hello"
                assert json.loads(await connection.recv())["camera"] == "cam"

    asyncio.run(clients())
    assert served.get("/labels")[0] == 401
    assert served.get("/labels?token=nope")[0] == 403
    code, body, _ = served.get("/labels", bearer)
    assert code == 200 and json.loads(body)["labels"] == LABELS
    assert served.get(f"/status?token={token}")[0] == 200
    for path in ("/", "/live", "/live.js", "/live.css"):  # the same files everywhere: no data
        assert served.get(path)[0] == 200
    assert "Traceback" not in served.daemon.stderr()
    assert token not in served.daemon.stderr()


def test_http_answers_and_refusals(assets, daemon_factory, serve_daemon):
    served = serve_daemon(daemon_factory, {
        "cam": file_camera(assets / "feat-test-data" / "no_face.mp4"),
    })
    code, body, headers = served.get("/")
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    assert b"live.js" in body and "default-src 'self'" in headers["Content-Security-Policy"]
    code, body, headers = served.get("/labels")
    assert code == 200 and json.loads(body) == {"labels": LABELS, "model": "fer-mini-xception"}
    assert served.get("/stream")[0] == 426  # a WebSocket endpoint
    assert served.get("/nothing-here")[0] == 404
    assert served.get("/../../etc/passwd")[0] == 404

    async def clients():
        with pytest.raises(InvalidStatus) as unknown:
            async with ws_connect(f"{served.ws}/stream?camera=garage"):
                pass
        assert unknown.value.response.status_code == 404
        assert b"cameras: cam" in unknown.value.response.body
        # Another web site open in a local browser must not read the results.
        with pytest.raises(InvalidStatus) as cross:
            async with ws_connect(f"{served.ws}/stream", origin="http://evil.example"):
                pass
        assert cross.value.response.status_code == 403
        same = f"http://127.0.0.1:{served.port}"
        async with ws_connect(f"{served.ws}/stream", origin=same) as page, \
                ws_connect(f"{served.ws}/", origin="http://localhost:3000"):  # the seed's client
            assert json.loads(await page.recv())["type"] == "hello"

    asyncio.run(clients())


def test_refuses_to_start_on_the_network_without_a_token(assets, daemon_factory):
    daemon = daemon_factory({
        "cameras": {"cam": file_camera(assets / "feat-test-data" / "no_face.mp4")},
        "mqtt": {"enabled": False}, "metrics": {"enabled": False},
        "websocket": {"host": "0.0.0.0", "port": 1},
    })
    assert daemon.wait(60) == 1
    log = daemon.stderr()
    assert "cannot start: WebSocket: websocket.host 0.0.0.0 is reachable from the network " \
           "but no token is set" in log
    assert "EMOTION_EDGE_WS_TOKEN" in log and "allow_unauthenticated" in log


def test_a_taken_port_is_logged_and_retried_while_the_cameras_run(
    assets, daemon_factory, serve_daemon
):
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    served = serve_daemon(daemon_factory, {
        "cam": file_camera(assets / "feat-test-data" / "no_face.mp4"),
    }, port=port, wait=False)
    # Both lines come from different threads in either order: poll for each.
    deadline = time.monotonic() + 60
    while not ("cannot listen" in served.daemon.stderr()
               and "running 1 camera(s): cam" in served.daemon.stderr()):
        assert served.daemon.process.poll() is None, served.daemon.stderr()
        assert time.monotonic() < deadline, served.daemon.stderr()[-3000:]
        time.sleep(0.1)
    log = served.daemon.stderr()
    assert f"WebSocket server cannot listen on 127.0.0.1:{port} (" in log
    assert "address already in use" in log.lower()
    assert "running 1 camera(s): cam" in log  # the daemon goes on without its server
    blocker.close()
    served.wait_until_serving(timeout=15)  # retried after 2 s, 4 s, 8 s...
    assert served.daemon.stderr().count("cannot listen") == 1  # logged once, not per retry

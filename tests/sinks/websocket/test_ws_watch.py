"""`emotion-edge watch` against a running daemon, and tools/demo.sh as a newcomer runs it:
a banner, then a line every few seconds of what the daemon sees, with no broker at all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from edge_daemon.mosquitto import free_port

REPO = Path(__file__).resolve().parents[3]


def video_camera(path: Path) -> dict:
    return {"source": {"type": "file", "path": str(path), "loop": True}, "interval_ms": 100}


class Lines:
    """A child's stdout read on a thread, so that a test can wait for a line with a deadline."""

    def __init__(self, child: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(child,), daemon=True)
        self._thread.start()

    def _read(self, child: subprocess.Popen) -> None:
        for line in child.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate, timeout: float) -> str | None:
        """The first line matching predicate within timeout seconds (polling), else None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((line for line in self.lines if predicate(line)), None)
            if found is not None:
                return found
            time.sleep(0.05)
        return None


def test_watch_waits_for_the_daemon_then_prints_what_it_sees(assets, daemon_factory,
                                                              serve_daemon):
    port = free_port()
    watcher = subprocess.Popen(
        [sys.executable, "-m", "edge_daemon", "watch", "--url", f"ws://127.0.0.1:{port}/stream",
         "--every", "1"], stdout=subprocess.PIPE, text=True)
    try:
        lines = Lines(watcher)
        assert lines.wait_for(lambda s: s.startswith("watch: waiting for the daemon"), 30)
        serve_daemon(daemon_factory, {"cam": video_camera(
            assets / "feat-test-data" / "single_face.mp4")}, port=port)
        line = lines.wait_for(lambda s: s.startswith("cam: 1 face, ") and "results/s" in s, 90)
        assert line is not None, lines.lines[-5:]
        emotion = line.split(", ")[1]  # e.g. "happy (0.91)"
        assert emotion.split(" ")[0] in {"angry", "disgust", "fear", "happy", "sad", "surprise",
                                         "neutral"}
        assert float(line.rsplit(", ", 1)[1].split(" ")[0]) > 0  # results per second
    finally:
        watcher.terminate()
        watcher.wait(10)


def test_the_demo_shows_a_banner_then_what_it_sees_without_a_broker_and_stops_on_ctrl_c():
    port = free_port()
    env = dict(os.environ, EMOTION_EDGE_DEMO_SKIP_INSTALL="1", EMOTION_EDGE_DEMO_PORT=str(port))
    # As from a terminal: Ctrl-C is not ignored. (A test run started in the background
    # inherits SIGINT ignored, and a shell cannot trap a signal ignored when it started.)
    demo = subprocess.Popen(["bash", "tools/demo.sh"], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        lines = Lines(demo)
        assert lines.wait_for(lambda s: s.startswith("emotion-edge demo:"), 120), lines.lines
        page = lines.wait_for(lambda s: "live page" in s, 5)
        assert page is not None and f"http://127.0.0.1:{port}/" in page
        assert lines.wait_for(lambda s: s.strip().startswith("MQTT"), 5)
        assert lines.wait_for(lambda s: s.strip().startswith("stop") and "Ctrl-C" in s, 5)
        seen = lines.wait_for(lambda s: s.startswith("demo: 1 face, "), 120)
        assert seen is not None, lines.lines[-10:]
        # The demo's config shows the camera image on the live page.
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as r:
            assert r.status == 200
        demo.send_signal(signal.SIGINT)  # the terminal's Ctrl-C reaches the script
        assert demo.wait(60) == 0
        # Nothing is left behind: the daemon's port is free again.
        import socket

        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)


def test_the_summary_line_reads_faces_emotion_and_rate_from_stream_messages():
    from edge_daemon.watch import StreamSummary

    summary = StreamSummary(since=0.0)
    summary.take('{"type": "hello", "cameras": ["door", "hall"]}')
    face = {"track_id": 3, "smoothed": {"happy": 0.8, "sad": 0.2}}
    door = {"camera": "door", "faces": [face, {**face, "track_id": 4}],
            "camera_emotion": "happy", "primary_track_id": 3}
    for _ in range(4):
        summary.take(json.dumps(door))
    summary.take(json.dumps({"camera": "hall", "faces": [], "camera_emotion": None,
                             "primary_track_id": None}))
    assert summary.line(now=2.0) == ("door: 2 faces, happy (0.80), 2.0 results/s; "
                                     "hall: no face, 0.5 results/s")
    assert summary.line(now=4.0).endswith("0.0 results/s")  # counted again from the last line

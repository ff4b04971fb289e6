"""`emotion-edge bench --seed-churn 600`: the Keras original's client, held for minutes.

That client opens a new WebSocket for every frame (open, send one message, read one reply),
ten times a second. The real daemon (`emotion-edge run` in a child process, set up for
that client: label-keyed replies over FER2013's labels) is asked that way for the given
time with a whole webcam frame (the bench video's first frame, as JPEG); per window it
records the reply time (connect to reply) and the child's open files and memory. Stable
means: the last window's files and memory where the first window's were, and no failures.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edge_daemon.bench.daemon_probe import ProbeError, _start, proc_memory_kb
from edge_daemon.mosquitto import free_port

FER_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
START_TIMEOUT_S = 60.0
REPLY_TIMEOUT_S = 10.0


def churn_config(video: Path, port: int) -> dict:
    """The child's config: one idle camera, the WebSocket server for the Keras client only."""
    return {
        "cameras": {"bench": {"source": {"type": "file", "path": str(video), "loop": True,
                                         "realtime": True}, "interval_ms": 500}},
        "mqtt": {"enabled": False},
        "metrics": {"enabled": False},
        "websocket": {"port": port, "seed_reply": "labels", "seed_labels": FER_LABELS,
                      "seed_rate_limit": 1000},
        "logging": {"level": "warning"},
    }


def frame_message(video: Path) -> str:
    """The Keras client's message: the first frame of the video, whole, as a JPEG data URL."""
    capture = cv2.VideoCapture(str(video))
    ok, frame = capture.read()
    capture.release()
    if not ok:
        raise ProbeError(f"{video}: no frame to send")
    data = base64.b64encode(cv2.imencode(".jpg", frame)[1].tobytes()).decode()
    return json.dumps({"event": "localhost:subscribe",
                       "data": {"image": f"data:image/jpeg;base64,{data}"}})


def open_files(pid: int) -> int:
    """How many file descriptors the process holds."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def _wait_serving(port: int, child, workdir: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2):
                return
        except OSError:
            if child.poll() is not None or time.monotonic() > deadline:
                tail = (workdir / "stderr.log").read_text(errors="replace").strip().splitlines()
                raise ProbeError(f"the daemon's server did not come up "
                                 f"({tail[-1] if tail else 'no output'})") from None
            time.sleep(0.1)


def one_shot(url: str, message: str) -> tuple[float, dict]:
    """Open a connection, send one message, read one reply, close: seconds and the reply."""
    from websockets.sync.client import connect

    started = time.perf_counter()
    with connect(url, proxy=None, open_timeout=REPLY_TIMEOUT_S, close_timeout=1) as ws:
        ws.send(message)
        reply = json.loads(ws.recv(timeout=REPLY_TIMEOUT_S))
    return time.perf_counter() - started, reply


def measure_seed_churn(video: Path, seconds: float, rate: float, windows: int,
                       say: Callable[[str], object]) -> dict:
    """Connections at `rate` per second for `seconds`; figures per window and overall."""
    port = free_port()
    message = frame_message(video)
    url = f"ws://127.0.0.1:{port}/"
    rows: list[dict] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="emotion-edge-bench-churn-") as tmp:
        child = _start(churn_config(video, port), Path(tmp))
        try:
            _wait_serving(port, child, Path(tmp))
            one_shot(url, message)  # the first answer warms the models up
            window_s = seconds / windows
            due = time.monotonic()
            for window in range(windows):
                replies: list[float] = []
                end = time.monotonic() + window_s
                while time.monotonic() < end:
                    try:
                        took, reply = one_shot(url, message)
                        if "error" in reply or set(reply["predictions"]) != set(FER_LABELS):
                            failures.append(f"reply {reply}")
                        replies.append(took)
                    except Exception as exc:  # a refused or broken connection is a finding
                        failures.append(f"{type(exc).__name__}: {exc}")
                    if child.poll() is not None:
                        raise ProbeError(f"the daemon exited with {child.returncode}")
                    due = max(due + 1.0 / rate, time.monotonic())  # late: no catching up
                    time.sleep(max(0.0, due - time.monotonic()))
                memory = proc_memory_kb(child.pid)
                replies.sort()
                rows.append({
                    "window": window, "connections": len(replies),
                    "reply_ms_p50": 1000 * statistics.median(replies) if replies else None,
                    "reply_ms_p99": (1000 * replies[min(len(replies) - 1,
                                                        int(0.99 * len(replies)))]
                                     if replies else None),
                    "open_files": open_files(child.pid),
                    "rss_mb": memory["VmRSS"] / 1024, "anon_mb": memory["RssAnon"] / 1024,
                })
                say(f"seed churn: window {window + 1}/{windows}: {rows[-1]}")
        finally:
            child.terminate()
            child.wait(10)
    first, last = rows[0], rows[-1]
    return {"seconds": seconds, "rate_per_s": rate, "windows": rows,
            "connections": sum(r["connections"] for r in rows), "failures": failures[:20],
            "failure_count": len(failures),
            "open_files_first_last_max": [first["open_files"], last["open_files"],
                                          max(r["open_files"] for r in rows)],
            "anon_mb_first_last": [first["anon_mb"], last["anon_mb"]],
            "reply_ms_p50_first_last": [first["reply_ms_p50"], last["reply_ms_p50"]]}


def format_seed_churn(report: dict) -> str:
    """The table printed by --seed-churn."""
    lines = [f"Seed protocol, a new connection per message (the Keras original's client): "
             f"{report['rate_per_s']:g}/s for {report['seconds']:g} s, "
             f"{report['connections']} connections, {report['failure_count']} failed",
             f"{'window':>6} {'conns':>6} {'p50 ms':>7} {'p99 ms':>7} {'files':>6} "
             f"{'RSS MB':>7} {'anon MB':>8}"]
    for r in report["windows"]:
        lines.append(f"{r['window'] + 1:>6} {r['connections']:>6} "
                     f"{_num(r['reply_ms_p50']):>7} {_num(r['reply_ms_p99']):>7} "
                     f"{r['open_files']:>6} {r['rss_mb']:>7.1f} {r['anon_mb']:>8.1f}")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None or np.isnan(value) else f"{value:.1f}"

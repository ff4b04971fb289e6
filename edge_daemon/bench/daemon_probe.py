"""The real daemon in a child process: its CPU share, its memory and its frame-to-MQTT latency.

`emotion-edge run` is started on a looping video at a given interval, with the default
configuration apart from the broker and free ports for the metrics and WebSocket servers
(so that what is measured is what a user runs). After a warm-up, a fixed window is
measured:

- CPU share: the child's utime + stime (all its threads, /proc/<pid>/stat) over the window's
  wall time, in percent of one core; and the same per thread, by the names the daemon gives
  its threads at the OS level (loop-<camera>, capture-<camera>, websocket, ...), so that the
  table says where the time goes; what no named thread took (the main thread, onnxruntime's
  and OpenCV's own threads, threads that ended) is "other";
- memory: VmRSS sampled through the window (median and largest) and VmHWM at its end;
- frame to MQTT: a paho subscriber in this process takes time.time() as each results message
  arrives and subtracts the message's `epoch`, which the daemon stamps with time.time() the
  moment the frame left the camera (or the file's pacing clock). Both clocks are this
  machine's wall clock; the payload rounds `epoch` to the millisecond, so each sample is
  good to +-0.5 ms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from edge_daemon.mosquitto import free_port

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RSS_SAMPLE_S = 0.5
START_TIMEOUT_S = 30.0


class ProbeError(RuntimeError):
    """The child daemon did not start or died during the measurement."""


@dataclass
class ProbeResult:
    """What one child-daemon run measured."""

    label: str
    interval_ms: int
    window_s: float
    cpu_percent: float  # of one core
    rss_mb_median: float
    rss_mb_max: float
    hwm_mb: float
    results_received: int
    # RSS = anonymous (the daemon's own heap, arenas, tensors) + file-backed pages (shared
    # libraries, counted as far as this kernel faulted them in): the second part differs
    # between hosts for the same process, the first does not.
    anon_mb_max: float = 0.0
    file_mb_max: float = 0.0
    frame_to_mqtt_ms: list[float] = field(default_factory=list)
    faces_per_result: float = 0.0
    cpu_percent_by_thread: dict[str, float] = field(default_factory=dict)


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) in seconds."""
    return _seconds(Path(f"/proc/{pid}/stat").read_text())


def _seconds(stat: str) -> float:
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """utime + stime of each live thread of a process, added up by thread name."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            seconds = _seconds((task / "stat").read_text())
        except (FileNotFoundError, ProcessLookupError):  # the thread ended meanwhile
            continue
        out[name] = out.get(name, 0.0) + seconds
    return out


def _by_thread(before: dict[str, float], after: dict[str, float], total_s: float,
               wall_s: float, main_name: str) -> dict[str, float]:
    """Percent of one core per named thread over the window; the rest as "other"."""
    shares = {name: 100.0 * (after[name] - before.get(name, 0.0)) / wall_s
              for name in after if name != main_name}
    shares = {name: share for name, share in shares.items() if share > 0.0}
    shares["other"] = max(0.0, 100.0 * total_s / wall_s - sum(shares.values()))
    return dict(sorted(shares.items(), key=lambda item: -item[1]))


def proc_memory_kb(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon and RssFile of a process, in kB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0])
    return out


def daemon_config(video: Path, interval_ms: int, host: str, port: int, prefix: str,
                  classifier_model: Path | None = None, minimal: bool = False,
                  rescan: int | None = None) -> dict:
    """The child's YAML config: defaults, plus the camera, the broker and free server ports."""
    config: dict = {
        "cameras": {"bench": {
            "source": {"type": "file", "path": str(video), "loop": True, "realtime": True},
            "interval_ms": interval_ms,
        }},
        "mqtt": {"host": host, "port": port, "topic_prefix": prefix, "client_id": prefix},
        "metrics": {"port": free_port()},
        "websocket": {"port": free_port()},
        "logging": {"level": "warning"},
    }
    if minimal:
        config["metrics"] = {"enabled": False}
        config["websocket"] = {"enabled": False}
    if classifier_model is not None:
        config["classifier"] = {"model": str(classifier_model)}
    if rescan is not None:
        config["detector"] = {"rescan_frames": rescan}
    return config


class ResultsListener:
    """A paho subscriber that stamps every results message with its arrival time."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt

        self.samples: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"bench-listener-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=0)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(5):
            self.close()
            raise ProbeError(f"cannot subscribe to {topic} at {host}:{port}")

    def _on_message(self, client: object, userdata: object, message: object) -> None:
        arrived = time.time()  # first thing: anything done before it would count as latency
        with self._lock:
            self.samples.append((arrived, bytes(message.payload)))  # type: ignore[attr-defined]

    def taken(self) -> list[tuple[float, bytes]]:
        """Every sample so far, and forget them."""
        with self._lock:
            out, self.samples = self.samples, []
        return out

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def _start(config: dict, workdir: Path) -> subprocess.Popen:
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    stderr = (workdir / "stderr.log").open("wb")
    env = {k: v for k, v in os.environ.items()
           if k not in ("MODEL_FILE", "IMAGES_DIR", "NOTIFY_SOCKET", "JOURNAL_STREAM")}
    try:
        return subprocess.Popen([sys.executable, "-m", "edge_daemon", "run", "--config",
                                 str(path)], stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    finally:
        stderr.close()


def _wait_first(listener: ResultsListener, child: subprocess.Popen, workdir: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not listener.samples:
        if child.poll() is not None or time.monotonic() > deadline:
            tail = (workdir / "stderr.log").read_text(errors="replace").strip().splitlines()
            why = tail[-1] if tail else "no output"
            raise ProbeError(f"the daemon published no result ({why})")
        time.sleep(0.05)


def _latencies(samples: list[tuple[float, bytes]]) -> tuple[list[float], float]:
    latencies, faces = [], 0
    for arrived, payload in samples:
        body = json.loads(payload)
        latencies.append((arrived - float(body["epoch"])) * 1000.0)
        faces += len(body.get("faces", ()))
    return latencies, faces / max(len(samples), 1)


def probe_daemon(label: str, config: dict, warmup_s: float, window_s: float) -> ProbeResult:
    """Run the daemon with config, measure one window after the warm-up, then stop it."""
    mqtt = config["mqtt"]
    topic = f"{mqtt['topic_prefix']}/bench/results"
    listener = ResultsListener(mqtt["host"], mqtt["port"], topic)
    with tempfile.TemporaryDirectory(prefix="emotion-edge-bench-daemon-") as tmp:
        child = _start(config, Path(tmp))
        try:
            _wait_first(listener, child, Path(tmp))
            time.sleep(warmup_s)
            listener.taken()
            threads0 = thread_cpu_seconds(child.pid)
            cpu0, wall0 = proc_cpu_seconds(child.pid), time.monotonic()
            rss, anon, files = [], [], []
            while time.monotonic() - wall0 < window_s:
                if child.poll() is not None:
                    raise ProbeError(f"the daemon exited with {child.returncode} while measured")
                sample = proc_memory_kb(child.pid)
                rss.append(sample["VmRSS"])
                anon.append(sample.get("RssAnon", 0))
                files.append(sample.get("RssFile", 0))
                time.sleep(min(RSS_SAMPLE_S, max(0.0, window_s - (time.monotonic() - wall0))))
            cpu1, wall1 = proc_cpu_seconds(child.pid), time.monotonic()
            threads1 = thread_cpu_seconds(child.pid)
            main_name = Path(f"/proc/{child.pid}/comm").read_text().strip()
            memory = proc_memory_kb(child.pid)
            samples = listener.taken()
        finally:
            listener.close()
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)
    latencies, faces = _latencies(samples)
    rss.sort()
    return ProbeResult(
        label=label, interval_ms=int(config["cameras"]["bench"]["interval_ms"]),
        window_s=wall1 - wall0, cpu_percent=100.0 * (cpu1 - cpu0) / (wall1 - wall0),
        rss_mb_median=rss[len(rss) // 2] / 1024, rss_mb_max=rss[-1] / 1024,
        hwm_mb=memory["VmHWM"] / 1024, results_received=len(samples),
        anon_mb_max=max(anon) / 1024, file_mb_max=max(files) / 1024,
        frame_to_mqtt_ms=latencies, faces_per_result=faces,
        cpu_percent_by_thread=_by_thread(threads0, threads1, cpu1 - cpu0, wall1 - wall0,
                                         main_name),
    )

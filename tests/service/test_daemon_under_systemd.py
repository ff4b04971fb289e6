"""`emotion-edge run` as systemd runs it: notify socket, watchdog, journal stream, signals.

systemd's side is played by real pieces: the notify socket (an AF_UNIX datagram socket),
WATCHDOG_USEC, and a stderr whose device:inode is announced in JOURNAL_STREAM. The daemon
processes a real video with the bundled models and publishes to a real mosquitto.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

WATCHDOG_S = 2.0
TIMEOUT_STOP_S = 20.0  # the unit's TimeoutStopSec=


def wait_for(listener, key: str, timeout: float, process: subprocess.Popen | None = None):
    """The first new notification carrying key, waiting up to timeout seconds (or until
    process exits)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        for note in listener.collect(min(left, 0.5), count=1):
            if key in note.fields:
                return note
        if process is not None and process.poll() is not None:
            raise AssertionError(f"daemon exited ({process.returncode}) before {key}=")
    raise AssertionError(f"no {key}= within {timeout} s; got {listener.received}")


@dataclass
class Daemon:
    """A running `emotion-edge run` with systemd's environment."""

    process: subprocess.Popen
    prefix: str
    journal: Path


@pytest.fixture
def daemon(tmp_path: Path, assets, mosquitto, notify_listener) -> Iterator[Daemon]:
    prefix = f"ee-systemd-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "cameras": {"front": {
            "source": {"type": "file", "path": str(assets / "feat-test-data" / "single_face.mp4"),
                       "loop": True, "realtime": True},
            "interval_ms": 200,
        }},
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "topic_prefix": prefix,
                 "client_id": prefix, "homeassistant": {"enabled": False}},
    }))
    journal = tmp_path / "journal"
    with journal.open("w") as stderr:
        info = os.fstat(stderr.fileno())
        env = dict(os.environ, NOTIFY_SOCKET=notify_listener.address,
                   WATCHDOG_USEC=str(int(WATCHDOG_S * 1e6)),
                   JOURNAL_STREAM=f"{info.st_dev}:{info.st_ino}")
        process = subprocess.Popen(
            [sys.executable, "-m", "edge_daemon", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL, stderr=stderr, env=env, cwd=tmp_path,
        )
    yield Daemon(process, prefix, journal)
    if process.poll() is None:
        process.kill()
        process.wait()


def test_daemon_notifies_pings_logs_for_the_journal_and_stops_cleanly(
    daemon, mosquitto, mqtt_recorder, notify_listener
):
    recorder = mqtt_recorder(mosquitto.host, mosquitto.port, [f"{daemon.prefix}/#"])
    ready = wait_for(notify_listener, "READY", timeout=60, process=daemon.process)
    pings = [n.at for n in notify_listener.collect(WATCHDOG_S * 1.8) if "WATCHDOG" in n.fields]
    recorder.wait_for(lambda m: m.topic == f"{daemon.prefix}/front/results", timeout=10,
                      what="a result")
    daemon.process.send_signal(signal.SIGTERM)
    term_at = time.monotonic()
    stopping = wait_for(notify_listener, "STOPPING", timeout=TIMEOUT_STOP_S)
    code = daemon.process.wait(timeout=TIMEOUT_STOP_S)
    stopped_after = time.monotonic() - term_at

    assert ready.fields["READY"] == "1"
    assert len(pings) >= 2, notify_listener.received  # every WatchdogSec/2 from the loops
    assert all(b - a < WATCHDOG_S for a, b in pairwise(pings))
    assert stopping.at >= term_at
    assert code == 0
    assert stopped_after < TIMEOUT_STOP_S / 2, stopped_after
    recorder.wait_for(lambda m: m.topic == f"{daemon.prefix}/availability"
                      and m.text == "stopped", timeout=5, what="availability 'stopped'")

    lines = daemon.journal.read_text().splitlines()
    assert lines, "the daemon logged nothing"
    assert all(re.match(r"<[0-7]>\S", line) for line in lines), lines[:5]
    assert not any(re.search(r"\d\d:\d\d:\d\d[,.]\d", line) for line in lines)
    assert any(line.startswith("<6>") for line in lines)


def test_sighup_reloads_in_place_as_execreload_expects(daemon, notify_listener):
    wait_for(notify_listener, "READY", timeout=60, process=daemon.process)
    daemon.process.send_signal(signal.SIGHUP)
    reloading = wait_for(notify_listener, "RELOADING", timeout=10, process=daemon.process)
    ready_again = wait_for(notify_listener, "READY", timeout=30, process=daemon.process)
    assert int(reloading.fields["MONOTONIC_USEC"]) > 0
    assert ready_again.at >= reloading.at
    assert daemon.process.poll() is None  # still the same process
    assert any("WATCHDOG" in n.fields for n in notify_listener.collect(WATCHDOG_S))

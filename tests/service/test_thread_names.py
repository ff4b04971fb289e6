"""Threads named at the OS level, as `top -H` and `ps -L` show them."""

from __future__ import annotations

import contextlib
import sys
import threading
from pathlib import Path

import pytest
from polling import wait_until

from edge_daemon.service.thread_names import name_os_threads

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


def os_names(pid: int | str = "self") -> dict[int, str]:
    """Thread id -> the name the kernel holds for it."""
    names = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # the thread ended meanwhile
            names[int(task.name)] = (task / "comm").read_text().strip()
    return names


def test_threads_get_their_python_names_cut_to_15_bytes():
    release = threading.Event()
    thread = threading.Thread(target=release.wait, name="capture-front-door-camera")
    thread.start()
    main_before = os_names()[threading.main_thread().native_id]
    try:
        assert name_os_threads() >= 1
        assert os_names()[thread.native_id] == "capture-front-d"
        assert os_names()[threading.main_thread().native_id] == main_before
        assert name_os_threads() == 0  # already done: nothing new
    finally:
        release.set()
        thread.join()


def test_the_daemon_names_its_threads(assets, daemon_factory, mosquitto):
    video = assets / "feat-test-data" / "single_face.mp4"
    daemon = daemon_factory({
        "cameras": {"door": {"source": {"type": "file", "path": str(video), "loop": True},
                             "interval_ms": 100}},
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "topic_prefix": "names"},
    })
    wanted = {"loop-door", "capture-door", "source-door", "websocket", "metrics-http"}
    assert wait_until(lambda: wanted <= set(os_names(daemon.pid).values()), 20), (
        os_names(daemon.pid), daemon.stderr()[-2000:])
    # The main thread keeps the process's own name (here the interpreter's, as the test starts
    # `python -m edge_daemon`; under systemd `emotion-edge`).
    assert os_names(daemon.pid)[daemon.pid] == Path(sys.executable).name[:15]

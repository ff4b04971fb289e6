"""The source registry: one class per config `type`, clear refusals where a backend can't work."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import typing

import pytest

from edge_daemon.config.cameras import CameraConfig, SourceConfig
from edge_daemon.sources.capture import SourceUnavailableError
from edge_daemon.sources.registry import SOURCE_TYPES, build_source


def config_types() -> set[str]:
    union = typing.get_args(SourceConfig)[0]
    return {typing.get_args(m.model_fields["type"].annotation)[0] for m in typing.get_args(union)}


def test_every_config_type_has_exactly_one_backend():
    assert set(SOURCE_TYPES) == config_types()
    for kind, cls in SOURCE_TYPES.items():
        assert cls.kind == kind


def test_a_backend_refuses_a_config_of_another_type():
    v4l2 = CameraConfig.model_validate({"source": {"type": "v4l2"}})
    with pytest.raises(TypeError):
        SOURCE_TYPES["file"]("cam", v4l2)


def test_gstreamer_without_pygobject_is_refused_with_what_to_install():
    # A Python that cannot import gi, as a venv without the system's gi linked in.
    code = (
        "import sys; sys.modules['gi'] = None\n"
        "from edge_daemon.config.cameras import CameraConfig\n"
        "from edge_daemon.sources.capture import SourceUnavailableError\n"
        "from edge_daemon.sources.registry import build_source\n"
        "config = CameraConfig.model_validate(\n"
        "    {'source': {'type': 'gstreamer', 'pipeline': 'videotestsrc ! appsink'}})\n"
        "try:\n"
        "    build_source('csi', config)\n"
        "except SourceUnavailableError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert "PyGObject" in line and "python3-gi gir1.2-gstreamer-1.0" in line
    assert "tools/install.sh" in line and "\n" not in line


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is not None,
                    reason="picamera2 is installed")
def test_picamera2_not_installed_is_refused_with_the_install_hint():
    config = CameraConfig.model_validate({"source": {"type": "picamera2"}})
    with pytest.raises(SourceUnavailableError, match="python3-picamera2"):
        build_source("pi", config)


def test_a_missing_v4l2_device_is_retried_with_a_clear_reason():
    config = CameraConfig.model_validate({
        "source": {"type": "v4l2", "device": "/dev/video-does-not-exist"},
        "reopen_backoff_s": 0.05,
    })
    source = build_source("usb", config)
    source.start()
    try:
        deadline = 50
        while source.stats.reopen_attempts < 2 and deadline:
            deadline -= 1
            source.latest(-1, 0.1)
        assert source.stats.reopen_attempts >= 2
        assert source.stats.last_error == (
            "cannot open /dev/video-does-not-exist: no such device")
    finally:
        source.stop()

"""What the source tests share: sources built from a camera config, started, and stopped
after the test."""

from __future__ import annotations

import pytest

from edge_daemon.config.cameras import CameraConfig
from edge_daemon.sources.capture import CaptureSource
from edge_daemon.sources.registry import build_source


@pytest.fixture
def started():
    """started(name, camera_config) -> a running source; every one stopped after the test."""
    sources: list[CaptureSource] = []

    def start(name: str, config: CameraConfig) -> CaptureSource:
        source = build_source(name, config)
        sources.append(source)
        source.start()
        return source

    yield start
    for source in sources:
        source.stop()

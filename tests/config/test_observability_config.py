"""The `metrics` and `snapshots` sections: defaults, refusals, and the seed's IMAGES_DIR."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_daemon.config.errors import ConfigError
from edge_daemon.config.loader import parse_config

MINIMAL = """\
cameras:
  front:
    source: {type: file, path: /videos/a.mp4}
"""
# Ports of the exporters and services that commonly share a Pi or a Jetson with the sensor.
TAKEN = {9090, 9091, 9093, 9094, 9100, 9115, 9256, 9234, 9464, 8000, 8080, 8123, 3000, 5000,
         1880, 1883, 8883, 9000, 9001, 11434}


def problems_of(text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(MINIMAL + text, "test.yaml", {})
    return {p.path: p.reason for p in caught.value.problems}


def test_metrics_are_on_by_default_on_localhost_at_a_port_of_their_own():
    metrics = parse_config(MINIMAL, environ={}).metrics
    assert metrics.enabled and metrics.address == "127.0.0.1"
    assert metrics.port not in TAKEN and not 9100 <= metrics.port <= 9999
    assert metrics.port < 32768  # below Linux's ephemeral ports
    empty = parse_config(MINIMAL + "metrics:\n", environ={}).metrics
    assert empty == metrics


def test_snapshots_are_off_by_default_with_the_seeds_interval_and_bounded_retention():
    snapshots = parse_config(MINIMAL, environ={}).snapshots
    assert snapshots.enabled is False and snapshots.interval_s == 10
    assert snapshots.save == ("face",) and 1 <= snapshots.jpeg_quality <= 100
    assert snapshots.max_total_mb > 0 and snapshots.max_age_days


def test_bad_values_are_refused_naming_the_key():
    problems = problems_of("""\
metrics: {port: 0, address: " "}
snapshots: {save: [face, face], jpeg_quality: 0, max_total_mb: 0, interval_s: -1}
""")
    assert set(problems) == {"metrics.port", "metrics.address", "snapshots.save",
                             "snapshots.jpeg_quality", "snapshots.max_total_mb",
                             "snapshots.interval_s"}
    assert "twice" in problems["snapshots.save"]
    assert "snapshots.save.0" in problems_of("snapshots: {save: [thumbnail]}\n")


def test_images_dir_keeps_the_other_snapshot_settings():
    config = parse_config(MINIMAL + "snapshots: {save: [frame], max_age_days: null}\n",
                          environ={"IMAGES_DIR": "/data/images"})
    snapshots = config.snapshots
    assert snapshots.enabled and snapshots.directory == Path("/data/images")
    assert snapshots.save == ("frame",) and snapshots.max_age_days is None

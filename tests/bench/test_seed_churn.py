"""The Keras original's client opens a new connection for every message: the real daemon
answers each, and what it holds (open files) does not grow with them."""

from __future__ import annotations

import pytest

from edge_daemon.bench.seed_churn import format_seed_churn, measure_seed_churn

pytestmark = pytest.mark.slow


def test_a_connection_per_message_is_answered_and_leaves_nothing_open(assets):
    video = assets / "feat-test-data" / "single_face.mp4"
    report = measure_seed_churn(video, seconds=8.0, rate=10.0, windows=2, say=lambda _: None)
    assert report["failure_count"] == 0, report["failures"]
    assert report["connections"] >= 16  # at most 80; a loaded machine answers fewer
    first, last, most = report["open_files_first_last_max"]
    assert last <= first + 2 and most <= first + 4, report["windows"]
    table = format_seed_churn(report)
    assert f"{report['connections']} connections, 0 failed" in table

"""The robustness suite: hostile inputs at scale, each answered, refused or survived.

Figures (counts, worst times) go to test-artifacts/robustness-<suite>.json, so a run's
closing note can quote them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# The WebSocket tests' daemon and face fixtures, shared rather than copied.
from sinks.websocket.conftest import face_image, seed_crop, serve_daemon  # noqa: F401

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def report_figures():
    """report_figures(name, {...}): write one suite's figures as JSON under test-artifacts."""

    def write(name: str, figures: dict) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"robustness-{name}.json").write_text(json.dumps(figures, indent=2))

    return write

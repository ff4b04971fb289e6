"""Shared fixtures: where the registry assets live, real brokers and daemons."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ASSETS = Path(os.environ.get("EMOTION_EDGE_ASSETS", REPO / ".assets"))


@pytest.fixture(scope="session")
def assets() -> Path:
    """The folder tools/fetch_assets.py fills with registry weights and face data."""
    if not (ASSETS / "feat-test-data" / "SOURCE.json").exists():
        pytest.fail(f"assets missing in {ASSETS}: run python tools/fetch_assets.py")
    return ASSETS

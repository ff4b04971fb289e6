"""Fixtures for the tests that drive a real Home Assistant (tests/homeassistant.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from homeassistant import HomeAssistant, ha_venv, ha_venv_ready


@pytest.fixture
def ha_required() -> None:
    """Skip when the Home Assistant venv is absent; EMOTION_EDGE_REQUIRE_HA=1 fails instead
    (CI, where tools/homeassistant_env.sh ran first, must not pass by skipping)."""
    if not ha_venv_ready():
        why = f"no Home Assistant venv at {ha_venv()}: run tools/homeassistant_env.sh"
        if os.environ.get("EMOTION_EDGE_REQUIRE_HA") == "1":
            pytest.fail(why + " (EMOTION_EDGE_REQUIRE_HA=1)")
        pytest.skip(why)


@pytest.fixture
def home_assistant_factory(ha_required, tmp_path: Path):
    """make(broker, **options) -> a started HomeAssistant on that broker; all stopped after."""
    instances: list[HomeAssistant] = []

    def make(broker, **options) -> HomeAssistant:
        ha = HomeAssistant(tmp_path / f"ha{len(instances)}", broker.host, broker.port,
                           **options)
        instances.append(ha)
        return ha.start()

    yield make
    for ha in instances:
        ha.stop()

"""docs/configuration.md's config reference is generated from the schema and must stay current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_config_reference_is_current():
    done = subprocess.run([sys.executable, "tools/config_reference.py", "--check"], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_reference_lists_every_section_and_a_nested_source_key():
    text = (REPO / "docs" / "configuration.md").read_text()
    for key in ("`detector[backend=blazeface].search_width`", "`mqtt.tls.ca_file`",
                "`tracking.hysteresis_frames`", "`cameras.<name>.source[type=file].loop`"):
        assert key in text

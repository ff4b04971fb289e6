"""The JSON Schema for editors and the commented example config."""

from __future__ import annotations

import json
from pathlib import Path

from edge_daemon.config.loader import load_config
from edge_daemon.config.schema import config_json_schema, config_json_schema_text

REPO = Path(__file__).resolve().parents[2]
SCHEMA_FILE = REPO / "config" / "config.schema.json"
EXAMPLE = REPO / "config" / "config.example.yaml"


def test_schema_file_is_in_sync_with_the_models():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == config_json_schema_text(), (
        "config/config.schema.json is stale: run `emotion-edge schema -o config/config.schema.json`"
    )


def test_every_field_of_every_section_is_described():
    schema = config_json_schema()
    sections = {"Config": schema, **schema["$defs"]}
    undocumented = [
        f"{name}.{field}"
        for name, section in sections.items()
        for field, spec in section.get("properties", {}).items()
        if not spec.get("description")
    ]
    assert undocumented == []


def test_schema_is_strict_and_offers_both_camera_forms():
    schema = config_json_schema()
    assert schema["additionalProperties"] is False
    assert all(d.get("additionalProperties") is False
               for d in schema["$defs"].values() if d.get("type") == "object")
    forms = schema["properties"]["cameras"]["anyOf"]
    assert {f["type"] for f in forms} == {"object", "array"}


def test_schema_holds_nothing_machine_dependent():
    import socket

    assert socket.gethostname() not in json.dumps(config_json_schema())


def test_example_config_validates_and_mentions_every_source_type():
    config = load_config(EXAMPLE, environ={})
    assert {cam.source.type for cam in config.cameras.values()} == {
        "v4l2", "url", "gstreamer", "picamera2", "file"}
    assert config.enabled_cameras()  # at least one camera is on as shipped

"""The JSON Schema of the configuration, for editors (YAML language servers) and docs.

config/config.schema.json in the repository is this output; a test keeps the two in sync.
"""

from __future__ import annotations

import json

from edge_daemon.config.cameras import NamedCameraConfig
from edge_daemon.config.root import Config


def config_json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of the YAML configuration."""
    schema = Config.model_json_schema(mode="validation")
    named = NamedCameraConfig.model_json_schema(
        mode="validation", ref_template="#/$defs/{model}"
    )
    defs = schema.setdefault("$defs", {})
    defs.update(named.pop("$defs", {}))
    defs["NamedCameraConfig"] = named
    # The model validates `cameras` as a mapping after turning the list form into one; the
    # schema offers editors both forms.
    mapping = schema["properties"]["cameras"]
    schema["properties"]["cameras"] = {
        "title": mapping.get("title", "Cameras"),
        "description": mapping.get("description", ""),
        "anyOf": [
            {k: v for k, v in mapping.items() if k not in ("title", "description")},
            {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/NamedCameraConfig"}},
        ],
    }
    _drop_section_defaults(schema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            **schema}


def _drop_section_defaults(node: object) -> None:
    """Remove the defaults of whole sections: each field inside a section already documents
    its own default, and a section's default would freeze machine-dependent values (such as
    the hostname in the MQTT client id) into the schema."""
    if isinstance(node, dict):
        if "$ref" in node and isinstance(node.get("default"), dict):
            del node["default"]
        for value in node.values():
            _drop_section_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _drop_section_defaults(value)


def config_json_schema_text() -> str:
    """The schema as the text of config/config.schema.json (stable key order, final newline)."""
    return json.dumps(config_json_schema(), indent=2, sort_keys=False) + "\n"

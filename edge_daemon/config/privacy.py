"""Config section `privacy`: whether a camera's privacy switch survives a restart."""

from __future__ import annotations

from pathlib import Path

from edge_daemon.config.base import Section


class PrivacyConfig(Section):
    """The privacy switches (MQTT `<prefix>/<camera>/privacy/set`, Home Assistant switches).

    A camera in privacy is closed, not muted: no frame is captured, processed, saved or
    streamed until the switch is turned off. `cameras.<name>.privacy` sets it at start.
    """

    remember: bool = False
    """Keep the switches' states across restarts in `state_file` (they then win over
    `cameras.<name>.privacy`); false: every start begins from the config."""
    state_file: Path = Path("/var/lib/emotion-edge/privacy.json")
    """Where remembered states are kept (the service's state directory)."""

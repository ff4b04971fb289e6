"""The `logging` section."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from edge_daemon.config.base import Section

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class LoggingConfig(Section):
    """How much the daemon says on stderr (the journal under systemd)."""

    level: LogLevel = "info"
    """Lowest level logged: debug, info, warning, error or critical. `--log-level` on the
    command line wins over this."""

    @field_validator("level", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

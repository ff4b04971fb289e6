"""The sink interface: where results go (MQTT, WebSocket, metrics, snapshots)."""

from __future__ import annotations

from typing import Protocol

from ..records import Frame, FrameResult


class Sink(Protocol):
    """Receives every processed frame's result; must never block the frame loop."""

    name: str

    def start(self) -> None:
        """Connect or open whatever the sink needs (failures are retried in the background)."""
        ...

    def publish(self, result: FrameResult, frame: Frame) -> None:
        """Take one result (and its frame, read-only) without blocking; drop oldest if full."""
        ...

    def stop(self, timeout: float) -> None:
        """Flush for at most timeout seconds, then release everything."""
        ...

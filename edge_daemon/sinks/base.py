"""The sink interface: where results go (MQTT, WebSocket, metrics, snapshots)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..records import CameraStatus, Frame, FrameResult


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


@runtime_checkable
class CameraStatusSink(Protocol):
    """A sink that also tells the world which cameras exist and whether they deliver frames.

    The app calls these from its own thread when the configured cameras or a camera's
    state change (a sink never asks a source itself).
    """

    def set_cameras(self, cameras: Sequence[str]) -> None:
        """The cameras configured now; anything left of others is withdrawn."""
        ...

    def camera_status(self, status: CameraStatus) -> None:
        """A camera's state changed (connected, disconnected, disabled)."""
        ...

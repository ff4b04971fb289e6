"""The frame source interface every camera backend implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..records import Frame


@dataclass
class SourceStats:
    """Counters a source keeps about itself (read by the pipeline and the metrics)."""

    frames_captured: int = 0
    frames_dropped: int = 0  # captured but replaced by a newer frame before anyone took it
    frames_rejected: int = 0  # of a shape or type that cannot be made a BGR frame
    reopen_attempts: int = 0
    connected: bool = False
    last_error: str = ""


class FrameSource(Protocol):
    """A camera that captures on its own thread and always hands over its newest frame."""

    name: str
    stats: SourceStats

    def start(self) -> None:
        """Begin capturing (opening, and reopening with backoff, happen in the background)."""
        ...

    def latest(self, newer_than: int, timeout: float) -> Frame | None:
        """The newest frame with index > newer_than, waiting up to timeout seconds; else None."""
        ...

    @property
    def finished(self) -> bool:
        """True once a source that can end (a non-looping file) has delivered its last frame."""
        ...

    def stop(self) -> None:
        """Stop capturing and release the device."""
        ...

"""A sink that keeps every result it is handed: a test's window onto a loop's output."""

from __future__ import annotations

from edge_daemon.core.records import Frame, FrameResult


class CollectingSink:
    """Keeps every result it is handed, in order."""

    name = "collect"

    def __init__(self) -> None:
        self.results: list[FrameResult] = []

    def start(self) -> None:
        """Nothing to start."""

    def publish(self, result: FrameResult, frame: Frame) -> None:
        """Keep the result."""
        self.results.append(result)

    @property
    def connected(self) -> None:
        """No link to report."""
        return None

    def stop(self, timeout: float) -> None:
        """Nothing to stop."""

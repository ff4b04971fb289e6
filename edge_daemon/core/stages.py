"""The interfaces of the pipeline's stages: a frame source, a face detector, a sink.

The data flows one way (source -> detector -> classifier -> tracker -> sinks). Every stage
depends on these interfaces and on the records and stats beside them, never on another
stage: the app builds the concrete stages and hands each one what it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from edge_daemon.core.records import Box, CameraStatus, Detection, Frame, FrameResult
from edge_daemon.core.stats import SourceStats


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

    def skip_until(self, when: float) -> None:
        """Frames captured before monotonic time `when` will not be asked for (may skip them)."""
        ...

    def stop(self) -> None:
        """Stop capturing and release the device."""
        ...


class FaceDetector(Protocol):
    """Finds every face in a BGR uint8 frame."""

    name: str

    def detect(self, image: np.ndarray) -> list[Detection]:
        """All faces in the image, best first, boxes in the image's pixel coordinates."""
        ...


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

    @property
    def connected(self) -> bool | None:
        """Whether the sink's link to its peer (a broker) is up; None: it has no such link."""
        ...


class FaceCrops(Protocol):
    """The emotion model's view of a face: which region it reads, and that region's image.

    The classifier's preprocessor implements it; the snapshot sink saves exactly what the
    model saw through it, without knowing the model.
    """

    def crop_region(self, box: Box, width: int, height: int) -> tuple[int, int, int, int]:
        """The pixel region (x1, y1, x2, y2) the model reads for a face box in a frame."""
        ...

    def crops(self, image: np.ndarray, boxes: Sequence[Box]) -> list[np.ndarray]:
        """The model's crop of each face, as BGR images."""
        ...

    def model_facts(self) -> dict[str, object]:
        """The model's name, input size and crop rule, for the record of a saved sample."""
        ...


@runtime_checkable
class PrivacySink(Protocol):
    """A sink that also brings privacy commands in (an MQTT switch) and shows their state.

    The handler is called from the sink's own thread with (camera, on), camera None for
    every camera; the app applies it on its own thread and reports back with
    privacy_state.
    """

    def on_privacy_command(self, handler: Callable[[str | None, bool], None]) -> None:
        """Call handler for every valid command from now on."""
        ...

    def privacy_state(self, states: Mapping[str, bool]) -> None:
        """Each camera's privacy switch now (True: in privacy, the camera closed)."""
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

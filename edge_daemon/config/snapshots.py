"""The `snapshots` section: sampling images of what the model saw (the seed's IMAGES_DIR)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from edge_daemon.config.base import Section

SnapshotKind = Literal["face", "frame"]


class SnapshotsConfig(Section):
    """Saving sample images; off by default (faces are personal data)."""

    enabled: bool = False
    """Save images at all. The environment variable IMAGES_DIR turns this on, as in the seed."""
    directory: Path = Path("/var/lib/emotion-edge/snapshots")
    """Where images are saved (IMAGES_DIR overrides it). Created with mode 0700 if missing;
    files are written with mode 0600."""
    interval_s: Annotated[float, Field(gt=0, le=86400)] = 10.0
    """At most one sample per camera every this many seconds (only frames with a face)."""
    save: Annotated[tuple[SnapshotKind, ...], Field(min_length=1)] = ("face",)
    """What a sample holds besides its JSON sidecar: `face` (each face as the model's crop
    rule cut it, before resizing) and/or `frame` (the whole frame with the boxes drawn)."""
    jpeg_quality: Annotated[int, Field(ge=1, le=100)] = 90
    """JPEG quality of the saved images (1-100)."""
    max_age_days: Annotated[float | None, Field(gt=0)] = 30.0
    """Samples older than this are deleted (checked while running); null keeps them until
    the size limit needs the room."""
    max_total_mb: Annotated[float, Field(gt=0)] = 500.0
    """The oldest samples are deleted when all together take more than this (MB, 10^6 bytes)."""

    @field_validator("save")
    @classmethod
    def _no_repeats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("save lists a kind twice")
        return value

"""The `snapshots` section: sampling images of what the model saw (the seed's IMAGES_DIR)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from .base import Section


class SnapshotsConfig(Section):
    """Saving sample images; off by default (faces are personal data)."""

    enabled: bool = False
    """Save images at all. The environment variable IMAGES_DIR turns this on, as in the seed."""
    directory: Path = Path("/var/lib/emotion-edge/snapshots")
    """Where images are saved (IMAGES_DIR overrides it)."""
    interval_s: Annotated[float, Field(gt=0, le=86400)] = 10.0
    """At most one image per camera every this many seconds."""

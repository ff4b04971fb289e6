"""Config section `tracking`: face tracks, probability smoothing and label hysteresis."""

from __future__ import annotations

from pydantic import Field

from edge_daemon.config.base import Section


class TrackingConfig(Section):
    """How faces are followed across frames and how their emotion is steadied."""

    iou_threshold: float = Field(0.3, gt=0.0, le=1.0)
    """Minimum overlap (intersection over union) between a face and a track's last box for
    the face to continue that track; below it the face starts a new track."""

    max_missed: int = Field(5, ge=0)
    """Processed frames a track survives without a matching face (a missed detection, a
    turned head) before it ends; a face seen again after that gets a new track id."""

    smoothing_alpha: float = Field(0.4, gt=0.0, le=1.0)
    """Weight of the newest probabilities in the exponential moving average per track
    (1 = no smoothing; smaller = calmer but slower to follow a change)."""

    hysteresis_frames: int = Field(3, ge=1)
    """Consecutive results a new label must lead (by smoothed probability) before it becomes
    the dominant emotion of a face or of the camera (Frigate uses 3)."""

    min_score: float = Field(0.0, ge=0.0, le=1.0)
    """A result counts toward a label change only when the leading smoothed probability is
    at least this; weaker results leave the dominant emotion as it is."""

    clear_after: int = Field(10, ge=1)
    """Consecutive processed frames without any face after which the camera's dominant
    emotion becomes "no face" (None); a face must then lead `hysteresis_frames` results
    again before an emotion is reported."""

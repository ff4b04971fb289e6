"""Config section `episodes`: emotion episodes with a start and an end, published as events."""

from __future__ import annotations

from pydantic import Field

from edge_daemon.config.base import Section


class EpisodesConfig(Section):
    """When a tracked face's stable emotion starts and ends, and stretches with no face."""

    enabled: bool = True
    """Publish episode events (`<prefix>/<camera>/events`, Home Assistant event entities)."""
    min_duration_s: float = Field(3.0, ge=0.0, le=3600.0)
    """An episode is announced (its `start` event, back-dated to when it began) once it has
    lasted this long; shorter ones are never published. Automations can then trigger on
    "happy for 3 s" without a template."""
    update_interval_s: float = Field(30.0, ge=0.0, le=86400.0)
    """Seconds between `update` events of an ongoing episode (duration, peak and mean so
    far); 0 sends none."""
    end_grace_s: float = Field(1.0, ge=0.0, le=600.0)
    """A face missing for up to this long (a missed detection, a turned head) keeps its
    episode; the episode then ends when the face was last seen."""
    no_face: bool = True
    """Also episodes of "nobody in view" (emotion null, track_id null)."""

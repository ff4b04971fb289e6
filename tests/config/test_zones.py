"""Zones in the config: valid polygons pass, bad ones are errors naming camera and zone."""

from __future__ import annotations

import pytest

from edge_daemon.config.errors import ConfigError
from edge_daemon.config.loader import parse_config
from edge_daemon.core.records import Box
from edge_daemon.core.zones import FaceZones

SQUARE = [[0.3, 0.3], [0.65, 0.3], [0.65, 0.9], [0.3, 0.9]]


def config_with(zones: str):
    return parse_config("cameras:\n  front:\n    source: {type: v4l2}\n"
                        f"    zones: {zones}\n", environ={})


def problems(zones: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as raised:
        config_with(zones)
    return {p.path: p.reason for p in raised.value.problems}


def test_valid_zones_are_read():
    tv = "[[0, 0], [0.2, 0], [0.1, 0.2]]"
    config = config_with(f"{{include: {{couch: {SQUARE}}}, exclude: {{tv: {tv}}}, "
                         f"min_face_px: 30, max_face_px: 400}}")
    zones = config.cameras["front"].zones
    assert list(zones.include) == ["couch"] and list(zones.exclude) == ["tv"]
    assert zones.active and (zones.min_face_px, zones.max_face_px) == (30, 400)
    assert not config_with("{}").cameras["front"].zones.active


@pytest.mark.parametrize(("zones", "says"), [
    ("{exclude: {poster: [[0, 0], [1, 1]]}}", "zone 'poster': a zone needs at least 3 points"),
    ("{exclude: {tv: [[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]]}}",
     "zone 'tv': the polygon crosses itself"),
    ("{include: {room: [[0, 0], [1.2, 0], [1, 1]]}}",
     "zone 'room': point [1.2, 0] is outside the frame"),
    ("{include: {line: [[0, 0], [0.5, 0.5], [1, 1]]}}", "zone 'line': the polygon has no area"),
])
def test_a_bad_polygon_names_the_camera_and_the_zone(zones, says):
    found = problems(zones)
    assert len(found) == 1
    ((location, reason),) = found.items()
    assert location.startswith("cameras.front.zones.")
    assert says in reason


def test_every_bad_zone_is_reported_at_once():
    found = problems("{exclude: {a: [[0, 0], [1, 1]], b: [[0, 0], [2, 0], [0, 1]]}}")
    reason = found["cameras.front.zones.exclude"]
    assert "zone 'a'" in reason and "zone 'b'" in reason


def test_face_zones_count_by_the_box_centre_and_size():
    zones = FaceZones({"couch": SQUARE}, {"tv": [[0.3, 0.3], [0.4, 0.3], [0.4, 0.4], [0.3, 0.4]]},
                      min_face_px=20, max_face_px=200)
    in_couch = Box(250, 150, 350, 250)  # centre (0.47, 0.56) of a 640 x 360 frame
    assert zones.counts(in_couch, 640, 360)
    assert not zones.counts(Box(600, 10, 630, 40), 640, 360)  # outside every include zone
    assert not zones.counts(Box(200, 110, 240, 140), 640, 360)  # centre in the tv
    assert not zones.counts(Box(290, 190, 300, 200), 640, 360)  # 10 px: too small
    assert not zones.counts(Box(100, 50, 400, 350), 640, 360)  # 300 px: too big

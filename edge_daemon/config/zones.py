"""A camera's `zones`: where in the frame faces count, and how big they may be.

Polygons are in the frame's fractional coordinates ([x, y], 0..1 from the top left), so
that a zone survives a change of resolution. A face counts by the centre of its box.
"""

from __future__ import annotations

from itertools import combinations
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from edge_daemon.config.base import Section

Point = tuple[float, float]
ZoneName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_cross(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """Whether two segments share a point (touching counts)."""
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4):
        return True

    def on(a: Point, b: Point, c: Point) -> bool:  # c on segment ab, given collinear
        return (min(a[0], b[0]) <= c[0] <= max(a[0], b[0])
                and min(a[1], b[1]) <= c[1] <= max(a[1], b[1]))

    return any(d == 0 and on(*seg, pt) for d, seg, pt in (
        (d1, (q1, q2), p1), (d2, (q1, q2), p2), (d3, (p1, p2), q1), (d4, (p1, p2), q2)))


def check_polygon(points: list[Point]) -> list[Point]:
    """Refuse fewer than 3 points, points outside 0..1 and polygons that cross themselves."""
    if len(points) < 3:
        raise ValueError(f"a zone needs at least 3 points, this one has {len(points)}")
    for x, y in points:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"point [{x:g}, {y:g}] is outside the frame: coordinates are "
                             f"fractions of its width and height, 0 to 1")
    edges = [(points[i], points[(i + 1) % len(points)]) for i in range(len(points))]
    for (i, a), (j, b) in combinations(enumerate(edges), 2):
        if j - i == 1 or (i == 0 and j == len(edges) - 1):
            continue  # neighbours share a corner by construction
        if _segments_cross(*a, *b):
            raise ValueError(f"the polygon crosses itself (edges {i + 1} and {j + 1})")
    if abs(sum(_cross((0.0, 0.0), a, b) for a, b in edges)) < 1e-9:
        raise ValueError("the polygon has no area")
    return points


class ZonesConfig(Section):
    """Include and exclude zones and the face sizes that count, for one camera."""

    include: dict[ZoneName, list[Point]] = Field(default_factory=dict)
    """Named polygons; when any is given, only faces whose centre is inside one count."""
    exclude: dict[ZoneName, list[Point]] = Field(default_factory=dict)
    """Named polygons (a TV, a poster, a photo on the wall) whose faces never count."""
    min_face_px: int = Field(0, ge=0, le=10_000)
    """Faces smaller than this (width or height, pixels) are ignored here; 0: no limit
    beyond `detector.min_face_px`."""
    max_face_px: int = Field(0, ge=0, le=100_000)
    """Faces larger than this (width or height, pixels) are ignored; 0: no limit."""

    @field_validator("include", "exclude")
    @classmethod
    def _polygons(cls, zones: dict[str, list[Point]]) -> dict[str, list[Point]]:
        problems = []
        for name, points in zones.items():
            try:
                check_polygon(points)
            except ValueError as exc:
                problems.append(f"zone {name!r}: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return zones

    @model_validator(mode="after")
    def _sizes(self) -> ZonesConfig:
        if self.max_face_px and self.max_face_px < self.min_face_px:
            raise ValueError("max_face_px must not be smaller than min_face_px")
        return self

    @property
    def active(self) -> bool:
        """Whether these zones filter anything at all."""
        return bool(self.include or self.exclude or self.min_face_px or self.max_face_px)

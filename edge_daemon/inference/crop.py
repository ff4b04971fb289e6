"""Cutting faces out of a frame by a model's crop rule and turning them into its input tensor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import cv2
import numpy as np

from edge_daemon.core.records import Box
from edge_daemon.inference.metadata import CropRule, ModelMetadata


def crop_box(box: Box, rule: CropRule, width: int, height: int) -> tuple[int, int, int, int]:
    """Grow a face box by the rule and clamp it to the frame; integer (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = box.x1, box.y1, box.x2, box.y2
    if rule.square:
        w, h = x2 - x1, y2 - y1
        if h > w:
            x1 -= (h - w) / 2
            x2 += (h - w) / 2
        else:
            y1 -= (w - h) / 2
            y2 += (w - h) / 2
    w, h = x2 - x1, y2 - y1
    x1, x2 = x1 - rule.left * w, x2 + rule.right * w
    y1, y2 = y1 - rule.top * h, y2 + rule.bottom * h
    ix1, iy1 = max(0, round(x1)), max(0, round(y1))
    ix2, iy2 = min(width, round(x2)), min(height, round(y2))
    # A box entirely outside the frame still yields one pixel, never an empty crop.
    ix2, iy2 = max(ix2, min(ix1 + 1, width)), max(iy2, min(iy1 + 1, height))
    ix1, iy1 = min(ix1, ix2 - 1), min(iy1, iy2 - 1)
    return ix1, iy1, ix2, iy2


class FacePreprocessor:
    """Turns BGR frames plus face boxes into one input batch for an exported model."""

    def __init__(self, meta: ModelMetadata) -> None:
        self.meta = meta
        scale = np.float32(meta.scale)
        mean = np.asarray(meta.mean, dtype=np.float32)
        std = np.asarray(meta.std, dtype=np.float32)
        # (pixel * scale - mean) / std folded into one multiply-add per value.
        self._mul = (scale / std).astype(np.float32)
        self._add = (-mean / std).astype(np.float32)

    def crop_region(self, box: Box, width: int, height: int) -> tuple[int, int, int, int]:
        """The pixel region the model reads for a face box in a width x height frame."""
        return crop_box(box, self.meta.crop, width, height)

    def model_facts(self) -> dict[str, object]:
        """The model's name, input size and crop rule (a saved sample's sidecar names them)."""
        meta = self.meta
        return {"name": meta.name, "arch": meta.arch, "quantization": meta.quantization,
                "input": {"width": meta.input_width, "height": meta.input_height,
                          "channels": meta.channels},
                "crop_rule": asdict(meta.crop)}

    def crops(self, image: np.ndarray, boxes: Sequence[Box]) -> list[np.ndarray]:
        """The face regions as the model sees them, before resizing (views of the frame)."""
        h, w = image.shape[:2]
        out = []
        for box in boxes:
            x1, y1, x2, y2 = crop_box(box, self.meta.crop, w, h)
            out.append(image[y1:y2, x1:x2])
        return out

    def batch(self, image: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        """One float32 batch for all boxes of one BGR frame, in the model's layout."""
        meta = self.meta
        size = (meta.input_width, meta.input_height)
        n = len(boxes)
        c = meta.channel_count
        out = np.empty((n, meta.input_height, meta.input_width, c), dtype=np.float32)
        for i, region in enumerate(self.crops(image, boxes)):
            resized = cv2.resize(region, size, interpolation=cv2.INTER_LINEAR)
            if meta.channels == "gray":
                # After the resize: both are linear, so the order changes a value by at most
                # one level, and converting 64 x 64 pixels instead of the whole face crop
                # saves 30 us per face (issue 7).
                resized = cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY)
            if meta.channels == "rgb":
                resized = resized[..., ::-1]
            out[i] = resized.reshape(meta.input_height, meta.input_width, c)
        out *= self._mul
        out += self._add
        if meta.layout == "NCHW":
            return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
        return out

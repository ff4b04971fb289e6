"""The emotion classifier: any model made by emotion-edge-export, set up from its metadata."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge_daemon.core.records import Box
from edge_daemon.inference.crop import FacePreprocessor
from edge_daemon.inference.metadata import ModelMetadata, ModelMetadataError
from edge_daemon.inference.onnx_model import ModelLoadError, OnnxModel, RuntimeOptions

log = logging.getLogger(__name__)


class EmotionClassifier:
    """Classifies the faces of one frame in one batch; returns probabilities per label."""

    def __init__(self, path: str | Path, options: RuntimeOptions | None = None) -> None:
        self.model = OnnxModel(path, options)
        try:
            self.meta = ModelMetadata.from_props(self.model.metadata_props)
        except ModelMetadataError as exc:
            raise ModelLoadError(f"{self.model.path}: {exc}") from exc
        self.labels: tuple[str, ...] = self.meta.labels
        self.preprocessor = FacePreprocessor(self.meta)
        self._check_output_width()

    def _check_output_width(self) -> None:
        dims = self._input_dims()
        declared = self.model.input_shape[1:]
        if len(declared) != 3 or any(isinstance(d, int) and d != want
                                     for d, want in zip(declared, dims, strict=True)):
            raise ModelLoadError(
                f"{self.model.path}: the model's input is {list(self.model.input_shape)} but "
                f"its metadata describes {self.meta.layout} {list(dims)} images")
        probe = np.zeros((1, *dims), dtype=np.float32)
        try:
            outputs = self.model.run(probe)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelLoadError(f"{self.model.path}: the model fails on the {self.meta.layout} "
                                 f"{list(dims)} input its metadata describes ({first})") from None
        width = outputs[0].shape[-1]
        if width != len(self.labels):
            raise ModelLoadError(
                f"{self.model.path}: the model outputs {width} values but its metadata names "
                f"{len(self.labels)} labels"
            )

    def _input_dims(self) -> tuple[int, int, int]:
        m = self.meta
        if m.layout == "NCHW":
            return (m.channel_count, m.input_height, m.input_width)
        return (m.input_height, m.input_width, m.channel_count)

    def classify(self, image: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        """Probabilities, shape (len(boxes), len(labels)), for the faces of one BGR frame."""
        if not boxes:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self.classify_batch(self.preprocessor.batch(image, boxes))

    def classify_batch(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities for an already pre-processed input batch."""
        out = self.model.run(batch)[0].astype(np.float32, copy=False)
        if self.meta.output == "logits":
            out = out - out.max(axis=1, keepdims=True)
            np.exp(out, out=out)
            out /= out.sum(axis=1, keepdims=True)
        return out

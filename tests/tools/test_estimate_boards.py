"""tools/estimate_boards.py: the counted work of a model and this core's measured peak, which
the board estimates rest on."""

from __future__ import annotations

from pathlib import Path

import estimate_boards  # tools/ (pytest's pythonpath)
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _toy_model(path: Path, matmul: bool) -> Path:
    """NCHW input of any size -> 3x3 conv 8->16 (pad 1) [-> flatten -> MatMul to 10]."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.random((16, 8, 3, 3), np.float32), "w"),
               numpy_helper.from_array(rng.random((16 * 32 * 32, 10), np.float32), "m"),
               numpy_helper.from_array(np.array([1, -1], np.int64), "shape")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["y" if matmul else "out"], pads=[1, 1, 1, 1])]
    if matmul:
        nodes += [helper.make_node("Reshape", ["y", "shape"], ["flat"]),
                  helper.make_node("MatMul", ["flat", "m"], ["out"])]
    graph = helper.make_graph(
        nodes, "toy", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                     [1, 8, "height", "width"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return path


def test_multiply_accumulates_are_counted_at_the_size_asked_for(tmp_path):
    conv = 16 * 32 * 32 * (8 * 3 * 3)  # one MAC per output value and weight of its kernel
    matmul = (16 * 32 * 32) * 10
    both = _toy_model(tmp_path / "both.onnx", matmul=True)
    assert estimate_boards.count_macs(both, (1, 8, 32, 32)) == conv + matmul
    # A convolution's work follows the picture's size: a quarter of the pixels, a quarter.
    alone = _toy_model(tmp_path / "conv.onnx", matmul=False)
    assert estimate_boards.count_macs(alone, (1, 8, 16, 16)) == conv // 4


def test_this_core_s_peak_is_measured_not_assumed():
    peak = estimate_boards.host_peak_macs()
    # Any x86-64 core of the last decade: between 1 and 500 GMAC/s on one thread.
    assert 1e9 < peak < 5e11, peak

"""Graph rewrites of the export: the same outputs from a graph onnxruntime runs faster."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from edge_models.archs import get_arch
from edge_models.graph_passes import fold_pool_padding
from edge_models.onnx_io import export_fp32
from onnx import TensorProto, helper, numpy_helper

pytestmark = pytest.mark.export


def _ops(path) -> list[str]:
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def _run(path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("size", [64, 48, 71])
def test_mini_xception_export_has_no_pad_and_matches_pytorch(tmp_path, size):
    """TensorFlow-'same' pooling exports as MaxPool with asymmetric pads, outputs unchanged."""
    torch.manual_seed(size)
    model = get_arch("mini-xception").build(7, 1).eval()
    # Random BatchNorm statistics, so that pooled activations are negative as often as not.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    x = torch.randn(3, 1, size, size)
    path = tmp_path / "mx.onnx"
    export_fp32(model, x[:1], path, 17)
    ops = _ops(path)
    assert "Pad" not in ops and ops.count("MaxPool") == 4
    pads = [helper.get_attribute_value(a) for n in onnx.load(str(path)).graph.node
            if n.op_type == "MaxPool" for a in n.attribute if a.name == "pads"]
    assert any(p[:2] != p[2:] for p in pads)  # the odd pixel goes right/bottom
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(_run(path, x.numpy()), expected, atol=1e-5)


def _pad_pool_model(mode: str) -> onnx.ModelProto:
    pads = numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64), "pads")
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["padded"], mode=mode),
        helper.make_node("MaxPool", ["padded"], ["y"], kernel_shape=[3, 3], strides=[2, 2]),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 3, 3])], [pads])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_edge_pad_folds_into_the_pool_exactly(tmp_path):
    src, dst = tmp_path / "src.onnx", tmp_path / "dst.onnx"
    onnx.save(_pad_pool_model("edge"), str(src))
    assert fold_pool_padding(src, dst) == 1
    assert _ops(dst) == ["MaxPool"]
    x = -np.random.default_rng(0).random((1, 2, 6, 6), dtype=np.float32)  # all negative
    np.testing.assert_array_equal(_run(dst, x), _run(src, x))


def test_zero_pad_is_left_alone(tmp_path):
    """Zeros padded in front of a max of negative numbers change it: not foldable."""
    src, dst = tmp_path / "src.onnx", tmp_path / "dst.onnx"
    onnx.save(_pad_pool_model("constant"), str(src))
    assert fold_pool_padding(src, dst) == 0
    assert _ops(dst) == ["Pad", "MaxPool"]

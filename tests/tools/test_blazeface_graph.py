"""The BlazeFace graph rewrites: exact, and leaving a graph onnxruntime runs blocked."""

from __future__ import annotations

from pathlib import Path

import blazeface_graph  # tools/ (pytest's pythonpath)
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_daemon.inference.detectors.blazeface import MODELS_DIR, model_file

REPO = Path(__file__).resolve().parents[2]


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


def _residual_net() -> onnx.ModelProto:
    """BlazeFace's pattern in small: channel counts off the block size, Pad-widened shortcuts.

    stem 3->12; block 12->20 (shortcut Pad 8); stride-2 block 20->26 (MaxPool shortcut, Pad 6);
    block 26->26 (plain shortcut); head 26->5 read by a Transpose, as BlazeFace's heads are.
    """
    rng = np.random.default_rng(7)
    inits, nodes = [], []

    def weight(name, shape):
        inits.append(numpy_helper.from_array(rng.normal(0, 0.3, shape).astype(np.float32), name))
        return name

    def conv(x, out, cin, cout, k=1, stride=1, group=1, pads=(0, 0, 0, 0)):
        w, b = weight(out + "/W", (cout, cin // group, k, k)), weight(out + "/B", (cout,))
        nodes.append(helper.make_node(
            "Conv", [x, w, b], [out], kernel_shape=[k, k], strides=[stride, stride],
            group=group, pads=list(pads)))
        return out

    def pad_channels(x, out, extra):
        name = out + "/pads"
        pads = np.array([0, 0, 0, 0, 0, extra, 0, 0], np.int64)
        inits.append(numpy_helper.from_array(pads, name))
        nodes.append(helper.make_node("Pad", [x, name], [out]))
        return out

    def block(x, out, cin, cout, stride=1):
        dw = conv(x, out + "_dw", cin, cin, k=3, stride=stride, group=cin,
                  pads=(1, 1, 1, 1) if stride == 1 else (0, 0, 1, 1))
        pw = conv(dw, out + "_pw", cin, cout)
        shortcut = x
        if stride == 2:
            nodes.append(helper.make_node("MaxPool", [x], [out + "_pool"], kernel_shape=[2, 2],
                                          strides=[2, 2]))
            shortcut = out + "_pool"
        if cout > cin:
            shortcut = pad_channels(shortcut, out + "_pad", cout - cin)
        nodes.append(helper.make_node("Add", [shortcut, pw], [out + "_sum"]))
        nodes.append(helper.make_node("Relu", [out + "_sum"], [out]))
        return out

    stem = conv("x", "stem_conv", 3, 12, k=3, stride=2, pads=(1, 1, 1, 1))
    nodes.append(helper.make_node("Relu", [stem], ["stem"]))
    y = block("stem", "b1", 12, 20)
    y = block(y, "b2", 20, 26, stride=2)
    y = block(y, "b3", 26, 26)
    head = conv(y, "head", 26, 5)
    nodes.append(helper.make_node("Transpose", [head], ["y"], perm=[0, 2, 3, 1]))
    graph = helper.make_graph(
        nodes, "residual_net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model, full_check=True)
    return model


def _inner_channel_counts(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True).graph
    return {v.name: v.type.tensor_type.shape.dim[1].dim_value for v in inferred.value_info
            if len(v.type.tensor_type.shape.dim) == 4}


def test_rewrites_keep_the_outputs_and_remove_every_pad():
    original = _residual_net()
    x = np.random.default_rng(0).normal(size=(1, 3, 32, 32)).astype(np.float32)
    (expected,) = _run(original, x)
    model = onnx.ModelProto()
    model.CopyFrom(original)
    counts = blazeface_graph.for_blocked_layout(model)
    onnx.checker.check_model(model, full_check=True)
    # Widened: the stem 12 -> 16, b1 20 -> 24, b2 and b3 26 -> 32; both Pads split away.
    assert counts == {"channels_aligned": 4, "pads_split": 2}
    assert "Pad" not in {n.op_type for n in model.graph.node}
    channels = _inner_channel_counts(model)
    convs_out = {n.output[0] for n in model.graph.node if n.op_type == "Conv"} - {"head"}
    assert all(channels[name] % blazeface_graph.ALIGN == 0 for name in convs_out), channels
    (got,) = _run(model, x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_packaged_x86_detectors_carry_the_rewrites():
    """No Pad is left in either x86-64 BlazeFace; every inner tensor is block aligned."""
    for variant in ("short", "full"):
        model = onnx.load(str(MODELS_DIR / model_file(variant, "x86_64")))
        assert "Pad" not in {n.op_type for n in model.graph.node}, variant
        odd = {name: c for name, c in _inner_channel_counts(model).items()
               if c % blazeface_graph.ALIGN and c not in (1, 2, 3, 6, 16, 32)}
        transposed = {n.input[0] for n in model.graph.node if n.op_type == "Transpose"}
        heads = {n.output[0] for n in model.graph.node
                 if n.op_type == "Conv" and n.output[0] in transposed}
        assert set(odd) <= heads, odd


def test_an_unknown_reader_of_a_widened_tensor_is_refused():
    model = _residual_net()
    sigmoid = helper.make_node("Sigmoid", ["b1"], ["b1_sigmoid"])
    model.graph.node.insert(
        next(i for i, n in enumerate(model.graph.node) if n.output[0] == "b1") + 1, sigmoid)
    with pytest.raises(ValueError, match="Sigmoid reads a widened tensor"):
        blazeface_graph.align_channels(model)


def test_packaged_portable_detectors_are_the_plain_conversion():
    for variant in ("short", "full"):
        model = onnx.load(str(MODELS_DIR / model_file(variant)))
        assert "Pad" in {n.op_type for n in model.graph.node}, variant

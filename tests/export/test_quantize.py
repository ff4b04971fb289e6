"""The int8 recipe's behaviour, pinned on a tiny network shaped like the seed's blocks.

The recipe was chosen by measurement (tools/edge_export/README.md): every operator onnxruntime
can run in int8 is quantized, so the whole network fuses into QLinear kernels with no float
island (islands cost a dequantize/quantize pair each and made the seed 20 % slower), the
softmax stays float, and Percentile calibration keeps a lone outlier from setting a range
(MinMax let outliers coarsen the seed's ranges: 97.4 % top-1 agreement instead of 100 %).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from edge_models.onnx_io import INPUT_NAME, export_fp32
from edge_models.quantize import quantize_int8
from torch import nn

pytestmark = pytest.mark.export

SIDE = 512  # 3 x 512 x 512 inputs: enough values per tensor for a 1e-6 percentile to cut one
OUTLIER = 100.0


class SeedLikeBlock(nn.Module):
    """Conv + SiLU, squeeze-and-excitation, 1x1 projection and a residual add, as in MBConv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.SiLU())
        self.squeeze = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, 4, 1), nn.SiLU(),
            nn.Conv2d(4, channels, 1), nn.Sigmoid())
        self.project = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x)
        return x + self.project(y * self.squeeze(y))


def seed_like() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=8, padding=1), nn.SiLU(), SeedLikeBlock(8),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 6), nn.Softmax(dim=1)).eval()


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory) -> Path:
    """The seed-like network quantized by the tool's recipe; one calibration face has an outlier."""
    work = tmp_path_factory.mktemp("quantize")
    rng = np.random.default_rng(0)
    faces = rng.uniform(-1.0, 1.0, (4, 3, SIDE, SIDE)).astype(np.float32)
    faces[1, 0, 7, 7] = OUTLIER  # one value in 3 million
    fp32 = work / "fp32.onnx"
    export_fp32(seed_like(), torch.from_numpy(faces[:1]), fp32, 17)
    out = work / "int8.onnx"
    quantize_int8(fp32, out, faces, work)
    return out


def test_every_operator_runs_in_int8_and_only_the_softmax_stays_float(int8_model, tmp_path):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(tmp_path / "fused.onnx")
    ort.InferenceSession(str(int8_model), options, providers=["CPUExecutionProvider"])
    fused = Counter(n.op_type for n in onnx.load(str(tmp_path / "fused.onnx")).graph.node)
    # 5 convs, 3 SiLU + 1 gate sigmoid, 3 SiLU products + 1 gate product, the residual add,
    # both average pools and the classifier: all as onnxruntime's quantized kernels.
    assert fused["QLinearConv"] == 5
    assert fused["QLinearSigmoid"] == 4 and fused["QLinearMul"] == 4
    assert fused["QLinearAdd"] == 1 and fused["QLinearGlobalAveragePool"] == 2
    assert fused["QGemm"] == 1
    for float_op in ("Conv", "Sigmoid", "Mul", "Add", "GlobalAveragePool", "Gemm"):
        assert fused[float_op] == 0, float_op
    # One quantize at the input, one dequantize before the float softmax.
    assert fused["QuantizeLinear"] == 1 and fused["DequantizeLinear"] == 1
    assert fused["Softmax"] == 1


def test_a_lone_outlier_does_not_set_the_input_range(int8_model):
    model = onnx.load(str(int8_model))
    consts = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    quant = next(n for n in model.graph.node
                 if n.op_type == "QuantizeLinear" and n.input[0] == INPUT_NAME)
    scale = float(consts[quant.input[1]])
    zero_point = int(consts[quant.input[2]])
    # MinMax would span [-1, 100]: a step of 0.4. The percentile range is about [-1, 1].
    assert scale < 2.5 / 255
    assert -zero_point * scale < -0.95 and (255 - zero_point) * scale > 0.95

"""Static int8 QDQ quantization of an fp32 ONNX model, calibrated on real face crops.

The settings are the ones measured to work on CPUs without VNNI (see issue 2): QDQ format,
uint8 activations, int8 per-channel weights with reduce_range (7-bit weights, so the
u8 x s8 products cannot saturate the 16-bit intermediate sums), after onnxruntime's
recommended pre-processing (shape inference and graph optimization).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_static,
)

from .onnx_io import INPUT_NAME
from .progress import Progress

log = logging.getLogger(__name__)

INT8_NAME = "int8-qdq-u8s8-per-channel-reduce-range"


class FaceCalibrationReader(CalibrationDataReader):
    """Feeds the calibration crops one at a time and reports progress."""

    def __init__(self, tensors: np.ndarray, progress: Progress) -> None:
        self.tensors = tensors
        self.progress = progress
        self.index = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next single-face input, or None when all were fed."""
        if self.index >= len(self.tensors):
            self.progress.done()
            return None
        item = {INPUT_NAME: self.tensors[self.index:self.index + 1]}
        self.index += 1
        self.progress.update(self.index)
        return item

    def rewind(self) -> None:
        """Start again from the first crop."""
        self.index = 0


def _softmax_nodes(path: Path) -> list[str]:
    model = onnx.load(str(path), load_external_data=False)
    return [n.name for n in model.graph.node if n.op_type == "Softmax"]


def quantize_int8(fp32: Path, out: Path, calibration: np.ndarray, workdir: Path) -> None:
    """Write the static int8 QDQ version of fp32 to out, calibrated on the given crops."""
    prepared = workdir / "prepared.onnx"
    log.info("quantization pre-processing (shape inference, graph optimization)")
    quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=False)
    progress = Progress("calibrating int8", len(calibration))
    quantize_static(
        str(prepared), str(out),
        FaceCalibrationReader(calibration, progress),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        reduce_range=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        # The final softmax stays in float: its cost is negligible and an 8-bit output would
        # round every probability to a multiple of 1/256.
        nodes_to_exclude=_softmax_nodes(prepared),
        # No CalibMaxIntermediateOutputs: in onnxruntime 1.32 it discards every full chunk
        # of collected ranges unmerged (microsoft/onnxruntime#18893), calibrating on the last
        # few crops only. Without it the calibrator keeps per-crop ReduceMin/ReduceMax
        # values, which are small (a few per tensor), not whole activations.
    )
    log.info("wrote int8 model %s", out)

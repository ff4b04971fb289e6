"""Emotion models that lie: refused at start with one line, or their NaN never becomes an emotion.

Made from the bundled model with onnx (the export extra): one whose metadata describes 48x48
input while the network takes 64x64 (before: a 36-line traceback from the warm-up), one
whose output is multiplied by NaN (before: all-null probabilities and a made-up `angry`).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from edge_daemon.config.classifier import ClassifierConfig  # noqa: E402
from edge_daemon.core.records import Frame  # noqa: E402
from edge_daemon.inference.classifier import EmotionClassifier  # noqa: E402
from edge_daemon.inference.detectors import build_detector  # noqa: E402
from edge_daemon.inference.onnx_model import ModelLoadError  # noqa: E402
from edge_daemon.pipeline import CameraLoop  # noqa: E402
from edge_daemon.tracking import CameraTracker  # noqa: E402

BUNDLED = ClassifierConfig().model_path()


def _with_props(path: Path, **props: str) -> Path:
    model = onnx.load(str(BUNDLED))
    for entry in model.metadata_props:
        if entry.key.removeprefix("emotion_edge.") in props:
            entry.value = props[entry.key.removeprefix("emotion_edge.")]
    onnx.save(model, str(path))
    return path


def _nan_output(path: Path) -> Path:
    model = onnx.load(str(BUNDLED))
    graph = model.graph
    output = graph.output[0].name
    for node in graph.node:
        node.output[:] = [f"{name}_finite" if name == output else name for name in node.output]
    graph.initializer.append(onnx.numpy_helper.from_array(np.array(np.nan, np.float32), "nan"))
    graph.node.append(onnx.helper.make_node("Mul", [f"{output}_finite", "nan"], [output]))
    onnx.save(model, str(path))
    return path


def test_metadata_contradicting_the_input_is_one_line(tmp_path):
    path = _with_props(tmp_path / "lying.onnx", input_height="48", input_width="48")
    with pytest.raises(ModelLoadError) as caught:
        EmotionClassifier(path)
    message = str(caught.value)
    assert "\n" not in message and "metadata describes NCHW [1, 48, 48]" in message


def test_check_config_names_the_lying_model_in_one_line_and_exits_1(tmp_path):
    path = _with_props(tmp_path / "lying.onnx", input_height="48", input_width="48")
    config = tmp_path / "config.yaml"
    config.write_text("cameras:\n  front:\n    source: {type: file, path: /nowhere.mp4}\n"
                      f"classifier:\n  model: {path}\n")
    done = subprocess.run([sys.executable, "-m", "edge_daemon", "check-config", "-c",
                           str(config)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "lying.onnx" in done.stderr
    assert len([line for line in done.stderr.splitlines() if "lying.onnx" in line]) == 1


def test_nan_probabilities_give_no_emotion_are_counted_and_logged_once(tmp_path, assets, caplog):
    import cv2

    classifier = EmotionClassifier(_nan_output(tmp_path / "nan.onnx"))
    image = cv2.imread(str(assets / "feat-test-data" / "single_face.jpg"))
    loop = CameraLoop("front", None, build_detector("blazeface"), classifier,  # type: ignore[arg-type]
                      CameraTracker(classifier.labels), [], interval_s=0.1)
    with caplog.at_level(logging.ERROR, logger="edge_daemon.pipeline"):
        results = [loop.process(Frame("front", i, 0.0, 0.0, image)) for i in range(5)]
    assert all(len(r.faces) == 1 for r in results)
    assert all(r.faces[0].emotion is None and r.camera_emotion is None for r in results)
    assert loop.stats.faces_unclassified == 5
    logged = [r for r in caplog.records if "NaN or infinite" in r.getMessage()]
    assert len(logged) == 1

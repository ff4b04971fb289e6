"""Broken model files named in the config: `check-config` refuses each with one line and
exit 1 (no traceback), whether it is the emotion model or the face detector's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.robustness
onnx = pytest.importorskip("onnx")

from edge_daemon.config.classifier import ClassifierConfig  # noqa: E402
from edge_daemon.inference.detectors.blazeface import MODELS_DIR  # noqa: E402

EXIT_FATAL = 1
BUNDLED = ClassifierConfig().model_path()
DETECTOR = MODELS_DIR / "blazeface_short_range.onnx"


def _edited(path: Path, **props: str) -> Path:
    model = onnx.load(str(BUNDLED))
    for entry in model.metadata_props:
        key = entry.key.removeprefix("emotion_edge.")
        if key in props:
            entry.value = props[key]
    onnx.save(model, str(path))
    return path


def _without_metadata(path: Path) -> Path:
    model = onnx.load(str(BUNDLED))
    del model.metadata_props[:]
    onnx.save(model, str(path))
    return path


def _two_inputs(path: Path) -> Path:
    from onnx import TensorProto, helper

    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 1, 64, 64])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 1, 64, 64])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1, 64, 64])
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["out"])], "two", [a, b],
                              [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    original = onnx.load(str(BUNDLED))
    model.metadata_props.extend(original.metadata_props)
    onnx.save(model, str(path))
    return path


def models(folder: Path) -> dict[str, tuple[str, Path]]:
    """name -> (config section, path) of each broken model."""
    raw = BUNDLED.read_bytes()
    files = {
        "empty file": b"",
        "random bytes": np.random.default_rng(5).bytes(50_000),
        "a text file": b"this is not a model\n" * 100,
        "truncated to half": raw[: len(raw) // 2],
        "truncated to 100 bytes": raw[:100],
        "one byte": raw[:1],
        "a JSON file": json.dumps({"model": "emotion"}).encode(),
    }
    out: dict[str, tuple[str, Path]] = {}
    for name, data in files.items():
        path = folder / f"{name.replace(' ', '_')}.onnx"
        path.write_bytes(data)
        out[name] = ("classifier", path)
    out["no metadata"] = ("classifier", _without_metadata(folder / "nometa.onnx"))
    out["labels not JSON"] = ("classifier", _edited(folder / "labels.onnx", labels="[angry"))
    out["three labels for seven outputs"] = (
        "classifier", _edited(folder / "three.onnx", labels='["a", "b", "c"]'))
    out["input size contradicting the graph"] = (
        "classifier", _edited(folder / "size.onnx", input_height="48", input_width="48"))
    out["two inputs"] = ("classifier", _two_inputs(folder / "two.onnx"))
    out["a face detector as the emotion model"] = ("classifier", DETECTOR)
    out["a directory"] = ("classifier", folder)
    out["missing file"] = ("classifier", folder / "nowhere.onnx")
    detector_garbage = folder / "detector_garbage.onnx"
    detector_garbage.write_bytes(b"\x08\x07" * 1000)
    out["garbage as the face detector"] = ("detector", detector_garbage)
    out["the emotion model as the face detector"] = ("detector", BUNDLED)
    return out


def test_broken_models_are_refused_with_one_line(tmp_path: Path, report_figures):
    cases = models(tmp_path)
    assert len(cases) >= 15
    refusals = {}
    for index, (name, (section, path)) in enumerate(cases.items()):
        key = "model"
        config = tmp_path / f"config{index}.yaml"
        config.write_text("cameras:\n  front:\n    source: {type: file, path: /v.mp4}\n"
                          f"{section}:\n  {key}: '{path}'\n")
        done = subprocess.run([sys.executable, "-m", "edge_daemon", "check-config", "-c",
                               str(config)], capture_output=True, text=True, timeout=120)
        assert done.returncode == EXIT_FATAL, (name, done.returncode, done.stderr[-2000:])
        assert "Traceback" not in done.stderr, (name, done.stderr[-2000:])
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, (name, lines)
        refusals[name] = lines[0]
    report_figures("models", {"models": len(cases), "refusals": refusals})

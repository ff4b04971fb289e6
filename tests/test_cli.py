"""The `emotion-edge` command as users run it: exit codes, messages, no tracebacks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edge_daemon.config.schema import config_json_schema_text

REPO = Path(__file__).resolve().parent.parent


def emotion_edge(*args: str, env: dict[str, str] | None = None, timeout: float = 60):
    """Run the real command line; returns the CompletedProcess (text)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("MODEL_FILE", "IMAGES_DIR")}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "edge_daemon", *args], capture_output=True,
                          text=True, env=environ, timeout=timeout, cwd=REPO)


@pytest.fixture
def video(assets) -> str:
    return str(assets / "feat-test-data" / "single_face.mp4")


def test_help_lists_the_commands_and_the_exit_codes():
    done = emotion_edge("--help")
    assert done.returncode == 0
    for word in ("run", "check-config", "probe", "schema", "Exit codes"):
        assert word in done.stdout


@pytest.mark.parametrize("command", ["run", "check-config"])
def test_invalid_config_exits_2_with_every_problem_and_no_traceback(tmp_path, command):
    config = tmp_path / "config.yaml"
    config.write_text(
        "cameras:\n"
        "  door:\n"
        "    source: {type: v4l2, fps: -1}\n"
        "    interval: 100\n"
        "detector:\n"
        "  backend: yolo\n"
    )
    done = emotion_edge(command, "--config", str(config))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "3 configuration problems" in done.stderr
    assert "line 3: cameras.door.source.fps: input should be greater than 0 (got -1)" in done.stderr
    assert "line 4: cameras.door.interval: unknown key; did you mean 'interval_ms'?" in done.stderr
    assert "line 6: detector.backend:" in done.stderr and "'yolo'" in done.stderr


def test_missing_config_file_exits_2(tmp_path):
    done = emotion_edge("run", "--config", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "nope.yaml" in done.stderr and "No such file" in done.stderr


def test_usage_error_exits_2():
    done = emotion_edge("run", "--log-level", "loud")
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_check_config_accepts_the_example_and_loads_its_models():
    done = emotion_edge("check-config", "--config", str(REPO / "config" / "config.example.yaml"))
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout and "face detector blazeface" in done.stdout
    assert "angry" in done.stdout  # the bundled model's labels


def test_check_config_reports_an_unusable_model_from_model_file(tmp_path, video):
    config = tmp_path / "config.yaml"
    config.write_text(f"cameras:\n  a:\n    source: {{type: file, path: {video}}}\n")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model at all")
    done = emotion_edge("check-config", "--config", str(config), env={"MODEL_FILE": str(broken)})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert str(broken) in done.stderr and "not a usable ONNX model" in done.stderr


def test_schema_command_prints_the_shipped_schema(tmp_path):
    done = emotion_edge("schema")
    assert done.returncode == 0 and done.stdout == config_json_schema_text()
    out = tmp_path / "schema.json"
    assert emotion_edge("schema", "-o", str(out)).returncode == 0
    assert json.loads(out.read_text())["properties"]["cameras"]


def test_probe_reports_providers_libraries_and_where_each_model_runs(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("cameras: {a: {source: {type: v4l2}}}\n"
                      "runtime: {providers: [cuda, cpu]}\n")
    done = emotion_edge("probe", "--json", "--config", str(config))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert "CPUExecutionProvider" in report["onnxruntime_providers"]
    assert report["requested_providers"] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert report["opencv_ffmpeg"] is True
    assert report["gstreamer"].startswith(("GStreamer 1.", "not usable ("))
    assert set(report["libraries"]) == {"picamera2", "mediapipe"}
    models = {m["name"]: m for m in report["models"]}
    assert set(models) == {"classifier", "blazeface short", "blazeface full"}
    for model in models.values():  # bundled, and run once: every node on the CPU here
        assert model["present"] and not model["error"], model
        assert set(model["nodes"]) == {"CPUExecutionProvider"}
        assert model["nodes"]["CPUExecutionProvider"] >= 20
        assert model["ops"]["CPUExecutionProvider"]["Conv"] >= 20
    fallback = [line for line in done.stderr.splitlines() if "CUDAExecutionProvider" in line]
    assert len(fallback) == 1 and "falling back to CPUExecutionProvider" in fallback[0]
    text = emotion_edge("probe")
    assert text.returncode == 0 and "V4L2 cameras:" in text.stdout
    assert re.search(r"^model classifier: \d+ nodes on CPUExecutionProvider", text.stdout, re.M)

"""OnnxModel hands the memory-arena choice of RuntimeOptions to onnxruntime."""

from __future__ import annotations

from edge_daemon.inference.detectors.blazeface import default_model_path
from edge_daemon.inference.onnx_model import OnnxModel, RuntimeOptions


def test_the_arena_is_on_by_default_and_can_be_turned_off():
    path = default_model_path("short")
    default = OnnxModel(path).session.get_session_options()
    without = OnnxModel(path, RuntimeOptions(cpu_memory_arena=False)).session.get_session_options()
    assert default.enable_cpu_mem_arena is True
    assert without.enable_cpu_mem_arena is False

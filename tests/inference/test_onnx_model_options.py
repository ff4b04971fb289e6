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


def test_a_provider_this_onnxruntime_lacks_falls_back_with_one_line(caplog):
    import edge_daemon.inference.onnx_model as onnx_model

    onnx_model._reported.clear()
    options = RuntimeOptions(providers=("TensorrtExecutionProvider", "CUDAExecutionProvider",
                                        "CPUExecutionProvider"))
    models = [OnnxModel(default_model_path(variant), options) for variant in ("short", "full")]
    assert all(m.providers == ["CPUExecutionProvider"] for m in models)
    lines = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert lines == [
        "execution provider TensorrtExecutionProvider, CUDAExecutionProvider not in this "
        f"onnxruntime {onnx_model.ort.__version__} (it has "
        f"{', '.join(onnx_model.ort.get_available_providers())}): falling back to "
        "CPUExecutionProvider"]  # once for both models


def test_only_missing_providers_still_run_on_the_cpu():
    model = OnnxModel(default_model_path("short"), RuntimeOptions(providers=(
        "CUDAExecutionProvider",)))
    assert model.providers == ["CPUExecutionProvider"]

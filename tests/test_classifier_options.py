"""Large emotion models run without onnxruntime's memory arena; the bundled ones keep it."""

from __future__ import annotations

from edge_daemon.app import ARENA_MAX_MODEL_BYTES, classifier_options
from edge_daemon.config.classifier import ClassifierConfig
from edge_daemon.config.runtime import RuntimeConfig
from edge_daemon.inference.classifier import EmotionClassifier
from edge_daemon.inference.onnx_model import RuntimeOptions


def test_the_bundled_model_keeps_the_arena_and_the_runtime_section():
    runtime = RuntimeConfig(threads=2)
    options = classifier_options(runtime, ClassifierConfig().model_path())
    assert options == RuntimeOptions.from_config(runtime) and options.cpu_memory_arena


def test_a_large_model_goes_without_the_arena(tmp_path):
    big = tmp_path / "seed.int8.onnx"
    with big.open("wb") as f:  # sparse: only the size matters to the choice
        f.truncate(ARENA_MAX_MODEL_BYTES + 1)
    options = classifier_options(RuntimeConfig(threads=2), big)
    assert not options.cpu_memory_arena and options.intra_op_threads == 2


def test_a_missing_file_is_left_to_the_loader(tmp_path):
    options = classifier_options(RuntimeConfig(), tmp_path / "absent.onnx")
    assert options == RuntimeOptions.from_config(RuntimeConfig())


def test_the_bundled_model_still_classifies_with_those_options():
    path = ClassifierConfig().model_path()
    classifier = EmotionClassifier(path, classifier_options(RuntimeConfig(), path))
    assert len(classifier.labels) == 7

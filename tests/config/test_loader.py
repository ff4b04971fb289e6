"""Loading the YAML config: every problem at once, with key path, line, value and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_daemon.config.cameras import FileSourceConfig, V4l2SourceConfig
from edge_daemon.config.errors import ConfigError
from edge_daemon.config.loader import load_config, parse_config
from edge_daemon.inference.onnx_model import RuntimeOptions

MINIMAL = """\
cameras:
  front:
    source: {type: file, path: /videos/a.mp4}
"""


def problems_of(text: str, environ: dict[str, str] | None = None) -> dict[str, object]:
    """{dotted path: problem} of a config text that must fail."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "test.yaml", environ or {})
    return {p.path: p for p in caught.value.problems}


def test_minimal_config_gets_every_default():
    config = parse_config(MINIMAL, environ={})
    camera = config.cameras["front"]
    assert isinstance(camera.source, FileSourceConfig)
    assert camera.interval_ms == 100 and camera.source.loop is False
    assert config.detector.backend == "blazeface" and config.detector.model == "short"
    assert config.runtime.providers == ("CPUExecutionProvider",) and config.runtime.threads == 1
    assert config.classifier.model is None
    assert config.classifier.model_path().name == "emotion_mini_xception.onnx"
    assert config.snapshots.enabled is False and config.logging.level == "info"


def test_list_form_of_cameras_is_the_same_as_the_mapping():
    text = """\
cameras:
  - name: front
    source: {type: v4l2, device: /dev/video2, width: 640, height: 480, fourcc: MJPG}
  - name: back
    source: {type: url, url: "rtsp://cam/stream"}
    interval_ms: 250
"""
    config = parse_config(text, environ={})
    assert list(config.cameras) == ["front", "back"]
    assert isinstance(config.cameras["front"].source, V4l2SourceConfig)
    assert config.cameras["back"].interval_ms == 250


def test_unknown_key_names_its_path_line_and_a_suggestion():
    found = problems_of(MINIMAL + "detector:\n  score_treshold: 0.4\n")
    problem = found["detector.score_treshold"]
    assert problem.line == 5
    assert "unknown key" in problem.reason and "score_threshold" in problem.reason


def test_bad_value_shows_the_value_and_the_reason():
    text = MINIMAL + "    interval_ms: -5\n"
    problem = problems_of(text)["cameras.front.interval_ms"]
    assert problem.line == 4 and problem.value == "-5"
    assert "greater than or equal to 0" in problem.reason


def test_every_problem_is_reported_at_once():
    text = """\
cameras:
  front:
    source: {type: v4l2, fps: 0, fourcc: TOOLONG}
  back:
    source: {type: webcam}
  side:
    source: {type: url, url: "ftp://x/y"}
detector: {backend: yolo, nms_iou: 2}
runtime: {providers: [cuda, npu]}
logging: {level: loud}
mqtt: {port: 0}
"""
    found = problems_of(text)
    assert set(found) >= {
        "cameras.front.source.fps", "cameras.front.source.fourcc", "cameras.back.source",
        "cameras.side.source.url", "detector.backend", "runtime.providers",
        "logging.level", "mqtt.port",
    }
    assert "unknown type 'webcam'" in found["cameras.back.source"].reason
    assert "'npu'" in found["runtime.providers"].reason
    # The discriminator tag pydantic puts in its paths ("...source.url.url") is not a key.
    assert found["cameras.side.source.url"].line == 7


def test_duplicate_keys_are_refused_with_both_lines():
    problem = problems_of(MINIMAL + "    interval_ms: 100\n    interval_ms: 200\n")[
        "cameras.front.interval_ms"]
    assert problem.line == 5 and "first at line 4" in problem.reason


def test_yaml_syntax_error_names_the_line():
    with pytest.raises(ConfigError) as caught:
        parse_config("cameras:\n  front: [unclosed\n", "bad.yaml", {})
    (problem,) = caught.value.problems
    assert "YAML syntax error" in problem.reason and problem.line is not None


def test_missing_cameras_and_a_non_mapping_file_are_errors():
    assert "required" in problems_of("detector: {backend: haar}\n")["cameras"].reason
    with pytest.raises(ConfigError, match="mapping of sections"):
        parse_config("- just\n- a list\n", "x.yaml", {})


def test_list_form_needs_unique_names():
    text = "cameras:\n  - source: {type: file, path: a.mp4}\n"
    assert "unique name" in problems_of(text)["cameras"].reason


def test_password_in_yaml_is_refused_with_where_it_belongs():
    problem = problems_of(MINIMAL + "mqtt:\n  password: hunter2\n")["mqtt.password"]
    assert "EMOTION_EDGE_MQTT_PASSWORD" in problem.reason
    assert "hunter2" not in str(problem)


def test_secrets_in_bad_urls_are_masked_in_messages():
    text = MINIMAL.replace("file, path: /videos/a.mp4", 'url, url: "ftp://u:s3cret@h/x"')
    problem = problems_of(text)["cameras.front.source.url"]
    assert "s3cret" not in str(problem) and "***" in str(problem)


def test_model_file_overrides_the_classifier_model():
    config = parse_config(MINIMAL, environ={"MODEL_FILE": "/models/seed.onnx"})
    assert config.classifier.model == Path("/models/seed.onnx")


def test_images_dir_turns_snapshots_on_into_that_directory():
    text = MINIMAL + "snapshots:\n  enabled: false\n  interval_s: 30\n"
    config = parse_config(text, environ={"IMAGES_DIR": "/data/images"})
    assert config.snapshots.enabled is True
    assert config.snapshots.directory == Path("/data/images")
    assert config.snapshots.interval_s == 30


def test_placeholders_are_filled_from_the_environment():
    text = MINIMAL.replace("/videos/a.mp4", '"/videos/{EMOTION_EDGE_VIDEO}.mp4"')
    config = parse_config(text, environ={"EMOTION_EDGE_VIDEO": "door"})
    assert config.cameras["front"].source.path == Path("/videos/door.mp4")


def test_an_unset_placeholder_is_an_error_at_its_key():
    text = MINIMAL.replace("/videos/a.mp4", '"/videos/{EMOTION_EDGE_VIDEO}.mp4"')
    problem = problems_of(text)["cameras.front.source.path"]
    assert "EMOTION_EDGE_VIDEO" in problem.reason and problem.line == 3


def test_other_braces_are_left_alone():
    text = MINIMAL.replace("/videos/a.mp4", '"/videos/{HOME}.mp4"')
    config = parse_config(text, environ={"HOME": "/root"})
    assert config.cameras["front"].source.path == Path("/videos/{HOME}.mp4")


def test_an_empty_section_means_its_defaults():
    config = parse_config(MINIMAL + "classifier:\nruntime:\n", environ={})
    assert config.classifier.model is None and config.runtime.threads == 1


def test_provider_short_names_become_onnxruntime_names():
    config = parse_config(MINIMAL + "runtime: {providers: [tensorrt, CUDA, cpu]}\n", environ={})
    assert RuntimeOptions.from_config(config.runtime).providers == (
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def test_v4l2_width_without_height_is_refused():
    text = MINIMAL.replace("{type: file, path: /videos/a.mp4}", "{type: v4l2, width: 640}")
    assert "width and height together" in problems_of(text)["cameras.front.source"].reason


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "absent.yaml", environ={})


def test_the_sections_are_frozen():
    config = parse_config(MINIMAL, environ={})
    with pytest.raises(ValueError):
        config.detector.min_face_px = 3

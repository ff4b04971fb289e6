"""OpenCV's Haar cascade detector, as the Keras original (fer) used it."""

from __future__ import annotations

import cv2
import pytest

from edge_daemon.inference.detectors import HaarCascadeDetector
from edge_daemon.inference.onnx_model import ModelLoadError


@pytest.fixture(scope="module")
def haar() -> HaarCascadeDetector:
    return HaarCascadeDetector()


def test_finds_the_face_of_the_single_face_photo(assets, haar):
    (face,) = haar.detect(cv2.imread(str(assets / "feat-test-data/single_face.jpg")))
    cx, cy = (face.box.x1 + face.box.x2) / 2, (face.box.y1 + face.box.y2) / 2
    assert 240 < cx < 320 and 230 < cy < 330  # the face of the 572 x 562 photo
    assert 150 < face.box.width < 300 and face.score == 1.0


def test_no_face_in_the_image_without_faces(assets, haar):
    assert haar.detect(cv2.imread(str(assets / "fer-test-data/no-faces.jpg"))) == []


def test_faces_smaller_than_min_face_size_are_ignored(assets):
    image = cv2.imread(str(assets / "feat-test-data/single_face.jpg"))
    assert HaarCascadeDetector(min_face_size=320).detect(image) == []


def test_an_unreadable_cascade_is_refused(tmp_path):
    bogus = tmp_path / "cascade.xml"
    bogus.write_text("<nothing/>")
    with pytest.raises(ModelLoadError, match="not a readable Haar cascade"):
        HaarCascadeDetector(bogus)
